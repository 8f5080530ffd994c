package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/internal/netflags"
	"github.com/sgnas/sgnas/pipeline"
)

func init() { register(exportCommand()) }

// exportCommand returns a fresh "export" command (flags hold parse state, so
// tests build one per run).
func exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write the ONNX model of an architecture (imported .pth/safetensors weights or seeded init)",
		ArgsUsage: "ARCH_FILE",
		Flags: append(append(netflags.Flags(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the ONNX model here (required)"},
			&cli.StringFlag{Name: "weights", Usage: "state dict with the authors' tensor names: PyTorch checkpoint (.pth) or safetensors, told apart by content (default: seeded init)"},
			&cli.StringFlag{Name: "supernet", Usage: "take the weights from a trained supernet checkpoint (RUN/supernet.ckpt): the architecture's slice, no SE, ReLU6 (network flags must agree)"},
			&cli.BoolFlag{Name: "allow-unexpected", Usage: "accept tensors in --weights that the network does not use"},
			&cli.Int64Flag{Name: "seed", Value: 0, Usage: "seed of the initial weights when no --weights is given"},
			&cli.IntFlag{Name: "opset", Value: export.DefaultOpset, Usage: fmt.Sprintf("ONNX opset (%d..%d)", export.MinOpset, export.MaxOpset)},
			&cli.BoolFlag{Name: "no-optimize", Usage: "write the plain graph (BatchNormalization kept, groups not merged)"},
			&cli.StringFlag{Name: "target", Usage: "constraint the architecture was generated for, recorded in the metadata (e.g. flops:275)"},
			&cli.BoolFlag{Name: "check", Usage: "run the written model in ONNX Runtime against the plain graph on a seeded input"},
			&cli.StringFlag{Name: "ort-lib", Usage: "path of libonnxruntime.so (default: found automatically)"},
			&cli.StringFlag{Name: "depthwise-form", Value: export.DepthwiseSplit, Usage: "layers with several kernel sizes: split (one depthwise conv per size, Split/Concat) or padded (one conv, kernels zero-padded to the largest); see docs/export.md"},
			&cli.StringFlag{Name: "hswish-form", Value: export.HSwishOp, Usage: "h-swish as op (HardSwish) or gate (x·Clip(1×1 depthwise conv)); see docs/export.md"},
		), netflags.Int8Flags()...),
		Action: exportAction,
	}
}

func exportAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() != 1 {
		return errors.New("export: want exactly one ARCH_FILE argument")
	}
	out := cmd.String("output")
	if out == "" {
		return errors.New("export: --output (-o) is required")
	}
	a, mopts, choice, err := loadArchWithOptions(cmd, cmd.Args().First())
	if err != nil {
		return err
	}
	w, err := pipeline.OpenWeights(pipeline.WeightSource{
		Weights: cmd.String("weights"), AllowUnexpected: cmd.Bool("allow-unexpected"),
		Supernet: cmd.String("supernet"), Seed: cmd.Int64("seed"),
	})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if mopts, err = w.NetOptions(mopts, choice, a.Space); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	opts := export.Options{
		Opset:         int(cmd.Int("opset")),
		Optimize:      !cmd.Bool("no-optimize"),
		DepthwiseForm: cmd.String("depthwise-form"),
		HSwishForm:    cmd.String("hswish-form"),
		Target:        cmd.String("target"),
		Version:       version,
	}
	int8, err := netflags.Int8(cmd)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	res, err := pipeline.Export(ctx, pipeline.ExportRequest{
		Arch: a, Net: mopts, Weights: w, Export: opts, Out: out,
		Check: cmd.Bool("check"), ORTLib: cmd.String("ort-lib"), Int8: int8,
	})
	wr := cmd.Root().Writer
	if wr == nil {
		wr = os.Stdout
	}
	if res != nil && res.Model != nil {
		net, m := res.Net, res.Model
		form := "optimised"
		if !opts.Optimize {
			form = "plain"
		}
		if res.Int8 != nil {
			form = "INT8 QDQ, optimised"
		}
		md := export.Metadata(net, opts)
		fmt.Fprintf(wr, "wrote %s (%s graph, opset %s, IR %d)\n", out, form, md["opset"], m.GetIrVersion())
		fmt.Fprintf(wr, "  arch     %s %s (se %v, %s, %d classes)\n", net.Space.Name, net.Arch.String(), net.Opts.SE, net.Opts.Activation(), net.Opts.NumClasses())
		fmt.Fprintf(wr, "  weights  %s\n", res.Source)
		fmt.Fprintf(wr, "  nodes    %s\n", export.FormatNodeCounts(export.NodeCounts(m)))
		fmt.Fprintf(wr, "  MFLOPs   %s (lookup table, no SE), %s (full count%s)\n", md["lut_mflops"], md["mflops"], seNote(net.Opts.SE))
		fmt.Fprintf(wr, "  params   %s\n", md["params"])
		if res.Check != nil {
			fmt.Fprintln(wr, res.Check)
		}
		if res.Int8 != nil {
			fmt.Fprintln(wr, res.Int8)
		}
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

func seNote(se bool) string {
	if se {
		return ", SE convs included"
	}
	return ""
}
