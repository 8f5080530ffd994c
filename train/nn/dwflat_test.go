package nn

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestDepthwiseFlatMatchesDirect checks the flat kernels against the direct
// loops for strides 1 and 2, narrow, wide, odd and non-square planes,
// several kernel sizes and paddings, and with either gradient disabled.
func TestDepthwiseFlatMatchesDirect(t *testing.T) {
	if !haveVecAVX2 {
		t.Skip("flat depthwise path needs AVX2+FMA")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	type dims struct{ h, w int }
	for _, hw := range []dims{{32, 32}, {4, 4}, {1, 1}, {7, 5}, {3, 9}, {2, 6}, {9, 9}} {
		for _, k := range []int{1, 3, 5, 7} {
			for _, ps := range [][2]int{{k / 2, 1}, {0, 1}, {1, 1}, {k / 2, 2}, {0, 2}} {
				p := ps[0]
				g := ConvGeom{Cin: 3, Cout: 3, K: k, Stride: ps[1], Pad: p, Groups: 3}
				if !dwFlatUsable(g, hw.h, hw.w) { // kernel larger than the padded plane
					continue
				}
				const n = 2
				ho, wo := g.OutSize(hw.h), g.OutSize(hw.w)
				x := randTensor(rng, 1, 3, n, hw.h, hw.w)
				w := randTensor(rng, 1, g.WeightShape()...)
				y1, y2 := make([]float32, 3*n*ho*wo), make([]float32, 3*n*ho*wo)
				dwForward(g, x.Data, n, hw.h, hw.w, w.Data, y1)
				dwForwardFlat(g, x.Data, n, hw.h, hw.w, w.Data, y2)
				if d := MaxAbsDiff(y1, y2); d > 1e-5 {
					t.Fatalf("%dx%d k%d p%d s%d: forward differs by %g", hw.h, hw.w, k, p, g.Stride, d)
				}
				dy := randTensor(rng, 1, 3, n, ho, wo)
				for mode := 0; mode < 3; mode++ { // both, dw only, dx only
					dw1, dw2 := make([]float32, len(w.Data)), make([]float32, len(w.Data))
					dx1, dx2 := make([]float32, len(x.Data)), make([]float32, len(x.Data))
					for i := range dx1 { // accumulation into existing values
						dx1[i] = float32(i % 3)
						dx2[i] = dx1[i]
					}
					a1, a2, b1, b2 := dw1, dw2, dx1, dx2
					if mode == 1 {
						b1, b2 = nil, nil
					}
					if mode == 2 {
						a1, a2 = nil, nil
					}
					dwBackward(g, x.Data, n, hw.h, hw.w, w.Data, dy.Data, a1, b1)
					dwBackwardFlat(g, x.Data, n, hw.h, hw.w, w.Data, dy.Data, a2, b2)
					if d := MaxAbsDiff(dw1, dw2) + MaxAbsDiff(dx1, dx2); d > 1e-4 {
						t.Fatalf("%dx%d k%d p%d s%d mode %d: backward differs by %g", hw.h, hw.w, k, p, g.Stride, mode, d)
					}
				}
			}
		}
	}
}

// BenchmarkDepthwise compares the flat stride-1 kernels with the padded
// row kernels (forward + backward, batch 64) on supernet shapes.
func BenchmarkDepthwise(b *testing.B) {
	type shape struct{ c, hw, k, s int }
	rng := rand.New(rand.NewPCG(23, 24))
	for _, s := range []shape{{48, 32, 3, 1}, {72, 16, 5, 1}, {192, 8, 3, 1}, {576, 4, 5, 1}, {72, 32, 3, 2}, {144, 16, 5, 2}} {
		const n = 64
		g := ConvGeom{Cin: s.c, Cout: s.c, K: s.k, Stride: s.s, Pad: s.k / 2, Groups: s.c}
		x := randTensor(rng, 1, s.c, n, s.hw, s.hw)
		w := randTensor(rng, 1, g.WeightShape()...)
		y := make([]float32, s.c*n*g.OutSize(s.hw)*g.OutSize(s.hw))
		dx := make([]float32, len(x.Data))
		dw := make([]float32, len(w.Data))
		for _, flat := range []bool{false, true} {
			name := "rows"
			if flat {
				name = "flat"
			}
			b.Run(fmt.Sprintf("%s/c%d_%dx%d_k%d_s%d", name, s.c, s.hw, s.hw, s.k, s.s), func(b *testing.B) {
				saved := dwFlatEnabled
				dwFlatEnabled = flat
				defer func() { dwFlatEnabled = saved }()
				for i := 0; i < b.N; i++ {
					dwForwardFast(g, x.Data, n, s.hw, s.hw, w.Data, y)
					dwBackwardFast(g, x.Data, n, s.hw, s.hw, w.Data, y, dw, dx)
				}
			})
		}
	}
}
