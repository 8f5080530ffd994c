package nn

import "fmt"

// Stride-1 depthwise convolution as a flat 1-d correlation. With the input
// plane zero-padded to width wp = w+2p, output (oh, ow) is
//
//	Σ_{kh,kw} w[kh,kw]·pad[(oh+kh)·wp + ow+kw] = Σ_j w_j·pad[q + off_j]
//
// with q = oh·wp + ow and off_j = kh·wp + kw. Computing it for every q in
// [0, ho·wp) — the 2p columns past wo are discarded — turns a plane into one
// long vectorisable loop (dwFlatAVX2) however narrow the rows are. The input
// gradient is the same correlation of the zero-embedded output gradient with
// the flipped offsets D − off_j (D = off of the last tap), and the weight
// gradient is k² dot products (dwDotsAVX2). Stride s > 1 is the stride-1
// result sampled at every s-th row and column (forward), and the stride-1
// backward of the output gradient embedded at those positions with zeros
// elsewhere — s² times the arithmetic of a strided kernel, but vectorised.
// Used when the CPU has AVX2+FMA, for strides 1 and 2.

// dwFlatEnabled switches the flat path off for side-by-side benchmarks.
var dwFlatEnabled = true

func dwFlatUsable(g ConvGeom, h, w int) bool {
	return dwFlatEnabled && haveVecAVX2 && (g.Stride == 1 || g.Stride == 2) &&
		h+2*g.Pad >= g.K && w+2*g.Pad >= g.K
}

// dwFlatConv sets out[q] = Σ_j w[j]·in[q+offs[j]] for q < n (n % 8 == 0).
func dwFlatConv(out, in, w []float32, offs []int, n int) {
	if n%8 != 0 || len(out) < n || len(w) < len(offs) || len(offs) == 0 {
		panic(fmt.Sprintf("dwFlatConv: bad sizes n=%d out=%d w=%d taps=%d", n, len(out), len(w), len(offs)))
	}
	for _, o := range offs {
		if o < 0 || o+n > len(in) {
			panic(fmt.Sprintf("dwFlatConv: offset %d + n %d outside input of %d", o, n, len(in)))
		}
	}
	if n == 0 {
		return
	}
	dwFlatAVX2(&out[0], &in[0], &w[0], &offs[0], len(offs), n)
}

// dwFlatDots accumulates out[j] += Σ_{q<n} gy[q]·in[q+offs[j]] (n % 8 == 0).
func dwFlatDots(gy, in []float32, offs []int, n int, out []float32) {
	if n%8 != 0 || len(gy) < n || len(out) < len(offs) {
		panic(fmt.Sprintf("dwFlatDots: bad sizes n=%d gy=%d out=%d taps=%d", n, len(gy), len(out), len(offs)))
	}
	for _, o := range offs {
		if o < 0 || o+n > len(in) {
			panic(fmt.Sprintf("dwFlatDots: offset %d + n %d outside input of %d", o, n, len(in)))
		}
	}
	if n == 0 || len(offs) == 0 {
		return
	}
	dwDotsAVX2(&gy[0], &in[0], &offs[0], len(offs), n, &out[0])
}

// dwFlatOffsets returns off_j = kh·wp + kw for the k×k taps.
func dwFlatOffsets(k, wp int) []int {
	offs := make([]int, k*k)
	for kh := 0; kh < k; kh++ {
		for kw := 0; kw < k; kw++ {
			offs[kh*k+kw] = kh*wp + kw
		}
	}
	return offs
}

// dwForwardFlat is dwForward through the flat correlation.
func dwForwardFlat(g ConvGeom, x []float32, n, h, w int, wt, y []float32) {
	ho, wo := g.OutSize(h), g.OutSize(w)
	k, p, st := g.K, g.Pad, g.Stride
	hp, wp := h+2*p, w+2*p
	h1 := hp - k + 1 // stride-1 output rows
	nq := roundUp(h1*wp, 8)
	offs := dwFlatOffsets(k, wp)
	parallelFor(g.Cin*n, ho*wo*k*k, func(_, lo, hi int) {
		// reads reach nq−1 + (k−1)·wp + k−1 ≤ hp·wp + k + 6
		pad := make([]float32, hp*wp+k+8)
		of := make([]float32, nq)
		for pl := lo; pl < hi; pl++ {
			c := pl / n
			padPlane(pad, x[pl*h*w:(pl+1)*h*w], h, w, p)
			dwFlatConv(of, pad, wt[c*k*k:(c+1)*k*k], offs, nq)
			out := y[pl*ho*wo : (pl+1)*ho*wo]
			for oh := 0; oh < ho; oh++ {
				orow := out[oh*wo : (oh+1)*wo]
				if st == 1 {
					copy(orow, of[oh*wp:oh*wp+wo])
					continue
				}
				src := of[st*oh*wp:]
				for ow := range orow {
					orow[ow] = src[st*ow]
				}
			}
		}
	})
}

// dwBackwardFlat is dwBackward through the flat correlation.
func dwBackwardFlat(g ConvGeom, x []float32, n, h, w int, wt, dy, dw, dx []float32) {
	ho, wo := g.OutSize(h), g.OutSize(w)
	k, p, st := g.K, g.Pad, g.Stride
	hp, wp := h+2*p, w+2*p
	h1 := hp - k + 1 // stride-1 output rows
	nq := roundUp(h1*wp, 8)
	offs := dwFlatOffsets(k, wp)
	d := (k-1)*wp + k - 1
	offsR := make([]int, len(offs))
	for j, o := range offs {
		offsR[j] = d - o
	}
	t0, nt := p*wp, roundUp(h*wp, 8) // rows of the padded input gradient that hold dx
	parallelFor(g.Cin, n*ho*wo*k*k*2, func(_, lo, hi int) {
		pad := make([]float32, hp*wp+k+8)
		// gz[d+q] = dy at flat position q (zero in the discarded columns
		// and outside the plane)
		gz := make([]float32, max(d+nq, t0+nt+d)+8)
		var dpad []float32
		if dx != nil {
			dpad = make([]float32, t0+nt)
		}
		gk := make([]float32, k*k)
		for c := lo; c < hi; c++ {
			ker := wt[c*k*k : (c+1)*k*k]
			clear(gk)
			for b := 0; b < n; b++ {
				pl := c*n + b
				gout := dy[pl*ho*wo : (pl+1)*ho*wo]
				for oh := 0; oh < ho; oh++ {
					grow := gout[oh*wo : (oh+1)*wo]
					if st == 1 {
						copy(gz[d+oh*wp:d+oh*wp+wo], grow)
						continue
					}
					dst := gz[d+st*oh*wp:]
					for ow, v := range grow {
						dst[st*ow] = v // other positions stay zero
					}
				}
				if dw != nil {
					padPlane(pad, x[pl*h*w:(pl+1)*h*w], h, w, p)
					dwFlatDots(gz[d:], pad, offs, nq, gk)
				}
				if dx != nil {
					dwFlatConv(dpad[t0:], gz[t0:], ker, offsR, nt)
					gin := dx[pl*h*w : (pl+1)*h*w]
					for i := 0; i < h; i++ {
						axpyTo(gin[i*w:(i+1)*w], 1, dpad[(i+p)*wp+p:])
					}
				}
			}
			if dw != nil {
				axpyTo(dw[c*k*k:(c+1)*k*k], 1, gk)
			}
		}
	})
}
