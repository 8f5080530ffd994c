package generator

import (
	"math"
	"math/rand/v2"
	"testing"

	gen "github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/models"
)

func randomScores(seed uint64, scale float64) *gen.Scores {
	rng := rand.New(rand.NewPCG(seed, 2))
	var s gen.Scores
	for l := range s {
		for j := range s[l] {
			s[l][j] = rng.NormFloat64() * scale
		}
	}
	return &s
}

func TestGumbelSoftmaxShape(t *testing.T) {
	s := randomScores(1, 2)
	g := GumbelSoftmax(s, 0.7, rand.New(rand.NewPCG(1, 1)))
	for l := 0; l < models.NumLayers; l++ {
		if g.P[l][models.SkipCandidate] != 0 {
			t.Errorf("layer %d: group 0 skip probability %g, want 0", l, g.P[l][models.SkipCandidate])
		}
		for b := 0; b < models.NumGroups; b++ {
			var sum float64
			for j := 0; j < models.NumCandidates; j++ {
				v := g.P[l][models.NumCandidates*b+j]
				if v < 0 || v > 1 {
					t.Fatalf("P[%d][%d] = %g outside [0,1]", l, models.NumCandidates*b+j, v)
				}
				sum += v
			}
			if math.Abs(sum-1) > 1e-12 {
				t.Errorf("layer %d group %d: probabilities sum to %g", l, b, sum)
			}
		}
	}
	// Seeded: same seed, same sample; other seed, other sample.
	if GumbelSoftmax(s, 0.7, rand.New(rand.NewPCG(1, 1))).P != g.P {
		t.Error("same seed gave a different sample")
	}
	if GumbelSoftmax(s, 0.7, rand.New(rand.NewPCG(2, 1))).P == g.P {
		t.Error("different seeds gave the same sample")
	}
	// Without noise it is the tempered softmax: check one group by hand.
	p := GumbelSoftmax(s, 2, nil).P
	var z float64
	for j := 0; j < 4; j++ {
		z += math.Exp(s[4][8+j] / 2)
	}
	if want := math.Exp(s[4][9]/2) / z; math.Abs(p[4][9]-want) > 1e-12 {
		t.Errorf("noise-free P = %g, want softmax %g", p[4][9], want)
	}
}

// TestGumbelMax checks the noise distribution: as τ → 0 the sample is the
// one-hot of argmax(s + g), whose frequencies are the softmax of s
// (Gumbel-max trick).
func TestGumbelMax(t *testing.T) {
	var s gen.Scores
	s[0][4], s[0][5], s[0][6], s[0][7] = 0, 1, -1, 0.5 // group 1 of layer 0
	want := make([]float64, 4)
	var z float64
	for j := range want {
		want[j] = math.Exp(s[0][4+j])
		z += want[j]
	}
	rng := rand.New(rand.NewPCG(7, 7))
	const n = 20000
	counts := make([]float64, 4)
	for i := 0; i < n; i++ {
		p := GumbelSoftmax(&s, 1e-3, rng).P
		for j := 0; j < 4; j++ {
			if p[0][4+j] > 0.5 {
				counts[j]++
			}
		}
	}
	for j := range want {
		got, w := counts[j]/n, want[j]/z
		if se := math.Sqrt(w * (1 - w) / n); math.Abs(got-w) > 4*se {
			t.Errorf("candidate %d chosen with frequency %.4f, want softmax %.4f (±%.4f)", j, got, w, se)
		}
	}
}

