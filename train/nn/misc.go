package nn

import (
	"fmt"
	"math"
)

// gapForward averages x [C,N,H,W] over H·W into y [N,C].
func gapForward(x []float32, c, n, hw int, y []float32) {
	inv := 1 / float32(hw)
	for ch := 0; ch < c; ch++ {
		for b := 0; b < n; b++ {
			var s float32
			for _, v := range x[(ch*n+b)*hw : (ch*n+b+1)*hw] {
				s += v
			}
			y[b*c+ch] = s * inv
		}
	}
}

// gapBackward accumulates dx [C,N,H,W] += dy [N,C]/(H·W).
func gapBackward(dy []float32, c, n, hw int, dx []float32) {
	inv := 1 / float32(hw)
	for ch := 0; ch < c; ch++ {
		for b := 0; b < n; b++ {
			g := dy[b*c+ch] * inv
			d := dx[(ch*n+b)*hw : (ch*n+b+1)*hw]
			for i := range d {
				d[i] += g
			}
		}
	}
}

// linearForward computes y [N,Out] = x [N,In]·wᵀ + b (b may be nil).
func linearForward(x []float32, n, in, out int, w, b, y []float32) {
	gemm(false, true, n, out, in, 1, x, in, w, in, 0, y, out)
	if b != nil {
		for i := 0; i < n; i++ {
			axpyTo(y[i*out:(i+1)*out], 1, b)
		}
	}
}

// linearBackward accumulates dw, db (db may be nil) and dx (may be nil).
func linearBackward(x []float32, n, in, out int, w, dy, dw, db, dx []float32) {
	if dw != nil {
		gemm(true, false, out, in, n, 1, dy, out, x, in, 1, dw, in)
	}
	if db != nil {
		for i := 0; i < n; i++ {
			axpyTo(db, 1, dy[i*out:(i+1)*out])
		}
	}
	if dx != nil {
		gemm(false, false, n, in, out, 1, dy, out, w, in, 1, dx, in)
	}
}

// softmaxCE computes the label-smoothed cross-entropy averaged over the
// batch: target = onehot·(1−eps) + eps/C. If grad != nil it receives
// ∂loss/∂logits = (softmax − target)/N. It returns the loss.
func softmaxCE(logits []float32, n, c int, labels []int, eps float64, grad []float32) (float64, error) {
	if len(labels) != n {
		return 0, fmt.Errorf("cross-entropy: %d labels for batch %d", len(labels), n)
	}
	var total float64
	p := make([]float64, c)
	for i := 0; i < n; i++ {
		y := labels[i]
		if y < 0 || y >= c {
			return 0, fmt.Errorf("cross-entropy: label %d of sample %d outside [0,%d)", y, i, c)
		}
		row := logits[i*c : (i+1)*c]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		var z float64
		for j, v := range row {
			p[j] = math.Exp(float64(v) - mx)
			z += p[j]
		}
		logz := math.Log(z) + mx
		for j, v := range row {
			t := eps / float64(c)
			if j == y {
				t += 1 - eps
			}
			total -= t * (float64(v) - logz)
			if grad != nil {
				grad[i*c+j] = float32((p[j]/z - t) / float64(n))
			}
		}
	}
	return total / float64(n), nil
}
