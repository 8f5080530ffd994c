package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v3"
	"golang.org/x/term"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/profiles"
	"github.com/sgnas/sgnas/profiles/profplot"
)

func init() { register(profileCommand()) }

// profileCommand returns a fresh "profile" command (flags keep state between
// runs, so tests build one per run).
func profileCommand() *cli.Command {
	return &cli.Command{
		Name:  "profile",
		Usage: "device latency profiles: measure a device once, predict any architecture, check the prediction",
		Commands: []*cli.Command{
			{
				Name:  "build",
				Usage: "measure every layer configuration and the fixed parts in ONNX Runtime and write a profile",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "space", Value: "imagenet", Usage: "search space: imagenet, cifar10 or cifar100"},
					&cli.BoolFlag{Name: "se", Usage: "squeeze-and-excitation (default: on for imagenet, off for cifar, as sgnas generate)"},
					&cli.StringFlag{Name: "act", Usage: "activation relu6 or hswish (default: hswish for imagenet, relu6 for cifar)"},
					&cli.IntFlag{Name: "classes", Usage: "classes (default: the space's)"},
					&cli.IntFlag{Name: "threads", Value: 1, Usage: "intra-op threads"},
					&cli.IntFlag{Name: "batch", Value: 1, Usage: "batch size"},
					&cli.IntFlag{Name: "runs", Value: profiles.DefaultRuns, Usage: "timed runs per piece (median)"},
					&cli.IntFlag{Name: "warmup", Value: profiles.DefaultWarmup, Usage: "untimed warm-up runs per piece"},
					&cli.IntFlag{Name: "cal-models", Value: profiles.DefaultCalModels, Usage: "whole random models measured for the linear correction (0: none)"},
					&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of inputs, run orders and calibration models"},
					&cli.BoolFlag{Name: "quick", Usage: "measure 24 of the 83 configurations per layer and fit the rest (docs/profiles.md)"},
					&cli.BoolFlag{Name: "resume", Usage: "reuse the measurements of an interrupted build (OUT.partial)"},
					&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "profile to write (JSON)", Required: true},
				}, ortFlags()...),
				Action: profileBuildAction,
			},
			{
				Name:  "check",
				Usage: "measure held-out random architectures twice and compare with the profile's predictions",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "profile", Usage: "profile file", Required: true},
					&cli.IntFlag{Name: "models", Value: 100, Usage: "random architectures to measure"},
					&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the architectures (a stream disjoint from the calibration's)"},
					&cli.IntFlag{Name: "runs", Value: profiles.DefaultRuns, Usage: "timed runs per model and measurement (median)"},
					&cli.IntFlag{Name: "warmup", Value: profiles.DefaultWarmup, Usage: "untimed warm-up runs per model"},
					&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
					&cli.StringFlag{Name: "plot", Usage: "write a predicted-vs-measured scatter (FILE.svg or FILE.png)"},
					&cli.BoolFlag{Name: "force", Usage: "use a profile measured on another device or setting"},
					&cli.StringFlag{Name: "ort-lib", Usage: "path of libonnxruntime.so (default: $SGNAS_ORT_LIB, then the `make deps` cache, then system paths)"},
					&cli.IntFlag{Name: "device-id", Usage: "CUDA device ordinal (profiles of EP cuda)"},
				},
				Action: profileCheckAction,
			},
			{
				Name:      "list",
				Usage:     "list the profiles in directories (default .) and those shipped with sgnas",
				ArgsUsage: "[DIR ...]",
				Action:    profileListAction,
			},
			{
				Name:      "compare",
				Usage:     "compare profile A's table and predictions with profile B's (e.g. a --quick profile with a full one)",
				ArgsUsage: "A.json B.json | --simulate-quick FULL.json",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "simulate-quick", Usage: "compare what --quick would have fitted from FULL.json's own measurements with FULL.json (the fit's error alone)"},
					&cli.IntFlag{Name: "models", Value: 1000, Usage: "random architectures whose predictions are compared"},
					&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the architectures"},
					&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
				},
				Action: profileCompareAction,
			},
			{
				Name:      "show",
				Usage:     "describe a profile (file or shipped name)",
				ArgsUsage: "PROFILE",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "table", Usage: "print every layer's 83 entries"},
				},
				Action: profileShowAction,
			},
		},
	}
}

