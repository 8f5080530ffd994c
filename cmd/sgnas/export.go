package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/internal/npy"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/train/supernet"
	"github.com/sgnas/sgnas/weights"
)

func init() { register(exportCommand()) }

// exportCommand returns a fresh "export" command (flags hold parse state, so
// tests build one per run).
func exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write the ONNX model of an architecture (imported .pth weights or seeded init)",
		ArgsUsage: "ARCH_FILE",
		Flags: append(netFlags(),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the ONNX model here (required)"},
			&cli.StringFlag{Name: "weights", Usage: "PyTorch checkpoint (.pth) with the authors' tensor names (default: seeded init)"},
			&cli.StringFlag{Name: "supernet", Usage: "take the weights from a trained supernet checkpoint (RUN/supernet.ckpt): the architecture's slice, no SE, ReLU6"},
			&cli.BoolFlag{Name: "allow-unexpected", Usage: "accept tensors in --weights that the network does not use"},
			&cli.Int64Flag{Name: "seed", Value: 0, Usage: "seed of the initial weights when no --weights is given"},
			&cli.IntFlag{Name: "opset", Value: export.DefaultOpset, Usage: fmt.Sprintf("ONNX opset (%d..%d)", export.MinOpset, export.MaxOpset)},
			&cli.BoolFlag{Name: "no-optimize", Usage: "write the plain graph (BatchNormalization kept, groups not merged)"},
			&cli.StringFlag{Name: "target", Usage: "constraint the architecture was generated for, recorded in the metadata (e.g. flops:275)"},
			&cli.BoolFlag{Name: "check", Usage: "run the written model in ONNX Runtime against the plain graph on a seeded input"},
			&cli.StringFlag{Name: "ort-lib", Usage: "path of libonnxruntime.so (default: found automatically)"},
		),
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
	a, mopts, err := loadArchWithOptions(cmd, cmd.Args().First())
	if err != nil {
		return err
	}
	var sd weights.StateDict
	source := ""
	if sp := cmd.String("supernet"); sp != "" {
		if cmd.IsSet("weights") {
			return errors.New("export: --supernet and --weights are exclusive")
		}
		if sd, mopts, err = supernetSlice(cmd, sp, a); err != nil {
			return err
		}
		source = "supernet slice of " + sp
	}
	net, err := models.Build(a, mopts)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	switch w := cmd.String("weights"); {
	case sd != nil: // sliced from the supernet above
	case w != "":
		if sd, err = export.LoadWeights(w, net, cmd.Bool("allow-unexpected")); err != nil {
			return err
		}
		source = w
	default:
		sd = export.InitWeights(net, cmd.Int64("seed"))
		source = fmt.Sprintf("seeded init (seed %d)", cmd.Int64("seed"))
	}
	opts := export.Options{
		Opset:    int(cmd.Int("opset")),
		Optimize: !cmd.Bool("no-optimize"),
		Target:   cmd.String("target"),
		Version:  version,
	}
	// With --check the model is written beside -o and moved into place only
	// when the check passes, so a failed check leaves an earlier file intact.
	dest := out
	if cmd.Bool("check") {
		dest = filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".check.onnx")
		defer os.Remove(dest)
	}
	m, err := export.WriteFile(dest, net, sd, opts)
	if err != nil {
		return err
	}
	w := cmd.Root().Writer
	if w == nil {
		w = os.Stdout
	}
	form := "optimised"
	if !opts.Optimize {
		form = "plain"
	}
	md := export.Metadata(net, opts)
	fmt.Fprintf(w, "wrote %s (%s graph, opset %s, IR %d)\n", out, form, md["opset"], m.GetIrVersion())
	fmt.Fprintf(w, "  arch     %s %s (se %v, %s, %d classes)\n", net.Space.Name, net.Arch.String(), net.Opts.SE, net.Opts.Activation(), net.Opts.NumClasses())
	fmt.Fprintf(w, "  weights  %s\n", source)
	fmt.Fprintf(w, "  nodes    %s\n", export.FormatNodeCounts(export.NodeCounts(m)))
	fmt.Fprintf(w, "  MFLOPs   %s (lookup table, no SE), %s (full count%s)\n", md["lut_mflops"], md["mflops"], seNote(net.Opts.SE))
	fmt.Fprintf(w, "  params   %s\n", md["params"])
	if !cmd.Bool("check") {
		return nil
	}
	if err := exportCheck(ctx, w, cmd.String("ort-lib"), dest, net, sd, opts); err != nil {
		return err
	}
	if err := os.Rename(dest, out); err != nil {
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

// exportCheck runs the written model and the plain graph of the same
// network and weights in ONNX Runtime on a seeded input and compares them.
func exportCheck(ctx context.Context, w io.Writer, ortLib, path string, net *models.Network, sd weights.StateDict, opts export.Options) error {
	if err := infer.Init(ortLib); err != nil {
		return fmt.Errorf("export --check: %w", err)
	}
	dir, err := os.MkdirTemp("", "sgnas-export-check-")
	if err != nil {
		return fmt.Errorf("export --check: %w", err)
	}
	defer os.RemoveAll(dir)
	plainOpts := opts
	plainOpts.Optimize = false
	plainPath := filepath.Join(dir, "plain.onnx")
	if _, err := export.WriteFile(plainPath, net, sd, plainOpts); err != nil {
		return fmt.Errorf("export --check: plain graph: %w", err)
	}
	in := seededInput(1, 2, net.Space.InputSize)
	got, err := runOnce(ctx, path, in)
	if err != nil {
		return fmt.Errorf("export --check: %w", err)
	}
	want, err := runOnce(ctx, plainPath, in)
	if err != nil {
		return fmt.Errorf("export --check: plain graph: %w", err)
	}
	d, err := infer.MaxAbsDiff(got, want)
	if err != nil {
		return fmt.Errorf("export --check: %w", err)
	}
	ga, wa := infer.ArgmaxRows(got), infer.ArgmaxRows(want)
	agree := 0
	for i := range ga {
		if ga[i] == wa[i] {
			agree++
		}
	}
	scale := 0.0
	for _, v := range want.Data {
		scale = math.Max(scale, math.Abs(float64(v)))
	}
	fmt.Fprintf(w, "check: ONNX Runtime %s, seeded input %v: max abs diff vs plain graph %.3g (max |logit| %.3g, relative %.2g), argmax agrees %d/%d\n",
		infer.Version(), in.Shape, d, scale, d/math.Max(scale, math.SmallestNonzeroFloat64), agree, len(ga))
	// Relative tolerance: seeded-init networks can have tiny logits.
	// !(d <= tol) also fails on NaN or infinite outputs.
	if tol := 1e-4 * scale; !(d <= tol) || math.IsNaN(scale) || agree != len(ga) {
		return fmt.Errorf("export --check: %s differs from the plain graph: max abs diff %.3g (tolerance %.3g), argmax agrees %d/%d", path, d, tol, agree, len(ga))
	}
	return nil
}

func runOnce(ctx context.Context, path string, in *npy.Array) (*npy.Array, error) {
	s, err := infer.NewSession(path, infer.DefaultSessionOptions())
	if err != nil {
		return nil, err
	}
	defer s.Close()
	outs, err := s.Run(ctx, in)
	if err != nil {
		return nil, err
	}
	if len(outs) != 1 {
		return nil, fmt.Errorf("%s: %d outputs, want 1", path, len(outs))
	}
	return outs[0], nil
}

// seededInput is a standard-normal [n,3,size,size] input.
func seededInput(seed int64, n, size int) *npy.Array {
	rng := rand.New(rand.NewSource(seed))
	a := &npy.Array{Shape: []int64{int64(n), 3, int64(size), int64(size)}, Data: make([]float32, n*3*size*size)}
	for i := range a.Data {
		a.Data[i] = float32(rng.NormFloat64())
	}
	return a
}

// supernetSlice loads a supernet checkpoint and slices the weights of arch
// out of it. The network options are the supernet's (no SE, ReLU6, its
// classes); flags that ask for something else are an error.
func supernetSlice(cmd *cli.Command, path string, a *models.Arch) (weights.StateDict, models.Options, error) {
	sn, _, err := supernet.LoadCheckpoint(path)
	if err != nil {
		return nil, models.Options{}, err
	}
	opts := sn.NetOptions()
	if a.Space != opts.Space.Name {
		return nil, opts, fmt.Errorf("export: architecture is for space %s, supernet %s is %s", a.Space, path, opts.Space.Name)
	}
	if cmd.IsSet("se") && cmd.Bool("se") {
		return nil, opts, fmt.Errorf("export: --se: supernet %s has no SE weights", path)
	}
	if cmd.IsSet("act") && cmd.String("act") != string(models.ReLU6) && cmd.String("act") != "relu" {
		return nil, opts, fmt.Errorf("export: --act %s: supernet %s is trained with relu6", cmd.String("act"), path)
	}
	if cmd.IsSet("classes") && int(cmd.Int("classes")) != opts.Classes {
		return nil, opts, fmt.Errorf("export: --classes %d: supernet %s has %d classes", cmd.Int("classes"), path, opts.Classes)
	}
	sd, err := sn.Standalone(a)
	if err != nil {
		return nil, opts, fmt.Errorf("export: %s: %w", path, err)
	}
	return sd, opts, nil
}
