// Package data provides the datasets used to train sgnas supernets, generators and
// from-scratch networks: CIFAR-10/100 in their binary format, ImageNet-style class
// folders of JPEG/PNG images, and a procedural synthetic dataset for demos and tests.
// A Loader turns a dataset and an index subset into shuffled, augmented, normalised
// mini-batches prepared by background goroutines while the caller computes.
//
// Everything random is derived from (seed, epoch, sample index) through counter-based
// seeding, so a given seed reproduces the same batches in the same order regardless of
// goroutine scheduling; resuming a training run at an epoch boundary replays exactly
// the same data.
package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Dataset is an indexed collection of labelled images. Implementations are safe
// for concurrent use by multiple goroutines.
type Dataset interface {
	// Len is the number of samples.
	Len() int
	// Classes is the number of classes; labels are in [0, Classes()).
	Classes() int
	// Shape is the shape (channels, height, width) of every sample Get writes.
	Shape() (c, h, w int)
	// Label returns the label of sample i without decoding the image.
	Label(i int) int
	// Get writes sample i into dst (length c*h*w, CHW order, normalised with the
	// dataset's mean/std) and returns its label. With train=true the training
	// augmentation is applied, drawing all randomness from rng (which must then be
	// non-nil); with train=false the deterministic evaluation transform is used
	// and rng is ignored.
	Get(i int, rng *rand.Rand, train bool, dst []float32) (label int, err error)
}

// sampleOf is a convenience wrapper around Dataset.Get that allocates the image.
func sampleOf(ds Dataset, i int, rng *rand.Rand, train bool) ([]float32, int, error) {
	c, h, w := ds.Shape()
	img := make([]float32, c*h*w)
	label, err := ds.Get(i, rng, train, img)
	if err != nil {
		return nil, 0, err
	}
	return img, label, nil
}

// Normalisation constants.
var (
	// CIFARMean and CIFARStd are the per-channel (RGB) statistics the authors use for
	// CIFAR-10/100 (and this package uses for the synthetic dataset).
	CIFARMean = [3]float32{0.4914, 0.4822, 0.4465}
	CIFARStd  = [3]float32{0.2023, 0.1994, 0.2010}
	// ImageNetMean and ImageNetStd are the per-channel (RGB) statistics used for
	// folder datasets.
	ImageNetMean = [3]float32{0.485, 0.456, 0.406}
	ImageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// normLUT maps a byte value v of channel c to (v/255 - mean[c]) / std[c].
type normLUT [3][256]float32

func newNormLUT(mean, std [3]float32) *normLUT {
	var t normLUT
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			t[c][v] = (float32(v)/255 - mean[c]) / std[c]
		}
	}
	return &t
}

var (
	cifarLUT    = newNormLUT(CIFARMean, CIFARStd)
	imagenetLUT = newNormLUT(ImageNetMean, ImageNetStd)
)

// Options configures Open. Zero values select the defaults noted per field.
type Options struct {
	// Split selects "train" (default) or "test" for cifar10, cifar100,
	// fashion-mnist and synthetic.
	// Folder datasets use dir as given (point it at the split's folder).
	Split string
	// Size is the output image size (square) for folder datasets (default 224) and
	// the synthetic dataset (default 32). CIFAR is always 32.
	Size int
	// ScaleMin is the lower bound of the RandomResizedCrop area scale for folder
	// datasets: 0.08 (default, from-scratch recipe) or 0.2 (the search setting).
	ScaleMin float64
	// FolderTrain selects the folder training transform: "rrc" (default;
	// RandomResizedCrop + h-flip) or "resize-crop" (resize shorter side to Size/0.875,
	// random crop Size + h-flip: the authors' transform for the generator's split).
	FolderTrain string
	// Classes is the number of synthetic classes (default 10).
	Classes int
	// Samples is the number of synthetic samples (default 10000 for train, 2000 for test).
	Samples int
	// Seed seeds the synthetic dataset (the same seed gives the same images).
	Seed uint64
}

// Kinds lists the dataset kinds Open accepts.
var Kinds = []string{"cifar10", "cifar100", "fashion-mnist", "folder", "synthetic"}