// profileNetwork resolves --space/--se/--act/--classes with the defaults of
// generated models (imagenet: SE, h-swish; cifar: neither).
func profileNetwork(cmd *cli.Command) (profiles.Network, error) {
	space, err := models.SpaceByName(cmd.String("space"))
	if err != nil {
		return profiles.Network{}, fmt.Errorf("--space: %w", err)
	}
	opts := models.Options{Space: space, SE: space.Name == "imagenet", Act: models.ReLU6}
	if space.Name == "imagenet" {
		opts.Act = models.HSwish
	}
	if cmd.IsSet("se") {
		opts.SE = cmd.Bool("se")
	}
	if cmd.IsSet("act") {
		if opts.Act, err = models.ParseActivation(cmd.String("act")); err != nil {
			return profiles.Network{}, fmt.Errorf("--act: %w", err)
		}
	}
	if cmd.IsSet("classes") {
		if opts.Classes = int(cmd.Int("classes")); opts.Classes <= 0 {
			return profiles.Network{}, fmt.Errorf("--classes %d: want a positive number", opts.Classes)
		}
	}
	return profiles.NetworkOf(opts), nil
}

// progressFunc draws a bar with ETA on stderr when it is a terminal.
func progressFunc(desc string) (func(done, total int), func()) {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil, func() {}
	}
	var bar *progressbar.ProgressBar
	return func(done, total int) {
			if bar == nil {
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionSetDescription(desc), progressbar.OptionShowCount(),
					progressbar.OptionSetPredictTime(true), progressbar.OptionShowElapsedTimeOnFinish(),
					progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(200_000_000))
			}
			bar.Set(done)
		}, func() {
			if bar != nil {
				bar.Finish()
			}
		}
}

func profileBuildAction(ctx context.Context, cmd *cli.Command) error {
	net, err := profileNetwork(cmd)
	if err != nil {
		return err
	}
	out := cmd.String("out")
	threads, batch, runs, warmup := int(cmd.Int("threads")), int(cmd.Int("batch")), int(cmd.Int("runs")), int(cmd.Int("warmup"))
	if threads < 1 || batch < 1 || runs < 1 || warmup < 0 {
		return fmt.Errorf("profile build: --threads %d, --batch %d, --runs %d, --warmup %d: want threads, batch, runs ≥ 1 and warmup ≥ 0", threads, batch, runs, warmup)
	}
	opt := int(cmd.Int("opt-level"))
	switch opt {
	case 0, 1, 2, 99:
	default:
		return fmt.Errorf("profile build: --opt-level %d: want 0, 1, 2 or 99", opt)
	}
	if err := initORT(cmd.String("ep"), cmd.String("ort-lib")); err != nil {
		return err
	}
	ep := strings.ToLower(cmd.String("ep"))
	dev := profiles.CurrentFingerprint(ep, threads, batch, opt)
	partial := out + ".partial"
	var resume *profiles.Profile
	if cmd.Bool("resume") {
		if resume, err = profiles.ReadPartial(partial); err != nil {
			return fmt.Errorf("--resume: %w", err)
		}
	}
	nopts, _ := net.Options()
	cal := int(cmd.Int("cal-models"))
	if cal == 0 {
		cal = -1
	}
	w := warmup
	if w == 0 {
		w = -1
	}
	m := &profiles.ORTMeasurer{Net: nopts, EP: ep, DeviceID: int(cmd.Int("device-id")), Threads: threads, Batch: batch,
		OptLevel: opt, Runs: runs, Warmup: w, Seed: cmd.Uint64("seed"), Version: version}
	progress, finish := progressFunc("profile build")
	p, err := profiles.Build(ctx, profiles.BuildConfig{
		Network: net, Device: dev, Measurer: m, Runs: runs, Warmup: w, Seed: cmd.Uint64("seed"),
		Quick: cmd.Bool("quick"), CalModels: cal, Partial: partial, Resume: resume, Progress: progress, Version: version,
	})
	finish()
	if err != nil {
		if errors.Is(err, context.Canceled) || ctx.Err() != nil {
			return fmt.Errorf("profile build interrupted: partial results saved to %s; rerun with --resume", partial)
		}
		if _, serr := os.Stat(partial); serr == nil {
			return fmt.Errorf("%w (partial results in %s; --resume reuses them)", err, partial)
		}
		return err
	}
	if err := p.Save(out); err != nil {
		return err
	}
	os.Remove(partial)
	return printProfile(cmd.Root().Writer, out, p, false)
}

