package generator

import (
	"math"
	"math/rand/v2"
	"testing"

	gen "github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/train/nn"
	"github.com/sgnas/sgnas/weights"
)

// randomPrior is a random hard encoding (a plausible prior).
func randomPrior(seed uint64) *models.Encoding {
	rng := rand.New(rand.NewPCG(seed, 1))
	var e models.Encoding
	for l := 0; l < models.NumLayers; l++ {
		for b := 0; b < models.NumGroups; b++ {
			n := models.NumCandidates
			if b == 0 {
				n = models.SkipCandidate
			}
			e[l][models.NumCandidates*b+rng.IntN(n)] = 1
		}
	}
	return &e
}

// TestNetForwardMatchesInference checks the float32 training forward against
// the float64 inference forward (an independent implementation: other
// layout, hc_head by homogeneity) for c of both signs.
func TestNetForwardMatchesInference(t *testing.T) {
	n := NewNet(3)
	// Non-zero bias so the tail bias path is exercised.
	n.bias.Value.Data[0] = 0.25
	prior := randomPrior(1)
	cs := []float64{-0.2, 0, 0.37, 1.1}
	priors := []*models.Encoding{prior, prior, prior, prior}
	tp := nn.NewTape(nil)
	out := n.Forward(tp, priors, cs)
	want := n.Inference().Forward(prior, cs)
	for i := range cs {
		maxd, maxv := 0.0, 0.0
		for l := 0; l < gen.H; l++ {
			for j := 0; j < gen.W; j++ {
				maxd = math.Max(maxd, math.Abs(out.Scores[i][l][j]-want[i][l][j]))
				maxv = math.Max(maxv, math.Abs(want[i][l][j]))
			}
		}
		if maxv < 1e-3 {
			t.Fatalf("c=%g: scores vanish (max |s| = %g); test is meaningless", cs[i], maxv)
		}
		if maxd > 1e-4*math.Max(1, maxv) {
			t.Errorf("c=%g: max |float32 − float64| = %g (max |s| = %g)", cs[i], maxd, maxv)
		}
	}
	// Different constraints must give different scores.
	if out.Scores[0] == out.Scores[2] {
		t.Error("scores do not depend on c")
	}
}

// TestNetGradient checks Backward against central finite differences of the
// float64 inference forward for a linear loss L = Σ w·scores (the network is
// piecewise linear in each single weight, so central differences are exact
// away from ReLU kinks).
func TestNetGradient(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: finite differences over every generator parameter (long)")
	}
	n := NewNet(5)
	n.bias.Value.Data[0] = -0.1
	priors := []*models.Encoding{randomPrior(2), randomPrior(3)}
	cs := []float64{0.3, 0.8}
	rng := rand.New(rand.NewPCG(9, 9))
	w := make([]gen.Scores, len(cs))
	for i := range w {
		for l := range w[i] {
			for j := range w[i][l] {
				w[i][l][j] = rng.NormFloat64()
			}
		}
	}
	loss := func(sd weights.StateDict) float64 {
		g, err := gen.FromStateDict(sd)
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for i := range cs {
			sc := g.Forward(priors[i], cs[i:i+1])[0]
			for l := range sc {
				for j := range sc[l] {
					s += w[i][l][j] * sc[l][j]
				}
			}
		}
		return s
	}
	tp := nn.NewTape(nil)
	out := n.Forward(tp, priors, cs)
	out.Backward(w)
	sd := n.StateDict()
	checked := 0
	for _, p := range n.Params() {
		idx := []int{0, p.Value.Numel() / 2, p.Value.Numel() - 1, rng.IntN(p.Value.Numel())}
		for _, k := range idx {
			orig := sd[p.Name].Data[k]
			const eps = 1e-5
			sd[p.Name].Data[k] = orig + eps
			hi := float64(sd[p.Name].Data[k])
			lp := loss(sd)
			sd[p.Name].Data[k] = orig - eps
			lo := float64(sd[p.Name].Data[k])
			lm := loss(sd)
			sd[p.Name].Data[k] = orig
			fd := (lp - lm) / (hi - lo)
			got := float64(p.Grad.Data[k])
			if math.Abs(got-fd) > 2e-3*math.Max(1, math.Abs(fd)) {
				t.Errorf("%s[%d]: backward %g, finite difference %g", p.Name, k, got, fd)
			}
			if fd != 0 {
				checked++
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d non-zero gradient entries checked", checked)
	}
	// Gradients accumulate over a second Backward with a fresh forward.
	before := n.bias.Grad.Data[0]
	tp.Reset()
	n.Forward(tp, priors, cs).Backward(w)
	if got := n.bias.Grad.Data[0]; math.Abs(float64(got-2*before)) > 1e-3*math.Abs(float64(before)) {
		t.Errorf("bias gradient after two backward passes %g, want 2×%g", got, before)
	}
}

// TestNetStateDictRoundTrip checks names/shapes (weights.Match inside
// generator.FromStateDict) and the authors' init statistics.
func TestNetStateDictRoundTrip(t *testing.T) {
	n := NewNet(1)
	sd := n.StateDict()
	if _, err := gen.FromStateDict(sd); err != nil {
		t.Fatal(err)
	}
	if got := sd.NumParams(); got != 67969 {
		t.Errorf("%d parameters, want 67969", got)
	}
	// Init std of a 32-out conv: sqrt(2/(9·32)) = 0.0833.
	x := sd["body.block1.conv.weight"].Data
	var s2 float64
	for _, v := range x {
		s2 += float64(v) * float64(v)
	}
	if std := math.Sqrt(s2 / float64(len(x))); math.Abs(std-math.Sqrt(2.0/288)) > 0.005 {
		t.Errorf("init std %g, want %g", std, math.Sqrt(2.0/288))
	}
	if sd["tail.0.bias"].Data[0] != 0 {
		t.Error("tail bias not initialised to 0")
	}
	n2, err := NetFromStateDict(sd)
	if err != nil {
		t.Fatal(err)
	}
	if n2.StateDict()["tail.0.weight"].Data[5] != sd["tail.0.weight"].Data[5] {
		t.Error("NetFromStateDict did not copy weights")
	}
}
