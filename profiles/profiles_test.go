package profiles

import (
	"context"
	"errors"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sgnas/sgnas/models"
)

// fake is a synthetic device: a layer configuration costs
// base + pw·e^1.1 + Σ_k dw_k·n_k^0.9 + 15·(distinct−1) + [e>1]·expand µs,
// every item pays a 20 µs run overhead, and a whole model costs
// 1.05·(overhead + stem + head + Σ layers) + 30 µs. noise (relative, seeded)
// perturbs every measurement.
type fake struct {
	net    Network
	noise  float64
	rng    *rand.Rand
	chunks int // Measure calls so far
	items  int
	// drift, when set, is the machine's speed factor during Measure call
	// number n (1, 2, …): every time of that chunk is multiplied by it.
	drift func(n int) float64
	// cancelAfter cancels (returns context.Canceled) at that call number.
	cancelAfter int
	cancel      context.CancelFunc
}

func newFake(space string, noise float64) *fake {
	return &fake{net: Network{Space: space, Activation: "relu6", Classes: 10}, noise: noise, rng: rand.New(rand.NewSource(1))}
}

const fakeOverhead, fakeStem, fakeHead = 20.0, 300.0, 200.0

func fakeLayer(l int, c Config) float64 {
	lf := float64(l + 1)
	e := float64(c.Expansion())
	v := 50 + 10*lf + 40*math.Pow(e, 1.1)*(1+lf/10) + 8*math.Pow(float64(c.N3), 0.9) + 14*math.Pow(float64(c.N5), 0.9) + 25*math.Pow(float64(c.N7), 0.9)
	v += 15 * float64(c.Distinct()-1)
	if c.Expansion() > 1 {
		v += 30 + lf
	}
	return v
}

func fakeModel(a *models.Arch) float64 {
	v := fakeOverhead + fakeStem + fakeHead
	for l, layer := range a.Layers {
		c, _ := ConfigOf(layer.Kernels)
		v += fakeLayer(l, c)
	}
	return 1.05*v + 30
}

func (f *fake) Measure(ctx context.Context, items []Item) ([]float64, error) {
	f.chunks++
	if f.cancelAfter > 0 && f.chunks == f.cancelAfter {
		f.cancel()
		return nil, ctx.Err()
	}
	f.items += len(items)
	out := make([]float64, len(items))
	for i, it := range items {
		var v float64
		switch it.Kind {
		case ItemOverhead:
			v = 0
		case ItemStem:
			v = fakeStem
		case ItemHead:
			v = fakeHead
		case ItemLayer:
			c, _ := ConfigOf(it.Kernels)
			v = fakeLayer(it.Layer, c)
		case ItemModel:
			v = fakeModel(it.Arch) - fakeOverhead
		}
		v += fakeOverhead
		if f.noise > 0 {
			v *= 1 + f.noise*f.rng.NormFloat64()
		}
		if f.drift != nil {
			v *= f.drift(f.chunks)
		}
		out[i] = v
	}
	return out, nil
}

func testDevice() Fingerprint {
	return Fingerprint{CPUModel: "Test CPU", ISA: []string{"avx", "avx2", "fma"}, Cores: 2, MemoryMB: 1000, OS: "linux/amd64",
		ORTVersion: "1.24.3", EP: "cpu", Threads: 1, Batch: 1, OptLevel: 99}
}

func fixedNow() time.Time { return time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC) }

