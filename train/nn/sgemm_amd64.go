//go:build amd64 && !purego

package nn

import "golang.org/x/sys/cpu"

//go:noescape
func sgemmKernel6x16AVX2(k int, a, b, c *float32, ldc int, alpha, beta float32)

//go:noescape
func sgemmKernel12x32AVX512(k int, a, b, c *float32, ldc int, alpha, beta float32)

// asmKernels lists the micro-kernels this CPU can run, best first.
func asmKernels() []*microKernel {
	var ks []*microKernel
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, &microKernel{name: "avx512-12x32", mr: 12, nr: 32, fn: sgemmKernel12x32AVX512})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, &microKernel{name: "avx2-6x16", mr: 6, nr: 16, fn: sgemmKernel6x16AVX2})
	}
	return ks
}

//go:noescape
func dotTile2x4AVX2(a, b *[4]*float32, k int, out *[16]float32)

//go:noescape
func dotTile4x4AVX512(a, b *[4]*float32, k int, out *[16]float32)

// asmDotTiles lists the dot-product tile kernels (for A·Bᵀ) this CPU can
// run, best first.
func asmDotTiles() []*dotKernel {
	var ks []*dotKernel
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, &dotKernel{name: "avx512-dot4x4", tm: 4, tn: 4, kstep: 16, fn: dotTile4x4AVX512})
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, &dotKernel{name: "avx2-dot2x4", tm: 2, tn: 4, kstep: 8, fn: dotTile2x4AVX2})
	}
	return ks
}
