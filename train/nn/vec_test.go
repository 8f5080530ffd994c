package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// vecTestData returns x with values spread over ReLU6's kinks (for a=1.5,
// b=0.25 the pre-activation hits 0 and 6 exactly at some points) and g.
func vecTestData(rng *rand.Rand, n int) (x, g []float32) {
	x, g = make([]float32, n), make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 3)
		g[i] = float32(rng.NormFloat64())
		switch rng.IntN(10) {
		case 0:
			x[i] = -0.25 / 1.5 // x·a+b = 0 → masked out
		case 1:
			x[i] = 5.75 / 1.5 // ≈ 6
		}
	}
	return x, g
}

func relu6In(z float32) bool { return z > 0 && z < 6 }

func TestVecKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const a, b = float32(1.5), float32(0.25)
	sizes := []int{0, 1, 3, 15, 16, 17, 31, 32, 33, 47, 64, 100, 1000, 1024, 1031}
	for _, n := range sizes {
		x, g := vecTestData(rng, n)
		var s, sa, sq, sqa, mu float64
		for _, v := range x {
			s += float64(v)
			sa += math.Abs(float64(v))
		}
		if n > 0 {
			mu = s / float64(n)
		}
		for _, v := range x {
			d := float64(v) - float64(float32(mu))
			sq += d * d
			sqa += d * d
		}
		tol := func(mag float64) float64 { return 4*float64(n+2)/(1<<23)*mag + 1e-6 }
		if got := vecSum(x); math.Abs(float64(got)-s) > tol(sa) {
			t.Fatalf("n=%d: vecSum %v want %v", n, got, s)
		}
		if got := vecSumSqDev(x, float32(mu)); math.Abs(float64(got)-sq) > tol(sqa) {
			t.Fatalf("n=%d: vecSumSqDev %v want %v", n, got, sq)
		}
		for _, relu := range []bool{false, true} {
			// affine (+ clamp)
			y := make([]float32, n+1)
			y[n] = 42
			vecAffine(x, y[:n], a, b, relu)
			if y[n] != 42 {
				t.Fatalf("vecAffine wrote past n")
			}
			for i, v := range x {
				want := float64(v)*float64(a) + float64(b)
				if relu {
					want = math.Min(math.Max(want, 0), 6)
				}
				if math.Abs(float64(y[i])-want) > 1e-6*(1+math.Abs(want)) {
					t.Fatalf("n=%d relu=%v: vecAffine y[%d]=%v want %v", n, relu, i, y[i], want)
				}
			}
			// backward sums with the recomputed (float32, as the engine
			// rounds it) pre-activation deciding the mask
			var r1, r2, m1, m2 float64
			for i, v := range x {
				gv := float64(g[i])
				z := v*a + b
				if relu && !relu6In(z) {
					if math.Abs(float64(z)) > 1e-5 && math.Abs(float64(z)-6) > 1e-5 {
						gv = 0
					} else {
						continue // at a kink FMA rounding may decide either way: skip
					}
				}
				r1 += gv
				r2 += gv * float64(v)
				m1 += math.Abs(gv)
				m2 += math.Abs(gv * float64(v))
			}
			s1, s2 := bnBwdSums(x, g, a, b, relu)
			// exclude the kink elements from the comparison by recomputing
			// their contribution as the kernel decides them
			for i, v := range x {
				z := v*a + b
				if relu && !relu6In(z) && !(math.Abs(float64(z)) > 1e-5 && math.Abs(float64(z)-6) > 1e-5) {
					zf := float32(math.FMA(float64(v), float64(a), float64(b)))
					if relu6In(zf) {
						s1 -= g[i]
						s2 -= g[i] * v
					}
				}
			}
			if math.Abs(float64(s1)-r1) > tol(m1)+1e-5 || math.Abs(float64(s2)-r2) > tol(m2)+1e-5 {
				t.Fatalf("n=%d relu=%v: bnBwdSums (%v,%v) want (%v,%v)", n, relu, s1, s2, r1, r2)
			}
			// dx += a·g′ − c1·x + c0
			const c1, c0 = float32(0.3), float32(-0.7)
			dx := make([]float32, n+1)
			for i := range dx {
				dx[i] = float32(i%7) - 3
			}
			dx0 := append([]float32(nil), dx...)
			bnBwdDx(x, g, dx[:n], a, b, c1, c0, relu)
			if dx[n] != dx0[n] {
				t.Fatalf("bnBwdDx wrote past n")
			}
			for i, v := range x {
				gv := float64(g[i])
				z := v*a + b
				if relu && !relu6In(z) {
					if math.Abs(float64(z)) <= 1e-5 || math.Abs(float64(z)-6) <= 1e-5 {
						continue
					}
					gv = 0
				}
				want := float64(dx0[i]) + float64(a)*gv - float64(c1)*float64(v) + float64(c0)
				mag := math.Abs(float64(dx0[i])) + math.Abs(float64(a)*gv) + math.Abs(float64(c1)*float64(v)) + math.Abs(float64(c0))
				if math.Abs(float64(dx[i])-want) > 4e-7*mag+1e-7 {
					t.Fatalf("n=%d relu=%v: bnBwdDx dx[%d]=%v want %v", n, relu, i, dx[i], want)
				}
			}
		}
	}
}

