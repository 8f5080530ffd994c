package pipeline

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/onnx"
)

// Config is one sgnas-export run: budgets in, a published set of ONNX
// models with a manifest out.
type Config struct {
	Targets []float64 // budgets (MFLOPs of Metric, or ms with Latency); each writes one model
	// Latency says the targets are latencies in ms, budgeted by the predictor
	// of the device profile Profile (then Metric is ignored). Profile without
	// Latency only records each model's predicted latency.
	Latency   bool
	Profile   string
	Force     bool      // use a profile measured on another device (one warning line)
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
	Threads   int     // ONNX Runtime intra-op threads with Measure (0: the profile's, else 1)
	ORTLib    string  // ONNX Runtime library ("" finds it)
	// Int8, when set, also writes each model's INT8 (QDQ) form calibrated
	// on its data, as NAME_int8.onnx with its own manifest entry.
	Int8 *Int8Config
	Log  io.Writer
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
	flag := "--flops"
	if cfg.Latency {
		flag = "--latency"
	}
	if len(cfg.Targets) == 0 {
		return nil, fmt.Errorf("%s: no target given", flag)
	}
	if cfg.Latency && cfg.Profile == "" {
		return nil, fmt.Errorf("--latency needs --profile (a device profile from `sgnas profile build`)")
	}
	seen := map[float64]bool{}
	for _, t := range cfg.Targets {
		if seen[t] {
			return nil, fmt.Errorf("%s: target %g given twice (each target writes one model file)", flag, t)
		}
		seen[t] = true
	}
	if cfg.Int8 != nil {
		if err := CheckInt8(cfg.Int8, cfg.Export); err != nil {
			return nil, err
		}
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
	var metric generator.Metric
	var lat *Latency
	if cfg.Profile != "" {
		var ts []float64
		if cfg.Latency {
			ts = cfg.Targets
		}
		if lat, err = LoadLatency(cfg.Profile, net, cfg.ORTLib, cfg.Force, w.MinExpansion(), ts, log); err != nil {
			return nil, err
		}
	}
	if cfg.Latency {
		metric = lat.Predictor
	} else if metric, err = generator.NewMetric(cfg.Metric, net); err != nil {
		return nil, fmt.Errorf("--metric: %w", err)
	}
	threads := cfg.Threads
	if threads <= 0 {
		threads = 1
		if lat != nil && lat.Predictor.P.Device.Threads > 0 {
			threads = lat.Predictor.P.Device.Threads
		}
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
	req := generator.Request{Net: net, Metric: metric, Raw: cfg.Raw, Window: cfg.Window, MinExpansion: w.MinExpansion(), MapTargets: cfg.Latency}
	results, err := g.Generate(ctx, pool, cfg.Targets, req)
	if err != nil {
		return nil, err
	}
	if cfg.Measure || cfg.Check || cfg.Int8 != nil {
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
		GeneratorDigest: "sha256:" + digest, Metric: metric.Name(), Budget: "flops",
	}
	unit := "MFLOPs"
	if cfg.Latency {
		m.Budget, unit = "latency", "ms"
	}
	if lat != nil {
		m.Profile, m.ProfileDigest = lat.Path, lat.Digest
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
		suffix := ""
		if cfg.Latency {
			suffix = "ms"
		}
		name := fmt.Sprintf("sgnas_%s_%s%s%s.onnx", net.Space.Name, metric.Name(), strings.ReplaceAll(fmt.Sprint(r.Target), ".", "p"), suffix)
		path := filepath.Join(stage, name)
		opts := cfg.Export
		opts.Target = fmt.Sprintf("%s_%s:%g", metric.Name(), strings.ToLower(unit), r.Target)
		opts.GeneratorDigest = m.GeneratorDigest
		md := map[string]string{"budget": m.Budget}
		var predicted *float64
		if lat != nil {
			v := math.Round(lat.Predictor.Value(r.Arch)*1e4) / 1e4
			predicted = &v
			md["profile_digest"], md["predicted_latency_ms"] = lat.Digest, fmt.Sprintf("%.4f", v)
		}
		for k, v := range opts.Metadata {
			md[k] = v
		}
		opts.Metadata = md
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
		entry := export.ManifestEntry{
			File: name, SHA256: sum, Target: r.Target, Space: net.Space.Name, Arch: r.Arch.String(),
			Layers: r.Arch.Layers, SE: net.SE, Activation: string(net.Activation()),
			Classes: net.NumClasses(), Weights: wdesc, LUTMFLOPs: r.LUTMFLOPs, MFLOPs: r.MFLOPs,
			Params: r.Params, RawMFLOPs: r.RawMetric, ChangedGroups: r.ChangedGroups,
			Nodes: len(model.GetGraph().GetNode()), PredictedLatencyMS: predicted,
		}
		m.Models = append(m.Models, entry)
		files, names = append(files, path), append(names, name)
		var qinfo *export.QuantInfo
		if cfg.Int8 != nil {
			q, info, err := Int8Model(ctx, cfg.ORTLib, nw, model, cfg.Int8)
			if err != nil {
				return nil, fmt.Errorf("target %g: %w", r.Target, err)
			}
			qname := Int8Name(name)
			qpath := filepath.Join(stage, qname)
			if err := onnx.WriteFile(qpath, q); err != nil {
				return nil, fmt.Errorf("target %g: %w", r.Target, err)
			}
			if entry.SHA256, err = export.FileSHA256(qpath); err != nil {
				return nil, err
			}
			entry.File, entry.Nodes, entry.Precision, entry.Int8 = qname, len(q.GetGraph().GetNode()), "int8", info
			m.Models = append(m.Models, entry)
			files, names = append(files, qpath), append(names, qname)
			qinfo = info
		}
		pred := ""
		if predicted != nil {
			pred = fmt.Sprintf(", predicted %.3f ms", *predicted)
		}
		fmt.Fprintf(log, "[%d/%d] %s  target %g %s: %.2f MFLOPs full (%.2f LUT), %d params%s, %d groups repaired\n",
			i+1, len(results), filepath.Join(cfg.Out, name), r.Target, unit, r.MFLOPs, r.LUTMFLOPs, r.Params, pred, r.ChangedGroups)
		if cr != nil {
			fmt.Fprintf(log, "  %s\n", cr)
		}
		if qinfo != nil {
			fmt.Fprintf(log, "  %s: %s\n", Int8Name(name), qinfo)
		}
	}
	if cfg.Measure {
		fmt.Fprintf(log, "timing %d models in ONNX Runtime (CPU, batch 1, %d threads, %d runs, interleaved)\n", len(files), threads, cfg.Runs)
		res, err := infer.Bench(ctx, files, infer.BenchConfig{Runs: cfg.Runs, Batch: 1, Threads: threads, Seed: 1})
		if err != nil {
			return nil, err
		}
		for i, r := range res {
			m.Models[i].MeasuredLatency = &export.MeasuredLatency{
				P50MS: r.P50MS, P90MS: r.P90MS, Runs: r.Runs, Threads: threads, EP: r.Device.EP, CPU: r.Device.CPUModel,
			}
			if p := m.Models[i].PredictedLatencyMS; p != nil {
				fmt.Fprintf(log, "  %s: predicted %.3f ms, measured p50 %.3f ms (%+.1f%%), p90 %.3f ms\n", filepath.Base(files[i]), *p, r.P50MS, (r.P50MS / *p - 1)*100, r.P90MS)
			} else {
				fmt.Fprintf(log, "  %s: p50 %.3f ms, p90 %.3f ms\n", filepath.Base(files[i]), r.P50MS, r.P90MS)
			}
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
