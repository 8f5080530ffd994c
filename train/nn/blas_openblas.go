//go:build openblas

package nn

// Built with -tags openblas, GEMMs go through OpenBLAS (cgo, via
// gonum.org/v1/netlib). Build with, e.g.:
//
//	apt-get install libopenblas-dev
//	CGO_LDFLAGS="-lopenblas" OPENBLAS_NUM_THREADS=1 go test -tags openblas ./train/nn
//
// (the engine already splits GEMMs over Threads() goroutines, so OpenBLAS's
// own threads should be limited to 1).

import (
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/netlib/blas/netlib"
)

func init() { blas32.Use(netlib.Implementation{}) }

// BLASBackend names the BLAS implementation GEMMs use.
const BLASBackend = "openblas"