func buildFake(t testing.TB, f *fake, quick bool) *Profile {
	t.Helper()
	p, err := Build(context.Background(), BuildConfig{Network: f.net, Device: testDevice(), Measurer: f, Quick: quick, Seed: 3, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigs(t *testing.T) {
	cs := Configs()
	if len(cs) != NumConfigs {
		t.Fatalf("%d configurations", len(cs))
	}
	seen := map[string]bool{}
	for _, c := range cs {
		k := c.Key()
		if seen[k] {
			t.Fatalf("repeated %s", k)
		}
		seen[k] = true
		if back, err := ParseConfigKey(k); err != nil || back != c {
			t.Fatalf("%s: %v %v", k, back, err)
		}
	}
	for _, bad := range []string{"", "53", "4", "3333333", "3a"} {
		if _, err := ParseConfigKey(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if len(QuickConfigs()) != 24 {
		t.Fatalf("quick: %d", len(QuickConfigs()))
	}
}

func TestBuildTable(t *testing.T) {
	f := newFake("cifar10", 0)
	p := buildFake(t, f, false)
	if !p.Complete || p.StemUS != fakeStem || p.HeadUS != fakeHead || p.OverheadUS != fakeOverhead {
		t.Fatalf("complete %v stem %v head %v overhead %v", p.Complete, p.StemUS, p.HeadUS, p.OverheadUS)
	}
	for _, l := range p.Layers {
		for _, e := range l.Entries {
			c, _ := ParseConfigKey(e.Kernels)
			if want := fakeLayer(l.Layer, c); math.Abs(e.US-want) > 1e-3 || e.Fitted {
				t.Fatalf("layer %d %s: %v want %v (overhead subtracted)", l.Layer, e.Kernels, e.US, want)
			}
		}
	}
	if want := 19*83 + DefaultCalModels + 21*(1+numReferences); f.items != want {
		t.Fatalf("%d items measured, want %d", f.items, want)
	}
	c := p.Calibration
	if c == nil || !c.Applied || math.Abs(c.A-1.05) > 1e-4 || math.Abs(c.B-30) > 0.1 || c.LOOPct >= c.LOORawPct {
		t.Fatalf("calibration %+v", c)
	}
	// Round trip through JSON.
	b, _ := p.Marshal()
	q, err := Parse(b, false)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := NewPredictor(q)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range SampleArchs("cifar10", 50, 9, 1) {
		if got, want := pr.Value(a), fakeModel(a)/1000; math.Abs(got-want) > 1e-4*want {
			t.Fatalf("%s: predicted %v, want %v", a, got, want)
		}
	}
}

func TestBuildResume(t *testing.T) {
	dir := t.TempDir()
	partial := filepath.Join(dir, "dev.json.partial")
	ctx, cancel := context.WithCancel(context.Background())
	f := newFake("cifar10", 0)
	f.cancelAfter, f.cancel = 6, cancel // fixed pieces + 4 layers, then Ctrl-C
	var last [2]int
	_, err := Build(ctx, BuildConfig{Network: f.net, Device: testDevice(), Measurer: f, Partial: partial, Seed: 3, Now: fixedNow,
		Progress: func(d, tot int) { last = [2]int{d, tot} }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want cancellation, got %v", err)
	}
	if _, err := Read(partial); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("partial read as complete: %v", err)
	}
	r, err := ReadPartial(partial)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Layers) != 4 || r.StemUS != fakeStem || r.Complete {
		t.Fatalf("partial: %d layers, stem %v", len(r.Layers), r.StemUS)
	}
	total := 2 + 19*83 + DefaultCalModels
	if last != [2]int{2 + 4*83, total} {
		t.Fatalf("progress %v", last)
	}
	g := newFake("cifar10", 0)
	var first [2]int
	p, err := Build(context.Background(), BuildConfig{Network: g.net, Device: testDevice(), Measurer: g, Resume: r, Partial: partial, Seed: 3, Now: fixedNow,
		Progress: func(d, tot int) {
			if first == [2]int{} {
				first = [2]int{d, tot}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if g.chunks != 15+1 || first != [2]int{2 + 4*83, total} {
		t.Fatalf("resume measured %d chunks (want 16), first progress %v", g.chunks, first)
	}
	full := buildFake(t, newFake("cifar10", 0), false)
	for l := range full.Layers {
		for i, e := range full.Layers[l].Entries {
			if p.Layers[l].Entries[i] != e {
				t.Fatalf("layer %d: resumed %v, uninterrupted %v", l, p.Layers[l].Entries[i], e)
			}
		}
	}
	// A partial of other settings is refused.
	_, err = Build(context.Background(), BuildConfig{Network: g.net, Device: testDevice(), Measurer: g, Resume: r, Seed: 4})
	if err == nil || !strings.Contains(err.Error(), "cannot resume") {
		t.Fatalf("resume with another seed: %v", err)
	}
	other := testDevice()
	other.Threads = 2
	_, err = Build(context.Background(), BuildConfig{Network: g.net, Device: other, Measurer: g, Resume: r, Seed: 3})
	if err == nil || !strings.Contains(err.Error(), "threads") {
		t.Fatalf("resume on another device: %v", err)
	}
}

func TestQuickFit(t *testing.T) {
	f := newFake("cifar10", 0)
	q := buildFake(t, f, true)
	if want := 19*24 + DefaultCalModels + 21*(1+numReferences); f.items != want {
		t.Fatalf("quick measured %d items, want %d", f.items, want)
	}
	within, fitted, worst := 0, 0, 0.0
	for _, l := range q.Layers {
		if len(l.Entries) != NumConfigs {
			t.Fatalf("layer %d: %d entries", l.Layer, len(l.Entries))
		}
		for _, e := range l.Entries {
			c, _ := ParseConfigKey(e.Kernels)
			want := fakeLayer(l.Layer, c)
			err := math.Abs(e.US-want) / want
			if !e.Fitted && math.Abs(e.US-want) > 1e-3 {
				t.Fatalf("measured entry changed: %v vs %v", e.US, want)
			}
			if e.Fitted {
				fitted++
				if err <= 0.02 {
					within++
				}
				worst = math.Max(worst, err)
			}
		}
	}
	if fitted != 19*(83-24) || float64(within) < 0.9*float64(fitted) {
		t.Fatalf("%d fitted, %d within 2%% (worst %.1f%%)", fitted, within, worst*100)
	}
	pq, _ := NewPredictor(q)
	for _, a := range SampleArchs("cifar10", 200, 5, 1) {
		if got, want := pq.Value(a), fakeModel(a)/1000; math.Abs(got-want) > 0.02*want {
			t.Fatalf("quick prediction %v, true %v", got, want)
		}
	}
}

func TestPredictor(t *testing.T) {
	p := buildFake(t, newFake("imagenet", 0), false)
	pr, err := NewPredictor(p)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Name() != "latency" || pr.Unit() != "ms" {
		t.Fatal(pr.Name(), pr.Unit())
	}
	// The generator's Metric interface, structurally.
	var _ interface {
		Name() string
		Unit() string
		Value(a *models.Arch) float64
		Base() float64
		Layer(l int, kernels []int) float64
	} = pr
	for _, a := range SampleArchs("imagenet", 20, 1, 2) {
		sum := pr.Base()
		for l, layer := range a.Layers {
			sum += pr.Layer(l, layer.Kernels)
		}
		if math.Abs(sum-pr.Value(a)) > 1e-9 {
			t.Fatalf("Base + Σ Layer %v ≠ Value %v", sum, pr.Value(a))
		}
	}
	if pr.Layer(3, []int{7, 3, 5}) != pr.Layer(3, []int{3, 5, 7}) {
		t.Fatal("Layer depends on kernel order")
	}
	for _, bad := range [][]int{nil, {4}, {3, 3, 3, 3, 3, 3, 3}} {
		if !math.IsNaN(pr.Layer(0, bad)) {
			t.Errorf("Layer(%v) not NaN", bad)
		}
	}
	if !math.IsNaN(pr.Layer(19, []int{3})) || !math.IsNaN(pr.Value(&models.Arch{})) {
		t.Error("invalid input not NaN")
	}
	lo, hi := pr.Range(1)
	small := &models.Arch{Space: "imagenet", Layers: make([]models.Layer, 19)}
	big := &models.Arch{Space: "imagenet", Layers: make([]models.Layer, 19)}
	for l := range small.Layers {
		small.Layers[l].Kernels = []int{3}
		big.Layers[l].Kernels = []int{7, 7, 7, 7, 7, 7}
	}
	if math.Abs(lo-pr.Value(small)) > 1e-9 || hi < pr.Value(big) {
		t.Fatalf("range %v–%v, smallest %v largest %v", lo, hi, pr.Value(small), pr.Value(big))
	}
	if lo2, _ := pr.Range(2); lo2 <= lo {
		t.Fatal("min expansion 2 not slower")
	}
	if err := pr.CheckTarget((lo+hi)/2, 1); err != nil {
		t.Fatal(err)
	}
	if err := pr.CheckTarget(lo*0.9, 1); err == nil || !strings.Contains(err.Error(), "below the fastest") {
		t.Fatal(err)
	}
	if err := pr.CheckTarget(hi*1.1, 1); err == nil || !strings.Contains(err.Error(), "above the slowest") {
		t.Fatal(err)
	}
}

func TestCostModel(t *testing.T) {
	pr, _ := NewPredictor(buildFake(t, newFake("imagenet", 0), false))
	cm := NewCostModel(pr)
	var _ models.CostModel = cm
	if cm.Unit() != "ms" || cm.Fit.TableMeanAbsPct > 3 || cm.Fit.ModelMeanAbsPct > 1 || cm.Fit.Models != 1000 {
		t.Fatalf("fit %+v", cm.Fit)
	}
	// Grad against central differences on a soft matrix.
	rng := rand.New(rand.NewSource(2))
	var p models.Encoding
	for l := range p {
		for b := 0; b < models.NumGroups; b++ {
			s := 0.0
			for j := 0; j < 4; j++ {
				p[l][4*b+j] = rng.Float64()
				s += p[l][4*b+j]
			}
			for j := 0; j < 4; j++ {
				p[l][4*b+j] /= s
			}
		}
	}
	g := cm.Grad(&p)
	const h = 1e-6
	for _, idx := range [][2]int{{0, 0}, {5, 6}, {18, 13}, {9, 22}, {3, 3}} {
		q := p
		q[idx[0]][idx[1]] += h
		r := p
		r[idx[0]][idx[1]] -= h
		num := (cm.Cost(&q) - cm.Cost(&r)) / (2 * h)
		if math.Abs(num-g[idx[0]][idx[1]]) > 1e-6 {
			t.Fatalf("grad %v: analytic %v numeric %v", idx, g[idx[0]][idx[1]], num)
		}
	}
}

func TestFingerprintMismatch(t *testing.T) {
	p := buildFake(t, newFake("imagenet", 0), false)
	here := testDevice()
	if err := p.CheckDevice(here, false); err != nil {
		t.Fatal(err)
	}
	here.ISA = []string{"avx", "avx2", "avx512f", "fma"}
	here.Threads = 2
	here.ORTVersion = "1.25.0"
	here.MemoryMB = 5 // informational only
	err := p.CheckDevice(here, false)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{"ISA flags differ (here only: avx512f)", "threads 1 vs 2 here", "ONNX Runtime \"1.24.3\" vs \"1.25.0\"", "--force"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "memory") || strings.Contains(msg, "\n") {
		t.Errorf("%q", msg)
	}
	if err := p.CheckDevice(here, true); err != nil {
		t.Fatal("forced:", err)
	}
	ep := testDevice()
	ep.EP = "cuda"
	if err := p.CheckDevice(ep, false); err == nil || !strings.Contains(err.Error(), "EP") {
		t.Fatal(err)
	}
}

func TestBadProfiles(t *testing.T) {
	dir := t.TempDir()
	good := buildFake(t, newFake("imagenet", 0), false)
	goodPath := filepath.Join(dir, "good.json")
	if err := good.Save(goodPath); err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	b, _ := good.Marshal()
	cases := []struct{ path, want string }{
		{filepath.Join(dir, "nope.json"), "file does not exist"},
		{write("corrupt.json", string(b[:len(b)/2])), "not valid JSON"},
		{write("foreign.json", `{"name": "resnet", "layers": []}`), "not an sgnas device profile (no \"schema\" field)"},
		{write("foreign2.json", `{"schema": "nn-meter/2"}`), "not an sgnas device profile (schema \"nn-meter/2\")"},
		{write("newer.json", `{"schema": "sgnas-profile/3"}`), "not supported by this sgnas"},
		{write("array.json", `[1,2]`), "not an sgnas device profile"},
		{write("unknown.json", strings.Replace(string(b), `"complete"`, `"extra": 1, "complete"`, 1)), "unknown field \"extra\""},
		{write("negative.json", strings.Replace(string(b), `"stem_us": 300`, `"stem_us": -300`, 1)), "stem_us -300"},
		{write("short.json", strings.Replace(string(b), `"kernels": "3",`, `"kernels": "4",`, 1)), "want 1..6 kernels"},
		{write("incomplete.json", strings.Replace(string(b), `"complete": true`, `"complete": false`, 1)), "incomplete"},
		{write("space.json", strings.Replace(string(b), `"space": "imagenet"`, `"space": "mnist"`, 1)), "unknown search space"},
	}
	for _, c := range cases {
		_, err := Read(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), filepath.Base(c.path)) {
			t.Errorf("%s: got %v, want one line with %q", filepath.Base(c.path), err, c.want)
		}
	}
	// Another network than requested.
	want := Network{Space: "cifar10", SE: false, Activation: "relu6", Classes: 10}
	_, err := Load(goodPath, Use{Network: &want})
	if err == nil || !strings.Contains(err.Error(), "another network (space imagenet, not cifar10") {
		t.Fatal(err)
	}
	dev := testDevice()
	if _, err := Load(goodPath, Use{Network: &good.Network, Device: &dev}); err != nil {
		t.Fatal(err)
	}
}

func TestParseLatency(t *testing.T) {
	for in, want := range map[string]float64{"12ms": 12, " 12.5ms": 12.5, "800us": 0.8, "800µs": 0.8, "0.015s": 15, "1e1ms": 10} {
		got, err := ParseLatency(in)
		if err != nil || math.Abs(got-want) > 1e-12 {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for in, msg := range map[string]string{"12": "missing unit; write e.g. 12ms", "-3ms": "must be positive", "0ms": "must be positive",
		"abc": "not a duration", "": "empty", "NaNms": "not a number", "3 m s": "not a number", "12h": "not a duration"} {
		_, err := ParseLatency(in)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", in, err, msg)
		}
	}
	got, err := ParseLatencyTargets("10ms,12ms, 15ms,8ms:9ms:500us,20ms:22ms")
	want := []float64{10, 12, 15, 8, 8.5, 9, 20, 21, 22}
	if err != nil || len(got) != len(want) {
		t.Fatal(got, err)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Fatal(got)
		}
	}
	for in, msg := range map[string]string{"12,13ms": "missing unit", "9ms:8ms": "START ≤ STOP", "1ms:2ms:0ms": "must be positive",
		"1ms:2ms:3ms:4ms": "want LATENCY", ",": "empty item", "12ms,,15ms": "empty item", "": "no target", "1ms:1s:1ns": "at most"} {
		_, err := ParseLatencyTargets(in)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: %v, want %q", in, err, msg)
		}
	}
}

func TestCheckWithFake(t *testing.T) {
	p := buildFake(t, newFake("cifar10", 0.01), false)
	pr, _ := NewPredictor(p)
	f := newFake("cifar10", 0.01)
	var last int
	r, err := Check(context.Background(), pr, CheckConfig{Models: 60, Seed: 1, Measurer: f, Chunk: 25, Progress: func(d, tot int) { last = d }})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Models) != 60 || last != 120 || f.chunks != 6 || len(r.Worst) != 5 {
		t.Fatalf("%d models, progress %d, %d chunks", len(r.Models), last, f.chunks)
	}
	if r.Prediction.Within10 < 0.95 || r.Noise.Within10 < 0.95 || r.Prediction.KendallTau < 0.8 || r.Prediction.MeanAbsPct > 3 {
		t.Fatalf("prediction %+v noise %+v", r.Prediction, r.Noise)
	}
	if math.Abs(r.Worst[0].ErrorPct) < math.Abs(r.Worst[4].ErrorPct) {
		t.Fatal("worst not sorted")
	}
	cal := map[string]bool{}
	for _, m := range p.Calibration.Models {
		cal[m.Arch] = true
	}
	for _, m := range r.Models {
		if cal[m.Arch] {
			t.Fatal("check reuses a calibration model")
		}
	}
}

func TestKendallTau(t *testing.T) {
	if v := KendallTau([]float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}); v != 1 {
		t.Fatal(v)
	}
	if v := KendallTau([]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}); v != -1 {
		t.Fatal(v)
	}
	if v := KendallTau([]float64{1, 2, 3}, []float64{1, 3, 2}); math.Abs(v-1.0/3) > 1e-12 {
		t.Fatal(v)
	}
}

func BenchmarkPredict1000(b *testing.B) {
	pr, _ := NewPredictor(buildFake(b, newFake("imagenet", 0), false))
	archs := SampleArchs("imagenet", 1000, 1, 7)
	b.ResetTimer()
	for b.Loop() {
		for _, a := range archs {
			pr.Value(a)
		}
	}
}

func TestCompareQuickWithFull(t *testing.T) {
	full := buildFake(t, newFake("cifar10", 0), false)
	quick := buildFake(t, newFake("cifar10", 0), true)
	c, err := Compare(quick, full, 200, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !c.FittedOnly || c.EntryCount != 19*59 || c.Entries.Within10 < 0.99 || c.Models.Within5 < 0.99 || c.ModelsCount != 200 {
		t.Fatalf("%+v", c)
	}
	sq, err := SimulateQuick(full)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := Compare(sq, full, 200, 1)
	if c2.EntryCount != c.EntryCount || math.Abs(c2.Entries.MeanAbsPct-c.Entries.MeanAbsPct) > 1e-9 {
		t.Fatalf("simulated quick %+v vs quick build %+v", c2, c)
	}
	other := buildFake(t, newFake("imagenet", 0), false)
	if _, err := Compare(quick, other, 10, 1); err == nil {
		t.Fatal("different networks compared")
	}
}

func TestLoadPredictor(t *testing.T) {
	dir := t.TempDir()
	p := buildFake(t, newFake("cifar10", 0), false) // measured on "Test CPU"
	path := filepath.Join(dir, "p.json")
	p.Save(path)
	opts, _ := p.Network.Options()
	imagenet := models.Options{Space: models.MustSpace("imagenet"), SE: true, Act: models.HSwish}
	if _, err := LoadPredictor(path, imagenet, "", true); err == nil || !strings.Contains(err.Error(), "another network") {
		t.Fatalf("other network: %v", err)
	}
	if _, err := LoadPredictor(filepath.Join(dir, "none.json"), opts, "", true); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatal(err)
	}
	if os.Getenv("SGNAS_SKIP_ORT") != "1" {
		if _, err := LoadPredictor(path, opts, "", false); err == nil || !strings.Contains(err.Error(), "another device") {
			t.Fatalf("other device: %v", err)
		}
	}
	pr, err := LoadPredictor(path, opts, "", true)
	if err != nil || pr.Unit() != "ms" {
		t.Fatal(err)
	}
	// --force: accepted with one warning line naming what differs.
	if _, warn, err := LoadPredictorWarn(path, opts, "", true); err != nil || !strings.Contains(warn, "--force") || strings.Contains(warn, "\n") {
		t.Fatalf("warning %q (%v)", warn, err)
	}
}

// TestSpeedDrift: a machine whose speed changes from chunk to chunk (±12 %)
// still yields the table and calibration of its first chunk's speed, and the
// check separates that drift from the predictor's error.
func TestSpeedDrift(t *testing.T) {
	drift := func(n int) float64 { return 1 + 0.12*math.Sin(float64(n)*1.7) }
	f := newFake("cifar10", 0)
	f.drift = drift
	p := buildFake(t, f, false)
	// Chunk 1 times the references alone, chunks 2..20 the layers, 21 the
	// calibration models; the reference speed is the median chunk's.
	var fs []float64
	for n := 2; n <= 21; n++ {
		fs = append(fs, drift(n))
	}
	d1 := median(fs)
	for _, l := range p.Layers {
		if want := drift(l.Layer+2) / d1; math.Abs(l.Speed-want) > 1e-3 {
			t.Fatalf("layer %d: speed %v, want %v", l.Layer, l.Speed, want)
		}
		for _, e := range l.Entries {
			c, _ := ParseConfigKey(e.Kernels)
			// at the median chunk's speed d1
			if want := fakeLayer(l.Layer, c) * d1; math.Abs(e.US-want) > 0.01*want {
				t.Fatalf("layer %d %s: %v want %v (drift not divided out)", l.Layer, e.Kernels, e.US, want)
			}
		}
	}
	c := p.Calibration
	if c == nil || !c.Applied || math.Abs(c.A-1.05) > 0.01 || math.Abs(c.Speed-drift(21)/d1) > 1e-3 {
		t.Fatalf("calibration %+v", c)
	}
	pr, err := NewPredictor(p)
	if err != nil {
		t.Fatal(err)
	}
	g := newFake("cifar10", 0)
	g.drift = func(n int) float64 { return d1 * [...]float64{0.85, 1.15, 1.15, 0.85}[(n-1)%4] }
	r, err := Check(context.Background(), pr, CheckConfig{Models: 40, Seed: 2, Measurer: g, Chunk: 20})
	if err != nil {
		t.Fatal(err)
	}
	if !r.HasSpeed || r.AtSpeed.MaxAbsPct > 0.5 || r.NoiseAtSpeed.MaxAbsPct > 0.5 {
		t.Fatalf("at profile speed: %+v, noise %+v", r.AtSpeed, r.NoiseAtSpeed)
	}
	if r.Prediction.Within10 > 0.5 || r.Noise.MeanAbsPct < 10 {
		t.Fatalf("the drift should show in the absolute rows: %+v, noise %+v", r.Prediction, r.Noise)
	}
	if m := r.Models[0]; math.Abs(m.Speed-0.85) > 1e-3 || math.Abs(m.Speed2-1.15) > 1e-3 {
		t.Fatalf("speed factors %v %v", m.Speed, m.Speed2)
	}
}
