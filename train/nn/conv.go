package nn

import "fmt"

// Activations inside the engine are stored channel-major, "CNHW": shape
// [C, N, H, W], so a channel's values for the whole batch are contiguous.
// A 1×1 convolution is then a single GEMM W(Cout×Cin)·X(Cin×N·H·W), and
// BatchNorm statistics are reductions over contiguous memory.

// ConvGeom describes a 2-d convolution with square kernels, symmetric
// zero padding and no bias. Groups is 1 (dense) or Cin == Cout (depthwise).
type ConvGeom struct {
	Cin, Cout, K, Stride, Pad, Groups int
}

// OutSize returns the output spatial size for input size h.
func (g ConvGeom) OutSize(h int) int { return (h+2*g.Pad-g.K)/g.Stride + 1 }

// WeightShape is the PyTorch weight shape [Cout, Cin/Groups, K, K].
func (g ConvGeom) WeightShape() []int { return []int{g.Cout, g.Cin / g.Groups, g.K, g.K} }

// Validate reports whether the engine supports the convolution (dense or
// depthwise, consistent sizes).
func (g ConvGeom) Validate() error { return g.check() }

func (g ConvGeom) check() error {
	if g.Cin <= 0 || g.Cout <= 0 || g.K <= 0 || g.Stride <= 0 || g.Pad < 0 {
		return fmt.Errorf("conv geometry %+v: sizes must be positive", g)
	}
	switch {
	case g.Groups == 1:
	case g.Groups == g.Cin && g.Cin == g.Cout:
	default:
		return fmt.Errorf("conv geometry %+v: groups must be 1 or equal to Cin == Cout (depthwise)", g)
	}
	return nil
}

func (g ConvGeom) pointwise() bool { return g.K == 1 && g.Stride == 1 && g.Pad == 0 }

// im2col expands x [Cin,N,H,W] into cols [Cin·K·K, N·Ho·Wo].
func im2col(g ConvGeom, x []float32, n, h, w int, cols []float32) {
	ho, wo := g.OutSize(h), g.OutSize(w)
	cols2 := n * ho * wo
	rows := g.Cin * g.K * g.K
	parallelFor(rows, cols2, func(_, lo, hi int) {
		for r := lo; r < hi; r++ {
			ci := r / (g.K * g.K)
			kh := (r / g.K) % g.K
			kw := r % g.K
			dst := cols[r*cols2 : (r+1)*cols2]
			for b := 0; b < n; b++ {
				plane := x[(ci*n+b)*h*w : (ci*n+b+1)*h*w]
				for oh := 0; oh < ho; oh++ {
					row := dst[(b*ho+oh)*wo : (b*ho+oh+1)*wo]
					ih := oh*g.Stride - g.Pad + kh
					if ih < 0 || ih >= h {
						clear(row)
						continue
					}
					src := plane[ih*w : (ih+1)*w]
					for ow := range row {
						iw := ow*g.Stride - g.Pad + kw
						if iw >= 0 && iw < w {
							row[ow] = src[iw]
						} else {
							row[ow] = 0
						}
					}
				}
			}
		}
	})
}

// col2im accumulates cols [Cin·K·K, N·Ho·Wo] into dx [Cin,N,H,W].
func col2im(g ConvGeom, cols []float32, n, h, w int, dx []float32) {
	ho, wo := g.OutSize(h), g.OutSize(w)
	cols2 := n * ho * wo
	parallelFor(g.Cin, cols2*g.K*g.K, func(_, lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			for kh := 0; kh < g.K; kh++ {
				for kw := 0; kw < g.K; kw++ {
					r := (ci*g.K+kh)*g.K + kw
					src := cols[r*cols2 : (r+1)*cols2]
					for b := 0; b < n; b++ {
						plane := dx[(ci*n+b)*h*w : (ci*n+b+1)*h*w]
						for oh := 0; oh < ho; oh++ {
							ih := oh*g.Stride - g.Pad + kh
							if ih < 0 || ih >= h {
								continue
							}
							row := src[(b*ho+oh)*wo : (b*ho+oh+1)*wo]
							dst := plane[ih*w : (ih+1)*w]
							for ow, v := range row {
								iw := ow*g.Stride - g.Pad + kw
								if iw >= 0 && iw < w {
									dst[iw] += v
								}
							}
						}
					}
				}
			}
		}
	})
}

// convDenseForward computes y [Cout,N,Ho,Wo] = conv(x [Cin,N,H,W], w).
// cols must have length Cin·K·K·N·Ho·Wo unless the conv is pointwise (then
// it may be nil); it is filled with the im2col matrix for the backward pass.
func convDenseForward(g ConvGeom, x []float32, n, h, w int, wt, y, cols []float32) {
	ho, wo := g.OutSize(h), g.OutSize(w)
	np := n * ho * wo
	kk := g.Cin * g.K * g.K
	src := x
	if !g.pointwise() {
		im2col(g, x, n, h, w, cols)
		src = cols
	}
	gemmSplitN(false, g.Cout, np, kk, 1, wt, kk, src, np, 0, y, np)
}

// convDenseBackward accumulates dw += ∂L/∂w and, if dx != nil,
// dx += ∂L/∂x, given dy, the input x and the cols filled by the forward.
// dcols is scratch of the same length as cols (unused when pointwise).
func convDenseBackward(g ConvGeom, x []float32, n, h, w int, wt, cols, dy, dw, dx, dcols []float32, pool *Pool) {
	ho, wo := g.OutSize(h), g.OutSize(w)
	np := n * ho * wo
	kk := g.Cin * g.K * g.K
	src := x
	if !g.pointwise() {
		src = cols
	}
	if dw != nil {
		gemmABtAcc(g.Cout, kk, np, 1, dy, np, src, np, dw, pool)
	}
	if dx == nil {
		return
	}
	if g.pointwise() {
		gemmSplitN(true, kk, np, g.Cout, 1, wt, kk, dy, np, 1, dx, np)
		return
	}
	gemmSplitN(true, kk, np, g.Cout, 1, wt, kk, dy, np, 0, dcols, np)
	col2im(g, dcols, n, h, w, dx)
}
