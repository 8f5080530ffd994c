//go:build !openblas

package nn

// BLASBackend names the BLAS library behind blas32: gonum's pure-Go one in
// the default build ("openblas" with -tags openblas). In the default build
// it is only the fallback for GEMMs no assembly kernel serves; GEMMBackend
// reports what is really in use.
const BLASBackend = "gonum"
