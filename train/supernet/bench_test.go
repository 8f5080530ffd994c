package supernet

import (
	"testing"

	"github.com/sgnas/sgnas/data"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/train/nn"
)

// BenchmarkTrainStep times one supernet training step of reference §5.1
// (4 sampled paths forward+backward, one SGD step) on CIFAR 32×32, batch 64;
// images/s counts batch images (each trained on 4 paths).
func BenchmarkTrainStep(b *testing.B) {
	s := New(models.MustSpace("cifar10"), 10, 1)
	sgd := nn.NewSGD(s.Store.Trainable(), 0.9, 4e-4)
	x, y := input(1, 64)
	batch := &data.Batch{X: nn.ToNCHW(x).Data, Y: y, N: 64, C: 3, H: 32, W: 32}
	cfg := DefaultConfig()
	tape := nn.NewTape(nil)
	var acc Accum
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.trainStep(tape, sgd, batch, cfg, 0, i, 0.01, &acc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "images/s")
}
