package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/internal/netflags"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/train/supernet"
)

// config is everything one sgnas-export run needs.
type config struct {
	Targets         []float64
	Generator       string
	Prior           string
	Out             string
	Net             models.Options
	Weights         string
	Supernet        string
	AllowUnexpected bool
	Seed            int64
	Export          export.Options
	Raw             bool
	Metric          string
	Window          float64
	Measure         bool
	Runs, Threads   int
	ORTLib          string
	Log             io.Writer
}

func configFromFlags(cmd *cli.Command) (*config, error) {
	net, err := netflags.Generated(cmd)
	if err != nil {
		return nil, err
	}
	cfg := &config{
		Generator: cmd.String("generator"), Prior: cmd.String("prior"), Out: cmd.String("out"),
		Net: net, Weights: cmd.String("weights"),
		AllowUnexpected: cmd.Bool("allow-unexpected"), Seed: cmd.Int64("seed"),
		Export: export.Options{Opset: int(cmd.Int("opset")), Optimize: !cmd.Bool("no-optimize"), Version: version},
		Raw:    cmd.Bool("raw"), Metric: cmd.String("metric"), Window: cmd.Float("window"),
		Measure: cmd.Bool("measure"), Runs: int(cmd.Int("runs")), Threads: int(cmd.Int("threads")),
		ORTLib: cmd.String("ort-lib"), Log: os.Stderr,
	}
	if cfg.Supernet = cmd.String("supernet"); cfg.Supernet != "" {
		if cfg.Weights != "" {
			return nil, fmt.Errorf("--supernet and --weights are exclusive")
		}
		for _, f := range []string{"se", "act", "classes", "space"} {
			if cmd.IsSet(f) {
				return nil, fmt.Errorf("--%s: with --supernet the network options are the supernet's (its space and classes, no SE, ReLU6)", f)
			}
		}
	}
	if cmd.Bool("quiet") {
		cfg.Log = io.Discard
	}
	if cfg.Targets, err = generator.ParseTargets(cmd.String("flops")); err != nil {
		return nil, fmt.Errorf("--flops: %w", err)
	}
	seen := map[float64]bool{}
	for _, t := range cfg.Targets {
		if seen[t] {
			return nil, fmt.Errorf("--flops: target %g given twice (each target writes one model file)", t)
		}
		seen[t] = true
	}
	return cfg, nil
}

