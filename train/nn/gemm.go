package nn

import (
	"fmt"
	"os"
	"strings"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

func init() {
	// The default build uses the packed SGEMM with the best asm
	// micro-kernel the CPU supports; -tags openblas (useExternalBLAS) keeps
	// everything on blas32 (OpenBLAS). SGNAS_GEMM selects a GEMM path for
	// comparisons and for CI, which runs the engine's tests once per path
	// the machine has: "gonum" forces gonum's pure-Go blas32, "avx2" or
	// "avx512" a given asm kernel family (micro-kernel and dot tile).
	gemmKernel, gemmDotTile, gemmRequestErr = pickGEMM(os.Getenv("SGNAS_GEMM"), useExternalBLAS, asmKernels(), asmDotTiles())
	if gemmRequestErr != nil {
		fmt.Fprintf(os.Stderr, "sgnas: %v\n", gemmRequestErr)
	}
}

// gemmRequestErr is set when SGNAS_GEMM asks for a path this CPU/build
// lacks (the default path is used then; TestGEMMRequest fails on it).
var gemmRequestErr error

// pickGEMM resolves SGNAS_GEMM (want) against the available kernels, best
// first: "" the best one, "gonum" none, else the kernel family whose names
// start with want+"-".
func pickGEMM(want string, external bool, ks []*microKernel, ds []*dotKernel) (*microKernel, *dotKernel, error) {
	if external {
		if want != "" {
			return nil, nil, fmt.Errorf("SGNAS_GEMM=%s ignored: this build uses %s for every GEMM", want, BLASBackend)
		}
		return nil, nil, nil
	}
	first := func(ks []*microKernel, ds []*dotKernel) (*microKernel, *dotKernel) {
		var k *microKernel
		var d *dotKernel
		if len(ks) > 0 {
			k = ks[0]
		}
		if k != nil && len(ds) > 0 {
			d = ds[0]
		}
		return k, d
	}
	switch want {
	case "":
		k, d := first(ks, ds)
		return k, d, nil
	case "gonum":
		return nil, nil, nil
	}
	var fk []*microKernel
	var fd []*dotKernel
	var have []string
	for _, k := range ks {
		have = append(have, strings.SplitN(k.name, "-", 2)[0])
		if strings.HasPrefix(k.name, want+"-") {
			fk = append(fk, k)
		}
	}
	for _, d := range ds {
		if strings.HasPrefix(d.name, want+"-") {
			fd = append(fd, d)
		}
	}
	if len(fk) == 0 {
		k, d := first(ks, ds)
		return k, d, fmt.Errorf("SGNAS_GEMM=%s: no such GEMM kernel on this CPU/build (available: %s); using %s",
			want, strings.Join(append(have, "gonum"), ", "), nameOr(k, BLASBackend))
	}
	k, d := first(fk, fd)
	return k, d, nil
}

func nameOr(k *microKernel, def string) string {
	if k != nil {
		return k.name
	}
	return def
}

// GEMMPaths names the values of SGNAS_GEMM this CPU/build can run, best
// first (always ending with "gonum"; only the build's BLAS under -tags
// openblas).
func GEMMPaths() []string {
	if useExternalBLAS {
		return []string{BLASBackend}
	}
	var ps []string
	for _, k := range asmKernels() {
		ps = append(ps, strings.SplitN(k.name, "-", 2)[0])
	}
	return append(ps, "gonum")
}

// GEMMBackend names the implementation the engine's GEMMs (1×1 and im2col
// convolutions, linear layers) run on: "openblas" (-tags openblas), the
// asm micro-kernel of the packed SGEMM (e.g. "avx2-6x16"), or "gonum"
// (blas32's pure Go, the fallback on CPUs/architectures without a kernel
// and under -tags purego).
func GEMMBackend() string {
	if gemmKernel != nil {
		return gemmKernel.name
	}
	return BLASBackend
}

// gemm computes C = alpha·op(A)·op(B) + beta·C on row-major float32 slices
// with the packed asm SGEMM when the CPU has a micro-kernel for it (see
// sgemm.go), else through gonum's BLAS interface (blas32), so a faster
// implementation registered with blas32.Use (e.g. OpenBLAS via
// gonum.org/v1/netlib) is picked up without code changes.
func gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if !transA && transB && useDotABt(m, n, k) {
		sgemmABt(gemmDotTile, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if kern := gemmKernel; kern != nil {
		sgemmPacked(kern, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
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
	i := 0
	if haveVecAVX2 && len(dst) >= 16 {
		i = len(dst) &^ 15
		axpyAVX2(&dst[0], &x[0], i, a)
	}
	for ; i < len(dst); i++ {
		dst[i] += a * x[i]
	}
}
