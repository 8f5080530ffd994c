package nn

import (
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkTrainStepKernels runs BenchmarkTrainStepPath's step with each
// available GEMM kernel set (and the flat depthwise path on/off) as
// sub-benchmarks, so an interleaved -count run compares them under the same
// machine load.
func BenchmarkTrainStepKernels(b *testing.B) {
	type config struct {
		name   string
		kern   *microKernel
		dot    *dotKernel
		dwFlat bool
	}
	configs := []config{{name: "gonum-gemm", dwFlat: true}}
	ks, ds := asmKernels(), asmDotTiles()
	for i := len(ks) - 1; i >= 0; i-- { // weakest first
		var d *dotKernel
		if i < len(ds) {
			d = ds[i]
		}
		configs = append(configs, config{name: ks[i].name, kern: ks[i], dot: d, dwFlat: true})
	}
	if len(ks) > 0 {
		configs = append(configs, config{name: ks[0].name + "-dwrows", kern: ks[0], dot: ds[0], dwFlat: false})
	}
	rng := rand.New(rand.NewPCG(41, 42))
	s := NewStore()
	net := newPathNet(s, rng, 10, 19)
	x, labels := randomBatch(rng, 64, 10)
	opt := NewSGD(s.Trainable(), 0.9, 4e-4)
	tp := NewTape(nil)
	trainStep(tp, net, s, opt, x, labels, 0.01)
	savedK, savedD, savedF := gemmKernel, gemmDotTile, dwFlatEnabled
	defer func() { gemmKernel, gemmDotTile, dwFlatEnabled = savedK, savedD, savedF }()
	for _, c := range configs {
		b.Run(c.name, func(b *testing.B) {
			gemmKernel, gemmDotTile, dwFlatEnabled = c.kern, c.dot, c.dwFlat
			start := time.Now()
			for i := 0; i < b.N; i++ {
				trainStep(tp, net, s, opt, x, labels, 0.01)
			}
			b.ReportMetric(float64(64*b.N)/time.Since(start).Seconds(), "images/s")
		})
	}
}
