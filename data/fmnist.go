package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Fashion-MNIST geometry and statistics. Images are 28×28 grey; they are mapped
// onto the CIFAR search space's 3×32×32 input by zero-padding 2 pixels on every
// side (no resampling) and repeating the grey plane in all three channels.
const (
	FashionMNISTSize = 28
	fmnistPad        = (CIFARSize - FashionMNISTSize) / 2
	fmnistPixels     = CIFARSize * CIFARSize // one padded grey plane
	fmnistClasses    = 10
)

// FashionMNISTMean and FashionMNISTStd are the grey-level statistics of the
// Fashion-MNIST training set, used for all three channels.
const (
	FashionMNISTMean = 0.2860
	FashionMNISTStd  = 0.3530
)

// FashionMNISTDir is where Debian's dataset-fashion-mnist package installs the
// IDX files; Open("fashion-mnist", "", …) reads from there.
const FashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// FashionMNISTClasses are the class names in label order.
var FashionMNISTClasses = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

var fmnistLUT = newNormLUT(
	[3]float32{FashionMNISTMean, FashionMNISTMean, FashionMNISTMean},
	[3]float32{FashionMNISTStd, FashionMNISTStd, FashionMNISTStd})

// IDX magic numbers (big-endian): 0x00 0x00, element type 0x08 (unsigned byte),
// number of dimensions.
const (
	idxImages = 0x00000803
	idxLabels = 0x00000801
	// maxIDXElements bounds what a header may claim before anything is allocated
	// (Fashion-MNIST's training images hold 47 million bytes).
	maxIDXElements = 1 << 28
)

// FashionMNIST is Fashion-MNIST held in memory, each image stored already padded
// to 32×32. The training transform is the CIFAR one (RandomCrop 32 with zero
// padding 4, then a horizontal flip with probability 0.5); both transforms
// normalise with FashionMNISTMean/FashionMNISTStd and write 3 identical channels.
type FashionMNIST struct {
	images []byte // n × 32 × 32
	labels []uint8
}

// OpenFashionMNIST reads the IDX files of split "train" (train-images-idx3-ubyte,
// train-labels-idx1-ubyte) or "test" (t10k-…) from dir, gzipped (name + ".gz") or
// not. An empty dir means FashionMNISTDir.
func OpenFashionMNIST(dir, split string) (*FashionMNIST, error) {
	var prefix string
	switch split {
	case "train":
		prefix = "train"
	case "test":
		prefix = "t10k"
	default:
		return nil, fmt.Errorf("fashion-mnist: split %q: want \"train\" or \"test\"", split)
	}
	if dir == "" {
		dir = FashionMNISTDir
	}
	imgPath, err := idxPath(dir, prefix+"-images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	lblPath, err := idxPath(dir, prefix+"-labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	dims, raw, err := readIDX(imgPath, idxImages)
	if err != nil {
		return nil, err
	}
	if dims[1] != FashionMNISTSize || dims[2] != FashionMNISTSize {
		return nil, fmt.Errorf("fashion-mnist %s: images are %dx%d, want %dx%d", imgPath, dims[1], dims[2], FashionMNISTSize, FashionMNISTSize)
	}
	ldims, labels, err := readIDX(lblPath, idxLabels)
	if err != nil {
		return nil, err
	}
	if ldims[0] != dims[0] {
		return nil, fmt.Errorf("fashion-mnist %s: %d labels for %d images in %s", lblPath, ldims[0], dims[0], imgPath)
	}
	for i, l := range labels {
		if l >= fmnistClasses {
			return nil, fmt.Errorf("fashion-mnist %s: label %d out of range [0,%d) at item %d", lblPath, l, fmnistClasses, i)
		}
	}
	n := dims[0]
	d := &FashionMNIST{images: make([]byte, n*fmnistPixels), labels: labels}
	for i := 0; i < n; i++ {
		src := raw[i*FashionMNISTSize*FashionMNISTSize:]
		dst := d.images[i*fmnistPixels:]
		for y := 0; y < FashionMNISTSize; y++ {
			copy(dst[(y+fmnistPad)*CIFARSize+fmnistPad:], src[y*FashionMNISTSize:(y+1)*FashionMNISTSize])
		}
	}
	return d, nil
}

// idxPath returns dir/name.gz or dir/name, whichever exists.
func idxPath(dir, name string) (string, error) {
	for _, p := range []string{filepath.Join(dir, name+".gz"), filepath.Join(dir, name)} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("fashion-mnist: %w", err)
		}
	}
	hint := ""
	if dir == FashionMNISTDir {
		hint = " (install Debian's dataset-fashion-mnist package, or pass the folder holding the IDX files)"
	}
	return "", fmt.Errorf("fashion-mnist: %s: neither %s.gz nor %s found%s", dir, name, name, hint)
}

