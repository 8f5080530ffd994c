package models

import (
	"fmt"
	"math"
	"math/rand"
)

// RandomArchNear samples an architecture whose LUT FLOPs lie within tol of
// target: it draws a prior-style random architecture and then repeatedly
// changes one random group (add, drop or re-kernel) when that moves the count
// towards the target. Deterministic for a given rng state.
func RandomArchNear(space *Space, rng *rand.Rand, target, tol float64) (*Arch, error) {
	lut := space.LUT()
	lo := lut.ArchMFLOPs(uniformKernels(space.Name, 1, 3))
	hi := lut.ArchMFLOPs(uniformKernels(space.Name, NumGroups, 7))
	if target < lo-tol || target > hi+tol {
		return nil, fmt.Errorf("target %.2f MFLOPs out of range for %s: reachable LUT FLOPs are [%.2f, %.2f]", target, space.Name, lo, hi)
	}
	for attempt := 0; attempt < 20; attempt++ {
		a := RandomArch(space.Name, rng, 1, NumGroups)
		f := lut.ArchMFLOPs(a)
		for step := 0; step < 20000 && math.Abs(f-target) > tol; step++ {
			l := rng.Intn(NumLayers)
			ks := a.Layers[l].Kernels
			old := lut.LayerMFLOPs(l, ks)
			var next []int
			switch op := rng.Intn(3); {
			case op == 0 && len(ks) < NumGroups:
				next = append(append([]int(nil), ks...), KernelSizes[rng.Intn(3)])
			case op == 1 && len(ks) > 1:
				i := rng.Intn(len(ks))
				next = append(append([]int(nil), ks[:i]...), ks[i+1:]...)
			default:
				next = append([]int(nil), ks...)
				next[rng.Intn(len(ks))] = KernelSizes[rng.Intn(3)]
			}
			nf := f - old + lut.LayerMFLOPs(l, next)
			if math.Abs(nf-target) < math.Abs(f-target) {
				a.Layers[l].Kernels, f = next, nf
			}
		}
		if math.Abs(f-target) <= tol {
			return a, nil
		}
	}
	return nil, fmt.Errorf("no architecture within %.2f of %.2f MFLOPs found", tol, target)
}

func uniformKernels(space string, e, k int) *Arch {
	a := &Arch{Space: space, Layers: make([]Layer, NumLayers)}
	for l := range a.Layers {
		for g := 0; g < e; g++ {
			a.Layers[l].Kernels = append(a.Layers[l].Kernels, k)
		}
	}
	return a
}
