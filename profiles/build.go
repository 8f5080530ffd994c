package profiles

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"sort"
	"time"

	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/models"
)

// ItemKind says what a measured item is.
type ItemKind string

// Item kinds: the trivial overhead model, the fixed stem and head pieces, one
// layer configuration, a whole model.
const (
	ItemOverhead ItemKind = "overhead"
	ItemStem     ItemKind = "stem"
	ItemHead     ItemKind = "head"
	ItemLayer    ItemKind = "layer"
	ItemModel    ItemKind = "model"
)

// Item is one thing to time.
type Item struct {
	Kind    ItemKind
	Layer   int          // ItemLayer
	Kernels []int        // ItemLayer: sorted kernel list
	Arch    *models.Arch // ItemModel
}

func (it Item) String() string {
	switch it.Kind {
	case ItemLayer:
		return fmt.Sprintf("layer %d %v", it.Layer, it.Kernels)
	case ItemModel:
		return "model " + it.Arch.String()
	}
	return string(it.Kind)
}

// Measurer times items. Measure times the items of one chunk interleaved and
// returns each one's median per-run time in µs (raw: nothing subtracted).
// ORTMeasurer is the real one; tests use fakes.
type Measurer interface {
	Measure(ctx context.Context, items []Item) ([]float64, error)
}

// Defaults of the measurement protocol.
const (
	DefaultRuns      = 30
	DefaultWarmup    = 5
	DefaultCalModels = 20
)

// BuildConfig configures Build.
type BuildConfig struct {
	Network  Network
	Device   Fingerprint // of the machine measured (CurrentFingerprint)
	Measurer Measurer
	Runs     int    // timed runs per item (DefaultRuns when 0)
	Warmup   int    // untimed runs per item (DefaultWarmup when 0; < 0 none)
	Seed     uint64 // inputs, orders, calibration models
	Quick    bool   // measure QuickConfigs only and fit the rest
	// CalModels is the number of whole random models measured for the
	// correction (DefaultCalModels when 0; < 0 none).
	CalModels int
	// Partial, when set, is where the profile is saved (atomically) after
	// every chunk while the build runs; Resume is a partial profile whose
	// measurements are reused when its device, network and protocol match.
	Partial string
	Resume  *Profile
	// Progress is called after every chunk with the items done and the
	// total (items reused from Resume count as done).
	Progress func(done, total int)
	Version  string
	Now      func() time.Time

	// configs, when set (tests), replaces layerConfigs.
	configs func() []Config
}

