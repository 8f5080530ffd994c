package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/internal/npy"
	"github.com/sgnas/sgnas/tensor"
)

func ortFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "ep", Value: "cpu", Usage: "execution provider: cpu or cuda (cuda: the `make deps-cuda` bundle, or an ONNX Runtime GPU build through --ort-lib)"},
		&cli.IntFlag{Name: "device-id", Usage: "CUDA device ordinal (--ep cuda)"},
		&cli.IntFlag{Name: "opt-level", Value: 99, Usage: "graph optimization level: 0 none, 1 basic, 2 extended, 99 all"},
		&cli.StringFlag{Name: "ort-lib", Usage: "path of libonnxruntime.so (default: $SGNAS_ORT_LIB, then the `make deps` cache, then system paths)"},
	}
}

func init() {
	register(&cli.Command{
		Name:      "infer",
		Usage:     "run an ONNX model in ONNX Runtime on .npy inputs",
		ArgsUsage: "MODEL.onnx",
		Flags: append([]cli.Flag{
			&cli.StringSliceFlag{Name: "input", Aliases: []string{"i"}, Usage: "input .npy (float32, C order); repeat for models with several inputs, in model order"},
			&cli.StringSliceFlag{Name: "output", Aliases: []string{"o"}, Usage: "write output .npy here; repeat for several outputs, in model order"},
			&cli.IntFlag{Name: "threads", Usage: "intra-op threads (0: ONNX Runtime's default)"},
			&cli.StringFlag{Name: "reference", Usage: "compare the first output with this .npy (e.g. PyTorch's logits) and fail above --tolerance"},
			&cli.FloatFlag{Name: "tolerance", Value: 1e-4, Usage: "max abs difference allowed against --reference"},
		}, ortFlags()...),
		Action: inferAction,
	})
}

func inferAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() != 1 {
		return errors.New("infer: want exactly one MODEL.onnx argument")
	}
	model := cmd.Args().First()
	inPaths := cmd.StringSlice("input")
	if len(inPaths) == 0 {
		return errors.New("infer: --input X.npy is required")
	}
	if err := initORT(cmd.String("ep"), cmd.String("ort-lib")); err != nil {
		return err
	}
	opts := infer.SessionOptions{
		EP: cmd.String("ep"), DeviceID: cmd.Int("device-id"),
		IntraOpThreads: cmd.Int("threads"), OptLevel: cmd.Int("opt-level"),
	}
	outs, err := runInfer(ctx, cmd.Root().Writer, model, inPaths, cmd.StringSlice("output"), opts)
	if err != nil || !cmd.IsSet("reference") {
		return err
	}
	return compareReference(cmd.Root().Writer, outs[0], cmd.String("reference"), cmd.Float("tolerance"))
}

// compareReference checks an output against a reference .npy: max abs
// difference within tol and identical argmax per row.
func compareReference(w io.Writer, out *tensor.Tensor, refPath string, tol float64) error {
	ref, err := npy.Read(refPath)
	if err != nil {
		return err
	}
	diff, err := infer.MaxAbsDiff(out, ref)
	if err != nil {
		return fmt.Errorf("compare with %s: %w", refPath, err)
	}
	a, b := infer.ArgmaxRows(out), infer.ArgmaxRows(ref)
	same := 0
	for i := range a {
		if i < len(b) && a[i] == b[i] {
			same++
		}
	}
	fmt.Fprintf(w, "compare %s: max abs diff %.3g (tolerance %.3g), argmax agrees %d/%d\n", refPath, diff, tol, same, len(a))
	if diff > tol || same != len(a) {
		return fmt.Errorf("output differs from %s: max abs diff %.3g > %.3g or argmax differs (%d/%d rows agree)", refPath, diff, tol, same, len(a))
	}
	return nil
}

// runInfer loads the inputs, runs the model once and prints a summary.
func runInfer(ctx context.Context, w io.Writer, model string, inPaths, outPaths []string, opts infer.SessionOptions) ([]*tensor.Tensor, error) {
	s, err := infer.NewSession(model, opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if len(inPaths) != len(s.Inputs()) {
		return nil, fmt.Errorf("model %s takes %d input(s) (%s), got %d --input file(s)", model, len(s.Inputs()), ioNames(s.Inputs()), len(inPaths))
	}
	if len(outPaths) > len(s.Outputs()) {
		return nil, fmt.Errorf("model %s has %d output(s) (%s), got %d --output paths", model, len(s.Outputs()), ioNames(s.Outputs()), len(outPaths))
	}
	ins := make([]*tensor.Tensor, len(inPaths))
	for i, p := range inPaths {
		if ins[i], err = npy.Read(p); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	outs, err := s.Run(ctx, ins...)
	if err != nil {
		return nil, fmt.Errorf("%w (inputs: %s)", err, strings.Join(inPaths, ", "))
	}
	elapsed := time.Since(start)
	for i, p := range outPaths {
		if err := npy.Write(p, outs[i]); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(w, "model   %s (ONNX Runtime %s, EP %s)\n", model, infer.Version(), epName(opts.EP))
	for i, t := range s.Inputs() {
		fmt.Fprintf(w, "input   %s %s <- %s\n", t.Name, npy.FormatShape(ins[i].Shape), inPaths[i])
	}
	for i, t := range s.Outputs() {
		dest := ""
		if i < len(outPaths) {
			dest = " -> " + outPaths[i]
		}
		fmt.Fprintf(w, "output  %s %s%s\n", t.Name, npy.FormatShape(outs[i].Shape), dest)
		if len(outs[i].Shape) == 2 {
			fmt.Fprintf(w, "argmax  %s\n", formatArgmax(infer.ArgmaxRows(outs[i])))
		}
	}
	fmt.Fprintf(w, "time    %.3f ms (one run, includes first-run set-up)\n", float64(elapsed.Microseconds())/1000)
	return outs, nil
}

func epName(ep string) string {
	if ep == "" {
		return "cpu"
	}
	return ep
}

func ioNames(ts []infer.TensorInfo) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.Name + " " + npy.FormatShape(t.Shape)
	}
	return strings.Join(parts, ", ")
}

// formatArgmax prints per-row argmax, eliding the middle of long lists.
func formatArgmax(idx []int) string {
	str := func(v []int) string { return strings.Trim(fmt.Sprint(v), "[]") }
	if len(idx) <= 16 {
		return "[" + str(idx) + "]"
	}
	return fmt.Sprintf("[%s ... %s] (%d rows)", str(idx[:8]), str(idx[len(idx)-8:]), len(idx))
}
