package nn

import (
	"fmt"
	"sync"
	"unsafe"
)

// Blocked, packed SGEMM driver (BLIS/GotoBLAS structure) around an
// architecture-specific register-tile micro-kernel. The driver is portable
// Go; micro-kernels live in sgemm_amd64.s (AVX2+FMA, AVX-512) and are picked
// at start-up from the CPU's features. Where none fits (other
// architectures, -tags purego, old CPUs) gemm falls back to gonum's blas32.
//
// Loop nest for C(m×n) = alpha·op(A)(m×k)·op(B)(k×n) + beta·C:
//
//	for jc over n in steps of nc:            B block kc×nc (L3)
//	  for pc over k in steps of kc:          pack op(B)[pc:pc+kc, jc:jc+nc]
//	    for ic over m in steps of mc:        pack op(A)[ic:ic+mc, pc:pc+kc] (L2)
//	      for jr over the block in nr steps: one B micro-panel kc×nr (L1)
//	        for ir in mr steps:              micro-kernel: mr×nr tile of C
//
// Packing turns every transposition case into the same contiguous panel
// layout, so the kernel only ever sees one shape. beta is applied on the
// first kc block only (later blocks accumulate with beta = 1); with beta == 0
// C is never read, so NaNs in an uninitialised C do not leak through.

// microKernel describes a register-tile kernel.
type microKernel struct {
	name   string
	mr, nr int
	// fn computes the mr×nr tile C = alpha·Ã·B̃ + beta·C, where Ã holds k
	// groups of mr values (column p of an mr×k panel) and B̃ k groups of
	// nr values (row p of a k×nr panel); C's rows are ldc elements apart.
	// beta == 0 (either sign) means C is written without being read.
	fn func(k int, a, b, c *float32, ldc int, alpha, beta float32)
}

// Cache blocking. kc·nr·4 bytes (the B micro-panel) should sit in L1,
// mc·kc·4 (packed A) in L2, kc·nc·4 (packed B) in L2/L3.
const (
	gemmKC = 256
	gemmMC = 96   // rounded down to a multiple of the kernel's mr
	gemmNC = 3072 // rounded down to a multiple of the kernel's nr
)

// gemmKernel is the micro-kernel the default build uses (nil: use gonum).
// Set once at init by the architecture file.
var gemmKernel *microKernel

// packBuffers holds per-call packing scratch; pooled so that concurrent
// GEMMs (gemmSplitN workers) each get their own without allocating.
type packBuffers struct{ a, b, tmp []float32 }

var packPool = sync.Pool{New: func() any { return new(packBuffers) }}

func growTo(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// checkGemmArgs panics (like a reference BLAS would) when a slice is too
// short for the requested shape; the asm kernel itself does no bounds
// checks, so this guards memory safety.
func checkGemmArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("sgemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	if lda < max(1, ac) || ldb < max(1, bc) || ldc < max(1, n) {
		panic(fmt.Sprintf("sgemm: bad leading dimension lda=%d ldb=%d ldc=%d for %d×%d, %d×%d, %d×%d", lda, ldb, ldc, ar, ac, br, bc, m, n))
	}
	if ar > 0 && ac > 0 && len(a) < (ar-1)*lda+ac {
		panic(fmt.Sprintf("sgemm: A too short: len %d < %d", len(a), (ar-1)*lda+ac))
	}
	if br > 0 && bc > 0 && len(b) < (br-1)*ldb+bc {
		panic(fmt.Sprintf("sgemm: B too short: len %d < %d", len(b), (br-1)*ldb+bc))
	}
	if m > 0 && n > 0 && len(c) < (m-1)*ldc+n {
		panic(fmt.Sprintf("sgemm: C too short: len %d < %d", len(c), (m-1)*ldc+n))
	}
}