// run generates, exports, optionally times, and writes the manifest. All
// architectures are generated (and every target checked) before any file is
// written; each model and the manifest are written atomically.
func run(ctx context.Context, cfg *config) (*export.Manifest, error) {
	if cfg.Prior == "" {
		cfg.Prior = filepath.Join(filepath.Dir(cfg.Generator), "prior_pool.json")
		if _, err := os.Stat(cfg.Prior); err != nil {
			return nil, fmt.Errorf("no --prior given and no prior_pool.json beside %s", cfg.Generator)
		}
	}
	var sn *supernet.Supernet
	if cfg.Supernet != "" {
		var err error
		if sn, _, err = supernet.LoadCheckpoint(cfg.Supernet); err != nil {
			return nil, err
		}
		cfg.Net = sn.NetOptions()
	}
	metric, err := generator.NewMetric(cfg.Metric, cfg.Net)
	if err != nil {
		return nil, fmt.Errorf("--metric: %w", err)
	}
	g, err := generator.Load(cfg.Generator)
	if err != nil {
		return nil, err
	}
	digest, err := export.FileSHA256(cfg.Generator)
	if err != nil {
		return nil, err
	}
	pool, err := models.LoadPriorPool(cfg.Prior, cfg.Net.Space.Name)
	if err != nil {
		return nil, err
	}
	req := generator.Request{Net: cfg.Net, Metric: metric, Raw: cfg.Raw, Window: cfg.Window}
	if sn != nil {
		req.MinExpansion = 2 // the supernet has no expansion-1 layers to slice
	}
	results, err := g.Generate(ctx, pool, cfg.Targets, req)
	if err != nil {
		return nil, err
	}
	if cfg.Measure {
		// Fail before writing anything when the runtime is missing.
		if err := infer.Init(cfg.ORTLib); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	// Models are written into a staging folder inside --out and moved into
	// place only when every target has been exported (and timed): a run that
	// fails or is interrupted leaves the earlier models and manifest intact.
	stage, err := os.MkdirTemp(cfg.Out, ".sgnas-export-")
	if err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	defer os.RemoveAll(stage)
	m := &export.Manifest{
		Version: export.ManifestVersion, SgnasVersion: version, Generator: cfg.Generator,
		GeneratorDigest: "sha256:" + digest, Metric: metric.Name(),
	}
	var files []string
	for i, r := range results {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		net, err := models.Build(r.Arch, cfg.Net)
		if err != nil {
			return nil, err
		}
		sd, wdesc := export.InitWeights(net, cfg.Seed), fmt.Sprintf("seed:%d", cfg.Seed)
		switch {
		case sn != nil:
			if sd, err = sn.Standalone(r.Arch); err != nil {
				return nil, fmt.Errorf("target %g: %s: %w", r.Target, cfg.Supernet, err)
			}
			wdesc = "supernet:" + cfg.Supernet
		case cfg.Weights != "":
			if sd, err = export.LoadWeights(cfg.Weights, net, cfg.AllowUnexpected); err != nil {
				return nil, fmt.Errorf("target %g: %w", r.Target, err)
			}
			wdesc = cfg.Weights
		}
		name := fmt.Sprintf("sgnas_%s_%s%s.onnx", cfg.Net.Space.Name, metric.Name(), strings.ReplaceAll(fmt.Sprint(r.Target), ".", "p"))
		path := filepath.Join(stage, name)
		opts := cfg.Export
		opts.Target = fmt.Sprintf("%s_mflops:%g", metric.Name(), r.Target)
		opts.GeneratorDigest = m.GeneratorDigest
		model, err := export.WriteFile(path, net, sd, opts)
		if err != nil {
			return nil, fmt.Errorf("target %g: %w", r.Target, err)
		}
		sum, err := export.FileSHA256(path)
		if err != nil {
			return nil, err
		}
		m.Models = append(m.Models, export.ManifestEntry{
			File: name, SHA256: sum, Target: r.Target, Space: cfg.Net.Space.Name, Arch: r.Arch.String(),
			Layers: r.Arch.Layers, SE: cfg.Net.SE, Activation: string(cfg.Net.Activation()),
			Classes: cfg.Net.NumClasses(), Weights: wdesc, LUTMFLOPs: r.LUTMFLOPs, MFLOPs: r.MFLOPs,
			Params: r.Params, RawMFLOPs: r.RawMetric, ChangedGroups: r.ChangedGroups,
			Nodes: len(model.GetGraph().GetNode()),
		})
		files = append(files, path)
		fmt.Fprintf(cfg.Log, "[%d/%d] %s  target %g: %.2f MFLOPs full (%.2f LUT), %d params, %d groups repaired\n",
			i+1, len(results), filepath.Join(cfg.Out, name), r.Target, r.MFLOPs, r.LUTMFLOPs, r.Params, r.ChangedGroups)
	}
	if cfg.Measure {
		fmt.Fprintf(cfg.Log, "timing %d models in ONNX Runtime (CPU, batch 1, %d threads, %d runs, interleaved)\n", len(files), cfg.Threads, cfg.Runs)
		res, err := infer.Bench(ctx, files, infer.BenchConfig{Runs: cfg.Runs, Batch: 1, Threads: cfg.Threads, Seed: 1})
		if err != nil {
			return nil, err
		}
		for i, r := range res {
			m.Models[i].MeasuredLatency = &export.MeasuredLatency{
				P50MS: r.P50MS, P90MS: r.P90MS, Runs: r.Runs, Threads: cfg.Threads, EP: r.Device.EP, CPU: r.Device.CPUModel,
			}
			fmt.Fprintf(cfg.Log, "  %s: p50 %.3f ms, p90 %.3f ms\n", filepath.Base(files[i]), r.P50MS, r.P90MS)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, e := range m.Models {
		if err := os.Rename(filepath.Join(stage, e.File), filepath.Join(cfg.Out, e.File)); err != nil {
			return nil, fmt.Errorf("move %s into %s: %w", e.File, cfg.Out, err)
		}
	}
	mpath := filepath.Join(cfg.Out, "manifest.json")
	if err := m.Save(mpath); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Log, "wrote %s (%d models)\n", mpath, len(m.Models))
	return m, nil
}
