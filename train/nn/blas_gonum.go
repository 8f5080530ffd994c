//go:build !openblas

package nn

// BLASBackend names the BLAS implementation GEMMs use: gonum's pure-Go
// blas32 by default, "openblas" when built with -tags openblas.
const BLASBackend = "gonum"