// sgemmPacked computes C = alpha·op(A)·op(B) + beta·C (row-major) with the
// given micro-kernel, on the calling goroutine.
func sgemmPacked(kern *microKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemmArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	mr, nr := kern.mr, kern.nr
	mc, nc := max(mr, gemmMC/mr*mr), max(nr, gemmNC/nr*nr) // whole tiles per block
	kcMax := min(k, gemmKC)
	mcMax := min(roundUp(m, mr), mc)
	ncMax := min(roundUp(n, nr), nc)

	pb := packPool.Get().(*packBuffers)
	pb.a = growTo(pb.a, mcMax*kcMax)
	pb.b = growTo(pb.b, ncMax*kcMax)
	pb.tmp = growTo(pb.tmp, mr*nr)
	aPack, bPack, tmp := pb.a, pb.b, pb.tmp

	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += gemmKC {
			kb := min(gemmKC, k-pc)
			packB(transB, b, ldb, pc, jc, kb, nb, nr, bPack)
			bt := beta
			if pc > 0 {
				bt = 1
			}
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				packA(transA, a, lda, ic, pc, mb, kb, mr, aPack)
				for jr := 0; jr < nb; jr += nr {
					nrr := min(nr, nb-jr)
					bp := &bPack[jr*kb]
					for ir := 0; ir < mb; ir += mr {
						mrr := min(mr, mb-ir)
						ap := &aPack[ir*kb]
						off := (ic+ir)*ldc + jc + jr
						if mrr == mr && nrr == nr {
							kern.fn(kb, ap, bp, &c[off], ldc, alpha, bt)
							continue
						}
						kern.fn(kb, ap, bp, &tmp[0], nr, alpha, 0)
						for i := 0; i < mrr; i++ {
							row := c[off+i*ldc : off+i*ldc+nrr]
							t := tmp[i*nr : i*nr+nrr]
							if bt == 0 {
								copy(row, t)
							} else {
								for j := range row {
									row[j] = bt*row[j] + t[j]
								}
							}
						}
					}
				}
			}
		}
	}
	packPool.Put(pb)
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// scaleC computes C = beta·C (beta == 0 clears C without reading it).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// packA packs op(A)[ic:ic+mb, pc:pc+kb] into mr-row micro-panels: panel q
// holds, for each p, the mr values op(A)[ic+q·mr+i, pc+p] (zero past mb).
func packA(trans bool, a []float32, lda, ic, pc, mb, kb, mr int, dst []float32) {
	for q := 0; q < mb; q += mr {
		rows := min(mr, mb-q)
		panel := dst[q*kb : (q+mr)*kb]
		if trans {
			// op(A)[i,p] = a[p·lda+i]: mr contiguous values per p
			for p := 0; p < kb; p++ {
				src := a[(pc+p)*lda+ic+q:]
				d := panel[p*mr : p*mr+mr]
				copy(d[:rows], src[:rows])
				clear(d[rows:])
			}
			continue
		}
		// op(A)[i,p] = a[i·lda+p]: read rows contiguously, scatter by mr
		for i := 0; i < rows; i++ {
			src := a[(ic+q+i)*lda+pc : (ic+q+i)*lda+pc+kb]
			for p, v := range src {
				panel[p*mr+i] = v
			}
		}
		for i := rows; i < mr; i++ {
			for p := 0; p < kb; p++ {
				panel[p*mr+i] = 0
			}
		}
	}
}

// packB packs op(B)[pc:pc+kb, jc:jc+nb] into nr-column micro-panels: panel r
// holds, for each p, the nr values op(B)[pc+p, jc+r·nr+j] (zero past nb).
func packB(trans bool, b []float32, ldb, pc, jc, kb, nb, nr int, dst []float32) {
	if !trans {
		// op(B)[p,j] = b[p·ldb+j]: each row splits into nr-wide chunks
		full := nb / nr * nr
		for p := 0; p < kb; p++ {
			src := b[(pc+p)*ldb+jc : (pc+p)*ldb+jc+nb]
			for r := 0; r < full; r += nr {
				copy(dst[r*kb+p*nr:r*kb+p*nr+nr], src[r:r+nr])
			}
			if full < nb {
				d := dst[full*kb+p*nr : full*kb+p*nr+nr]
				copy(d, src[full:])
				clear(d[nb-full:])
			}
		}
		return
	}
	// op(B)[p,j] = b[j·ldb+p]: read each column of op(B) contiguously
	for r := 0; r < nb; r += nr {
		cols := min(nr, nb-r)
		panel := dst[r*kb : (r+nr)*kb]
		for j := 0; j < cols; j++ {
			src := b[(jc+r+j)*ldb+pc : (jc+r+j)*ldb+pc+kb]
			for p, v := range src {
				panel[p*nr+j] = v
			}
		}
		for j := cols; j < nr; j++ {
			for p := 0; p < kb; p++ {
				panel[p*nr+j] = 0
			}
		}
	}
}

// kernelGo is a portable micro-kernel with the same contract as the asm
// ones; it lets the driver be tested on every architecture.
func kernelGo(mr, nr int) func(k int, a, b, c *float32, ldc int, alpha, beta float32) {
	return func(k int, a, b, c *float32, ldc int, alpha, beta float32) {
		as := unsafeSlice(a, k*mr)
		bs := unsafeSlice(b, k*nr)
		cs := unsafeSlice(c, (mr-1)*ldc+nr)
		acc := make([]float32, mr*nr)
		for p := 0; p < k; p++ {
			for i := 0; i < mr; i++ {
				av := as[p*mr+i]
				for j := 0; j < nr; j++ {
					acc[i*nr+j] += av * bs[p*nr+j]
				}
			}
		}
		for i := 0; i < mr; i++ {
			for j := 0; j < nr; j++ {
				v := alpha * acc[i*nr+j]
				if beta != 0 {
					v += beta * cs[i*ldc+j]
				}
				cs[i*ldc+j] = v
			}
		}
	}
}

func unsafeSlice(p *float32, n int) []float32 { return unsafe.Slice(p, n) }
