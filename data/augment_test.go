package data

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestColorJitterParts(t *testing.T) {
	const n = 16
	rng := rand.New(rand.NewPCG(3, 4))
	img := make([]float32, 3*n)
	for i := range img {
		img[i] = float32(0.2 + 0.6*rng.Float64())
	}
	// brightness alone: every pixel scaled by one factor in [0.6, 1.4]
	b := append([]float32(nil), img...)
	r1 := rand.New(rand.NewPCG(9, 9))
	jitterCHW(b, n, JitterOptions{Brightness: 0.4}, r1)
	r2 := rand.New(rand.NewPCG(9, 9))
	r2.Perm(3)
	f := 0.6 + r2.Float64()*0.8
	for i, v := range img {
		if want := math.Min(1, float64(v)*f); math.Abs(float64(b[i])-want) > 1e-6 {
			t.Fatalf("brightness: pixel %d = %g, want %g (factor %g)", i, b[i], want, f)
		}
	}
	// contrast keeps the mean grey level of an image that does not clip
	c := append([]float32(nil), img...)
	for i := range c {
		c[i] = 0.4 + 0.2*c[i]
	}
	meanGrey := func(x []float32) float64 {
		s := 0.0
		for k := 0; k < n; k++ {
			s += 0.299*float64(x[k]) + 0.587*float64(x[n+k]) + 0.114*float64(x[2*n+k])
		}
		return s / n
	}
	m0 := meanGrey(c)
	jitterCHW(c, n, JitterOptions{Contrast: 0.4}, rand.New(rand.NewPCG(1, 2)))
	if math.Abs(meanGrey(c)-m0) > 1e-5 {
		t.Fatalf("contrast changed the mean grey from %g to %g", m0, meanGrey(c))
	}
	// saturation leaves a grey image grey and unchanged
	g := make([]float32, 3*n)
	for k := 0; k < n; k++ {
		g[k], g[n+k], g[2*n+k] = img[k], img[k], img[k]
	}
	g0 := append([]float32(nil), g...)
	jitterCHW(g, n, JitterOptions{Saturation: 0.4}, rand.New(rand.NewPCG(1, 2)))
	for i := range g {
		if math.Abs(float64(g[i]-g0[i])) > 1e-6 {
			t.Fatalf("saturation changed a grey pixel %d: %g → %g", i, g0[i], g[i])
		}
	}
}

func TestColorJitterDataset(t *testing.T) {
	ds, err := NewSynthetic(SyntheticOptions{Classes: 3, Size: 8, Samples: 6, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	j, err := ColorJitter(ds, RecipeJitter)
	if err != nil {
		t.Fatal(err)
	}
	a, b := make([]float32, 3*64), make([]float32, 3*64)
	// evaluation transform unchanged
	if _, err := ds.Get(2, nil, false, a); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Get(2, nil, false, b); err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("colour jitter changed the evaluation transform")
		}
	}
	// training: reproducible from the rng, different from no jitter, within [0,1]
	if _, err := ds.Get(2, AugmentRand(5, 0, 2), true, a); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Get(2, AugmentRand(5, 0, 2), true, b); err != nil {
		t.Fatal(err)
	}
	c := make([]float32, len(b))
	if _, err := j.Get(2, AugmentRand(5, 0, 2), true, c); err != nil {
		t.Fatal(err)
	}
	diff := 0.0
	for i := range b {
		if b[i] != c[i] {
			t.Fatal("colour jitter is not a function of the rng")
		}
		diff = math.Max(diff, math.Abs(float64(a[i]-b[i])))
		ch := i / 64
		v := b[i]*CIFARStd[ch] + CIFARMean[ch]
		if v < -1e-5 || v > 1+1e-5 {
			t.Fatalf("pixel %d = %g outside [0,1]", i, v)
		}
	}
	if diff < 1e-3 {
		t.Fatal("colour jitter changed nothing")
	}
	if _, err := ColorJitter(ds, JitterOptions{Brightness: 2}); err == nil {
		t.Fatal("strength 2 accepted")
	}
}
