package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/models"
)

// Config is one sgnas-export run: budgets in, a published set of ONNX
// models with a manifest out.
type Config struct {
	Targets   []float64 // budgets (MFLOPs of Metric); each writes one model
	Generator string    // generator checkpoint
	Prior     string    // prior pool ("": prior_pool.json beside Generator)
	Out       string    // output folder (see the layout in outdir.go)
	Net       NetChoice // explicit network options (defaults per space)
	Weights   WeightSource
	Export    export.Options
	Raw       bool    // the generator's plain argmax, no repair
	Metric    string  // budgeted count: "full" or "lut"
	Window    float64 // accept [Window·T, T] (0: generator.DefaultWindow)
	Check     bool    // parity-check every model in ONNX Runtime
	Measure   bool    // time every model in ONNX Runtime
	Runs      int     // timed runs per model with Measure
	Threads   int     // ONNX Runtime intra-op threads with Measure
	ORTLib    string  // ONNX Runtime library ("" finds it)
	Log       io.Writer
}

// Run generates one architecture per target, exports each with its weights,
// optionally checks and times them, and publishes the models with their
// manifest into cfg.Out as one atomic step. Every target is generated (and
// checked against its budget) before anything is written; a second run into
// the same folder is refused while one is in progress.
func Run(ctx context.Context, cfg Config) (*export.Manifest, error) {
	log := cfg.Log
	if log == nil {
		log = io.Discard
	}
	if len(cfg.Targets) == 0 {
		return nil, fmt.Errorf("--flops: no target given")
	}
	seen := map[float64]bool{}
	for _, t := range cfg.Targets {
		if seen[t] {
			return nil, fmt.Errorf("--flops: target %g given twice (each target writes one model file)", t)
		}
		seen[t] = true
	}
	if cfg.Prior == "" {
		cfg.Prior = filepath.Join(filepath.Dir(cfg.Generator), "prior_pool.json")
		if _, err := os.Stat(cfg.Prior); err != nil {
			return nil, fmt.Errorf("no --prior given and no prior_pool.json beside %s", cfg.Generator)
		}
	}
	w, err := OpenWeights(cfg.Weights)
	if err != nil {
		return nil, err
	}
	net, err := GeneratedOptions(cfg.Net)
	if err != nil {
		return nil, err
	}
	if net, err = w.NetOptions(net, cfg.Net, ""); err != nil {
		return nil, err
	}
	metric, err := generator.NewMetric(cfg.Metric, net)
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
	pool, err := models.LoadPriorPool(cfg.Prior, net.Space.Name)
	if err != nil {
		return nil, err
	}
	req := generator.Request{Net: net, Metric: metric, Raw: cfg.Raw, Window: cfg.Window, MinExpansion: w.MinExpansion()}
	results, err := g.Generate(ctx, pool, cfg.Targets, req)
	if err != nil {
		return nil, err
	}
	if cfg.Measure || cfg.Check {
		// Fail before writing anything when the runtime is missing.
		if err := infer.Init(cfg.ORTLib); err != nil {
			return nil, err
		}
	}
	out, err := openOut(cfg.Out)
	if err != nil {
		return nil, err
	}
	defer out.close()
	stage, err := out.stage()
	if err != nil {
		return nil, err
	}
	// Gone once published (renamed into runs/); removed on any failure.
	defer os.RemoveAll(stage)
	m := &export.Manifest{
		Version: export.ManifestVersion, SgnasVersion: cfg.Export.Version, Generator: cfg.Generator,
		GeneratorDigest: "sha256:" + digest, Metric: metric.Name(),
	}
	var files, names []string
	for i, r := range results {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		nw, err := models.Build(r.Arch, net)
		if err != nil {
			return nil, err
		}
		sd, wdesc, err := w.For(nw)
		if err != nil {
			return nil, fmt.Errorf("target %g: %w", r.Target, err)
		}
		name := fmt.Sprintf("sgnas_%s_%s%s.onnx", net.Space.Name, metric.Name(), strings.ReplaceAll(fmt.Sprint(r.Target), ".", "p"))
		path := filepath.Join(stage, name)
		opts := cfg.Export
		opts.Target = fmt.Sprintf("%s_mflops:%g", metric.Name(), r.Target)
		opts.GeneratorDigest = m.GeneratorDigest
		model, err := export.WriteFile(path, nw, sd, opts)
		if err != nil {
			return nil, fmt.Errorf("target %g: %w", r.Target, err)
		}
		var cr *CheckResult
		if cfg.Check {
			if cr, err = Check(ctx, cfg.ORTLib, path, nw, sd, opts); err != nil {
				return nil, fmt.Errorf("target %g: %w", r.Target, err)
			}
		}
		sum, err := export.FileSHA256(path)
		if err != nil {
			return nil, err
		}
		m.Models = append(m.Models, export.ManifestEntry{
			File: name, SHA256: sum, Target: r.Target, Space: net.Space.Name, Arch: r.Arch.String(),
			Layers: r.Arch.Layers, SE: net.SE, Activation: string(net.Activation()),
			Classes: net.NumClasses(), Weights: wdesc, LUTMFLOPs: r.LUTMFLOPs, MFLOPs: r.MFLOPs,
			Params: r.Params, RawMFLOPs: r.RawMetric, ChangedGroups: r.ChangedGroups,
			Nodes: len(model.GetGraph().GetNode()),
		})
		files, names = append(files, path), append(names, name)
		fmt.Fprintf(log, "[%d/%d] %s  target %g: %.2f MFLOPs full (%.2f LUT), %d params, %d groups repaired\n",
			i+1, len(results), filepath.Join(cfg.Out, name), r.Target, r.MFLOPs, r.LUTMFLOPs, r.Params, r.ChangedGroups)
		if cr != nil {
			fmt.Fprintf(log, "  %s\n", cr)
		}
	}
	if cfg.Measure {
		fmt.Fprintf(log, "timing %d models in ONNX Runtime (CPU, batch 1, %d threads, %d runs, interleaved)\n", len(files), cfg.Threads, cfg.Runs)
		res, err := infer.Bench(ctx, files, infer.BenchConfig{Runs: cfg.Runs, Batch: 1, Threads: cfg.Threads, Seed: 1})
		if err != nil {
			return nil, err
		}
		for i, r := range res {
			m.Models[i].MeasuredLatency = &export.MeasuredLatency{
				P50MS: r.P50MS, P90MS: r.P90MS, Runs: r.Runs, Threads: cfg.Threads, EP: r.Device.EP, CPU: r.Device.CPUModel,
			}
			fmt.Fprintf(log, "  %s: p50 %.3f ms, p90 %.3f ms\n", filepath.Base(files[i]), r.P50MS, r.P90MS)
		}
	}
	if err := m.Save(filepath.Join(stage, manifestName)); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := out.publish(stage, append(names, manifestName)); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "wrote %s (%d models; current -> %s)\n", filepath.Join(cfg.Out, manifestName), len(m.Models), currentTarget(cfg.Out))
	return m, nil
}

func currentTarget(dir string) string {
	t, _ := os.Readlink(filepath.Join(dir, currentName))
	return t
}
