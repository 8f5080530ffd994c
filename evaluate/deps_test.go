package evaluate

import (
	"testing"

	"github.com/sgnas/sgnas/internal/testutil"
)

// TestDeps: evaluation links no training code (docs/architecture.md).
func TestDeps(t *testing.T) {
	testutil.ForbidDeps(t, ".", "gorgonia", "/train/")
}