// Open opens a dataset of the given kind: "cifar10", "cifar100" (binary format in
// dir), "fashion-mnist" (IDX files in dir; empty dir: FashionMNISTDir), "folder"
// (dir/<class>/*.{jpg,jpeg,png}) or "synthetic" (dir ignored).
func Open(kind, dir string, opts Options) (Dataset, error) {
	split := opts.Split
	if split == "" {
		split = "train"
	}
	switch strings.ToLower(kind) {
	case "cifar10":
		return OpenCIFAR10(dir, split)
	case "cifar100":
		return OpenCIFAR100(dir, split)
	case "fashion-mnist":
		return OpenFashionMNIST(dir, split)
	case "folder":
		return OpenFolder(dir, FolderOptions{Size: opts.Size, ScaleMin: opts.ScaleMin, Train: opts.FolderTrain})
	case "synthetic":
		return NewSynthetic(SyntheticOptions{Classes: opts.Classes, Size: opts.Size, Samples: opts.Samples, Seed: opts.Seed, Split: split})
	default:
		return nil, fmt.Errorf("dataset kind %q: want one of %s", kind, strings.Join(Kinds, ", "))
	}
}

// Split divides n samples the way the authors' search code does with train_portion p:
// the first floor(p*n) indices are the training split and the rest the validation
// split. p must be in [0, 1].
func Split(n int, portion float64) (train, val []int, err error) {
	if n < 0 {
		return nil, nil, fmt.Errorf("split: negative sample count %d", n)
	}
	if math.IsNaN(portion) || portion < 0 || portion > 1 {
		return nil, nil, fmt.Errorf("split: train_portion %v: want a value in [0, 1]", portion)
	}
	k := int(math.Floor(portion * float64(n)))
	train = make([]int, k)
	for i := range train {
		train[i] = i
	}
	val = make([]int, n-k)
	for i := range val {
		val[i] = k + i
	}
	return train, val, nil
}

// indexRange returns the indices [0, n), e.g. the whole of a dataset for a Loader.
func indexRange(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// SplitByClass divides a dataset whose samples are stored class by class (a
// folder dataset) the way Split does, but within each class: the first
// floor(p·n_c) samples of class c are training samples, the rest validation.
// An index split of such a dataset would give the validation split only
// classes the training split never saw. p must be in [0, 1].
func SplitByClass(ds Dataset, portion float64) (train, val []int, err error) {
	if math.IsNaN(portion) || portion < 0 || portion > 1 {
		return nil, nil, fmt.Errorf("split: train_portion %v: want a value in [0, 1]", portion)
	}
	byClass := make([][]int, ds.Classes())
	for i := 0; i < ds.Len(); i++ {
		c := ds.Label(i)
		if c < 0 || c >= len(byClass) {
			return nil, nil, fmt.Errorf("split: sample %d has label %d, want [0,%d)", i, c, len(byClass))
		}
		byClass[c] = append(byClass[c], i)
	}
	for _, idx := range byClass {
		k := int(math.Floor(portion * float64(len(idx))))
		train = append(train, idx[:k]...)
		val = append(val, idx[k:]...)
	}
	return train, val, nil
}

// splitmix64 is a bijective 64-bit mixer (Steele et al.), used to derive
// independent seeds from small counters.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Stream tags keep the random streams for different purposes independent.
const (
	streamShuffle uint64 = 0x5348554646 // "SHUFF"
	streamAugment uint64 = 0x4155474d   // "AUGM"
	streamSynth   uint64 = 0x53594e54   // "SYNT"
)

// newRand returns a generator whose stream is a pure function of its arguments;
// the loader uses NewRand(seed, streamAugment, epoch, index) for sample augmentation.
func newRand(seed, stream, a, b uint64) *rand.Rand {
	s1 := splitmix64(seed ^ splitmix64(stream))
	s1 = splitmix64(s1 ^ a)
	s2 := splitmix64(splitmix64(b) ^ s1)
	return rand.New(rand.NewPCG(s1, s2))
}

// AugmentRand returns the random generator a Loader with the given seed hands to
// Dataset.Get for dataset index i in the given epoch. It is exported so callers can
// reproduce a single augmented sample outside a Loader.
func AugmentRand(seed uint64, epoch, i int) *rand.Rand {
	return newRand(seed, streamAugment, uint64(epoch), uint64(i))
}

// checkIndex returns an error if i is not a valid index into a dataset of length n.
func checkIndex(name string, i, n int) error {
	if i < 0 || i >= n {
		return fmt.Errorf("%s: sample index %d out of range [0,%d)", name, i, n)
	}
	return nil
}

// checkDst returns an error if dst cannot hold a c×h×w image.
func checkDst(name string, dst []float32, c, h, w int) error {
	if len(dst) != c*h*w {
		return fmt.Errorf("%s: destination has %d values, want %d (%dx%dx%d)", name, len(dst), c*h*w, c, h, w)
	}
	return nil
}
