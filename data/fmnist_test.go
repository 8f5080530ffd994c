package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/internal/testutil"
)

// idxBytes encodes an unsigned-byte IDX file.
func idxBytes(magic uint32, dims []uint32, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(data)
	return b.Bytes()
}

func writeFile(t testing.TB, path string, b []byte, gz bool) {
	t.Helper()
	if gz {
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(b)
		w.Close()
		b = z.Bytes()
		path += ".gz"
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeFMNIST writes n images (pixel (y, x) of image i = (i*7+y*28+x) mod 256)
// with labels i mod 10 for split prefix into dir.
func writeFMNIST(t testing.TB, dir, prefix string, n int, gz bool) {
	t.Helper()
	img := make([]byte, n*28*28)
	lbl := make([]byte, n)
	for i := 0; i < n; i++ {
		for k := 0; k < 28*28; k++ {
			img[i*784+k] = byte((i*7 + k) % 256)
		}
		lbl[i] = byte(i % 10)
	}
	writeFile(t, filepath.Join(dir, prefix+"-images-idx3-ubyte"), idxBytes(idxImages, []uint32{uint32(n), 28, 28}, img), gz)
	writeFile(t, filepath.Join(dir, prefix+"-labels-idx1-ubyte"), idxBytes(idxLabels, []uint32{uint32(n)}, lbl), gz)
}

func TestFashionMNISTSynthetic(t *testing.T) {
	for _, gz := range []bool{true, false} {
		dir := t.TempDir()
		writeFMNIST(t, dir, "train", 5, gz)
		writeFMNIST(t, dir, "t10k", 3, gz)
		ds, err := Open("fashion-mnist", dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		te, err := Open("fashion-mnist", dir, Options{Split: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if ds.Len() != 5 || te.Len() != 3 || ds.Classes() != 10 {
			t.Fatalf("gz=%v: len %d/%d classes %d", gz, ds.Len(), te.Len(), ds.Classes())
		}
		if c, h, w := ds.Shape(); c != 3 || h != 32 || w != 32 {
			t.Fatalf("shape %d×%d×%d", c, h, w)
		}
		img, label, err := sampleOf(ds, 4, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if label != 4 || ds.Label(4) != 4 {
			t.Fatalf("label %d", label)
		}
		norm := func(v byte) float32 { return (float32(v)/255 - FashionMNISTMean) / FashionMNISTStd }
		for c := 0; c < 3; c++ {
			for y := 0; y < 32; y++ {
				for x := 0; x < 32; x++ {
					want := norm(0) // padding
					if y >= 2 && y < 30 && x >= 2 && x < 30 {
						want = norm(byte((4*7 + (y-2)*28 + (x - 2)) % 256))
					}
					if got := img[(c*32+y)*32+x]; math.Abs(float64(got-want)) > 1e-6 {
						t.Fatalf("gz=%v pixel c%d y%d x%d = %v, want %v", gz, c, y, x, got, want)
					}
				}
			}
		}
		// The training transform keeps the channels identical and draws from rng.
		timg, _, err := sampleOf(ds, 1, AugmentRand(3, 0, 1), true)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 32*32; k++ {
			if timg[k] != timg[1024+k] || timg[k] != timg[2048+k] {
				t.Fatalf("channels differ at %d", k)
			}
		}
	}
}

func TestFashionMNISTErrors(t *testing.T) {
	good := func(dir string) { writeFMNIST(t, dir, "train", 4, true) }
	cases := []struct {
		name  string
		setup func(dir string)
		want  string
	}{
		{"missing", func(string) {}, "neither train-images-idx3-ubyte.gz nor train-images-idx3-ubyte found"},
		{"not gzip", func(dir string) {
			good(dir)
			os.WriteFile(filepath.Join(dir, "train-images-idx3-ubyte.gz"), []byte("plain"), 0o644)
		}, "not a gzip file"},
		{"bad magic", func(dir string) {
			good(dir)
			writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte"), idxBytes(idxLabels, []uint32{4}, make([]byte, 4)), true)
		}, "IDX magic 0x00000801, want 0x00000803"},
		{"truncated", func(dir string) {
			good(dir)
			writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte"), idxBytes(idxImages, []uint32{4, 28, 28}, make([]byte, 100)), true)
		}, "truncated: header claims 3136 bytes of data, file holds 100"},
		{"trailing", func(dir string) {
			good(dir)
			writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte"), idxBytes(idxLabels, []uint32{4}, make([]byte, 9)), true)
		}, "trailing data"},
		{"huge claim", func(dir string) {
			good(dir)
			writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte"), idxBytes(idxImages, []uint32{4000000, 28, 28}, nil), true)
		}, "want 1..268435456 elements"},
		{"wrong size", func(dir string) {
			good(dir)
			writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte"), idxBytes(idxImages, []uint32{4, 32, 32}, make([]byte, 4*1024)), true)
		}, "images are 32x32, want 28x28"},
		{"label range", func(dir string) {
			good(dir)
			writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte"), idxBytes(idxLabels, []uint32{4}, []byte{1, 2, 12, 3}), true)
		}, "label 12 out of range [0,10) at item 2"},
		{"count mismatch", func(dir string) {
			good(dir)
			writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte"), idxBytes(idxLabels, []uint32{3}, []byte{1, 2, 3}), true)
		}, "3 labels for 4 images"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.setup(dir)
			_, err := OpenFashionMNIST(dir, "train")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "fashion-mnist") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line starting with the dataset name", err)
			}
		})
	}
	if _, err := OpenFashionMNIST(t.TempDir(), "val"); err == nil || !strings.Contains(err.Error(), `split "val"`) {
		t.Fatalf("split error %v", err)
	}
}

// TestFashionMNISTDebian reads the real dataset where Debian's package is installed.
func TestFashionMNISTDebian(t *testing.T) {
	_, err := os.Stat(FashionMNISTDir)
	testutil.Require(t, "Fashion-MNIST (Debian package dataset-fashion-mnist)", err)
	tr, err := Open("fashion-mnist", "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	te, err := Open("fashion-mnist", "", Options{Split: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 60000 || te.Len() != 10000 {
		t.Fatalf("train %d test %d, want 60000/10000", tr.Len(), te.Len())
	}
	counts := make([]int, 10)
	for i := 0; i < te.Len(); i++ {
		counts[te.Label(i)]++
	}
	for c, n := range counts {
		if n != 1000 {
			t.Fatalf("test class %d has %d images, want 1000", c, n)
		}
	}
}

func FuzzDecodeIDX(f *testing.F) {
	f.Add(idxBytes(idxImages, []uint32{2, 28, 28}, make([]byte, 2*784)))
	f.Add(idxBytes(idxLabels, []uint32{3}, []byte{1, 2, 3}))
	f.Add(idxBytes(idxImages, []uint32{1 << 30, 1 << 30, 28}, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, magic := range []uint32{idxImages, idxLabels} {
			dims, data, err := decodeIDX(bytes.NewReader(b), magic)
			if err != nil {
				if err.Error() == "" {
					t.Fatal("empty error")
				}
				continue
			}
			n := 1
			for _, d := range dims {
				n *= d
			}
			if n != len(data) || 4+4*len(dims)+n != len(b) {
				t.Fatalf("dims %v with %d data bytes from a %d-byte file", dims, len(data), len(b))
			}
		}
	})
}