func TestGumbelBackward(t *testing.T) {
	s := randomScores(3, 1.5)
	w := randomScores(4, 1)
	const tau = 1.3
	loss := func(s *gen.Scores) float64 {
		p := GumbelSoftmax(s, tau, rand.New(rand.NewPCG(5, 5))).P
		var l float64
		for i := range p {
			for j := range p[i] {
				l += w[i][j] * p[i][j]
			}
		}
		return l
	}
	g := GumbelSoftmax(s, tau, rand.New(rand.NewPCG(5, 5)))
	dP := models.Encoding(*w)
	ds := g.Backward(&dP)
	for _, idx := range [][2]int{{0, 0}, {0, 3}, {0, 5}, {7, 11}, {18, 23}, {10, 16}} {
		l, j := idx[0], idx[1]
		const eps = 1e-6
		sp, sm := *s, *s
		sp[l][j] += eps
		sm[l][j] -= eps
		fd := (loss(&sp) - loss(&sm)) / (2 * eps)
		if math.Abs(ds[l][j]-fd) > 1e-6*math.Max(1, math.Abs(fd)) {
			t.Errorf("dL/ds[%d][%d] = %g, finite difference %g", l, j, ds[l][j], fd)
		}
	}
	if ds[3][3] != 0 {
		t.Errorf("group 0 skip score got gradient %g", ds[3][3])
	}
}

func TestTau(t *testing.T) {
	if Tau(0) != 5 || math.Abs(Tau(2)-5*0.95*0.95) > 1e-12 {
		t.Errorf("Tau(0)=%g Tau(2)=%g", Tau(0), Tau(2))
	}
}

func TestKendallTau(t *testing.T) {
	cases := []struct {
		x, y []float64
		want float64
	}{
		{[]float64{1, 2, 3, 4, 5}, []float64{1, 2, 3, 4, 5}, 1},
		{[]float64{1, 2, 3, 4, 5}, []float64{5, 4, 3, 2, 1}, -1},
		// 5 concordant, 1 tie in y, 0 discordant: 5/sqrt(6·5).
		{[]float64{1, 2, 3, 4}, []float64{1, 1, 2, 3}, 5 / math.Sqrt(30)},
		// No ties: (C−D)/n0. Pairs of (1,3,2,4): one discordant (3,2) → (5−1)/6.
		{[]float64{1, 2, 3, 4}, []float64{1, 3, 2, 4}, 4.0 / 6},
		// scipy.stats.kendalltau([12,2,1,12,2],[1,4,7,1,0]) = −0.4714045 (scipy docs example).
		{[]float64{12, 2, 1, 12, 2}, []float64{1, 4, 7, 1, 0}, -0.47140452079103173},
	}
	for _, c := range cases {
		got, err := KendallTau(c.x, c.y)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-c.want) > 1e-12 {
			t.Errorf("tau(%v, %v) = %.15g, want %.15g", c.x, c.y, got, c.want)
		}
	}
	if v, _ := KendallTau([]float64{1, 2, 3}, []float64{4, 4, 4}); !math.IsNaN(v) {
		t.Errorf("constant y: %g, want NaN", v)
	}
	if _, err := KendallTau([]float64{1}, []float64{1, 2}); err == nil {
		t.Error("length mismatch accepted")
	}
}

func TestHCLoss(t *testing.T) {
	cases := []struct{ f, t, loss, d float64 }{
		{110, 100, 0.0003 * 1.2 * 100, 2 * 0.0003 * 1.2 * 10},
		{90, 100, 0.0003 * 100, -2 * 0.0003 * 10},
		{100.05, 100, 0, 0},
		{99.95, 100, 0, 0},
	}
	for _, c := range cases {
		l, d := HCLoss(c.f, c.t)
		if math.Abs(l-c.loss) > 1e-12 || math.Abs(d-c.d) > 1e-12 {
			t.Errorf("HCLoss(%g, %g) = %g, %g; want %g, %g", c.f, c.t, l, d, c.loss, c.d)
		}
	}
	// Derivative matches finite differences off the dead zone.
	for _, f := range []float64{80, 130} {
		lp, _ := HCLoss(f+1e-4, 100)
		lm, _ := HCLoss(f-1e-4, 100)
		_, d := HCLoss(f, 100)
		if math.Abs((lp-lm)/2e-4-d) > 1e-6 {
			t.Errorf("HCLoss'(%g) = %g, finite difference %g", f, d, (lp-lm)/2e-4)
		}
	}
}
