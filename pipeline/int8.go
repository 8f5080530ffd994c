package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/onnx"
)

// Int8Name is the file name of the INT8 model beside an FP32 one:
// "a.onnx" → "a_int8.onnx".
func Int8Name(fp32 string) string {
	return strings.TrimSuffix(fp32, ".onnx") + "_int8.onnx"
}

// Int8Model calibrates the activation ranges of fp32 (a model export.Build
// wrote for net, opset ≥ export.MinQuantOpset) on cfg's data in ONNX
// Runtime and returns the QDQ INT8 model, whose metadata adds
// precision=int8, the calibration settings and the FP32→INT8 error on the
// calibration inputs, which info describes.
func Int8Model(ctx context.Context, ortLib string, net *models.Network, fp32 *onnx.ModelProto, cfg *Int8Config) (*onnx.ModelProto, *export.QuantInfo, error) {
	if err := cfg.Check(); err != nil {
		return nil, nil, err
	}
	samples, desc, err := LoadCalibration(cfg.Data, net.Space.InputSize, cfg.samples())
	if err != nil {
		return nil, nil, err
	}
	if err := infer.Init(ortLib); err != nil {
		return nil, nil, fmt.Errorf("int8: %w", err)
	}
	ranges, err := Calibrate(ctx, fp32, samples, cfg.method(), cfg.Quant)
	if err != nil {
		return nil, nil, err
	}
	q, err := export.Quantize(fp32, ranges, cfg.Quant)
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "sgnas-int8-")
	if err != nil {
		return nil, nil, fmt.Errorf("int8: %w", err)
	}
	defer os.RemoveAll(dir)
	fp32Path, int8Path := filepath.Join(dir, "fp32.onnx"), filepath.Join(dir, "int8.onnx")
	if err := onnx.WriteFile(fp32Path, fp32); err != nil {
		return nil, nil, fmt.Errorf("int8: %w", err)
	}
	if err := onnx.WriteFile(int8Path, q); err != nil {
		return nil, nil, fmt.Errorf("int8: %w", err)
	}
	info := cfg.info(desc)
	if err := CompareModels(ctx, fp32Path, int8Path, samples, info); err != nil {
		return nil, nil, fmt.Errorf("int8: %w", err)
	}
	md := onnx.Metadata(q)
	for k, v := range info.Metadata() {
		md[k] = v
	}
	onnx.SetMetadata(q, md)
	return q, info, nil
}

// info is the QuantInfo of cfg with calibration data desc (errors not yet
// measured).
func (c *Int8Config) info(desc string) *export.QuantInfo {
	q := &export.QuantInfo{
		Weights:     "int8 symmetric per-channel",
		Activations: "uint8 asymmetric",
		Method:      c.method(),
		Data:        desc,
	}
	if c.Quant.PerTensor {
		q.Weights = "int8 symmetric per-tensor"
	}
	if c.Quant.FullRange {
		q.Weights += " 8-bit"
	} else {
		q.Weights += " 7-bit"
	}
	if c.Quant.Symmetric {
		q.Activations = "int8 symmetric"
	}
	var fl []string
	if c.Quant.FloatStem {
		fl = append(fl, "stem")
	}
	if c.Quant.FloatDepthwise {
		fl = append(fl, "depthwise")
	}
	q.FloatOps = strings.Join(fl, ",")
	if q.Method == CalibPercentile {
		q.Percentile = CalibPercentileValue
	}
	return q
}
