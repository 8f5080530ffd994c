// Command sgnas-export turns hardware budgets into ONNX models in one call:
// the architecture generator produces one architecture per FLOPs target (one
// batched forward pass, repaired so every model fits its budget), each is
// exported as an optimised ONNX graph, optionally checked and timed in ONNX
// Runtime, and a manifest.json records what was written. The work is
// package pipeline's; this command parses flags.
//
//	sgnas-export --flops 275,320,365 --generator best_avg.pth --out models/
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/internal/netflags"
	"github.com/sgnas/sgnas/pipeline"
)

// version is overridden at link time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newCommand().Run(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "sgnas-export:", err)
		os.Exit(1)
	}
}

func newCommand() *cli.Command {
	return &cli.Command{
		Name:    "sgnas-export",
		Usage:   "generate architectures for FLOPs or latency budgets and write them as ONNX models with a manifest",
		Version: version,
		Description: "Every model written fits its budget: its full MFLOPs (as exported: SE convs included\n" +
			"when on, classifier excluded) lie in [window·T, T] (--metric lut budgets the authors'\n" +
			"lookup-table count instead). With --latency T --profile P every model's latency predicted\n" +
			"by the device profile lies in [window·T, T] (--measure times them beside the prediction).\n" +
			"--raw writes the generator's plain argmax (it may exceed T).\n" +
			"Weights are seeded (the authors' init scheme) unless --weights gives a state dict that\n" +
			"matches every generated architecture, or --supernet slices them out of a trained supernet.",
		Flags: append(append(netflags.Flags(),
			&cli.StringFlag{Name: "flops", Usage: "targets in MFLOPs: 275,320,365 or START:STOP[:STEP] (inclusive); this or --latency"},
			&cli.StringFlag{Name: "latency", Usage: "targets in time on the --profile device: 10ms,12ms,15ms or START:STOP[:STEP] (e.g. 10ms:16ms:2ms); this or --flops"},
			&cli.StringFlag{Name: "profile", Usage: "device latency profile (sgnas profile build): budgets --latency; with --flops it records each model's predicted latency"},
			&cli.BoolFlag{Name: "force", Usage: "use a --profile measured on another device or setting (prints one warning line)"},
			&cli.StringFlag{Name: "generator", Usage: "generator checkpoint (.pth, e.g. the authors' best_avg.pth)", Required: true},
			&cli.StringFlag{Name: "prior", Usage: "prior pool JSON (default: prior_pool.json beside the generator)"},
			&cli.StringFlag{Name: "out", Usage: "output directory (created if missing): manifest.json and the models, links into the folder of the last complete run (see docs/export.md)", Required: true},
			&cli.StringFlag{Name: "weights", Usage: "state dict (.pth or safetensors, told apart by content) to export instead of seeded weights"},
			&cli.StringFlag{Name: "supernet", Usage: "export each architecture's slice of a trained supernet (RUN/supernet.ckpt): its space and classes, no SE, ReLU6 (network flags must agree)"},
			&cli.BoolFlag{Name: "allow-unexpected", Usage: "ignore tensors in --weights the network does not use"},
			&cli.Int64Flag{Name: "seed", Value: 0, Usage: "seed of the initial weights"},
			&cli.IntFlag{Name: "opset", Value: export.DefaultOpset, Usage: fmt.Sprintf("ONNX opset %d..%d", export.MinOpset, export.MaxOpset)},
			&cli.BoolFlag{Name: "no-optimize", Usage: "write the plain graph (BatchNormalization nodes, Split/Concat)"},
			&cli.BoolFlag{Name: "raw", Usage: "plain argmax of the generator, no budget repair"},
			&cli.StringFlag{Name: "metric", Value: "full", Usage: "budgeted count: full (as exported) or lut (lookup table, no SE)"},
			&cli.FloatFlag{Name: "window", Value: generator.DefaultWindow, Usage: "accept results in [window·T, T]"},
			&cli.BoolFlag{Name: "check", Usage: "run every model in ONNX Runtime against its plain graph on a seeded input before publishing"},
			&cli.BoolFlag{Name: "measure", Usage: "time every model in ONNX Runtime (CPU, batch 1) and record it in the manifest"},
			&cli.IntFlag{Name: "runs", Value: 50, Usage: "timed runs per model with --measure"},
			&cli.IntFlag{Name: "threads", Usage: "ONNX Runtime intra-op threads with --measure (default: the --profile's threads, else 1)"},
			&cli.StringFlag{Name: "ort-lib", Usage: "path to libonnxruntime.so (default: $SGNAS_ORT_LIB, the make deps cache, system paths)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"},
		), netflags.Int8Flags()...),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			cfg, err := configFromFlags(cmd)
			if err != nil {
				return err
			}
			_, err = pipeline.Run(ctx, *cfg)
			return err
		},
	}
}
