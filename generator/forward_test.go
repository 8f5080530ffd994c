package generator

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/internal/testutil"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/weights"
)

// shared returns ../shared (beside the repository root) joined with rel,
// skipping the test when it is absent.
func shared(t testing.TB, rel ...string) string {
	t.Helper()
	return testutil.Shared(t, rel...)
}

func loadShipped(t testing.TB) (*Generator, models.PriorPool) {
	t.Helper()
	g, err := Load(shared(t, "pretrained", "imagenet", "best_avg.pth"))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := models.LoadPriorPool(shared(t, "pretrained", "imagenet", "prior_pool.json"), "imagenet")
	if err != nil {
		t.Fatal(err)
	}
	return g, pool
}

// TestScoresMatchTorch compares raw scores with PyTorch's (testdata written
// by scripts/ref-generator.py from the authors' architecture in float32).
func TestScoresMatchTorch(t *testing.T) {
	g, pool := loadShipped(t)
	var ref struct {
		Targets []float64     `json:"targets"`
		Scores  [][][]float64 `json:"scores"`
	}
	data, err := os.ReadFile(filepath.Join("testdata", "scores_ref.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	space := models.MustSpace("imagenet")
	cs := make([]float64, len(ref.Targets))
	for i, tg := range ref.Targets {
		cs[i] = Constraint(space, tg)
	}
	_, prior := pool.Nearest(360)
	got := g.Forward(prior.Encoding(), cs)
	for i, tg := range ref.Targets {
		maxd := 0.0
		var want Scores
		for l := range want {
			copy(want[l][:], ref.Scores[i][l])
		}
		for l := 0; l < H; l++ {
			for j := 0; j < W; j++ {
				maxd = math.Max(maxd, math.Abs(got[i][l][j]-want[l][j]))
			}
		}
		m, ml, mg := Margin(&got[i])
		t.Logf("target %g: max |Go − torch| = %.2e; smallest decision margin %.4f (layer %d group %d)", tg, maxd, m, ml, mg)
		if maxd > 1e-4 {
			t.Errorf("target %g: scores differ from torch by %.3g", tg, maxd)
		}
		if Argmax(&got[i]) != Argmax(&want) {
			t.Errorf("target %g: hard decoding differs from torch", tg)
		}
	}
	// Batched and single forward agree.
	one := g.Forward(prior.Encoding(), cs[2:3])
	if d := maxAbsDiff(&one[0], &got[2]); d > 1e-12 {
		t.Errorf("batch of 1 vs batch of %d: %.3g", len(cs), d)
	}
}

func maxAbsDiff(a, b *Scores) float64 {
	d := 0.0
	for l := range a {
		for j := range a[l] {
			d = math.Max(d, math.Abs(a[l][j]-b[l][j]))
		}
	}
	return d
}

// TestConstraintShortcut: hc_head on a constant plane c equals c·hc_head(1)
// for c ≥ 0 and |c|·hc_head(−1) for c < 0 (the identity Forward relies on).
func TestConstraintShortcut(t *testing.T) {
	g, _ := loadShipped(t)
	pos, neg := g.hcBranch(1), g.hcBranch(-1)
	for _, c := range []float64{-0.3, 0, 0.37, 1.2} {
		direct := g.hcBranch(c)
		for i, v := range direct {
			want := c * pos[i]
			if c < 0 {
				want = -c * neg[i]
			}
			if math.Abs(v-want) > 1e-12*math.Max(1, math.Abs(v)) {
				t.Fatalf("c=%g element %d: direct %g, shortcut %g", c, i, v, want)
			}
		}
	}
}

// TestBatchSizes: every batch size (8-wide kernel, padded chunks, generic
// path) gives the same scores as one target at a time.
func TestBatchSizes(t *testing.T) {
	g, pool := loadShipped(t)
	prior := pool[360].Encoding()
	var cs []float64
	for i := 0; i < 13; i++ {
		cs = append(cs, -0.1+0.09*float64(i))
	}
	all := g.Forward(prior, cs)
	for _, n := range []int{1, 2, 5, 8} {
		part := g.Forward(prior, cs[:n])
		for i := range part {
			if d := maxAbsDiff(&part[i], &all[i]); d > 1e-12 {
				t.Errorf("batch %d item %d: differs by %.3g", n, i, d)
			}
		}
	}
}

// TestNonFiniteWeights: a NaN or Inf in a generator checkpoint (a bit flip in
// an exponent, a diverged training run) is refused, naming the tensor.
func TestNonFiniteWeights(t *testing.T) {
	sd := weights.Init(TensorNames(), 1)
	if _, err := FromStateDict(sd); err != nil {
		t.Fatal(err)
	}
	name := TensorNames()[3].Name
	sd[name].Data[2] = float32(math.NaN())
	_, err := FromStateDict(sd)
	if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("error %v: want it to name %s and NaN", err, name)
	}
}
