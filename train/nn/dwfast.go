package nn

// Fast depthwise kernels: each plane is copied into a zero-padded scratch
// plane so the inner loops need no bounds logic, and the K taps of a
// kernel row are unrolled for K = 3, 5, 7.

// dwRowFwd computes o[ow] += Σ_j w[j]·r[ow·s+j].
func dwRowFwd(o, r, w []float32, s int) {
	switch len(w) {
	case 3:
		w0, w1, w2 := w[0], w[1], w[2]
		if s == 1 {
			r = r[:len(o)+2]
			for i := range o {
				o[i] += w0*r[i] + w1*r[i+1] + w2*r[i+2]
			}
			return
		}
		for i := range o {
			q := r[i*s : i*s+3]
			o[i] += w0*q[0] + w1*q[1] + w2*q[2]
		}
	case 5:
		w0, w1, w2, w3, w4 := w[0], w[1], w[2], w[3], w[4]
		for i := range o {
			q := r[i*s : i*s+5]
			o[i] += w0*q[0] + w1*q[1] + w2*q[2] + w3*q[3] + w4*q[4]
		}
	case 7:
		w0, w1, w2, w3, w4, w5, w6 := w[0], w[1], w[2], w[3], w[4], w[5], w[6]
		for i := range o {
			q := r[i*s : i*s+7]
			o[i] += w0*q[0] + w1*q[1] + w2*q[2] + w3*q[3] + w4*q[4] + w5*q[5] + w6*q[6]
		}
	default:
		for i := range o {
			q := r[i*s : i*s+len(w)]
			var acc float32
			for j, wv := range w {
				acc += wv * q[j]
			}
			o[i] += acc
		}
	}
}

// dwRowBwd accumulates dr[ow·s+j] += w[j]·g[ow] (if dr != nil) and
// returns nothing; acc[j] += Σ_ow g[ow]·r[ow·s+j].
func dwRowBwd(g, r, dr, w, acc []float32, s int) {
	k := len(w)
	switch k {
	case 3:
		w0, w1, w2 := w[0], w[1], w[2]
		var a0, a1, a2 float32
		for i, gv := range g {
			q := r[i*s : i*s+3]
			a0 += gv * q[0]
			a1 += gv * q[1]
			a2 += gv * q[2]
			if dr != nil {
				d := dr[i*s : i*s+3]
				d[0] += w0 * gv
				d[1] += w1 * gv
				d[2] += w2 * gv
			}
		}
		acc[0] += a0
		acc[1] += a1
		acc[2] += a2
	case 5:
		w0, w1, w2, w3, w4 := w[0], w[1], w[2], w[3], w[4]
		var a0, a1, a2, a3, a4 float32
		for i, gv := range g {
			q := r[i*s : i*s+5]
			a0 += gv * q[0]
			a1 += gv * q[1]
			a2 += gv * q[2]
			a3 += gv * q[3]
			a4 += gv * q[4]
			if dr != nil {
				d := dr[i*s : i*s+5]
				d[0] += w0 * gv
				d[1] += w1 * gv
				d[2] += w2 * gv
				d[3] += w3 * gv
				d[4] += w4 * gv
			}
		}
		acc[0] += a0
		acc[1] += a1
		acc[2] += a2
		acc[3] += a3
		acc[4] += a4
	default:
		for i, gv := range g {
			q := r[i*s : i*s+k]
			for j := range k {
				acc[j] += gv * q[j]
			}
			if dr != nil {
				d := dr[i*s : i*s+k]
				for j, wv := range w {
					d[j] += wv * gv
				}
			}
		}
	}
}

// padPlane copies src (h×w) into the interior of dst ((h+2p)×(w+2p)),
// whose border must already be zero.
func padPlane(dst, src []float32, h, w, p int) {
	wp := w + 2*p
	for i := 0; i < h; i++ {
		copy(dst[(i+p)*wp+p:(i+p)*wp+p+w], src[i*w:(i+1)*w])
	}
}

// dwForwardFast is dwForward through padded planes.
func dwForwardFast(g ConvGeom, x []float32, n, h, w int, wt, y []float32) {
	if dwFlatUsable(g, h, w) {
		dwForwardFlat(g, x, n, h, w, wt, y)
		return
	}
	ho, wo := g.OutSize(h), g.OutSize(w)
	k, s, p := g.K, g.Stride, g.Pad
	hp, wp := h+2*p, w+2*p
	parallelFor(g.Cin*n, ho*wo*k*k, func(_, lo, hi int) {
		pad := make([]float32, hp*wp+k)
		for pl := lo; pl < hi; pl++ {
			c := pl / n
			padPlane(pad, x[pl*h*w:(pl+1)*h*w], h, w, p)
			out := y[pl*ho*wo : (pl+1)*ho*wo]
			clear(out)
			ker := wt[c*k*k : (c+1)*k*k]
			for oh := 0; oh < ho; oh++ {
				orow := out[oh*wo : (oh+1)*wo]
				for kh := 0; kh < k; kh++ {
					base := (oh*s + kh) * wp
					dwRowFwd(orow, pad[base:], ker[kh*k:(kh+1)*k], s)
				}
			}
		}
	})
}

// dwBackwardFast is dwBackward through padded planes.
func dwBackwardFast(g ConvGeom, x []float32, n, h, w int, wt, dy, dw, dx []float32) {
	if dwFlatUsable(g, h, w) {
		dwBackwardFlat(g, x, n, h, w, wt, dy, dw, dx)
		return
	}
	ho, wo := g.OutSize(h), g.OutSize(w)
	k, s, p := g.K, g.Stride, g.Pad
	hp, wp := h+2*p, w+2*p
	parallelFor(g.Cin, n*ho*wo*k*k*2, func(_, lo, hi int) {
		pad := make([]float32, hp*wp+k)
		var dpad []float32
		if dx != nil {
			dpad = make([]float32, hp*wp+k)
		}
		gk := make([]float32, k*k)
		for c := lo; c < hi; c++ {
			ker := wt[c*k*k : (c+1)*k*k]
			clear(gk)
			for b := 0; b < n; b++ {
				pl := c*n + b
				padPlane(pad, x[pl*h*w:(pl+1)*h*w], h, w, p)
				if dpad != nil {
					clear(dpad)
				}
				gout := dy[pl*ho*wo : (pl+1)*ho*wo]
				for oh := 0; oh < ho; oh++ {
					grow := gout[oh*wo : (oh+1)*wo]
					for kh := 0; kh < k; kh++ {
						base := (oh*s + kh) * wp
						var dr []float32
						if dpad != nil {
							dr = dpad[base:]
						}
						dwRowBwd(grow, pad[base:], dr, ker[kh*k:(kh+1)*k], gk[kh*k:(kh+1)*k], s)
					}
				}
				if dpad != nil {
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