func (c *BuildConfig) defaults() {
	if c.Runs <= 0 {
		c.Runs = DefaultRuns
	}
	if c.Warmup == 0 {
		c.Warmup = DefaultWarmup
	} else if c.Warmup < 0 {
		c.Warmup = 0
	}
	if c.CalModels == 0 {
		c.CalModels = DefaultCalModels
	} else if c.CalModels < 0 {
		c.CalModels = 0
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Protocol descriptions recorded in every profile.
const (
	orderText    = "interleaved: per chunk (the fixed pieces; or one layer's configurations; or the calibration models) every item runs once per round, rounds in a fresh seeded random order; warm-up rounds the same"
	overheadText = "every chunk also times a trivial model (input [B,8] → Relu); its median is the per-run overhead (Session.Run call, input binding, output allocation), subtracted from each piece of the chunk; the predictor adds it back once per model"
)

// protocol is the Protocol a config records.
func (c *BuildConfig) protocol() Protocol {
	return Protocol{Warmup: c.Warmup, Runs: c.Runs, Statistic: "median", Order: orderText,
		Spinning: false, Overhead: overheadText, Seed: c.Seed, Quick: c.Quick, CalModels: c.CalModels,
		Reference: referenceText}
}

// chunk is one interleaved measurement: an overhead item plus items.
type chunk struct {
	layer int // -1 fixed pieces, -2 calibration
	items []Item
}

// layerConfigs lists the configurations of each layer a build measures.
func (c *BuildConfig) layerConfigs() []Config {
	if c.configs != nil {
		return c.configs()
	}
	if c.Quick {
		return QuickConfigs()
	}
	return Configs()
}

// Build measures a profile. It saves partial results to cfg.Partial after
// every chunk and reuses the measurements of cfg.Resume; on cancellation
// (ctx) the partial file holds everything measured so far.
func Build(ctx context.Context, cfg BuildConfig) (*Profile, error) {
	if err := infer.CheckBenchSettings(cfg.Runs, cfg.Warmup, 0, 0); err != nil {
		return nil, fmt.Errorf("profile build: %w", err)
	}
	if m, ok := cfg.Measurer.(*ORTMeasurer); ok {
		if err := infer.CheckBenchSettings(0, 0, m.Batch, m.Threads); err != nil {
			return nil, fmt.Errorf("profile build: %w", err)
		}
	}
	cfg.defaults()
	if cfg.Measurer == nil {
		return nil, errors.New("profile build: no measurer")
	}
	nopts, err := cfg.Network.Options()
	if err != nil {
		return nil, fmt.Errorf("profile build: %w", err)
	}
	start := cfg.Now()
	p := &Profile{
		Schema: Schema, Created: start.UTC(), SGNASVersion: cfg.Version, Device: cfg.Device,
		Network: cfg.Network, Protocol: cfg.protocol(),
	}
	prevSeconds := 0.0
	if r := cfg.Resume; r != nil {
		if err := resumable(r, p); err != nil {
			return nil, err
		}
		p.OverheadUS, p.StemUS, p.HeadUS, p.FixedOverheadUS = r.OverheadUS, r.StemUS, r.HeadUS, r.FixedOverheadUS
		p.ReferenceUS = r.ReferenceUS
		p.Created = r.Created
		prevSeconds = r.BuildSeconds
		for _, l := range r.Layers {
			if layerDone(&l, cfg.layerConfigs()) {
				p.Layers = append(p.Layers, l)
			}
		}
	}
	// Plan.
	var chunks []chunk
	// The fixed chunk times the references alone; they include the stem and
	// the head (refs[0], refs[1]) and set the profile's reference speed.
	refs := ReferenceItems(nopts.Space.Name)
	if p.StemUS <= 0 || p.HeadUS <= 0 || len(p.ReferenceUS) != len(refs) {
		p.Layers = nil // measured against another reference
		chunks = append(chunks, chunk{layer: -1})
	}
	for l := 0; l < models.NumLayers; l++ {
		if len(p.ReferenceUS) == len(refs) && p.layer(l) != nil {
			continue
		}
		var items []Item
		for _, c := range cfg.layerConfigs() {
			items = append(items, Item{Kind: ItemLayer, Layer: l, Kernels: c.Kernels()})
		}
		chunks = append(chunks, chunk{layer: l, items: items})
	}
	cal := CalibrationArchs(nopts.Space.Name, cfg.CalModels, cfg.Seed)
	if len(cal) > 0 {
		var items []Item
		for _, a := range cal {
			items = append(items, Item{Kind: ItemModel, Arch: a})
		}
		chunks = append(chunks, chunk{layer: -2, items: items})
	}
	total, done := 2+len(cal), 0
	for l := 0; l < models.NumLayers; l++ {
		total += len(cfg.layerConfigs())
	}
	done = total
	for _, ch := range chunks {
		done -= len(ch.items)
		if ch.layer == -1 {
			done -= 2 // stem and head
		}
	}
	if cfg.Progress != nil {
		cfg.Progress(done, total)
	}
	measured := func() bool { return p.StemUS > 0 || len(p.Layers) > 0 }
	save := func() error {
		p.BuildSeconds = math.Round((prevSeconds+cfg.Now().Sub(start).Seconds())*10) / 10
		p.OverheadUS = medianOverhead(p)
		if cfg.Partial == "" {
			return nil
		}
		return p.Save(cfg.Partial)
	}
	var calRes []float64
	calSpeed := 0.0
	for _, ch := range chunks {
		if err := ctx.Err(); err != nil {
			if measured() {
				save()
			}
			return nil, err
		}
		items := append(append([]Item{{Kind: ItemOverhead}}, refs...), ch.items...)
		us, err := cfg.Measurer.Measure(ctx, items)
		if err != nil {
			if measured() {
				save()
			}
			return nil, fmt.Errorf("profile build: %w", err)
		}
		if len(us) != len(items) {
			return nil, fmt.Errorf("profile build: measurer returned %d results for %d items", len(us), len(items))
		}
		ov, refUS, res := us[0], us[1:1+len(refs)], us[1+len(refs):]
		if ch.layer == -1 {
			p.ReferenceUS = make([]float64, len(refUS))
			for i, v := range refUS {
				p.ReferenceUS[i] = round3(v)
			}
		}
		speed := SpeedFactor(refUS, p.ReferenceUS)
		net := func(x float64) float64 { return math.Max(0, x-ov) / speed }
		switch ch.layer {
		case -1:
			p.StemUS, p.HeadUS = round3(net(refUS[0])), round3(net(refUS[1]))
			p.FixedOverheadUS = round3(ov)
		case -2:
			calRes = make([]float64, len(res))
			for i, v := range res {
				calRes[i] = v / speed
			}
			calSpeed = speed
		default:
			l := Layer{Layer: ch.layer, OverheadUS: round3(ov), Speed: math.Round(speed*1e4) / 1e4}
			for i, it := range ch.items {
				c, _ := ConfigOf(it.Kernels)
				l.Entries = append(l.Entries, Entry{Kernels: c.Key(), US: round3(net(res[i]))})
			}
			p.Layers = append(p.Layers, l)
			sort.Slice(p.Layers, func(i, j int) bool { return p.Layers[i].Layer < p.Layers[j].Layer })
		}
		done += len(ch.items)
		if ch.layer == -1 {
			done += 2
		}
		if ch.layer != -2 {
			if err := save(); err != nil {
				return nil, err
			}
		}
		if cfg.Progress != nil {
			cfg.Progress(done, total)
		}
	}
	recenterSpeed(p, calRes, &calSpeed)
	if cfg.Quick {
		for i := range p.Layers {
			FitQuick(&p.Layers[i])
		}
	}
	p.OverheadUS = medianOverhead(p)
	p.Complete = true
	if len(cal) > 0 {
		p.Calibration = calibrate(p, cal, calRes)
		p.Calibration.Speed = math.Round(calSpeed*1e4) / 1e4
	}
	p.BuildSeconds = math.Round((prevSeconds+cfg.Now().Sub(start).Seconds())*10) / 10
	if err := p.Validate(false); err != nil {
		return nil, fmt.Errorf("profile build: internal error: %w", err)
	}
	return p, nil
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// recenterSpeed moves the profile's reference speed from its first chunk to
// the median chunk. The first chunk times only the reference items, so its
// caches are warmer than in a chunk of 80 pieces or whole models: on the
// development VM every other chunk ran 17–31 % slower than it. With the
// median chunk as the reference, the table, the fixed parts and the
// calibration are in the conditions of a typical chunk (a `profile check`
// chunk of 50 models among them), and speed factors measure drift only.
// It rescales the entries, stem, head, calibration measurements (calRes,
// calSpeed), reference_us and the layers' speed factors by the median factor
// m and returns m.
func recenterSpeed(p *Profile, calRes []float64, calSpeed *float64) float64 {
	var fs []float64
	for _, l := range p.Layers {
		if l.Speed > 0 {
			fs = append(fs, l.Speed)
		}
	}
	if *calSpeed > 0 {
		fs = append(fs, *calSpeed)
	}
	if len(fs) == 0 || len(p.ReferenceUS) == 0 {
		return 1
	}
	m := median(fs)
	if !(m > 0) || m == 1 {
		return 1
	}
	for i := range p.Layers {
		l := &p.Layers[i]
		for j := range l.Entries {
			l.Entries[j].US = round3(l.Entries[j].US * m)
		}
		l.Speed = math.Round(l.Speed/m*1e4) / 1e4
	}
	p.StemUS, p.HeadUS = round3(p.StemUS*m), round3(p.HeadUS*m)
	for i := range p.ReferenceUS {
		p.ReferenceUS[i] = round3(p.ReferenceUS[i] * m)
	}
	for i := range calRes {
		calRes[i] *= m
	}
	*calSpeed /= m
	return m
}

// layerDone reports whether a resumed layer has every configuration a build
// in this mode measures.
func layerDone(l *Layer, want []Config) bool {
	have := map[string]bool{}
	for _, e := range l.Entries {
		if !e.Fitted {
			have[e.Kernels] = true
		}
	}
	for _, c := range want {
		if !have[c.Key()] {
			return false
		}
	}
	return true
}

// resumable checks that a partial profile was measured the same way.
func resumable(r, p *Profile) error {
	if blocking, _ := r.Device.Compare(p.Device); len(blocking) > 0 {
		return fmt.Errorf("cannot resume: the partial profile was measured on another device or setting (%s)", blocking[0])
	}
	if err := r.CheckNetwork(p.Network); err != nil {
		return fmt.Errorf("cannot resume: %w", err)
	}
	if r.Schema != Schema {
		return fmt.Errorf("cannot resume: the partial profile has schema %q (this sgnas writes %q); start the build again without --resume", r.Schema, Schema)
	}
	a, b := r.Protocol, p.Protocol
	if a.Runs != b.Runs || a.Warmup != b.Warmup || a.Seed != b.Seed || a.Quick != b.Quick {
		return fmt.Errorf("cannot resume: the partial profile used runs %d, warmup %d, seed %d, quick %v (now %d, %d, %d, %v)",
			a.Runs, a.Warmup, a.Seed, a.Quick, b.Runs, b.Warmup, b.Seed, b.Quick)
	}
	return nil
}

// medianOverhead is the median of the overheads measured with the layers
// (and the fixed pieces).
func medianOverhead(p *Profile) float64 {
	var xs []float64
	if p.FixedOverheadUS > 0 {
		xs = append(xs, p.FixedOverheadUS)
	}
	for _, l := range p.Layers {
		xs = append(xs, l.OverheadUS)
	}
	if len(xs) == 0 {
		return p.OverheadUS
	}
	return round3(median(xs))
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Random-architecture streams: calibration and check architectures come from
// different generator streams, so no check model is one the fit used.
const (
	calStream   = 0x0ca11b
	checkStream = 0x0c4ec4
)

// SampleArchs returns n random architectures spanning the space: model i
// draws an expansion range [lo, hi] (1 ≤ lo ≤ hi ≤ 6) uniformly, then every
// layer an expansion in that range and a uniform kernel per group
// (models.RandomArch), so that small, large and mixed models all occur.
func SampleArchs(space string, n int, seed, stream uint64) []*models.Arch {
	rng := rand.New(rand.NewSource(int64(seed*0x9e3779b97f4a7c15 ^ stream)))
	out := make([]*models.Arch, 0, n)
	for i := 0; i < n; i++ {
		lo := 1 + rng.Intn(models.NumGroups)
		hi := lo + rng.Intn(models.NumGroups-lo+1)
		out = append(out, models.RandomArch(space, rng, lo, hi))
	}
	return out
}

// CalibrationArchs are the whole models a build measures for the correction.
func CalibrationArchs(space string, n int, seed uint64) []*models.Arch {
	return SampleArchs(space, n, seed, calStream)
}

// CheckArchs are the held-out models `profile check` measures: drawn from a
// stream disjoint from the calibration's, and any that equals a calibration
// model of the profile is replaced.
func CheckArchs(p *Profile, n int, seed uint64) []*models.Arch {
	used := map[string]bool{}
	if p.Calibration != nil {
		for _, m := range p.Calibration.Models {
			used[m.Arch] = true
		}
	}
	var out []*models.Arch
	for s := seed; len(out) < n; s += 1 << 32 {
		for _, a := range SampleArchs(p.Network.Space, n, s, checkStream) {
			if len(out) < n && !used[a.String()] {
				used[a.String()] = true
				out = append(out, a)
			}
		}
	}
	return out
}
