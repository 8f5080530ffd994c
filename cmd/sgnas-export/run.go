package main

import (
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/internal/netflags"
	"github.com/sgnas/sgnas/pipeline"
	"github.com/sgnas/sgnas/profiles"
)

// configFromFlags turns the flags into a pipeline run.
func configFromFlags(cmd *cli.Command) (*pipeline.Config, error) {
	net, err := netflags.Choice(cmd)
	if err != nil {
		return nil, err
	}
	cfg := &pipeline.Config{
		Generator: cmd.String("generator"), Prior: cmd.String("prior"), Out: cmd.String("out"), Net: net,
		Weights: pipeline.WeightSource{
			Weights: cmd.String("weights"), AllowUnexpected: cmd.Bool("allow-unexpected"),
			Supernet: cmd.String("supernet"), Seed: cmd.Int64("seed"),
		},
		Export: export.Options{Opset: int(cmd.Int("opset")), Optimize: !cmd.Bool("no-optimize"), Version: version},
		Raw:    cmd.Bool("raw"), Metric: cmd.String("metric"), Window: cmd.Float("window"), Check: cmd.Bool("check"),
		Measure: cmd.Bool("measure"), Runs: int(cmd.Int("runs")), Threads: int(cmd.Int("threads")),
		ORTLib: cmd.String("ort-lib"), Log: os.Stderr,
	}
	if cmd.Bool("quiet") {
		cfg.Log = io.Discard
	}
	if cfg.Int8, err = netflags.Int8(cmd); err != nil {
		return nil, err
	}
	cfg.Profile, cfg.Force = cmd.String("profile"), cmd.Bool("force")
	switch {
	case cmd.IsSet("flops") && cmd.IsSet("latency"):
		return nil, fmt.Errorf("give either --flops or --latency, not both")
	case cmd.IsSet("latency"):
		cfg.Latency = true
		if cfg.Targets, err = profiles.ParseLatencyTargets(cmd.String("latency")); err != nil {
			return nil, fmt.Errorf("--latency: %w", err)
		}
		if cfg.Profile == "" {
			return nil, fmt.Errorf("--latency needs --profile (a device profile from `sgnas profile build`)")
		}
	case cmd.IsSet("flops"):
		if cfg.Targets, err = generator.ParseTargets(cmd.String("flops")); err != nil {
			return nil, fmt.Errorf("--flops: %w", err)
		}
	default:
		return nil, fmt.Errorf("give the budgets with --flops (MFLOPs) or --latency (e.g. 12ms, with --profile)")
	}
	return cfg, nil
}
