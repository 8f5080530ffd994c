package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/internal/netflags"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/pipeline"
)

func init() { register(archCommand()) }

// archCommand builds the "arch" command (fresh flags on every call).
func archCommand() *cli.Command {
	return &cli.Command{
		Name:  "arch",
		Usage: "inspect and sample architectures",
		Commands: []*cli.Command{
			{
				Name:      "info",
				Usage:     "per-layer table, FLOPs (lookup-table and full count) and params of an architecture file",
				ArgsUsage: "ARCH_FILE",
				Flags: append(netflags.Flags(),
					&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
				),
				Action: archInfo,
			},
			{
				Name:  "random",
				Usage: "sample a valid architecture (near a LUT FLOPs target when --flops is given)",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "space", Value: "imagenet", Usage: "search space: imagenet, cifar10, cifar100"},
					&cli.Int64Flag{Name: "seed", Value: 1, Usage: "random seed"},
					&cli.FloatFlag{Name: "flops", Usage: "LUT MFLOPs target (within ±1)"},
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the architecture JSON here instead of stdout"},
				},
				Action: archRandom,
			},
		},
	}
}

// loadArchWithOptions reads an architecture file and resolves the network
// options (pipeline.ArchOptions): flags override what the file records,
// which overrides the space's defaults (models.DefaultOptions).
func loadArchWithOptions(cmd *cli.Command, path string) (*models.Arch, models.Options, pipeline.NetChoice, error) {
	c, err := netflags.Choice(cmd)
	if err != nil {
		return nil, models.Options{}, c, err
	}
	f, err := models.LoadArchFile(path)
	if err != nil {
		return nil, models.Options{}, c, err
	}
	a, opts, err := pipeline.ArchOptions(f, c)
	return a, opts, c, err
}

// archInfoJSON is the --json output of arch info.
type archInfoJSON struct {
	Space      string          `json:"space"`
	Arch       string          `json:"arch"`
	SE         bool            `json:"se"`
	Activation string          `json:"activation"`
	Classes    int             `json:"classes"`
	LUTMFLOPs  float64         `json:"lut_mflops"`
	MFLOPs     float64         `json:"mflops"`
	Params     int64           `json:"params"`
	Layers     []layerInfoJSON `json:"layers"`
}

type layerInfoJSON struct {
	Kernels   []int   `json:"kernels"`
	Expansion int     `json:"expansion"`
	In        int     `json:"in"`
	Out       int     `json:"out"`
	Stride    int     `json:"stride"`
	LUTMFLOPs float64 `json:"lut_mflops"`
	MFLOPs    float64 `json:"mflops"`
}

func archInfo(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() != 1 {
		return fmt.Errorf("arch info: want exactly one ARCH_FILE argument, got %d", cmd.Args().Len())
	}
	a, opts, _, err := loadArchWithOptions(cmd, cmd.Args().First())
	if err != nil {
		return err
	}
	info, err := describeArch(a, opts)
	if err != nil {
		return err
	}
	if cmd.Bool("json") {
		return writeJSON(os.Stdout, info)
	}
	printArchTable(os.Stdout, info)
	return nil
}

func describeArch(a *models.Arch, opts models.Options) (*archInfoJSON, error) {
	counts, err := models.Count(a, opts)
	if err != nil {
		return nil, err
	}
	net, err := models.Build(a, opts)
	if err != nil {
		return nil, err
	}
	lut := opts.Space.LUT()
	info := &archInfoJSON{
		Space: opts.Space.Name, Arch: a.String(), SE: opts.SE, Activation: string(opts.Activation()),
		Classes: opts.NumClasses(), LUTMFLOPs: counts.LUTMFLOPs, MFLOPs: counts.MFLOPs, Params: counts.Params,
	}
	for l, layer := range a.Layers {
		b := net.Blocks[l+1]
		info.Layers = append(info.Layers, layerInfoJSON{
			Kernels: layer.Kernels, Expansion: layer.Expansion(), In: b.In, Out: b.Out, Stride: b.Stride,
			LUTMFLOPs: lut.LayerMFLOPs(l, layer.Kernels), MFLOPs: float64(b.MACs()) / 1e6,
		})
	}
	return info, nil
}

func printArchTable(w io.Writer, info *archInfoJSON) {
	fmt.Fprintf(w, "space %s, SE %v, activation %s, %d classes\n", info.Space, info.SE, info.Activation, info.Classes)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\tin→out\tstride\texp\tkernels\tLUT MFLOPs\tfull MFLOPs\t")
	for i, l := range info.Layers {
		ks := strings.Trim(strings.ReplaceAll(fmt.Sprint(l.Kernels), " ", ","), "[]")
		fmt.Fprintf(tw, "%d\t%d→%d\t%d\t%d\t%s\t%.2f\t%.2f\t\n", i, l.In, l.Out, l.Stride, l.Expansion, ks, l.LUTMFLOPs, l.MFLOPs)
	}
	tw.Flush()
	fmt.Fprintf(w, "FLOPs (MACs of convs, classifier excluded): lookup table %.2f M (no SE), full %.2f M", info.LUTMFLOPs, info.MFLOPs)
	if info.SE {
		fmt.Fprint(w, " (SE included)")
	}
	fmt.Fprintf(w, "\nparams: %d (classifier included)\narch: %s\n", info.Params, info.Arch)
}

func archRandom(ctx context.Context, cmd *cli.Command) error {
	space, err := models.SpaceByName(cmd.String("space"))
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewSource(cmd.Int64("seed")))
	var a *models.Arch
	if cmd.IsSet("flops") {
		if a, err = models.RandomArchNear(space, rng, cmd.Float("flops"), 1); err != nil {
			return err
		}
	} else {
		a = models.RandomArch(space.Name, rng, 2, models.NumGroups)
	}
	if out := cmd.String("output"); out != "" {
		if err := a.Save(out); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s (LUT %.2f MFLOPs)\n", out, space.LUT().ArchMFLOPs(a))
		return nil
	}
	_, err = os.Stdout.Write(a.MarshalIndent())
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
