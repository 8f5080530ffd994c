//go:build !amd64 || purego

package nn

// asmKernels lists the micro-kernels this CPU can run: none without amd64
// assembly (gemm then uses gonum's blas32).
func asmKernels() []*microKernel { return nil }

// asmDotTiles returns nil: no dot-product tile kernels without amd64
// assembly.
func asmDotTiles() []*dotKernel { return nil }
