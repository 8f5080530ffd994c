package infer_test

import (
	"context"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/internal/orttest"
	"github.com/sgnas/sgnas/models"
)

// writeRandomModel exports a seeded random ImageNet architecture (SE,
// h-swish) with expansions in [minE, maxE] in the optimised form.
func writeRandomModel(b testing.TB, path string, seed int64, minE, maxE int) {
	b.Helper()
	a := models.RandomArch("imagenet", rand.New(rand.NewSource(seed)), minE, maxE)
	net, err := models.Build(a, models.Options{Space: models.MustSpace("imagenet"), SE: true, Act: models.HSwish})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := export.WriteFile(path, net, export.InitWeights(net, seed), export.DefaultOptions()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSpinning shows what ORT's thread spinning does to interleaved
// timings: model A (a large ImageNet architecture) is timed alone and
// interleaved with two other models, with spinning on and off, at 1 and 2
// threads. It reports A's p50 alone and interleaved and their ratio
// ("interleaved/alone"), which should be ≈ 1 with spinning off. Timings are
// not asserted; run it with scripts/bench-spin.sh:
//
//	go test ./infer -run '^$' -bench Spinning -benchtime 1x
func BenchmarkSpinning(b *testing.B) {
	orttest.Need(b)
	dir := b.TempDir()
	a, m2, m3 := filepath.Join(dir, "a.onnx"), filepath.Join(dir, "b.onnx"), filepath.Join(dir, "c.onnx")
	writeRandomModel(b, a, 1, 5, 6)
	writeRandomModel(b, m2, 2, 3, 6)
	writeRandomModel(b, m3, 3, 2, 5)
	for _, threads := range []int{1, 2} {
		for _, spin := range []bool{true, false} {
			name := map[bool]string{true: "on", false: "off"}[spin]
			b.Run("threads="+string(rune('0'+threads))+"/spin="+name, func(b *testing.B) {
				cfg := infer.BenchConfig{Runs: 60, Warmup: 5, Threads: threads, Spin: spin, Seed: 1}
				var alone, inter float64
				for b.Loop() {
					r1, err := infer.Bench(context.Background(), []string{a}, cfg)
					if err != nil {
						b.Fatal(err)
					}
					r3, err := infer.Bench(context.Background(), []string{a, m2, m3}, cfg)
					if err != nil {
						b.Fatal(err)
					}
					alone, inter = r1[0].P50MS, r3[0].P50MS
				}
				b.ReportMetric(alone, "alone_p50_ms")
				b.ReportMetric(inter, "interleaved_p50_ms")
				b.ReportMetric(inter/alone, "interleaved/alone")
			})
		}
	}
}
