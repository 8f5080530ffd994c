package nn

// Vectorised loops for BatchNorm and ReLU6. Each wrapper runs the AVX2+FMA
// assembly (vec_amd64.s) on the largest multiple of 16 elements when the
// CPU has it and finishes (or does everything, elsewhere) in scalar Go. The
// results differ from the scalar loops only by float32 rounding (summation
// order, fused multiply-adds).

// vecSum returns Σx with float32 partial sums.
func vecSum(x []float32) float32 {
	var s float32
	i := 0
	if haveVecAVX2 && len(x) >= 16 {
		i = len(x) &^ 15
		s = sumAVX2(&x[0], i)
	}
	var p0, p1, p2, p3 float32
	for ; i+4 <= len(x); i += 4 {
		p0 += x[i]
		p1 += x[i+1]
		p2 += x[i+2]
		p3 += x[i+3]
	}
	for ; i < len(x); i++ {
		p0 += x[i]
	}
	return s + (p0 + p1 + p2 + p3)
}

// vecSumSqDev returns Σ(x−mu)² with float32 partial sums.
func vecSumSqDev(x []float32, mu float32) float32 {
	var s float32
	i := 0
	if haveVecAVX2 && len(x) >= 16 {
		i = len(x) &^ 15
		s = sumSqDevAVX2(&x[0], i, mu)
	}
	var p0, p1, p2, p3 float32
	for ; i+4 <= len(x); i += 4 {
		d0, d1, d2, d3 := x[i]-mu, x[i+1]-mu, x[i+2]-mu, x[i+3]-mu
		p0 += d0 * d0
		p1 += d1 * d1
		p2 += d2 * d2
		p3 += d3 * d3
	}
	for ; i < len(x); i++ {
		d := x[i] - mu
		p0 += d * d
	}
	return s + (p0 + p1 + p2 + p3)
}

// vecAffine writes y = x·a + b, clamped to [0, 6] when relu6.
func vecAffine(x, y []float32, a, b float32, relu6 bool) {
	y = y[:len(x)]
	i := 0
	if haveVecAVX2 && len(x) >= 16 {
		i = len(x) &^ 15
		affineAVX2(&x[0], &y[0], i, a, b, relu6)
	}
	if relu6 {
		for ; i < len(x); i++ {
			y[i] = min(max(x[i]*a+b, 0), 6)
		}
		return
	}
	for ; i < len(x); i++ {
		y[i] = x[i]*a + b
	}
}

// bnBwdSums returns s1 = Σ g′ and s2 = Σ g′·x, where g′ = g, or, when
// relu6, g where 0 < x·a+b < 6 and 0 elsewhere (ReLU6's derivative at the
// recomputed pre-activation).
func bnBwdSums(x, g []float32, a, b float32, relu6 bool) (s1, s2 float32) {
	g = g[:len(x)]
	i := 0
	if haveVecAVX2 && len(x) >= 16 {
		i = len(x) &^ 15
		s1, s2 = bnBwdSumsAVX2(&x[0], &g[0], i, a, b, relu6)
	}
	for ; i < len(x); i++ {
		gv := g[i]
		if relu6 {
			gv = relu6Mask(x[i]*a+b, gv)
		}
		s1 += gv
		s2 += gv * x[i]
	}
	return s1, s2
}

// bnBwdDx accumulates dx += a·g′ − c1·x + c0 (g′ as in bnBwdSums).
func bnBwdDx(x, g, dx []float32, a, b, c1, c0 float32, relu6 bool) {
	g, dx = g[:len(x)], dx[:len(x)]
	i := 0
	if haveVecAVX2 && len(x) >= 16 {
		i = len(x) &^ 15
		bnBwdDxAVX2(&x[0], &g[0], &dx[0], i, a, b, c1, c0, relu6)
	}
	for ; i < len(x); i++ {
		gv := g[i]
		if relu6 {
			gv = relu6Mask(x[i]*a+b, gv)
		}
		dx[i] += a*gv - c1*x[i] + c0
	}
}
