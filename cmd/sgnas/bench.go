package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v3"
	"golang.org/x/term"

	"github.com/sgnas/sgnas/infer"
)

func init() {
	register(&cli.Command{
		Name:      "bench",
		Usage:     "time ONNX models in ONNX Runtime (several models are run interleaved and compared)",
		ArgsUsage: "MODEL.onnx [MODEL2.onnx ...]",
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "runs", Value: 100, Usage: "timed runs per model"},
			&cli.IntFlag{Name: "warmup", Value: 10, Usage: "untimed warm-up runs per model"},
			&cli.IntFlag{Name: "batch", Value: 1, Usage: "batch size (the models' first input dimension must be dynamic or equal to it)"},
			&cli.IntFlag{Name: "threads", Value: 1, Usage: "intra-op threads (0: ONNX Runtime's default)"},
			&cli.DurationFlag{Name: "duration", Usage: "time for this long instead of --runs (e.g. 10s)"},
			&cli.Uint64Flag{Name: "seed", Usage: "seed of the random inputs"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of a table"},
		}, ortFlags()...),
		Action: benchAction,
	})
}

// benchReport is the --json document for several models.
type benchReport struct {
	Device infer.DeviceInfo    `json:"device"`
	Models []infer.BenchResult `json:"models"`
	// RatioP50 and RatioMean give each model's p50 and mean latency
	// divided by the first model's.
	RatioP50  []float64 `json:"ratio_p50_vs_first"`
	RatioMean []float64 `json:"ratio_mean_vs_first"`
}

func benchAction(ctx context.Context, cmd *cli.Command) error {
	models := cmd.Args().Slice()
	if len(models) == 0 {
		return errors.New("bench: want at least one MODEL.onnx argument")
	}
	if err := initORT(cmd.String("ep"), cmd.String("ort-lib")); err != nil {
		return err
	}
	warm := cmd.Int("warmup")
	if warm == 0 {
		warm = -1 // none
	}
	opt := cmd.Int("opt-level")
	if opt == 0 {
		opt = -1 // BenchConfig: -1 disables, 0 means all
	}
	cfg := infer.BenchConfig{
		Runs: cmd.Int("runs"), Warmup: warm, Batch: cmd.Int("batch"), Threads: cmd.Int("threads"),
		EP: cmd.String("ep"), DeviceID: cmd.Int("device-id"), OptLevel: opt,
		Duration: cmd.Duration("duration"), Seed: cmd.Uint64("seed"),
	}
	if cfg.Runs <= 0 && cfg.Duration <= 0 {
		return fmt.Errorf("bench: --runs must be positive (got %d)", cfg.Runs)
	}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		var bar *progressbar.ProgressBar
		cfg.Progress = func(done, total int) {
			if bar == nil {
				desc := "bench"
				if cfg.Duration > 0 {
					desc = "bench (ms)"
				}
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionSetDescription(desc), progressbar.OptionClearOnFinish(),
					progressbar.OptionShowCount(), progressbar.OptionThrottle(100_000_000))
			}
			bar.Set(done)
			if done >= total {
				bar.Finish()
			}
		}
	}
	res, err := infer.Bench(ctx, models, cfg)
	if err != nil {
		return err
	}
	return printBench(cmd.Root().Writer, res, cmd.Bool("json"))
}

func ratios(res []infer.BenchResult) (p50, mean []float64) {
	for _, r := range res {
		p50 = append(p50, r.P50MS/res[0].P50MS)
		mean = append(mean, r.MeanMS/res[0].MeanMS)
	}
	return p50, mean
}

func printBench(w io.Writer, res []infer.BenchResult, asJSON bool) error {
	p50, mean := ratios(res)
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if len(res) == 1 {
			return enc.Encode(res[0])
		}
		return enc.Encode(benchReport{Device: res[0].Device, Models: res, RatioP50: p50, RatioMean: mean})
	}
	d := res[0].Device
	gpu := ""
	if d.GPU != "" {
		gpu = ", GPU " + d.GPU
	}
	fmt.Fprintf(w, "device  %s (%d cores%s), ONNX Runtime %s, EP %s, threads %d, graph opt %d\n",
		d.CPUModel, d.Cores, gpu, d.ORTVersion, d.EP, d.Threads, d.OptLevel)
	fmt.Fprintf(w, "%-28s %5s %6s %9s %9s %9s %9s %9s %9s %10s %8s\n",
		"model", "batch", "runs", "p50 ms", "p90 ms", "p99 ms", "mean ms", "std ms", "min ms", "samples/s", "p50 x")
	for i, r := range res {
		fmt.Fprintf(w, "%-28s %5d %6d %9.4f %9.4f %9.4f %9.4f %9.4f %9.4f %10.1f %8.3f\n",
			filepath.Base(r.Model), r.Batch, r.Runs, r.P50MS, r.P90MS, r.P99MS, r.MeanMS, r.StdMS, r.MinMS, r.Throughput, p50[i])
	}
	if len(res) > 1 {
		fmt.Fprintf(w, "(models run interleaved; \"p50 x\" is each model's p50 over %s's)\n", filepath.Base(res[0].Model))
	}
	return nil
}
