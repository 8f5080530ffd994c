package data

import (
	"math"
	"math/cmplx"
	"path/filepath"
	"testing"
)

func TestSyntheticDeterminism(t *testing.T) {
	a, err := NewSynthetic(SyntheticOptions{Seed: 7, Samples: 50})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSynthetic(SyntheticOptions{Seed: 7, Samples: 50})
	c, _ := NewSynthetic(SyntheticOptions{Seed: 8, Samples: 50})
	d, _ := NewSynthetic(SyntheticOptions{Seed: 7, Samples: 50, Split: "test"})
	if a.Len() != 50 || a.Classes() != 10 {
		t.Fatalf("len %d classes %d", a.Len(), a.Classes())
	}
	for i := 0; i < 50; i++ {
		ra, la := a.Raw(i)
		rb, lb := b.Raw(i)
		rc, _ := c.Raw(i)
		rd, _ := d.Raw(i)
		if string(ra) != string(rb) || la != lb {
			t.Fatalf("sample %d differs between two datasets with the same seed", i)
		}
		if string(ra) == string(rc) || string(ra) == string(rd) {
			t.Fatalf("sample %d equal across seeds or splits", i)
		}
		if la != i%10 {
			t.Fatalf("label %d = %d", i, la)
		}
		// The evaluation transform is the CIFAR normalisation of the raw bytes.
		img, _, err := sampleOf(a, i, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range ra {
			ch := k / 1024
			want := (float32(v)/255 - CIFARMean[ch]) / CIFARStd[ch]
			if math.Abs(float64(img[k]-want)) > 1e-6 {
				t.Fatalf("sample %d value %d: %v want %v", i, k, img[k], want)
			}
		}
	}
	// Shapes and options.
	s, err := Open("synthetic", "", Options{Size: 48, Classes: 20, Samples: 10})
	if err != nil {
		t.Fatal(err)
	}
	if c, h, w := s.Shape(); c != 3 || h != 48 || w != 48 || s.Classes() != 20 {
		t.Fatalf("shape %d %d %d classes %d", c, h, w, s.Classes())
	}
	for _, bad := range []SyntheticOptions{{Classes: 1}, {Size: 4}, {Samples: -1}, {Split: "val"}} {
		if _, err := NewSynthetic(bad); err == nil {
			t.Errorf("options %+v: no error", bad)
		}
	}
}

// features turns synthetic samples into raw-pixel vectors and into a translation-
// and phase-invariant log power spectrum of the grey image.
func features(s *Synthetic, n int) (raw, spec [][]float64, labels []int) {
	S := s.size
	for i := 0; i < n; i++ {
		img, label := s.Raw(i)
		r := make([]float64, len(img))
		for k, v := range img {
			r[k] = float64(v) / 255
		}
		// Grey image with its mean removed, then a 2-D DFT (rows then columns).
		g := make([]complex128, S*S)
		mean := 0.0
		for k := 0; k < S*S; k++ {
			v := (r[k] + r[S*S+k] + r[2*S*S+k]) / 3
			g[k] = complex(v, 0)
			mean += v
		}
		mean /= float64(S * S)
		for k := range g {
			g[k] -= complex(mean, 0)
		}
		tw := make([]complex128, S)
		for k := range tw {
			tw[k] = cmplx.Exp(complex(0, -2*math.Pi*float64(k)/float64(S)))
		}
		tmp := make([]complex128, S*S)
		for y := 0; y < S; y++ {
			for u := 0; u < S; u++ {
				var acc complex128
				for x := 0; x < S; x++ {
					acc += g[y*S+x] * tw[(u*x)%S]
				}
				tmp[y*S+u] = acc
			}
		}
		sp := make([]float64, S*S)
		for u := 0; u < S; u++ {
			for v := 0; v < S; v++ {
				var acc complex128
				for y := 0; y < S; y++ {
					acc += tmp[y*S+u] * tw[(v*y)%S]
				}
				p := real(acc)*real(acc) + imag(acc)*imag(acc)
				sp[v*S+u] = math.Log(1 + p)
			}
		}
		raw, spec, labels = append(raw, r), append(spec, sp), append(labels, label)
	}
	return raw, spec, labels
}

// ncm trains a nearest-class-mean classifier on (x, y) and returns its accuracy on
// (tx, ty).
func ncm(classes int, x [][]float64, y []int, tx [][]float64, ty []int) float64 {
	d := len(x[0])
	means := make([][]float64, classes)
	counts := make([]int, classes)
	for c := range means {
		means[c] = make([]float64, d)
	}
	for i, v := range x {
		for k := range v {
			means[y[i]][k] += v[k]
		}
		counts[y[i]]++
	}
	for c := range means {
		for k := range means[c] {
			means[c][k] /= float64(counts[c])
		}
	}
	correct := 0
	for i, v := range tx {
		best, bestD := -1, math.Inf(1)
		for c := range means {
			dist := 0.0
			for k := range v {
				e := v[k] - means[c][k]
				dist += e * e
			}
			if dist < bestD {
				best, bestD = c, dist
			}
		}
		if best == ty[i] {
			correct++
		}
	}
	return float64(correct) / float64(len(tx))
}

// TestSyntheticSeparability checks the dataset is learnable but not trivial: a
// nearest-class-mean classifier on raw pixels is above chance (10 %) but far from
// perfect, while the same classifier on a shift-invariant feature (the power
// spectrum, which a conv net can approximate) does much better.
func TestSyntheticSeparability(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: fits classifiers on 2000 synthetic images (long)")
	}
	train, _ := NewSynthetic(SyntheticOptions{Seed: 1, Samples: 1500})
	test, _ := NewSynthetic(SyntheticOptions{Seed: 1, Samples: 500, Split: "test"})
	rx, sx, y := features(train, train.Len())
	trx, tsx, ty := features(test, test.Len())
	rawAcc := ncm(10, rx, y, trx, ty)
	specAcc := ncm(10, sx, y, tsx, ty)
	t.Logf("nearest class mean: raw pixels %.3f, power spectrum %.3f (chance 0.100)", rawAcc, specAcc)
	if rawAcc < 0.15 || rawAcc > 0.6 {
		t.Errorf("raw-pixel accuracy %.3f, want above chance but well below 100%% (0.15..0.6)", rawAcc)
	}
	if specAcc < 0.6 || specAcc < rawAcc+0.2 {
		t.Errorf("power-spectrum accuracy %.3f, want >= 0.6 and well above raw pixels (%.3f)", specAcc, rawAcc)
	}
}

