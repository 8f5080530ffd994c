package evaluate

import (
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/sgnas/sgnas/data"
	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/internal/orttest"
	"github.com/sgnas/sgnas/tensor"
)

// BenchmarkEval measures evaluation throughput (images/s) with one ONNX
// Runtime thread: "fmnist/…" a CIFAR-space model on 200 Fashion-MNIST test
// images, batch 50; "folder/…" an ImageNet-space model on 40 JPEG images
// (500×375) of a class folder, batch 20 (decoding, bicubic resize, crop).
// "…/evaluate" is Run (loading and preprocessing overlap the inference),
// "…/ort" the bare session runs on the same, already preprocessed batches
// — the ceiling Run is compared with.
func BenchmarkEval(b *testing.B) {
	orttest.Need(b)
	dir := b.TempDir()
	fm, err := data.Open("fashion-mnist", "", data.Options{Split: "test"})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("fmnist", func(b *testing.B) {
		benchEval(b, exportModel(b, dir, "cifar10", 10, 3), fm, Config{Dataset: "fashion-mnist", Batch: 50, Limit: 200})
	})
	root := filepath.Join(dir, "val")
	for c := 0; c < 4; c++ {
		class := filepath.Join(root, fmt.Sprintf("c%d", c))
		os.MkdirAll(class, 0o755)
		for k := 0; k < 10; k++ {
			img := image.NewRGBA(image.Rect(0, 0, 500, 375))
			for i := range img.Pix {
				img.Pix[i] = uint8(i*7 + i/2000*(c+k))
			}
			f, err := os.Create(filepath.Join(class, fmt.Sprintf("%d.jpg", k)))
			if err != nil {
				b.Fatal(err)
			}
			jpeg.Encode(f, img, &jpeg.Options{Quality: 90})
			f.Close()
		}
	}
	folder, err := data.OpenFolder(root, data.FolderOptions{Size: 224})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("folder", func(b *testing.B) {
		benchEval(b, exportModel(b, dir, "imagenet", 4, 3), folder, Config{Dataset: "folder", Data: root, Batch: 20, Limit: 40})
	})
}

func benchEval(b *testing.B, model string, ds data.Dataset, cfg Config) {
	images, batch := cfg.Limit, cfg.Batch
	cfg.Model, cfg.Threads = model, 1
	b.Run("evaluate", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := Run(context.Background(), cfg); err != nil {
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
		c, h, w := ds.Shape()
		n := c * h * w
		for k := 0; k < images; k += batch {
			x := tensor.New(batch, c, h, w)
			for j := 0; j < batch; j++ {
				if _, err := ds.Get(k+j, nil, false, x.Data[j*n:(j+1)*n]); err != nil {
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