// readIDX reads an unsigned-byte IDX file (gzipped when its name ends in .gz)
// whose magic must be want. It returns the dimensions and the data. The size the
// header claims is bounded before anything is allocated, and the data must
// match it exactly (no truncation, no trailing bytes).
func readIDX(path string, want uint32) ([]int, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("fashion-mnist: %w", err)
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	if filepath.Ext(path) == ".gz" {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("fashion-mnist %s: not a gzip file: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	dims, data, err := decodeIDX(r, want)
	if err != nil {
		return nil, nil, fmt.Errorf("fashion-mnist %s: %w", path, err)
	}
	return dims, data, nil
}

// decodeIDX decodes an unsigned-byte IDX stream with magic want.
func decodeIDX(r io.Reader, want uint32) ([]int, []byte, error) {
	var magic uint32
	if err := binary.Read(r, binary.BigEndian, &magic); err != nil {
		return nil, nil, fmt.Errorf("reading IDX magic: %w", noEOF(err))
	}
	if magic != want {
		return nil, nil, fmt.Errorf("IDX magic %#08x, want %#08x (unsigned bytes, %d dimensions)", magic, want, want&0xff)
	}
	dims := make([]int, want&0xff)
	total := 1
	for i := range dims {
		var d uint32
		if err := binary.Read(r, binary.BigEndian, &d); err != nil {
			return nil, nil, fmt.Errorf("reading IDX dimension %d: %w", i, noEOF(err))
		}
		if d == 0 || d > maxIDXElements || total*int(d) > maxIDXElements {
			return nil, nil, fmt.Errorf("IDX dimension %d is %d: want 1..%d elements in all", i, d, maxIDXElements)
		}
		dims[i] = int(d)
		total *= int(d)
	}
	data := make([]byte, total)
	if n, err := io.ReadFull(r, data); err != nil {
		return nil, nil, fmt.Errorf("truncated: header claims %d bytes of data, file holds %d", total, n)
	}
	var one [1]byte
	if n, _ := r.Read(one[:]); n != 0 {
		return nil, nil, fmt.Errorf("trailing data after the %d bytes the header claims", total)
	}
	return dims, data, nil
}

// noEOF turns a bare EOF into "unexpected end of file".
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Len implements Dataset.
func (d *FashionMNIST) Len() int { return len(d.labels) }

// Classes implements Dataset.
func (d *FashionMNIST) Classes() int { return fmnistClasses }

// Shape implements Dataset: 3×32×32, the CIFAR space's input.
func (d *FashionMNIST) Shape() (c, h, w int) { return 3, CIFARSize, CIFARSize }

// Label implements Dataset.
func (d *FashionMNIST) Label(i int) int { return int(d.labels[i]) }

// Get implements Dataset.
func (d *FashionMNIST) Get(i int, rng *rand.Rand, train bool, dst []float32) (int, error) {
	const name = "fashion-mnist"
	if err := checkIndex(name, i, d.Len()); err != nil {
		return 0, err
	}
	if err := checkDst(name, dst, 3, CIFARSize, CIFARSize); err != nil {
		return 0, err
	}
	if train && rng == nil {
		return 0, fmt.Errorf("%s: training transform of sample %d needs a random generator", name, i)
	}
	cropFlip(d.images[i*fmnistPixels:(i+1)*fmnistPixels], 1, CIFARSize, cifarPad, rng, train, fmnistLUT, dst)
	return int(d.labels[i]), nil
}