func TestWriteCIFAR10RoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "synth")
	train, _ := NewSynthetic(SyntheticOptions{Seed: 3, Samples: 23})
	test, _ := NewSynthetic(SyntheticOptions{Seed: 3, Samples: 7, Split: "test"})
	if err := WriteCIFAR10(dir, train, test); err != nil {
		t.Fatal(err)
	}
	for _, split := range []struct {
		name string
		src  *Synthetic
	}{{"train", train}, {"test", test}} {
		ds, err := OpenCIFAR10(dir, split.name)
		if err != nil {
			t.Fatal(err)
		}
		if ds.Len() != split.src.Len() {
			t.Fatalf("%s: %d samples, want %d", split.name, ds.Len(), split.src.Len())
		}
		for i := 0; i < ds.Len(); i++ {
			a, la := ds.Raw(i)
			b, lb := split.src.Raw(i)
			if string(a) != string(b) || la != lb {
				t.Fatalf("%s sample %d differs after the round trip", split.name, i)
			}
		}
	}
	dir100 := filepath.Join(t.TempDir(), "synth100")
	tr100, _ := NewSynthetic(SyntheticOptions{Seed: 3, Samples: 30, Classes: 100})
	if err := WriteCIFAR100(dir100, tr100, tr100); err != nil {
		t.Fatal(err)
	}
	ds, err := OpenCIFAR100(dir100, "test")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 30 || ds.Label(29) != 29 {
		t.Fatalf("cifar100 round trip: len %d label %d", ds.Len(), ds.Label(29))
	}
	big, _ := NewSynthetic(SyntheticOptions{Samples: 20, Classes: 20})
	if err := WriteCIFAR10(t.TempDir(), big, big); err == nil {
		t.Fatal("labels >= 10 written as CIFAR-10: no error")
	}
}