// printProfile describes a profile: network, device, protocol, fixed parts,
// range of the space, correction and cost-model fit.
func printProfile(w io.Writer, name string, p *profiles.Profile, table bool) error {
	pr, err := profiles.NewPredictor(p)
	if err != nil {
		return fmt.Errorf("profile %s: %w", name, err)
	}
	measured, fitted := 0, 0
	for _, l := range p.Layers {
		for _, e := range l.Entries {
			if e.Fitted {
				fitted++
			} else {
				measured++
			}
		}
	}
	mode := "full"
	if p.Protocol.Quick {
		mode = "quick"
	}
	fmt.Fprintf(w, "profile   %s (%s, schema %s, built %s in %.0f s by sgnas %s)\n", name, mode, p.Schema, p.Created.Format("2006-01-02 15:04 MST"), p.BuildSeconds, p.SGNASVersion)
	fmt.Fprintf(w, "network   %s\n", p.Network)
	fmt.Fprintf(w, "device    %s\n", p.Device)
	fmt.Fprintf(w, "protocol  %d warm-up + %d timed runs per piece, %s, interleaved in shuffled rounds, spinning %v\n",
		p.Protocol.Warmup, p.Protocol.Runs, p.Protocol.Statistic, p.Protocol.Spinning)
	fmt.Fprintf(w, "table     %d layers × %d configurations: %d measured, %d fitted\n", len(p.Layers), profiles.NumConfigs, measured, fitted)
	fmt.Fprintf(w, "fixed     stem + first block %.1f µs, head + classifier %.1f µs, per-run overhead %.1f µs (subtracted from every piece, added once per model)\n",
		p.StemUS, p.HeadUS, p.OverheadUS)
	if len(p.ReferenceUS) > 0 {
		lo, hi := 1.0, 1.0
		for _, l := range p.Layers {
			if l.Speed > 0 {
				lo, hi = min(lo, l.Speed), max(hi, l.Speed)
			}
		}
		cs := 1.0
		if p.Calibration != nil && p.Calibration.Speed > 0 {
			cs = p.Calibration.Speed
		}
		fmt.Fprintf(w, "speed     machine speed factor of the chunks %.3f–%.3f (calibration chunk %.3f), divided out (1 = the first chunk's speed)\n", lo, hi, cs)
	}
	if c := p.Calibration; c != nil {
		state := "applied"
		if !c.Applied {
			state = "not applied (it did not help)"
		}
		fmt.Fprintf(w, "correction measured ≈ %.4f·sum %+.1f µs (%s) from %d whole models, %s; leave-one-out mean |error| %.2f%% uncorrected → %.2f%% corrected\n",
			c.A, c.B, c.Method, len(c.Models), state, c.LOORawPct, c.LOOPct)
	}
	lo, hi := pr.Range(1)
	fmt.Fprintf(w, "range     %.3f ms (every layer its fastest configuration) … %.3f ms (slowest)\n", lo, hi)
	cm := profiles.NewCostModel(pr)
	fmt.Fprintf(w, "cost model (generator training) fit: table entries mean |error| %.2f%% (max %.1f%%); %d random models mean %.2f%% (max %.2f%%)\n",
		cm.Fit.TableMeanAbsPct, cm.Fit.TableMaxAbsPct, cm.Fit.Models, cm.Fit.ModelMeanAbsPct, cm.Fit.ModelMaxAbsPct)
	fmt.Fprintf(w, "%-6s %9s %9s %9s  (table µs before correction: fastest / all kernel 3 at expansion 6 / slowest)\n", "layer", "min", "333333", "max")
	for _, l := range p.Layers {
		mn, mx := 1e300, 0.0
		k6 := 0.0
		for _, e := range l.Entries {
			mn, mx = min(mn, e.US), max(mx, e.US)
			if e.Kernels == "333333" {
				k6 = e.US
			}
		}
		fmt.Fprintf(w, "%-6d %9.1f %9.1f %9.1f\n", l.Layer, mn, k6, mx)
		if table {
			var parts []string
			for _, e := range l.Entries {
				f := ""
				if e.Fitted {
					f = "*"
				}
				parts = append(parts, fmt.Sprintf("%s=%.1f%s", e.Kernels, e.US, f))
			}
			fmt.Fprintf(w, "       %s\n", strings.Join(parts, " "))
		}
	}
	if table {
		fmt.Fprintln(w, "(* fitted, not measured)")
	}
	return nil
}

func profileShowAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() != 1 {
		return errors.New("profile show: want one PROFILE (a file or a shipped name)")
	}
	name := cmd.Args().First()
	p, err := loadAnyProfile(name)
	if err != nil {
		return err
	}
	return printProfile(cmd.Root().Writer, name, p, cmd.Bool("table"))
}

