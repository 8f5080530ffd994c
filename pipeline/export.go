package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/onnx"
	"github.com/sgnas/sgnas/weights"
)

// ExportRequest is one architecture to write as an ONNX model.
type ExportRequest struct {
	Arch    *models.Arch
	Net     models.Options // resolved (see ArchOptions and Weights.NetOptions)
	Weights *Weights
	Export  export.Options
	Out     string // the .onnx file
	Check   bool   // run the parity check before the file is put in place
	ORTLib  string // ONNX Runtime library for Check and Int8 ("" finds it)
	// Int8, when set, writes the INT8 (QDQ) model calibrated on its data
	// instead of the float32 one (Check then checks the float32 graph it
	// was made from).
	Int8 *Int8Config
}

// ExportResult is what Export wrote.
type ExportResult struct {
	Net    *models.Network
	Model  *onnx.ModelProto
	Source string       // where the weights came from, in words
	Check  *CheckResult // with Check; also set when the check failed
	Int8   *export.QuantInfo
}

// CheckInt8 refuses export settings an INT8 export cannot use.
func CheckInt8(cfg *Int8Config, opts export.Options) error {
	if err := cfg.Check(); err != nil {
		return err
	}
	if opts.Opset != 0 && opts.Opset < export.MinQuantOpset {
		return fmt.Errorf("--int8 needs --opset %d or newer (per-channel DequantizeLinear), got %d", export.MinQuantOpset, opts.Opset)
	}
	if !opts.Optimize {
		return fmt.Errorf("--int8 quantizes the optimised graph: drop --no-optimize")
	}
	return nil
}

// Export builds the network, takes its weights from the source and writes
// the model atomically. With Check the model is written beside Out and moved
// into place only when the parity check passes, so a failed check leaves an
// earlier file intact.
func Export(ctx context.Context, req ExportRequest) (*ExportResult, error) {
	if req.Int8 != nil {
		if err := CheckInt8(req.Int8, req.Export); err != nil {
			return nil, err
		}
	}
	net, err := models.Build(req.Arch, req.Net)
	if err != nil {
		return nil, err
	}
	sd, _, err := req.Weights.For(net)
	if err != nil {
		return nil, err
	}
	res := &ExportResult{Net: net, Source: req.Weights.Describe()}
	if req.Int8 != nil {
		return res, exportInt8(ctx, req, net, sd, res)
	}
	dest := req.Out
	if req.Check {
		dest = filepath.Join(filepath.Dir(req.Out), "."+filepath.Base(req.Out)+".check.onnx")
		defer os.Remove(dest)
	}
	if res.Model, err = export.WriteFile(dest, net, sd, req.Export); err != nil {
		return nil, err
	}
	if !req.Check {
		return res, nil
	}
	if res.Check, err = Check(ctx, req.ORTLib, dest, net, sd, req.Export); err != nil {
		return res, err
	}
	if err := os.Rename(dest, req.Out); err != nil {
		return res, fmt.Errorf("export: %w", err)
	}
	return res, nil
}

func exportInt8(ctx context.Context, req ExportRequest, net *models.Network, sd weights.StateDict, res *ExportResult) error {
	fp32, err := export.Build(net, sd, req.Export)
	if err != nil {
		return err
	}
	if req.Check {
		tmp := filepath.Join(filepath.Dir(req.Out), "."+filepath.Base(req.Out)+".check.onnx")
		defer os.Remove(tmp)
		if err := onnx.WriteFile(tmp, fp32); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if res.Check, err = Check(ctx, req.ORTLib, tmp, net, sd, req.Export); err != nil {
			return err
		}
	}
	q, info, err := Int8Model(ctx, req.ORTLib, net, fp32, req.Int8)
	if err != nil {
		return err
	}
	if err := onnx.WriteFile(req.Out, q); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	res.Model, res.Int8 = q, info
	return nil
}
