package evaluate

import (
	"context"
	"testing"

	"github.com/sgnas/sgnas/data"
	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/internal/orttest"
	"github.com/sgnas/sgnas/tensor"
)

// BenchmarkEval measures evaluation throughput (images/s) of a CIFAR-space
// model on 200 Fashion-MNIST test images, batch 50, one ONNX Runtime
// thread: "evaluate" is Run (loading and preprocessing overlap the
// inference), "ort" the bare session runs on the same, already
// preprocessed batches — the ceiling Run is compared with.
func BenchmarkEval(b *testing.B) {
	orttest.Need(b)
	const images, batch = 200, 50
	model := exportModel(b, b.TempDir(), "cifar10", 10, 3)
	ds, err := data.Open("fashion-mnist", "", data.Options{Split: "test"})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("evaluate", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := Run(context.Background(), Config{Model: model, Dataset: "fashion-mnist", Batch: batch, Limit: images, Threads: 1}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(images*b.N)/b.Elapsed().Seconds(), "images/s")
	})
	b.Run("ort", func(b *testing.B) {
		s, err := infer.NewSession(model, infer.SessionOptions{EP: "cpu", OptLevel: 99, IntraOpThreads: 1, NoSpin: true})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		var xs []*tensor.Tensor
		for k := 0; k < images; k += batch {
			x := tensor.New(batch, 3, 32, 32)
			for j := 0; j < batch; j++ {
				if _, err := ds.Get(k+j, nil, false, x.Data[j*3*32*32:(j+1)*3*32*32]); err != nil {
					b.Fatal(err)
				}
			}
			xs = append(xs, x)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			for _, x := range xs {
				if _, err := s.Run(context.Background(), x); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(images*b.N)/b.Elapsed().Seconds(), "images/s")
	})
}
