package nn

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// gemm computes C = alpha·op(A)·op(B) + beta·C on row-major float32 slices
// through gonum's BLAS interface (blas32), so a faster implementation
// registered with blas32.Use (e.g. OpenBLAS via gonum.org/v1/netlib) is
// picked up without code changes.
func gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	blas32.Implementation().Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gemmSplitN computes C(m×n) = alpha·op(A)·B(k×n) + beta·C with the n
// columns split across workers (B and C are column-sliced views).
func gemmSplitN(transA bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	w := Threads()
	if w <= 1 || n < 256 {
		gemm(transA, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// chunks are multiples of 64 columns for alignment-friendly axpys
	chunks := w
	parallelFor(chunks, 1<<20, func(_, lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			c0 := (n * ch / chunks) &^ 63
			c1 := (n * (ch + 1) / chunks) &^ 63
			if ch == chunks-1 {
				c1 = n
			}
			if c1 <= c0 {
				continue
			}
			gemm(transA, false, m, c1-c0, k, alpha, a, lda, b[c0:], ldb, beta, c[c0:], ldc)
		}
	})
}

// gemmABtAcc computes C(m×n) += alpha·A(m×k)·B(n×k)ᵀ with the reduction
// dimension k split across workers (each accumulates into its own buffer,
// then buffers are summed into C). Used for weight gradients, where k is the
// batch·spatial size.
func gemmABtAcc(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, c []float32, pool *Pool) {
	w := Threads()
	if w <= 1 || k < 512 {
		gemm(false, true, m, n, k, alpha, a, lda, b, ldb, 1, c, n)
		return
	}
	parts := make([][]float32, w)
	parallelFor(w, 1<<20, func(_, lo, hi int) {
		for p := lo; p < hi; p++ {
			k0, k1 := k*p/w, k*(p+1)/w
			if p == 0 {
				gemm(false, true, m, n, k1-k0, alpha, a[k0:], lda, b[k0:], ldb, 1, c, n)
				continue
			}
			buf := pool.Get(m * n)
			gemm(false, true, m, n, k1-k0, alpha, a[k0:], lda, b[k0:], ldb, 0, buf, n)
			parts[p] = buf
		}
	})
	for p := 1; p < w; p++ {
		if parts[p] != nil {
			axpyTo(c, 1, parts[p])
			pool.Put(parts[p])
		}
	}
}

// axpyTo computes dst += a·x.
func axpyTo(dst []float32, a float32, x []float32) {
	x = x[:len(dst)]
	for i := range dst {
		dst[i] += a * x[i]
	}
}
