//go:build !openblas

package nn

// useExternalBLAS is true when GEMMs must go through blas32's registered
// implementation (OpenBLAS builds) instead of the packed asm SGEMM.
const useExternalBLAS = false
