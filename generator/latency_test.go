package generator

import (
	"context"
	"testing"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/profiles"
)

// syntheticPredictor is a latency predictor of a synthetic profile for the
// paper's network options (never measured: profiles.Synthetic).
func syntheticPredictor(t testing.TB) *profiles.Predictor {
	t.Helper()
	p, err := profiles.Synthetic(profiles.NetworkOf(paperOpts()), profiles.Fingerprint{CPUModel: "test", EP: "cpu", Threads: 1, Batch: 1, OptLevel: 99})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := profiles.NewPredictor(p)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// latencySweep is 181 latency targets spread over what the authors'
// generator spans on the predictor: from the predicted latency of its
// output at 275 MFLOPs to that at 445 MFLOPs.
func latencySweep(t testing.TB, g *Generator, pool models.PriorPool, pr *profiles.Predictor) []float64 {
	t.Helper()
	res, err := g.Generate(context.Background(), pool, []float64{275, 445}, Request{Net: paperOpts(), Raw: true})
	if err != nil {
		t.Fatal(err)
	}
	a, b := pr.Value(res[0].Arch), pr.Value(res[1].Arch)
	ts := make([]float64, 181)
	for i := range ts {
		ts[i] = a + (b-a)*float64(i)/180
	}
	return ts
}

// TestGenerateLatency: latency budgets with the FLOPs-trained generator —
// every result's predicted latency lies in [0.97·T, T], the mapped inputs
// grow with T, and few groups change on average.
func TestGenerateLatency(t *testing.T) {
	g, pool := loadShipped(t)
	pr := syntheticPredictor(t)
	ts := latencySweep(t, g, pool, pr)
	res, err := g.Generate(context.Background(), pool, ts, Request{Net: paperOpts(), Metric: pr, MapTargets: true})
	if err != nil {
		t.Fatal(err)
	}
	changed, prev := 0, 0.0
	for i, r := range res {
		v := pr.Value(r.Arch)
		if !(v >= DefaultWindow*r.Target-1e-9 && v <= r.Target+1e-9) || r.Metric != v {
			t.Fatalf("target %.3f ms: predicted %.4f ms (metric %.4f)", r.Target, v, r.Metric)
		}
		if r.Input < prev-1e-9 || r.Input < 270 || r.Input > 450 {
			t.Fatalf("target %d: input %g after %g", i, r.Input, prev)
		}
		prev = r.Input
		changed += r.ChangedGroups
	}
	mean := float64(changed) / float64(len(res))
	t.Logf("181 latency targets %.2f..%.2f ms: inputs %.1f..%.1f MFLOPs, %.2f groups changed on average", ts[0], ts[180], res[0].Input, res[180].Input, mean)
	if mean > 6 {
		t.Fatalf("%.2f groups changed on average: the mapping does not aim at the window", mean)
	}
	// A target far below the generator's range is still reached by repair.
	lo, hi := pr.Range(1)
	far := []float64{lo + 0.02*(hi-lo), lo + 0.95*(hi-lo)}
	res, err = g.Generate(context.Background(), pool, far, Request{Net: paperOpts(), Metric: pr, MapTargets: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if v := pr.Value(r.Arch); v > r.Target || v < 0.97*r.Target {
			t.Fatalf("far target %.3f: %.3f", r.Target, v)
		}
	}
	// Out of the metric's range: one error.
	if _, err := g.Generate(context.Background(), pool, []float64{lo / 2}, Request{Net: paperOpts(), Metric: pr, MapTargets: true}); err == nil {
		t.Fatal("unreachable latency target accepted")
	}
}

// BenchmarkGenerateLatency181 generates and repairs 181 latency targets
// (synthetic profile) in one call: grid mapping + forward + repair + counts.
func BenchmarkGenerateLatency181(b *testing.B) {
	g, pool := loadShipped(b)
	pr := syntheticPredictor(b)
	ts := latencySweep(b, g, pool, pr)
	req := Request{Net: paperOpts(), Metric: pr, MapTargets: true}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := g.Generate(context.Background(), pool, ts, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(ts)), "µs/target")
}
