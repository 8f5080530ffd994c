package data

import (
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// memCIFAR returns an in-memory CIFAR-10-like dataset of n random images.
func memCIFAR(n int) *CIFAR {
	r := rand.New(rand.NewPCG(1, 2))
	d := &CIFAR{name: "cifar10", classes: 10, images: make([]byte, n*cifarPixels), labels: make([]uint8, n)}
	for i := range d.images {
		d.images[i] = byte(r.Uint32())
	}
	for i := range d.labels {
		d.labels[i] = uint8(i % 10)
	}
	return d
}

// benchLoader drains epochs of l until b.N images have been delivered and reports
// the throughput in images/s.
func benchLoader(b *testing.B, l *Loader) {
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	images := 0
	for epoch := 0; images < b.N; epoch++ {
		it := l.Epoch(context.Background(), epoch, 0)
		for images < b.N {
			bt, err := it.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			images += bt.N
		}
		it.Close()
	}
	b.ReportMetric(float64(images)/time.Since(start).Seconds(), "images/s")
}

// BenchmarkLoaderCIFAR32Augment measures the loader on CIFAR-style 32×32 images with
// the training augmentation (random crop + flip + normalise), batch 128.
func BenchmarkLoaderCIFAR32Augment(b *testing.B) {
	l, err := NewLoader(memCIFAR(10000), indexRange(10000), LoaderOptions{BatchSize: 128, Seed: 1, Shuffle: true, Train: true})
	if err != nil {
		b.Fatal(err)
	}
	benchLoader(b, l)
}

// BenchmarkLoaderSynthetic32 measures the loader on the synthetic dataset, whose
// images are generated on the fly.
func BenchmarkLoaderSynthetic32(b *testing.B) {
	s, _ := NewSynthetic(SyntheticOptions{Samples: 10000})
	l, err := NewLoader(s, indexRange(10000), LoaderOptions{BatchSize: 128, Seed: 1, Shuffle: true, Train: true})
	if err != nil {
		b.Fatal(err)
	}
	benchLoader(b, l)
}

// BenchmarkLoaderFolderJPEG224 measures JPEG decoding + RandomResizedCrop to 224
// from 500×375 images (a typical ImageNet size), batch 32.
func BenchmarkLoaderFolderJPEG224(b *testing.B) {
	root := b.TempDir()
	dir := filepath.Join(root, "c")
	os.Mkdir(dir, 0o755)
	r := rand.New(rand.NewPCG(3, 4))
	for k := 0; k < 8; k++ {
		img := image.NewRGBA(image.Rect(0, 0, 500, 375))
		for y := 0; y < 375; y++ {
			for x := 0; x < 500; x++ {
				img.SetRGBA(x, y, color.RGBA{uint8(x + k), uint8(y), uint8(r.IntN(64)), 255})
			}
		}
		f, _ := os.Create(filepath.Join(dir, string(rune('a'+k))+".jpg"))
		jpeg.Encode(f, img, &jpeg.Options{Quality: 90})
		f.Close()
	}
	ds, err := OpenFolder(root, FolderOptions{Size: 224})
	if err != nil {
		b.Fatal(err)
	}
	idx := make([]int, 256)
	for i := range idx {
		idx[i] = i % ds.Len()
	}
	l, err := NewLoader(ds, idx, LoaderOptions{BatchSize: 32, Seed: 1, Shuffle: true, Train: true})
	if err != nil {
		b.Fatal(err)
	}
	benchLoader(b, l)
}
