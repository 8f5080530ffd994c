package data

import (
	"fmt"
	"math/rand/v2"
)

// JitterOptions configures ColorJitter: each strength s draws a factor
// uniformly from [max(0,1−s), 1+s] per sample (0 disables that part).
type JitterOptions struct {
	Brightness, Contrast, Saturation float64
}

// RecipeJitter is the authors' ImageNet colour jitter (reference §7.2):
// brightness, contrast and saturation 0.4, no hue.
var RecipeJitter = JitterOptions{Brightness: 0.4, Contrast: 0.4, Saturation: 0.4}

// Normalization returns the per-channel mean and std a dataset of this
// package normalises its images with; ok is false for other datasets.
func Normalization(ds Dataset) (mean, std [3]float32, ok bool) {
	switch d := ds.(type) {
	case *CIFAR, *Synthetic:
		return CIFARMean, CIFARStd, true
	case *FashionMNIST:
		m, s := float32(FashionMNISTMean), float32(FashionMNISTStd)
		return [3]float32{m, m, m}, [3]float32{s, s, s}, true
	case *Folder:
		return ImageNetMean, ImageNetStd, true
	case *jittered:
		return d.mean, d.std, true
	}
	return mean, std, false
}

// jittered is a dataset whose training transform is followed by colour
// jitter.
type jittered struct {
	Dataset
	o         JitterOptions
	mean, std [3]float32
}

// ColorJitter returns ds with torchvision's ColorJitter (brightness,
// contrast, saturation; hue 0) appended to its training transform: the
// three adjustments are applied in a random order with factors drawn per
// sample, on pixel values in [0,1] (the image is un-normalised with ds's
// statistics, adjusted, clamped and normalised again). Brightness scales
// the pixels, contrast blends with the mean grey level of the image,
// saturation with each pixel's grey level (ITU-R 601 luma weights). All
// randomness comes from the rng Get receives, after ds's own draws, so a
// Loader stays reproducible. The evaluation transform is unchanged.
func ColorJitter(ds Dataset, o JitterOptions) (Dataset, error) {
	for _, s := range []float64{o.Brightness, o.Contrast, o.Saturation} {
		if !(s >= 0 && s <= 1) {
			return nil, fmt.Errorf("colour jitter: strength %g, want [0,1]", s)
		}
	}
	if c, _, _ := ds.Shape(); c != 3 {
		return nil, fmt.Errorf("colour jitter: images have %d channels, want 3", c)
	}
	mean, std, ok := Normalization(ds)
	if !ok {
		return nil, fmt.Errorf("colour jitter: unknown normalisation of dataset %T", ds)
	}
	return &jittered{Dataset: ds, o: o, mean: mean, std: std}, nil
}

// Get implements Dataset.
func (j *jittered) Get(i int, rng *rand.Rand, train bool, dst []float32) (int, error) {
	label, err := j.Dataset.Get(i, rng, train, dst)
	if err != nil || !train {
		return label, err
	}
	n := len(dst) / 3
	for c := 0; c < 3; c++ {
		p := dst[c*n : (c+1)*n]
		for k, v := range p {
			p[k] = v*j.std[c] + j.mean[c]
		}
	}
	jitterCHW(dst, n, j.o, rng)
	for c := 0; c < 3; c++ {
		p := dst[c*n : (c+1)*n]
		for k, v := range p {
			p[k] = (v - j.mean[c]) / j.std[c]
		}
	}
	return label, nil
}

// jitterCHW applies colour jitter in place to a CHW image of n pixels per
// channel with values in [0,1].
func jitterCHW(img []float32, n int, o JitterOptions, rng *rand.Rand) {
	factor := func(s float64) float32 {
		return float32(max(0, 1-s) + rng.Float64()*(1+s-max(0, 1-s)))
	}
	r, g, b := img[:n], img[n:2*n], img[2*n:3*n]
	grey := func(k int) float32 { return 0.299*r[k] + 0.587*g[k] + 0.114*b[k] }
	blend := func(f float32, with func(k int) float32) {
		for k := 0; k < n; k++ {
			w := (1 - f) * with(k)
			r[k] = clamp01(f*r[k] + w)
			g[k] = clamp01(f*g[k] + w)
			b[k] = clamp01(f*b[k] + w)
		}
	}
	for _, op := range rng.Perm(3) {
		switch op {
		case 0:
			if o.Brightness > 0 {
				f := factor(o.Brightness)
				blend(f, func(int) float32 { return 0 })
			}
		case 1:
			if o.Contrast > 0 {
				f := factor(o.Contrast)
				var s float64
				for k := 0; k < n; k++ {
					s += float64(grey(k))
				}
				m := float32(s / float64(n))
				blend(f, func(int) float32 { return m })
			}
		case 2:
			if o.Saturation > 0 {
				f := factor(o.Saturation)
				blend(f, grey)
			}
		}
	}
}

func clamp01(v float32) float32 {
	return min(max(v, 0), 1)
}
