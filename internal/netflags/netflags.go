// Package netflags declares and reads the network-option flags (--space,
// --se, --act, --classes) and the INT8 export flags (--int8, --calib, …)
// that the commands of both CLIs share. The
// defaults themselves are models.DefaultOptions, applied by package pipeline.
package netflags

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/data"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/pipeline"
)

// Flags returns fresh network-option flags (flags hold parse state).
func Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "space", Usage: "search space: imagenet, cifar10, cifar100 (default: the architecture file's, else imagenet)"},
		&cli.BoolFlag{Name: "se", Usage: "squeeze-and-excitation in every block (default: the architecture file's, else on for imagenet, off for cifar)"},
		&cli.StringFlag{Name: "act", Usage: "activation relu6|hswish (default: the architecture file's, else hswish for imagenet, relu6 for cifar)"},
		&cli.IntFlag{Name: "classes", Usage: "number of classes (default: the architecture file's, else 1000 for imagenet, the space's for cifar)"},
	}
}

// Choice returns the network options the flags set explicitly.
func Choice(cmd *cli.Command) (pipeline.NetChoice, error) {
	var c pipeline.NetChoice
	if cmd.IsSet("space") {
		c.Space = cmd.String("space")
		if _, err := models.SpaceByName(c.Space); err != nil {
			return c, fmt.Errorf("--space: %w", err)
		}
	}
	if cmd.IsSet("se") {
		se := cmd.Bool("se")
		c.SE = &se
	}
	if cmd.IsSet("act") {
		act, err := models.ParseActivation(cmd.String("act"))
		if err != nil {
			return c, fmt.Errorf("--act: %w", err)
		}
		c.Act = act
	}
	if cmd.IsSet("classes") {
		if c.Classes = int(cmd.Int("classes")); c.Classes <= 0 {
			return c, fmt.Errorf("--classes %d: want a positive number", c.Classes)
		}
	}
	return c, nil
}

// Generated returns the network options of generated models: the space's
// defaults with whatever the flags set on top.
func Generated(cmd *cli.Command) (models.Options, error) {
	c, err := Choice(cmd)
	if err != nil {
		return models.Options{}, err
	}
	return pipeline.GeneratedOptions(c)
}

// Int8Flags returns fresh flags of an INT8 export (--int8, --calib, …).
func Int8Flags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "int8", Usage: "write the INT8 (QDQ) model, calibrated on --calib (sgnas-export: beside each float32 model, as NAME_int8.onnx)"},
		&cli.StringFlag{Name: "calib", Usage: "calibration data for --int8: FILE.npy of inputs [N,3,H,W] (preprocessed), or a dataset " + strings.Join(data.Kinds, "|") + "[:DIR] read with its evaluation transform"},
		&cli.IntFlag{Name: "calib-samples", Value: pipeline.DefaultCalibSamples, Usage: "calibration inputs (spread evenly over a dataset)"},
		&cli.StringFlag{Name: "calib-method", Value: pipeline.CalibMinMax, Usage: "activation ranges: " + strings.Join(pipeline.CalibMethods, "|")},
		&cli.BoolFlag{Name: "per-channel", Value: true, Usage: "one weight scale per output channel (--per-channel=false: one per tensor)"},
		&cli.BoolFlag{Name: "symmetric", Usage: "int8 activations with zero point 0 (s8/s8) instead of asymmetric uint8 (u8/s8)"},
		&cli.BoolFlag{Name: "int8-spatial", Usage: "also quantize the stem and depthwise convolutions (slower than float32 in ONNX Runtime 1.24 on AVX2; see docs/export.md)"},
		&cli.BoolFlag{Name: "full-range", Usage: "8-bit weights instead of 7-bit: only for CPUs with VNNI (AVX512-VNNI, AVX-VNNI) or ARM; on AVX2 the u8×s8 products saturate"},
	}
}

// Int8 returns the INT8 settings the flags ask for (nil without --int8).
// Calibration flags without --int8 are an error.
func Int8(cmd *cli.Command) (*pipeline.Int8Config, error) {
	if !cmd.Bool("int8") {
		for _, f := range []string{"calib", "calib-samples", "calib-method", "per-channel", "symmetric", "int8-spatial", "full-range"} {
			if cmd.IsSet(f) {
				return nil, fmt.Errorf("--%s needs --int8", f)
			}
		}
		return nil, nil
	}
	n := cmd.Int("calib-samples")
	if n < 1 || n > pipeline.MaxCalibSamples {
		return nil, fmt.Errorf("--calib-samples %d: want 1..%d", n, pipeline.MaxCalibSamples)
	}
	c := &pipeline.Int8Config{Data: cmd.String("calib"), Samples: int(n), Method: cmd.String("calib-method")}
	c.Quant.PerTensor = !cmd.Bool("per-channel")
	c.Quant.Symmetric = cmd.Bool("symmetric")
	c.Quant.FullRange = cmd.Bool("full-range")
	spatial := cmd.Bool("int8-spatial")
	c.Quant.FloatDepthwise, c.Quant.FloatStem = !spatial, !spatial
	if err := c.Check(); err != nil {
		return nil, err
	}
	return c, nil
}
