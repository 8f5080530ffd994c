package generator

import (
	"context"
	"encoding/json"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/models"
)

func paperOpts() models.Options {
	return models.Options{Space: models.MustSpace("imagenet"), Classes: 1000, SE: true, Act: models.HSwish}
}

// TestPaperModels reproduces SGNAS-C/B/A (targets 275/320/365) with the
// authors' plain argmax: LUT / full-with-SE MFLOPs and params (reference §7.5).
func TestPaperModels(t *testing.T) {
	g, pool := loadShipped(t)
	res, err := g.Generate(context.Background(), pool, []float64{275, 320, 365}, Request{Net: paperOpts(), Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		lut, full float64
		params    int64
	}{{279.32, 280.56, 4652252}, {324.32, 326.03, 5482272}, {371.15, 373.18, 6001862}}
	for i, r := range res {
		w := want[i]
		if math.Abs(r.LUTMFLOPs-w.lut) > 0.005 || math.Abs(r.MFLOPs-w.full) > 0.005 || r.Params != w.params {
			t.Errorf("target %g: LUT %.3f full %.3f params %d; want %.2f %.2f %d (arch %s)",
				r.Target, r.LUTMFLOPs, r.MFLOPs, r.Params, w.lut, w.full, w.params, r.Arch)
		}
		if r.ChangedGroups != 0 || r.PriorKey != 360 || r.Metric != r.RawMetric {
			t.Errorf("target %g: raw mode changed %d groups, prior %d", r.Target, r.ChangedGroups, r.PriorKey)
		}
	}
	c, err := models.LoadArch(shared(t, "fixtures", "sgnas_c", "sgnas_c_arch.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Arch.Equal(c) || *res[0].Raw.Encoding() != *c.Encoding() {
		t.Errorf("target 275: %s, fixture SGNAS-C %s", res[0].Arch, c)
	}
}

// TestGuaranteedFitSweep: for every integer target 270..450 (ImageNet, SE +
// h-swish) the default mode lands the full count in [0.97·T, T].
func TestGuaranteedFitSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: repairs 181 ImageNet targets (long)")
	}
	g, pool := loadShipped(t)
	var targets []float64
	for x := 270; x <= 450; x++ {
		targets = append(targets, float64(x))
	}
	for _, name := range []string{"full", "lut"} {
		m, _ := NewMetric(name, paperOpts())
		res, err := g.Generate(context.Background(), pool, targets, Request{Net: paperOpts(), Metric: m})
		if err != nil {
			t.Fatal(err)
		}
		maxChanged, sumChanged, maxLoss := 0, 0, 0.0
		for _, r := range res {
			v := r.MFLOPs
			if name == "lut" {
				v = r.LUTMFLOPs
			}
			if v < 0.97*r.Target || v > r.Target || v != r.Metric {
				t.Errorf("%s target %g: %.3f outside [%.2f, %g] (metric %.3f)", name, r.Target, v, 0.97*r.Target, r.Target, r.Metric)
			}
			if err := r.Arch.Validate(); err != nil {
				t.Errorf("target %g: %v", r.Target, err)
			}
			if r.RawMetric >= 0.97*r.Target && r.RawMetric <= r.Target && r.ChangedGroups != 0 {
				t.Errorf("target %g: raw arch fits (%.2f) but %d groups changed", r.Target, r.RawMetric, r.ChangedGroups)
			}
			if r.ScoreLoss < 0 {
				t.Errorf("target %g: negative score loss %g", r.Target, r.ScoreLoss)
			}
			maxChanged = max(maxChanged, r.ChangedGroups)
			sumChanged += r.ChangedGroups
			maxLoss = math.Max(maxLoss, r.ScoreLoss)
		}
		t.Logf("%s: changed groups mean %.2f max %d; max score loss %.3f", name,
			float64(sumChanged)/float64(len(res)), maxChanged, maxLoss)
	}
}

// TestMetricDecomposition: Base + ΣLayer equals Value (the network walk) on
// random architectures, with and without SE.
func TestMetricDecomposition(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, space := range []string{"imagenet", "cifar100"} {
		for _, se := range []bool{false, true} {
			opts := models.Options{Space: models.MustSpace(space), SE: se}
			for _, m := range []Metric{NewFullMetric(opts), NewLUTMetric(opts.Space)} {
				tab := newCostTable(m)
				for i := 0; i < 50; i++ {
					a := models.RandomArch(space, rng, 1, 6)
					st := newRepairState(&Scores{}, tab, choicesOf(a))
					if v := m.Value(a); math.Abs(v-st.v) > 1e-9 {
						t.Fatalf("%s se=%v %s: table %.6f, value %.6f", space, se, m.Name(), st.v, v)
					}
				}
			}
		}
	}
}

