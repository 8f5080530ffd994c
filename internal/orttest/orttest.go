// Package orttest is the ONNX Runtime set-up of tests of any package (apart
// from internal/testutil, which infer's and npy's own tests import).
package orttest

import (
	"errors"
	"os"
	"testing"

	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/internal/testutil"
)

// Need initialises ONNX Runtime for a test (infer.Init with the library
// found automatically): it skips the test when SGNAS_SKIP_ORT=1 (fails it under CI=true) and fails it
// loudly, with the instructions to fix it, when the library is missing.
// (infer's own tests have their own copy: they cannot import this package.)
func Need(t testing.TB) {
	t.Helper()
	if os.Getenv("SGNAS_SKIP_ORT") == "1" {
		testutil.Require(t, "ONNX Runtime", errors.New("tests skipped by SGNAS_SKIP_ORT=1"))
	}
	if err := infer.Init(""); err != nil {
		t.Fatalf("ONNX Runtime: %v", err)
	}
}
