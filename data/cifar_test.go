package data

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testImage returns a deterministic 3×32×32 image whose bytes vary with (c, y, x).
func testImage(seed int) []byte {
	img := make([]byte, cifarPixels)
	for c := 0; c < 3; c++ {
		for y := 0; y < 32; y++ {
			for x := 0; x < 32; x++ {
				img[(c*32+y)*32+x] = byte((seed*31 + c*85 + y*7 + x*3 + x*y) % 256)
			}
		}
	}
	return img
}

// writeRecords writes CIFAR records (label bytes followed by the image) to path.
func writeRecords(t testing.TB, path string, labels [][]byte, images [][]byte) {
	t.Helper()
	var buf []byte
	for k := range labels {
		buf = append(buf, labels[k]...)
		buf = append(buf, images[k]...)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeCIFAR10 writes the six CIFAR-10 files with counts[k] records in train file
// k and nTest test records; it returns the expected train labels and images.
func writeCIFAR10(t testing.TB, dir string, counts [5]int, nTest int) ([]int, [][]byte) {
	t.Helper()
	var wantL []int
	var wantI [][]byte
	s := 0
	for k, name := range CIFAR10TrainFiles {
		var labels, images [][]byte
		for r := 0; r < counts[k]; r++ {
			l := (s*7 + 3) % 10
			img := testImage(s)
			labels, images = append(labels, []byte{byte(l)}), append(images, img)
			wantL, wantI = append(wantL, l), append(wantI, img)
			s++
		}
		writeRecords(t, filepath.Join(dir, name), labels, images)
	}
	var labels, images [][]byte
	for r := 0; r < nTest; r++ {
		labels, images = append(labels, []byte{byte(r % 10)}), append(images, testImage(1000+r))
	}
	writeRecords(t, filepath.Join(dir, CIFAR10TestFile), labels, images)
	return wantL, wantI
}

func TestCIFAR10Parse(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "cifar-10-batches-bin") // the archive's layout
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	wantL, wantI := writeCIFAR10(t, dir, [5]int{3, 2, 2, 2, 1}, 4)
	ds, err := OpenCIFAR10(root, "train")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 10 || ds.Classes() != 10 {
		t.Fatalf("len %d classes %d, want 10 10", ds.Len(), ds.Classes())
	}
	if c, h, w := ds.Shape(); c != 3 || h != 32 || w != 32 {
		t.Fatalf("shape %d %d %d", c, h, w)
	}
	mean := []float64{0.4914, 0.4822, 0.4465}
	std := []float64{0.2023, 0.1994, 0.2010}
	for i := 0; i < ds.Len(); i++ {
		img, label, err := sampleOf(ds, i, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if label != wantL[i] || ds.Label(i) != wantL[i] {
			t.Fatalf("sample %d: label %d/%d, want %d", i, label, ds.Label(i), wantL[i])
		}
		for k, v := range wantI[i] {
			c := k / 1024
			want := (float64(v)/255 - mean[c]) / std[c]
			if math.Abs(float64(img[k])-want) > 1e-5 {
				t.Fatalf("sample %d value %d: %v, want %v", i, k, img[k], want)
			}
		}
	}
	test, err := OpenCIFAR10(root, "test")
	if err != nil {
		t.Fatal(err)
	}
	if test.Len() != 4 || test.Label(3) != 3 {
		t.Fatalf("test split: len %d label(3) %d", test.Len(), test.Label(3))
	}
	if _, err := OpenCIFAR10(root, "val"); err == nil || !strings.Contains(err.Error(), `split "val"`) {
		t.Fatalf("bad split error: %v", err)
	}
}

func TestCIFAR100FineLabel(t *testing.T) {
	dir := t.TempDir()
	writeRecords(t, filepath.Join(dir, "train.bin"),
		[][]byte{{3, 57}, {19, 99}, {0, 0}}, [][]byte{testImage(1), testImage(2), testImage(3)})
	ds, err := Open("cifar100", dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 3 || ds.Classes() != 100 {
		t.Fatalf("len %d classes %d", ds.Len(), ds.Classes())
	}
	for i, want := range []int{57, 99, 0} {
		if got := ds.Label(i); got != want {
			t.Errorf("label %d = %d, want %d (the fine label)", i, got, want)
		}
	}
	raw, _ := ds.(*CIFAR).Raw(1)
	if string(raw) != string(testImage(2)) {
		t.Error("cifar100 image bytes differ from the record")
	}
}

func TestCIFARErrors(t *testing.T) {
	full := func(n int, label byte) ([][]byte, [][]byte) {
		var l, im [][]byte
		for i := 0; i < n; i++ {
			l, im = append(l, []byte{label}), append(im, testImage(i))
		}
		return l, im
	}
	t.Run("truncated", func(t *testing.T) {
		dir := t.TempDir()
		writeCIFAR10(t, dir, [5]int{1, 1, 1, 1, 1}, 1)
		l, im := full(2, 1)
		path := filepath.Join(dir, "data_batch_3.bin")
		writeRecords(t, path, l, im)
		f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		f.Write(make([]byte, 12))
		f.Close()
		_, err := OpenCIFAR10(dir, "train")
		want := "cifar10 " + path + ": truncated at record 2: want 3073 bytes, got 12"
		if err == nil || err.Error() != want {
			t.Fatalf("error %v\nwant %s", err, want)
		}
	})
	t.Run("label", func(t *testing.T) {
		dir := t.TempDir()
		writeCIFAR10(t, dir, [5]int{1, 1, 1, 1, 1}, 1)
		l, im := full(3, 1)
		l[1][0] = 12
		path := filepath.Join(dir, CIFAR10TestFile)
		writeRecords(t, path, l, im)
		_, err := OpenCIFAR10(dir, "test")
		want := "cifar10 " + path + ": label 12 out of range [0,10) in record 1"
		if err == nil || err.Error() != want {
			t.Fatalf("error %v\nwant %s", err, want)
		}
	})
	t.Run("cifar100 fine", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "test.bin")
		writeRecords(t, path, [][]byte{{1, 1}, {1, 100}}, [][]byte{testImage(0), testImage(1)})
		_, err := OpenCIFAR100(dir, "test")
		want := "cifar100 " + path + ": label 100 out of range [0,100) in record 1"
		if err == nil || err.Error() != want {
			t.Fatalf("error %v\nwant %s", err, want)
		}
	})
	t.Run("cifar100 coarse", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "train.bin")
		writeRecords(t, path, [][]byte{{20, 1}}, [][]byte{testImage(0)})
		_, err := OpenCIFAR100(dir, "train")
		if err == nil || !strings.Contains(err.Error(), "coarse label 20 out of range [0,20) in record 0") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("cifar100 truncated label", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "train.bin")
		writeRecords(t, path, [][]byte{{1, 1}, {1}}, [][]byte{testImage(0), nil})
		_, err := OpenCIFAR100(dir, "train")
		want := "cifar100 " + path + ": truncated at record 1: want 3074 bytes, got 1"
		if err == nil || err.Error() != want {
			t.Fatalf("error %v\nwant %s", err, want)
		}
	})
	t.Run("missing", func(t *testing.T) {
		dir := t.TempDir()
		_, err := OpenCIFAR10(dir, "train")
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "data_batch_1.bin")) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "test_batch.bin")
		os.WriteFile(path, nil, 0o644)
		_, err := OpenCIFAR10(dir, "test")
		if err == nil || err.Error() != "cifar10 "+path+": no records (empty file)" {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("get", func(t *testing.T) {
		dir := t.TempDir()
		writeCIFAR10(t, dir, [5]int{1, 1, 1, 1, 1}, 1)
		ds, err := OpenCIFAR10(dir, "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ds.Get(1, nil, false, make([]float32, cifarPixels)); err == nil {
			t.Error("index out of range: no error")
		}
		if _, err := ds.Get(0, nil, false, make([]float32, 10)); err == nil {
			t.Error("short destination: no error")
		}
		if _, err := ds.Get(0, nil, true, make([]float32, cifarPixels)); err == nil {
			t.Error("train transform without rng: no error")
		}
	})
}

