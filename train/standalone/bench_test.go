package standalone

import (
	mrand "math/rand"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/sgnas/sgnas/data"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/train/nn"
	"github.com/sgnas/sgnas/weights"
)

// BenchmarkStandaloneTrainStep times one training step of the CIFAR
// recipe (forward with dropout, label-smoothed CE, backward, SGD) of a
// standalone network on 32×32 images. SGNAS_BENCH_ARCH names the
// architecture file (default: a random CIFAR-10 architecture of about 75
// LUT MFLOPs: sgnas arch random --space cifar10 --flops 75 --seed 1); SGNAS_BENCH_BATCH the batch (default 64).
// scripts/bench-standalone.sh runs it beside the same network in PyTorch.
func BenchmarkStandaloneTrainStep(b *testing.B) {
	var arch *models.Arch
	var err error
	if p := os.Getenv("SGNAS_BENCH_ARCH"); p != "" {
		arch, err = models.LoadArch(p)
	} else {
		arch, err = models.RandomArchNear(models.MustSpace("cifar10"), mrand.New(mrand.NewSource(1)), 75, 1) // = sgnas arch random --space cifar10 --flops 75 --seed 1
	}
	if err != nil {
		b.Fatal(err)
	}
	batch := 64
	if s := os.Getenv("SGNAS_BENCH_BATCH"); s != "" {
		if batch, err = strconv.Atoi(s); err != nil || batch < 1 {
			b.Fatalf("SGNAS_BENCH_BATCH %q", s)
		}
	}
	space, _ := models.SpaceByName(arch.Space)
	net, err := models.Build(arch, models.Options{Space: space, Classes: 10})
	if err != nil {
		b.Fatal(err)
	}
	n, err := New(net, weights.Init(net.Tensors(), 1))
	if err != nil {
		b.Fatal(err)
	}
	cfg, _ := Recipe("cifar")
	opt := nn.NewSGD(n.Store.Trainable(), cfg.Momentum, cfg.WeightDecay)
	r := rand.New(rand.NewPCG(2, 2))
	s := space.InputSize
	bt := &data.Batch{X: make([]float32, batch*3*s*s), Y: make([]int, batch), N: batch, C: 3, H: s, W: s}
	for i := range bt.X {
		bt.X[i] = float32(r.NormFloat64())
	}
	for i := range bt.Y {
		bt.Y[i] = r.IntN(10)
	}
	tape := nn.NewTape(nil)
	step := func(i int) {
		if _, _, err := n.trainStep(tape, bt, cfg, opt, 0.01, rand.New(rand.NewPCG(3, uint64(i)))); err != nil {
			b.Fatal(err)
		}
	}
	step(-1) // warm the buffer pool
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step(i)
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
}
