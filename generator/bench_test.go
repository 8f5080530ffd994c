package generator

import (
	"context"
	"testing"

	"github.com/sgnas/sgnas/models"
)

func sweepTargets() []float64 {
	var ts []float64
	for x := 270; x <= 450; x++ {
		ts = append(ts, float64(x))
	}
	return ts
}

// BenchmarkGenerate181 generates 181 targets (270..450 step 1) in one call,
// forward pass, repair to the full count with SE and counts included.
func BenchmarkGenerate181(b *testing.B) {
	g, pool := loadShipped(b)
	ts := sweepTargets()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := g.Generate(context.Background(), pool, ts, Request{Net: paperOpts()}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(ts)), "µs/target")
}

// BenchmarkForward181 is the batched forward pass alone.
func BenchmarkForward181(b *testing.B) {
	g, pool := loadShipped(b)
	space := models.MustSpace("imagenet")
	ts := sweepTargets()
	cs := make([]float64, len(ts))
	for i, t := range ts {
		cs[i] = Constraint(space, t)
	}
	prior := pool[360].Encoding()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.Forward(prior, cs)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(ts)), "µs/target")
}

// BenchmarkForward1 is one target per call.
func BenchmarkForward1(b *testing.B) {
	g, pool := loadShipped(b)
	prior := pool[360].Encoding()
	for i := 0; i < b.N; i++ {
		g.Forward(prior, []float64{0.5})
	}
}

// BenchmarkRepair181 is the repair step alone for the 181 sweep targets.
func BenchmarkRepair181(b *testing.B) {
	g, pool := loadShipped(b)
	space := models.MustSpace("imagenet")
	ts := sweepTargets()
	cs := make([]float64, len(ts))
	for i, t := range ts {
		cs[i] = Constraint(space, t)
	}
	scores := g.Forward(pool[360].Encoding(), cs)
	tab := newCostTable(NewFullMetric(paperOpts()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range scores {
			if _, err := repair(&scores[j], tab, Argmax(&scores[j]), 0.97*ts[j], ts[j], 0); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(ts)), "µs/target")
}