// loadAnyProfile reads a profile file, or a shipped profile by name when no
// such file exists.
func loadAnyProfile(name string) (*profiles.Profile, error) {
	if _, err := os.Stat(name); err != nil && !strings.ContainsAny(name, "/.") {
		if p, serr := profiles.ShippedProfile(name); serr == nil {
			return p, nil
		}
	}
	return profiles.Read(name)
}

func profileListAction(ctx context.Context, cmd *cli.Command) error {
	w := cmd.Root().Writer
	dirs := cmd.Args().Slice()
	if len(dirs) == 0 {
		dirs = []string{"."}
	}
	var rows []profiles.Named
	for _, d := range dirs {
		files, err := filepath.Glob(filepath.Join(d, "*.json"))
		if err != nil {
			return err
		}
		if _, err := os.Stat(d); err != nil {
			return fmt.Errorf("profile list: %w", err)
		}
		sort.Strings(files)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil || !strings.Contains(string(b), `"sgnas-profile/`) {
				continue // not a profile
			}
			p, err := profiles.Parse(b, false)
			rows = append(rows, profiles.Named{Name: f, Profile: p, Err: err})
		}
	}
	for _, n := range profiles.Shipped() {
		n.Name = "shipped:" + n.Name
		rows = append(rows, n)
	}
	if len(rows) == 0 {
		fmt.Fprintf(w, "no profiles in %s and none shipped; build one with `sgnas profile build --out DEVICE.json`\n", strings.Join(dirs, ", "))
		return nil
	}
	for _, r := range rows {
		if r.Err != nil {
			fmt.Fprintf(w, "%-32s unreadable: %v\n", r.Name, r.Err)
			continue
		}
		p := r.Profile
		mode := "full"
		if p.Protocol.Quick {
			mode = "quick"
		}
		fmt.Fprintf(w, "%-32s %-5s %s | %s, ORT %s, EP %s, %d threads, batch %d | %s\n", r.Name, mode, p.Network, p.Device.CPUModel,
			p.Device.ORTVersion, p.Device.EP, p.Device.Threads, p.Device.Batch, p.Created.Format("2006-01-02"))
	}
	return nil
}

func profileCheckAction(ctx context.Context, cmd *cli.Command) error {
	path := cmd.String("profile")
	p, err := profiles.Read(path)
	if err != nil {
		return err
	}
	n, runs, warmup := int(cmd.Int("models")), int(cmd.Int("runs")), int(cmd.Int("warmup"))
	if n < 2 || runs < 1 || warmup < 0 {
		return fmt.Errorf("profile check: --models %d, --runs %d, --warmup %d: want models ≥ 2, runs ≥ 1, warmup ≥ 0", n, runs, warmup)
	}
	if plot := cmd.String("plot"); plot != "" {
		if ext := strings.ToLower(filepath.Ext(plot)); ext != ".svg" && ext != ".png" {
			return fmt.Errorf("--plot %s: want a .svg or .png file", plot)
		}
	}
	if err := initORT(p.Device.EP, cmd.String("ort-lib")); err != nil {
		return err
	}
	d := p.Device
	if err := p.CheckDevice(profiles.CurrentFingerprint(d.EP, d.Threads, d.Batch, d.OptLevel), cmd.Bool("force")); err != nil {
		return fmt.Errorf("profile %s: %w", path, err)
	}
	pr, err := profiles.NewPredictor(p)
	if err != nil {
		return fmt.Errorf("profile %s: %w", path, err)
	}
	nopts, _ := p.Network.Options()
	w := warmup
	if w == 0 {
		w = -1
	}
	m := &profiles.ORTMeasurer{Net: nopts, EP: d.EP, DeviceID: int(cmd.Int("device-id")), Threads: d.Threads, Batch: d.Batch,
		OptLevel: d.OptLevel, Runs: runs, Warmup: w, Seed: cmd.Uint64("seed"), Version: version}
	progress, finish := progressFunc("profile check")
	r, err := profiles.Check(ctx, pr, profiles.CheckConfig{Models: n, Seed: cmd.Uint64("seed"), Measurer: m, Progress: progress})
	finish()
	if err != nil {
		return err
	}
	r.Profile = path
	if plot := cmd.String("plot"); plot != "" {
		if err := profplot.WritePlot(plot, r); err != nil {
			return err
		}
	}
	out := cmd.Root().Writer
	if cmd.Bool("json") {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(out, "profile  %s: %s\n", path, p.Network)
	fmt.Fprintf(out, "device   %s\n", p.Device)
	fmt.Fprintf(out, "models   %d held-out random architectures (seed %d), each measured twice: interleaved, median of %d runs\n", n, cmd.Uint64("seed"), runs)
	fmt.Fprintf(out, "%-22s %10s %10s %7s %7s %10s\n", "", "mean|err|", "max|err|", "±5%", "±10%", "Kendall τ")
	row := func(name string, a profiles.Agreement) {
		fmt.Fprintf(out, "%-22s %9.2f%% %9.2f%% %6.0f%% %6.0f%% %10.3f\n", name, a.MeanAbsPct, a.MaxAbsPct, a.Within5*100, a.Within10*100, a.KendallTau)
	}
	row("predicted vs measured", r.Prediction)
	row("uncorrected sum", r.Raw)
	row("noise ceiling", r.Noise)
	if r.HasSpeed {
		row("  at profile's speed", r.AtSpeed)
		row("  noise ceiling, same", r.NoiseAtSpeed)
	}
	fmt.Fprintln(out, "(noise ceiling: the second measurement of the same models against the first — what this machine allows)")
	if r.HasSpeed {
		lo, hi := speedRange(r)
		fmt.Fprintf(out, "(at profile's speed: each measurement divided by its chunk's machine speed factor, %.3f–%.3f here, 1 = the speed the profile was built at)\n", lo, hi)
	}
	fmt.Fprintln(out, "worst cases:")
	for _, m := range r.Worst {
		fmt.Fprintf(out, "  predicted %8.3f ms  measured %8.3f ms (again %8.3f)  %+6.1f%%  %s\n", m.PredictedMS, m.MeasuredMS, m.Measured2MS, m.ErrorPct, m.Arch)
	}
	if plot := cmd.String("plot"); plot != "" {
		fmt.Fprintf(out, "plot     %s\n", plot)
	}
	return nil
}

// speedRange is the smallest and largest speed factor of a check's chunks.
func speedRange(r *profiles.CheckResult) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, m := range r.Models {
		lo, hi = min(lo, m.Speed, m.Speed2), max(hi, m.Speed, m.Speed2)
	}
	return lo, hi
}