// TestCIFARAugment checks the training transform against an independent
// implementation: pad the image with zeros by 4, crop 32 at some offset, maybe
// mirror. Every output must equal one such candidate, and over many draws all
// offsets 0..8 and both flips must occur.
func TestCIFARAugment(t *testing.T) {
	dir := t.TempDir()
	writeCIFAR10(t, dir, [5]int{1, 1, 1, 1, 1}, 1)
	ds, err := OpenCIFAR10(dir, "test")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := ds.Raw(0)
	mean := []float64{0.4914, 0.4822, 0.4465}
	std := []float64{0.2023, 0.1994, 0.2010}
	padded := func(c, y, x int) float64 { // padded image, 40×40
		y, x = y-4, x-4
		v := 0.0
		if y >= 0 && y < 32 && x >= 0 && x < 32 {
			v = float64(raw[(c*32+y)*32+x])
		}
		return (v/255 - mean[c]) / std[c]
	}
	matches := func(img []float32, dy, dx int, flip bool) bool {
		for c := 0; c < 3; c++ {
			for y := 0; y < 32; y++ {
				for x := 0; x < 32; x++ {
					xx := x
					if flip {
						xx = 31 - x
					}
					if math.Abs(float64(img[(c*32+y)*32+x])-padded(c, y+dy, xx+dx)) > 1e-5 {
						return false
					}
				}
			}
		}
		return true
	}
	seenDy, seenDx := map[int]bool{}, map[int]bool{}
	flips := 0
	const draws = 400
	for s := 0; s < draws; s++ {
		img, _, err := sampleOf(ds, 0, rand.New(rand.NewPCG(uint64(s), 1)), true)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for dy := 0; dy <= 8; dy++ {
			for dx := 0; dx <= 8; dx++ {
				for _, flip := range []bool{false, true} {
					if matches(img, dy, dx, flip) {
						found++
						seenDy[dy], seenDx[dx] = true, true
						if flip {
							flips++
						}
					}
				}
			}
		}
		if found != 1 {
			t.Fatalf("draw %d matches %d crop/flip candidates, want exactly 1", s, found)
		}
	}
	if len(seenDy) != 9 || len(seenDx) != 9 {
		t.Errorf("offsets seen: dy %v dx %v, want all of 0..8", seenDy, seenDx)
	}
	if flips < draws/4 || flips > draws*3/4 {
		t.Errorf("%d flips in %d draws, want about half", flips, draws)
	}
}
