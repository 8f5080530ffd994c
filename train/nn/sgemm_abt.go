package nn

// C = alpha·A·Bᵀ + beta·C for row-major A (m×k) and B (n×k): both operands
// are contiguous along k, so no packing is needed. A tm×tn tile of C is
// tm·tn dot products computed together (tm+tn rows streamed, one SIMD
// accumulator per product). This beats the packed path when k is long
// compared with m and n — the engine's weight gradients dW = dY·Xᵀ, where k
// is the batch's N·H·W — because packing would copy both operands once for
// little reuse.

// dotTileFn sets out[i·4+j] = Σ_{p<k} a[i][p]·b[j][p] for i < tm, j < tn
// (k a multiple of the kernel's kstep).
type dotTileFn func(a, b *[4]*float32, k int, out *[16]float32)

// dotKernel describes a dot-product tile kernel (tm, tn ≤ 4).
type dotKernel struct {
	name          string
	tm, tn, kstep int
	fn            dotTileFn
}

// gemmDotTile is the tile kernel of the default build (nil: not available).
var gemmDotTile *dotKernel

// useDotABt reports whether gemm should run C = A·Bᵀ of this shape through
// sgemmABt (measured: it wins when k dominates m and n).
func useDotABt(m, n, k int) bool {
	return gemmDotTile != nil && k >= 256 && k >= 2*max(m, n)
}

// sgemmABt computes C = alpha·A·Bᵀ + beta·C with the dot tile kernel.
func sgemmABt(kern *dotKernel, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemmArgs(false, true, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	tm, tn := kern.tm, kern.tn
	// k blocks: the block's rows of B (n·kc floats) should stay in L2
	// while the tm rows of A sit in L1.
	kc := max(256, min(2048, (1<<17)/n)) &^ 15
	var ap, bp [4]*float32
	var out [16]float32
	for pc := 0; pc < k; pc += kc {
		kb := min(kc, k-pc)
		kv := kb - kb%kern.kstep // part done by the kernel
		bt := beta
		if pc > 0 {
			bt = 1
		}
		for i := 0; i < m; i += tm {
			rows := min(tm, m-i)
			for q := 0; q < tm; q++ { // duplicate the last row at an edge
				ap[q] = &a[(i+min(q, rows-1))*lda+pc]
			}
			for j := 0; j < n; j += tn {
				cols := min(tn, n-j)
				for q := 0; q < tn; q++ {
					bp[q] = &b[(j+min(q, cols-1))*ldb+pc]
				}
				if kv > 0 {
					kern.fn(&ap, &bp, kv, &out)
				} else {
					out = [16]float32{}
				}
				for ii := 0; ii < rows; ii++ {
					ar := a[(i+ii)*lda+pc : (i+ii)*lda+pc+kb]
					for jj := 0; jj < cols; jj++ {
						s := out[ii*4+jj]
						br := b[(j+jj)*ldb+pc : (j+jj)*ldb+pc+kb]
						for p := kv; p < kb; p++ {
							s += ar[p] * br[p]
						}
						ci := (i+ii)*ldc + j + jj
						if bt == 0 {
							c[ci] = alpha * s
						} else {
							c[ci] = alpha*s + bt*c[ci]
						}
					}
				}
			}
		}
	}
}