func profileCompareAction(ctx context.Context, cmd *cli.Command) error {
	var a, b *profiles.Profile
	var an, bn string
	var err error
	if cmd.Bool("simulate-quick") {
		if cmd.Args().Len() != 1 {
			return errors.New("profile compare --simulate-quick: want one full profile")
		}
		bn = cmd.Args().First()
		if b, err = loadAnyProfile(bn); err != nil {
			return err
		}
		if a, err = profiles.SimulateQuick(b); err != nil {
			return fmt.Errorf("profile %s: %w", bn, err)
		}
		an = "--quick fit of " + bn
	} else {
		if cmd.Args().Len() != 2 {
			return errors.New("profile compare: want two profiles A.json B.json (or --simulate-quick FULL.json)")
		}
		an, bn = cmd.Args().Get(0), cmd.Args().Get(1)
		if a, err = loadAnyProfile(an); err != nil {
			return err
		}
		if b, err = loadAnyProfile(bn); err != nil {
			return err
		}
	}
	c, err := profiles.Compare(a, b, int(cmd.Int("models")), cmd.Uint64("seed"))
	if err != nil {
		return err
	}
	w := cmd.Root().Writer
	if cmd.Bool("json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	}
	what := "all table entries"
	if c.FittedOnly {
		what = "the entries " + an + " fitted"
	}
	fmt.Fprintf(w, "%s vs %s (%s)\n", an, bn, a.Network)
	fmt.Fprintf(w, "%-34s %10s %10s %7s %7s %10s\n", "", "mean|err|", "max|err|", "±5%", "±10%", "Kendall τ")
	row := func(name string, g profiles.Agreement) {
		fmt.Fprintf(w, "%-34s %9.2f%% %9.2f%% %6.1f%% %6.1f%% %10.3f\n", name, g.MeanAbsPct, g.MaxAbsPct, g.Within5*100, g.Within10*100, g.KendallTau)
	}
	row(fmt.Sprintf("%d entries (%s)", c.EntryCount, map[bool]string{true: "fitted", false: "all"}[c.FittedOnly]), c.Entries)
	row(fmt.Sprintf("%d random models, predicted", c.ModelsCount), c.Models)
	row(fmt.Sprintf("%d random models, uncorrected", c.ModelsCount), c.ModelsRaw)
	fmt.Fprintf(w, "(compared: %s; and the predicted latency of random architectures)\n", what)
	return nil
}
