package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/onnx"
)

// ExportRequest is one architecture to write as an ONNX model.
type ExportRequest struct {
	Arch    *models.Arch
	Net     models.Options // resolved (see ArchOptions and Weights.NetOptions)
	Weights *Weights
	Export  export.Options
	Out     string // the .onnx file
	Check   bool   // run the parity check before the file is put in place
	ORTLib  string // ONNX Runtime library for Check ("" finds it)
}

// ExportResult is what Export wrote.
type ExportResult struct {
	Net    *models.Network
	Model  *onnx.ModelProto
	Source string       // where the weights came from, in words
	Check  *CheckResult // with Check; also set when the check failed
}

// Export builds the network, takes its weights from the source and writes
// the model atomically. With Check the model is written beside Out and moved
// into place only when the parity check passes, so a failed check leaves an
// earlier file intact.
func Export(ctx context.Context, req ExportRequest) (*ExportResult, error) {
	net, err := models.Build(req.Arch, req.Net)
	if err != nil {
		return nil, err
	}
	sd, _, err := req.Weights.For(net)
	if err != nil {
		return nil, err
	}
	res := &ExportResult{Net: net, Source: req.Weights.Describe()}
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