func choicesOf(a *models.Arch) Choices {
	var c Choices
	for l, layer := range a.Layers {
		for b := range c[l] {
			c[l][b] = models.SkipCandidate
			if b < len(layer.Kernels) {
				c[l][b] = map[int]int{3: 0, 5: 1, 7: 2}[layer.Kernels[b]]
			}
		}
	}
	return c
}

// TestRepairPrefersCheapGroups: with synthetic scores, the repair takes the
// change the scores say is least harmful.
func TestRepairPrefersCheapGroups(t *testing.T) {
	opts := paperOpts()
	tab := newCostTable(NewFullMetric(opts))
	var s Scores
	// Every group strongly prefers k7 except layer 5 group 4, where k7 and
	// skip are nearly tied: dropping it must be the first choice downwards.
	for l := range s {
		for b := 0; b < 6; b++ {
			s[l][4*b+2] = 10
		}
	}
	s[5][4*4+3] = 9.99
	raw := Argmax(&s)
	v0 := newRepairState(&s, tab, raw).v
	st, err := repair(&s, tab, raw, v0-20, v0-0.01, 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.ch[5][4] != models.SkipCandidate || changed(&raw, &st.ch) != 1 {
		t.Errorf("repair changed %d groups, layer 5 group 4 = %d", changed(&raw, &st.ch), st.ch[5][4])
	}
}

// TestRepairMinExpansion: layers whose argmax keeps only group 0 are raised
// to two groups by the least harmful addition, and no move drops below it.
func TestRepairMinExpansion(t *testing.T) {
	tab := newCostTable(NewFullMetric(paperOpts()))
	var s Scores
	for l := range s {
		s[l][2] = 10 // group 0: k7
		for b := 1; b < 6; b++ {
			s[l][4*b+3] = 10 // groups 1..5: skip
		}
	}
	s[3][4*2+1] = 9.5 // layer 3: group 2 as k5 is the cheapest addition
	raw := Argmax(&s)
	v0 := newRepairState(&s, tab, raw).v
	st, err := repair(&s, tab, raw, 0, v0+1000, 0)
	if err != nil || changed(&raw, &st.ch) != 0 {
		t.Fatalf("unconstrained repair of a fitting arch changed %d groups (%v)", changed(&raw, &st.ch), err)
	}
	st, err = repair(&s, tab, raw, 0, v0+1000, 2)
	if err != nil {
		t.Fatal(err)
	}
	for l := range st.ch {
		if e := st.expansion(l); e != 2 {
			t.Errorf("layer %d expansion %d, want 2", l, e)
		}
	}
	if st.ch[3][2] != 1 {
		t.Errorf("layer 3 took group 2 = %d, want k5 (candidate 1), the least harmful addition", st.ch[3][2])
	}
	// Downwards from there (kernels can shrink), no layer loses its second group.
	down, err := repair(&s, tab, st.ch, 0, st.v-5, 2)
	if err != nil {
		t.Fatal(err)
	}
	for l := range down.ch {
		if e := down.expansion(l); e < 2 {
			t.Errorf("downward repair left layer %d with expansion %d", l, e)
		}
	}
}

func TestTargetErrors(t *testing.T) {
	g, pool := loadShipped(t)
	for _, tg := range []float64{269, 451, math.NaN()} {
		_, err := g.Generate(context.Background(), pool, []float64{300, tg}, Request{Net: paperOpts()})
		if err == nil || !strings.Contains(err.Error(), "outside the generator's range [270, 450]") {
			t.Errorf("target %g: err %v", tg, err)
		}
	}
	// A metric under which no architecture reaches the window.
	m := constMetric{}
	_, err := g.Generate(context.Background(), pool, []float64{300}, Request{Net: paperOpts(), Metric: m})
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("unreachable: err %v", err)
	}
}

// constMetric values every architecture at 1000.
type constMetric struct{}

func (constMetric) Name() string               { return "const" }
func (constMetric) Unit() string               { return "x" }
func (constMetric) Value(*models.Arch) float64 { return 1000 }
func (constMetric) Base() float64              { return 1000 }
func (constMetric) Layer(int, []int) float64   { return 0 }

