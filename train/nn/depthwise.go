package nn

// Depthwise convolution (groups = channels) with direct loops over the
// CNHW layout: channel c's planes for all images are contiguous, weights are
// [C,1,K,K].

// dwRange returns the output column range [lo,hi) whose input column
// ow·s − p + kw lies inside [0, w).
func dwRange(s, p, kw, w, wo int) (lo, hi int) {
	// need 0 <= ow*s - p + kw < w
	lo = 0
	if d := p - kw; d > 0 {
		lo = (d + s - 1) / s
	}
	hi = wo
	// ow*s < w + p - kw  =>  ow < ceil((w+p-kw)/s)
	lim := w + p - kw
	if lim <= 0 {
		return 0, 0
	}
	if m := (lim + s - 1) / s; m < hi {
		hi = m
	}
	if lo > hi {
		lo = hi
	}
	return lo, hi
}

// dwForward computes y [C,N,Ho,Wo] from x [C,N,H,W] and wt [C,1,K,K].
func dwForward(g ConvGeom, x []float32, n, h, w int, wt, y []float32) {
	ho, wo := g.OutSize(h), g.OutSize(w)
	k, s, p := g.K, g.Stride, g.Pad
	planes := g.Cin * n
	parallelFor(planes, ho*wo*k*k, func(_, lo, hi int) {
		for pl := lo; pl < hi; pl++ {
			c := pl / n
			xin := x[pl*h*w : (pl+1)*h*w]
			out := y[pl*ho*wo : (pl+1)*ho*wo]
			clear(out)
			ker := wt[c*k*k : (c+1)*k*k]
			for oh := 0; oh < ho; oh++ {
				orow := out[oh*wo : (oh+1)*wo]
				for kh := 0; kh < k; kh++ {
					ih := oh*s - p + kh
					if ih < 0 || ih >= h {
						continue
					}
					irow := xin[ih*w : (ih+1)*w]
					for kw := 0; kw < k; kw++ {
						wv := ker[kh*k+kw]
						a, b := dwRange(s, p, kw, w, wo)
						if a >= b {
							continue
						}
						off := a*s - p + kw
						if s == 1 {
							o := orow[a:b]
							src := irow[off : off+len(o)]
							for i := range o {
								o[i] += wv * src[i]
							}
						} else {
							o := orow[a:b]
							for i := range o {
								o[i] += wv * irow[off+i*s]
							}
						}
					}
				}
			}
		}
	})
}

// dwBackward accumulates dw += ∂L/∂w and (if dx != nil) dx += ∂L/∂x.
func dwBackward(g ConvGeom, x []float32, n, h, w int, wt, dy, dw, dx []float32) {
	ho, wo := g.OutSize(h), g.OutSize(w)
	k, s, p := g.K, g.Stride, g.Pad
	parallelFor(g.Cin, n*ho*wo*k*k*2, func(_, lo, hi int) {
		for c := lo; c < hi; c++ {
			ker := wt[c*k*k : (c+1)*k*k]
			var gk [49]float32
			for b := 0; b < n; b++ {
				pl := c*n + b
				xin := x[pl*h*w : (pl+1)*h*w]
				gout := dy[pl*ho*wo : (pl+1)*ho*wo]
				var gin []float32
				if dx != nil {
					gin = dx[pl*h*w : (pl+1)*h*w]
				}
				for oh := 0; oh < ho; oh++ {
					grow := gout[oh*wo : (oh+1)*wo]
					for kh := 0; kh < k; kh++ {
						ih := oh*s - p + kh
						if ih < 0 || ih >= h {
							continue
						}
						irow := xin[ih*w : (ih+1)*w]
						for kw := 0; kw < k; kw++ {
							a, bb := dwRange(s, p, kw, w, wo)
							if a >= bb {
								continue
							}
							off := a*s - p + kw
							gsub := grow[a:bb]
							var acc float32
							if s == 1 {
								src := irow[off : off+len(gsub)]
								for i, gv := range gsub {
									acc += gv * src[i]
								}
								if gin != nil {
									wv := ker[kh*k+kw]
									dst := gin[ih*w+off : ih*w+off+len(gsub)]
									for i, gv := range gsub {
										dst[i] += wv * gv
									}
								}
							} else {
								for i, gv := range gsub {
									acc += gv * irow[off+i*s]
								}
								if gin != nil {
									wv := ker[kh*k+kw]
									drow := gin[ih*w : (ih+1)*w]
									for i, gv := range gsub {
										drow[off+i*s] += wv * gv
									}
								}
							}
							gk[kh*k+kw] += acc
						}
					}
				}
			}
			if dw != nil {
				dwc := dw[c*k*k : (c+1)*k*k]
				for i := range dwc {
					dwc[i] += gk[i]
				}
			}
		}
	})
}
