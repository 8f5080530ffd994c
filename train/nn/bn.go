package nn

import "math"

const sixBits = 0x40c00000 // math.Float32bits(6)

// relu6Mask returns g if 0 < z < 6 and 0 otherwise, without a branch
// (the condition is unpredictable after a ReLU6).
func relu6Mask(z, g float32) float32 {
	b := math.Float32bits(z)
	// positive non-zero floats below 6 have bits in [1, sixBits)
	in := (b - 1) < sixBits-1
	var m uint32
	if in {
		m = 0xffffffff
	}
	return math.Float32frombits(math.Float32bits(g) & m)
}

// BatchNorm over CNHW activations: channel c's m = N·H·W values are
// contiguous. PyTorch semantics: the batch statistics normalise with the
// biased variance; running_var is updated with the unbiased variance;
// running = (1−momentum)·running + momentum·batch.

// bnTrainForward normalises x with batch statistics, writes y, stores the
// per-channel mean and inverse std in mean/invstd and updates the running
// statistics (when runMean != nil).
func bnTrainForward(x []float32, c, m int, gamma, beta, y, mean, invstd, runMean, runVar []float32, momentum, eps float64) {
	parallelFor(c, 3*m, func(_, lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			xs := x[ch*m : (ch+1)*m]
			mu, ss := meanSqDev(xs)
			v := ss / float64(m)
			is := 1 / math.Sqrt(v+eps)
			mean[ch], invstd[ch] = float32(mu), float32(is)
			if runMean != nil {
				unb := v
				if m > 1 {
					unb = ss / float64(m-1)
				}
				runMean[ch] = float32((1-momentum)*float64(runMean[ch]) + momentum*mu)
				runVar[ch] = float32((1-momentum)*float64(runVar[ch]) + momentum*unb)
			}
			a := gamma[ch] * float32(is)
			b := beta[ch] - float32(mu)*a
			vecAffine(xs, y[ch*m:(ch+1)*m], a, b, false)
		}
	})
}

// bnEvalForward normalises x with the running statistics.
func bnEvalForward(x []float32, c, m int, gamma, beta, y, runMean, runVar []float32, eps float64) {
	parallelFor(c, m, func(_, lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			is := float32(1 / math.Sqrt(float64(runVar[ch])+eps))
			a := gamma[ch] * is
			b := beta[ch] - runMean[ch]*a
			vecAffine(x[ch*m:(ch+1)*m], y[ch*m:(ch+1)*m], a, b, false)
		}
	})
}

// bnEvalBackward accumulates gradients of the eval-mode (running
// statistics) BatchNorm.
func bnEvalBackward(x []float32, c, m int, gamma, runMean, runVar, dy, dgamma, dbeta, dx []float32, eps float64) {
	parallelFor(c, 2*m, func(_, lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			is := float32(1 / math.Sqrt(float64(runVar[ch])+eps))
			xs, gs := x[ch*m:(ch+1)*m], dy[ch*m:(ch+1)*m]
			if dgamma != nil || dbeta != nil {
				var sg, sgx float64
				mu := runMean[ch]
				for i, g := range gs {
					sg += float64(g)
					sgx += float64(g) * float64((xs[i]-mu)*is)
				}
				if dgamma != nil {
					dgamma[ch] += float32(sgx)
				}
				if dbeta != nil {
					dbeta[ch] += float32(sg)
				}
			}
			if dx != nil {
				a := gamma[ch] * is
				dxs := dx[ch*m : (ch+1)*m]
				for i, g := range gs {
					dxs[i] += a * g
				}
			}
		}
	})
}

// bnActTrainBackward is the training-mode BatchNorm backward fused with the activation's
// derivative: dz = act'(z)·dy with z = x·a + b recomputed on the fly, so no
// dz tensor is written. Training mode only.
func bnActTrainBackward(act Activation, x []float32, c, m int, gamma, beta, mean, invstd, dy, dgamma, dbeta, dx []float32) {
	parallelFor(c, 6*m, func(_, lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			xs, gs := x[ch*m:(ch+1)*m], dy[ch*m:(ch+1)*m]
			mu, is := mean[ch], invstd[ch]
			a := gamma[ch] * is
			b := beta[ch] - mu*a
			var sg, sgx float64
			blk := 256
			if haveVecAVX2 {
				blk = 1024 // float32 partial sums (16 lanes × 64), float64 across blocks
			}
			for i0 := 0; i0 < len(xs); i0 += blk {
				xb := xs[i0:min(i0+blk, len(xs))]
				gb := gs[i0 : i0+len(xb)]
				var s1, s2 float32
				if act == ActReLU6 || act == ActNone {
					s1, s2 = bnBwdSums(xb, gb, a, b, act == ActReLU6)
				} else {
					for i, v := range xb {
						g := gb[i] * actDeriv(act, v*a+b)
						s1 += g
						s2 += g * v
					}
				}
				sg += float64(s1)
				sgx += float64(s2)
			}
			// Σ g·x̂ = is·(Σ g·x − μ·Σ g)
			sgx = float64(is) * (sgx - float64(mu)*sg)
			if dgamma != nil {
				dgamma[ch] += float32(sgx)
			}
			if dbeta != nil {
				dbeta[ch] += float32(sg)
			}
			if dx == nil {
				continue
			}
			mg := float32(sg / float64(m))
			mgx := float32(sgx / float64(m))
			dxs := dx[ch*m : (ch+1)*m]
			// dx = a·(g − mg − x̂·mgx) with x̂ = (x−μ)·is
			c1 := a * is * mgx
			c0 := -a*mg + a*is*mgx*mu
			if act == ActReLU6 || act == ActNone {
				bnBwdDx(xs, gs, dxs, a, b, c1, c0, act == ActReLU6)
			} else {
				for i, v := range xs {
					g := gs[i] * actDeriv(act, v*a+b)
					dxs[i] += a*g - c1*v + c0
				}
			}
		}
	})
}

// meanSqDev returns the mean of xs and Σ(x−mean)², with float32 partial
// sums over blocks accumulated in float64.
func meanSqDev(xs []float32) (float64, float64) {
	blk := 256
	if haveVecAVX2 {
		blk = 1024 // 16 SIMD lanes × 64 values per float32 partial sum
	}
	var s float64
	for i0 := 0; i0 < len(xs); i0 += blk {
		s += float64(vecSum(xs[i0:min(i0+blk, len(xs))]))
	}
	mu := s / float64(len(xs))
	m32 := float32(mu)
	var ss float64
	for i0 := 0; i0 < len(xs); i0 += blk {
		ss += float64(vecSumSqDev(xs[i0:min(i0+blk, len(xs))], m32))
	}
	return mu, ss
}