func TestPriorPool(t *testing.T) {
	in := models.MustSpace("imagenet")
	if k := PoolKeys(in, 1); len(k) != 1 || k[0] != 360 {
		t.Errorf("imagenet keys %v", k)
	}
	if k := PoolKeys(models.MustSpace("cifar100"), 1); len(k) != 1 || k[0] != 100 {
		t.Errorf("cifar keys %v", k)
	}
	if k := PoolKeys(in, 2); len(k) != 2 || k[0] != 330 || k[1] != 390 {
		t.Errorf("imagenet size-2 keys %v", k)
	}
	p1, err := BuildPriorPool(context.Background(), in, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := BuildPriorPool(context.Background(), in, 2, 5)
	lut := in.LUT()
	for k, a := range p1 {
		if f := lut.ArchMFLOPs(a); math.Abs(f-float64(k)) > 1 {
			t.Errorf("key %d: prior has %.2f MFLOPs", k, f)
		}
		if !a.Equal(p2[k]) {
			t.Errorf("key %d: not deterministic", k)
		}
		for _, l := range a.Layers {
			if e := len(l.Kernels); e < 2 || e > 6 {
				t.Errorf("key %d: expansion %d", k, e)
			}
		}
	}
	// Round trip through the authors' file format and nearest-key selection.
	path := t.TempDir() + "/pool.json"
	if err := p1.Save(path); err != nil {
		t.Fatal(err)
	}
	p3, err := models.LoadPriorPool(path, "imagenet")
	if err != nil {
		t.Fatal(err)
	}
	if k, a := p3.Nearest(350); k != 330 || !a.Equal(p1[330]) {
		t.Errorf("nearest(350) = %d", k)
	}
	if k, _ := p3.Nearest(361); k != 390 {
		t.Errorf("nearest(361) = %d", k)
	}
}

func TestParseTargets(t *testing.T) {
	got, err := ParseTargets("275, 320,365")
	if err != nil || len(got) != 3 || got[0] != 275 || got[2] != 365 {
		t.Errorf("list: %v %v", got, err)
	}
	got, err = ParseTargets("270:450:1")
	if err != nil || len(got) != 181 || got[0] != 270 || got[180] != 450 {
		t.Errorf("range: %d targets, err %v", len(got), err)
	}
	got, err = ParseTargets("270:280:5,300")
	if err != nil || len(got) != 4 || got[2] != 280 || got[3] != 300 {
		t.Errorf("mixed: %v %v", got, err)
	}
	for _, bad := range []string{"", "abc", "300:200", "1:2:0", "1:2:3:4", "NaN", "270:450:1e-320", "0:1e6:1", "275,,320", "275,", ",275"} {
		if _, err := ParseTargets(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestJSONReport checks the --json document's field names.
func TestJSONReport(t *testing.T) {
	g, pool := loadShipped(t)
	req := Request{Net: paperOpts()}
	res, err := g.Generate(context.Background(), pool, []float64{320}, req)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(Report(res, req, "full"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []map[string]json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || len(doc.Results) != 1 {
		t.Fatalf("%v: %s", err, data)
	}
	for _, k := range []string{"target", "arch", "lut_mflops", "mflops", "params", "raw_mflops", "changed_groups"} {
		if _, ok := doc.Results[0][k]; !ok {
			t.Errorf("result lacks %q: %s", k, data)
		}
	}
	a, err := models.ParseArch(doc.Results[0]["arch"])
	if err != nil || !a.Equal(res[0].Arch) {
		t.Errorf("arch round trip: %v", err)
	}
}

// TestMinExpansion: with MinExpansion 2 (weights sliced from a supernet)
// every repaired architecture keeps ≥ 2 groups per layer and still fits.
func TestMinExpansion(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: repairs 91 ImageNet targets (long)")
	}
	g, pool := loadShipped(t)
	opts := models.Options{Space: models.MustSpace("imagenet"), Classes: 1000, Act: models.ReLU6}
	var targets []float64
	for x := 270; x <= 450; x += 2 {
		targets = append(targets, float64(x))
	}
	plain, err := g.Generate(context.Background(), pool, targets, Request{Net: opts})
	if err != nil {
		t.Fatal(err)
	}
	minE := func(a *models.Arch) int {
		m := models.NumGroups
		for _, l := range a.Layers {
			m = min(m, l.Expansion())
		}
		return m
	}
	withE1 := 0
	for _, r := range plain {
		if minE(r.Arch) < 2 {
			withE1++
		}
	}
	res, err := g.Generate(context.Background(), pool, targets, Request{Net: opts, MinExpansion: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if e := minE(r.Arch); e < 2 {
			t.Errorf("target %g: a layer has expansion %d", r.Target, e)
		}
		if r.MFLOPs < 0.97*r.Target || r.MFLOPs > r.Target {
			t.Errorf("target %g: %.2f MFLOPs outside the window", r.Target, r.MFLOPs)
		}
	}
	t.Logf("without the constraint %d of %d results had an expansion-1 layer", withE1, len(targets))
}