// TestVecReLU6NaN: the vectorised ReLU6 propagates NaN like min(max(·)).
func TestVecReLU6NaN(t *testing.T) {
	x := make([]float32, 40)
	for i := range x {
		x[i] = float32(i) - 10
	}
	x[3], x[37] = float32(math.NaN()), float32(math.Inf(1))
	y := make([]float32, len(x))
	actForward(ActReLU6, x, y)
	for i, v := range x {
		want := min(max(v, 0), 6)
		if !(y[i] == want || (want != want && y[i] != y[i])) {
			t.Fatalf("relu6(%v) = %v, want %v", v, y[i], want)
		}
	}
}

// TestBatchNormLargeMatchesScalar runs the fused BN(+ReLU6) training
// backward on channels long enough for the SIMD path (with odd tails) and
// compares against a float64 evaluation of the same formulas.
func TestBatchNormLargeMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const c, m = 3, 2*1024 + 37
	x := make([]float32, c*m)
	dy := make([]float32, c*m)
	for i := range x {
		x[i] = float32(rng.NormFloat64()*2 + 0.5)
		dy[i] = float32(rng.NormFloat64())
	}
	gamma := []float32{1.2, 0.7, -0.4}
	beta := []float32{0.3, 2.5, 0.1}
	for _, act := range []Activation{ActNone, ActReLU6} {
		y := make([]float32, c*m)
		mean, invstd := make([]float32, c), make([]float32, c)
		bnTrainForward(x, c, m, gamma, beta, y, mean, invstd, nil, nil, 0.1, 1e-5)
		dg, db, dx := make([]float32, c), make([]float32, c), make([]float32, c*m)
		bnActTrainBackward(act, x, c, m, gamma, beta, mean, invstd, dy, dg, db, dx)
		for ch := 0; ch < c; ch++ {
			xs, gs := x[ch*m:(ch+1)*m], dy[ch*m:(ch+1)*m]
			var mu, v float64
			for _, q := range xs {
				mu += float64(q)
			}
			mu /= m
			for _, q := range xs {
				v += (float64(q) - mu) * (float64(q) - mu)
			}
			is := 1 / math.Sqrt(v/m+1e-5)
			if math.Abs(float64(mean[ch])-mu) > 1e-5 || math.Abs(float64(invstd[ch])-is) > 1e-5*is {
				t.Fatalf("ch %d: mean/invstd %v/%v want %v/%v", ch, mean[ch], invstd[ch], mu, is)
			}
			a := float64(gamma[ch]) * is
			bb := float64(beta[ch]) - mu*a
			gp := make([]float64, m)
			var sg, sgx float64
			for i, q := range xs {
				z := float64(q)*a + bb
				if math.Abs(float64(y[ch*m+i])-z) > 1e-5*(1+math.Abs(z)) {
					t.Fatalf("ch %d: y[%d]=%v want %v", ch, i, y[ch*m+i], z)
				}
				gp[i] = float64(gs[i])
				if act == ActReLU6 && !(z > 0 && z < 6) {
					gp[i] = 0
				}
				sg += gp[i]
				sgx += gp[i] * (float64(q) - mu) * is
			}
			if math.Abs(float64(db[ch])-sg) > 1e-3 || math.Abs(float64(dg[ch])-sgx) > 1e-3 {
				t.Fatalf("%v ch %d: dbeta/dgamma %v/%v want %v/%v", act, ch, db[ch], dg[ch], sg, sgx)
			}
			for i, q := range xs {
				xh := (float64(q) - mu) * is
				want := a * (gp[i] - sg/m - xh*sgx/m)
				if math.Abs(float64(dx[ch*m+i])-want) > 1e-4*(1+math.Abs(want)) {
					t.Fatalf("%v ch %d: dx[%d]=%v want %v", act, ch, i, dx[ch*m+i], want)
				}
			}
		}
	}
}

func TestAxpyTo(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, n := range []int{0, 1, 15, 16, 17, 33, 100} {
		x, _ := vecTestData(rng, n+1)
		dst, _ := vecTestData(rng, n+1)
		want := make([]float64, n+1)
		for i := range want {
			want[i] = float64(dst[i])
			if i < n {
				want[i] += -1.25 * float64(x[i])
			}
		}
		axpyTo(dst[:n], -1.25, x)
		for i, w := range want {
			if math.Abs(float64(dst[i])-w) > 1e-6*(1+math.Abs(w)) {
				t.Fatalf("n=%d: dst[%d]=%v want %v", n, i, dst[i], w)
			}
		}
	}
}
