package data

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// CIFAR image geometry.
const (
	CIFARSize   = 32
	cifarPixels = 3 * CIFARSize * CIFARSize // 3072 bytes per image, R plane, G plane, B plane
	cifarPad    = 4                         // RandomCrop(32, padding=4)
)

// CIFAR10TrainFiles and CIFAR10TestFile are the file names of the CIFAR-10 binary
// version; CIFAR100TrainFile and CIFAR100TestFile those of CIFAR-100.
var (
	CIFAR10TrainFiles = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
	CIFAR10TestFile   = "test_batch.bin"
	CIFAR100TrainFile = "train.bin"
	CIFAR100TestFile  = "test.bin"
)

// CIFAR is CIFAR-10 or CIFAR-100 held in memory as raw bytes. The training transform
// is RandomCrop 32 with zero padding 4 followed by a horizontal flip with
// probability 0.5; both transforms normalise with CIFARMean/CIFARStd.
type CIFAR struct {
	name    string
	classes int
	images  []byte // n × 3072, CHW
	labels  []uint8
}

// OpenCIFAR10 reads CIFAR-10 (binary version) from dir, or from
// dir/cifar-10-batches-bin when dir is the folder the archive was extracted in.
// split is "train" (data_batch_1..5.bin) or "test" (test_batch.bin).
func OpenCIFAR10(dir, split string) (*CIFAR, error) {
	var files []string
	switch split {
	case "train":
		files = CIFAR10TrainFiles
	case "test":
		files = []string{CIFAR10TestFile}
	default:
		return nil, fmt.Errorf("cifar10: split %q: want \"train\" or \"test\"", split)
	}
	dir = locate(dir, "cifar-10-batches-bin", files[0])
	d := &CIFAR{name: "cifar10", classes: 10}
	for _, f := range files {
		if err := d.readFile(filepath.Join(dir, f), 1); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// OpenCIFAR100 reads CIFAR-100 (binary version) from dir, or from
// dir/cifar-100-binary. split is "train" (train.bin) or "test" (test.bin). The fine
// label (100 classes) is used.
func OpenCIFAR100(dir, split string) (*CIFAR, error) {
	var file string
	switch split {
	case "train":
		file = CIFAR100TrainFile
	case "test":
		file = CIFAR100TestFile
	default:
		return nil, fmt.Errorf("cifar100: split %q: want \"train\" or \"test\"", split)
	}
	dir = locate(dir, "cifar-100-binary", file)
	d := &CIFAR{name: "cifar100", classes: 100}
	if err := d.readFile(filepath.Join(dir, file), 2); err != nil {
		return nil, err
	}
	return d, nil
}

// locate returns dir/sub when dir/file is absent but dir/sub/file exists, else dir.
func locate(dir, sub, file string) string {
	if _, err := os.Stat(filepath.Join(dir, file)); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, sub, file)); err == nil {
			return filepath.Join(dir, sub)
		}
	}
	return dir
}

// readFile appends the records of one binary file. labelBytes is 1 (CIFAR-10:
// label) or 2 (CIFAR-100: coarse label, fine label).
func (d *CIFAR) readFile(path string, labelBytes int) error {
	buf, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	rec := labelBytes + cifarPixels
	if len(buf) == 0 {
		return fmt.Errorf("%s %s: no records (empty file)", d.name, path)
	}
	n := len(buf) / rec
	if rem := len(buf) % rec; rem != 0 {
		return fmt.Errorf("%s %s: truncated at record %d: want %d bytes, got %d", d.name, path, n, rec, rem)
	}
	d.images = append(d.images, make([]byte, n*cifarPixels)...)
	d.labels = append(d.labels, make([]uint8, n)...)
	base := len(d.labels) - n
	for r := 0; r < n; r++ {
		b := buf[r*rec : (r+1)*rec]
		if labelBytes == 2 {
			if b[0] >= 20 {
				return fmt.Errorf("%s %s: coarse label %d out of range [0,20) in record %d", d.name, path, b[0], r)
			}
		}
		label := b[labelBytes-1]
		if int(label) >= d.classes {
			return fmt.Errorf("%s %s: label %d out of range [0,%d) in record %d", d.name, path, label, d.classes, r)
		}
		d.labels[base+r] = label
		copy(d.images[(base+r)*cifarPixels:], b[labelBytes:])
	}
	return nil
}

// Len implements Dataset.
func (d *CIFAR) Len() int { return len(d.labels) }

// Classes implements Dataset.
func (d *CIFAR) Classes() int { return d.classes }

// Shape implements Dataset.
func (d *CIFAR) Shape() (c, h, w int) { return 3, CIFARSize, CIFARSize }

// Label implements Dataset.
func (d *CIFAR) Label(i int) int { return int(d.labels[i]) }

// Raw returns the stored bytes (3×32×32, CHW) of sample i and its label.
func (d *CIFAR) Raw(i int) ([]byte, int) {
	return d.images[i*cifarPixels : (i+1)*cifarPixels], int(d.labels[i])
}

// Get implements Dataset.
func (d *CIFAR) Get(i int, rng *rand.Rand, train bool, dst []float32) (int, error) {
	if err := checkIndex(d.name, i, d.Len()); err != nil {
		return 0, err
	}
	if err := checkDst(d.name, dst, 3, CIFARSize, CIFARSize); err != nil {
		return 0, err
	}
	if train && rng == nil {
		return 0, fmt.Errorf("%s: training transform of sample %d needs a random generator", d.name, i)
	}
	img, label := d.Raw(i)
	cropFlip(img, 3, CIFARSize, cifarPad, rng, train, cifarLUT, dst)
	return label, nil
}

// cropFlip writes the normalised CHW byte image src (planes×s×s, planes 3 or 1)
// into dst (3×s×s; a single plane is repeated in every channel); with train it
// applies RandomCrop(s, padding=pad, fill 0) then a horizontal flip with probability
// 0.5, in torchvision's order (crop offsets drawn first, then the flip).
func cropFlip(src []byte, planes, s, pad int, rng *rand.Rand, train bool, lut *normLUT, dst []float32) {
	if !train {
		for c := 0; c < 3; c++ {
			t := &lut[c]
			plane := src[(c%planes)*s*s : (c%planes+1)*s*s]
			out := dst[c*s*s : (c+1)*s*s]
			for k, v := range plane {
				out[k] = t[v]
			}
		}
		return
	}
	dy := rng.IntN(2*pad + 1)
	dx := rng.IntN(2*pad + 1)
	flip := rng.IntN(2) == 1
	for c := 0; c < 3; c++ {
		t := &lut[c]
		zero := t[0]
		plane := src[(c%planes)*s*s : (c%planes+1)*s*s]
		for y := 0; y < s; y++ {
			out := dst[(c*s+y)*s : (c*s+y+1)*s]
			sy := y + dy - pad
			if sy < 0 || sy >= s {
				for x := range out {
					out[x] = zero
				}
				continue
			}
			row := plane[sy*s : (sy+1)*s]
			for x := range out {
				xx := x
				if flip {
					xx = s - 1 - x
				}
				sx := xx + dx - pad
				if sx < 0 || sx >= s {
					out[x] = zero
				} else {
					out[x] = t[row[sx]]
				}
			}
		}
	}
}
