package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/internal/fsutil"
	"github.com/sgnas/sgnas/internal/netflags"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/pipeline"
	"github.com/sgnas/sgnas/profiles"
)

func init() { register(generateCommand()) }

// generateCommand returns a fresh `sgnas generate` (flags keep parse state).
func generateCommand() *cli.Command {
	return &cli.Command{
		Name:  "generate",
		Usage: "generate architectures for FLOPs or latency targets with a trained generator (one batched forward pass)",
		Description: "Each target T yields one architecture. By default it is repaired to fit the budget:\n" +
			"its full MFLOPs (as exported: SE convs included when on, classifier excluded) lie in\n" +
			"[0.97·T, T]. With --latency T --profile P the budget is the latency the device profile\n" +
			"predicts: each T is mapped onto the generator's FLOPs input, then repaired to [0.97·T, T] ms.\n" +
			"--raw prints the authors' plain argmax instead (it may exceed T).\n" +
			"Defaults for imagenet: SE on, h-swish, 1000 classes (the paper's models);\n" +
			"for cifar: SE off, relu6, the space's classes.",
		Flags: append(netflags.Flags(),
			&cli.StringFlag{Name: "generator", Usage: "generator checkpoint (.pth, e.g. the authors' best_avg.pth)", Required: true},
			&cli.StringFlag{Name: "prior", Usage: "prior pool JSON ({\"360\": 19×24 one-hot})", Required: true},
			&cli.StringFlag{Name: "flops", Usage: "targets in MFLOPs: 275,320,365 or START:STOP[:STEP] (inclusive); this or --latency"},
			&cli.StringFlag{Name: "latency", Usage: "targets in time on the --profile device: 12ms,15ms or START:STOP[:STEP] (e.g. 12ms:16ms:0.5ms); this or --flops"},
			&cli.StringFlag{Name: "profile", Usage: "device latency profile (sgnas profile build) for --latency"},
			&cli.BoolFlag{Name: "force", Usage: "use a --profile measured on another device or setting (prints one warning line)"},
			&cli.BoolFlag{Name: "raw", Usage: "plain argmax of the generator, no budget repair"},
			&cli.StringFlag{Name: "metric", Value: "full", Usage: "budgeted count: full (as exported) or lut (authors' lookup table, no SE)"},
			&cli.FloatFlag{Name: "window", Value: generator.DefaultWindow, Usage: "accept results in [window·T, T]"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "also write the JSON report to this file"},
		),
		Action: runGenerate,
	}
}

func runGenerate(ctx context.Context, cmd *cli.Command) error {
	opts, err := netflags.Generated(cmd)
	if err != nil {
		return err
	}
	space := opts.Space
	var targets []float64
	latency := cmd.IsSet("latency")
	switch {
	case cmd.IsSet("flops") && latency:
		return fmt.Errorf("give either --flops or --latency, not both")
	case latency:
		if targets, err = profiles.ParseLatencyTargets(cmd.String("latency")); err != nil {
			return fmt.Errorf("--latency: %w", err)
		}
		if !cmd.IsSet("profile") {
			return fmt.Errorf("--latency needs --profile (a device profile from `sgnas profile build`)")
		}
	case cmd.IsSet("flops"):
		if targets, err = generator.ParseTargets(cmd.String("flops")); err != nil {
			return fmt.Errorf("--flops: %w", err)
		}
	default:
		return fmt.Errorf("give the targets with --flops (MFLOPs) or --latency (e.g. 12ms, with --profile)")
	}
	var metric generator.Metric
	var lat *pipeline.Latency
	if latency {
		if lat, err = pipeline.LoadLatency(cmd.String("profile"), opts, "", cmd.Bool("force"), 1, targets, os.Stderr); err != nil {
			return err
		}
		metric = lat.Predictor
	} else if metric, err = generator.NewMetric(cmd.String("metric"), opts); err != nil {
		return fmt.Errorf("--metric: %w", err)
	}
	g, err := generator.Load(cmd.String("generator"))
	if err != nil {
		return err
	}
	pool, err := models.LoadPriorPool(cmd.String("prior"), space.Name)
	if err != nil {
		return err
	}
	req := generator.Request{Net: opts, Metric: metric, Raw: cmd.Bool("raw"), Window: cmd.Float("window"), MapTargets: latency}
	results, err := g.Generate(ctx, pool, targets, req)
	if err != nil {
		return err
	}
	rep := generator.Report(results, req, metric.Name())
	if lat != nil {
		rep.Profile, rep.ProfileDigest = lat.Path, lat.Digest
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if out := cmd.String("output"); out != "" {
		if err := fsutil.WriteFileAtomic(out, data, 0o644); err != nil {
			return err
		}
	}
	if cmd.Bool("json") {
		_, err := os.Stdout.Write(data)
		return err
	}
	mode := fmt.Sprintf("repaired to [%.2f·T, T] of %s MFLOPs", req.Window, metric.Name())
	if latency {
		mode = fmt.Sprintf("repaired to [%.2f·T, T] of the latency predicted by %s", req.Window, lat.Path)
	}
	if req.Raw {
		mode = "raw argmax"
	}
	fmt.Printf("space %s, SE %v, %s, %d classes; %s; MFLOPs = full count as exported, LUT = lookup table (no SE)\n",
		space.Name, opts.SE, opts.Act, opts.Classes, mode)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	if latency {
		fmt.Fprintf(tw, "target ms\tpredicted ms\traw ms\tinput MFLOPs\tMFLOPs\tparams\tchanged\tarch\t\n")
		for _, r := range results {
			fmt.Fprintf(tw, "%g\t%.3f\t%.3f\t%.1f\t%.2f\t%d\t%d\t%s\t\n", r.Target, r.Metric, r.RawMetric, r.Input, r.MFLOPs, r.Params, r.ChangedGroups, r.Arch)
		}
		return tw.Flush()
	}
	fmt.Fprintf(tw, "target\tLUT MFLOPs\tMFLOPs\tparams\traw %s\tchanged\tarch\t\n", metric.Name())
	for _, r := range results {
		fmt.Fprintf(tw, "%g\t%.2f\t%.2f\t%d\t%.2f\t%d\t%s\t\n", r.Target, r.LUTMFLOPs, r.MFLOPs, r.Params, r.RawMetric, r.ChangedGroups, r.Arch)
	}
	return tw.Flush()
}
