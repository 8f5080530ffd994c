package evaluate

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps: evaluation links no training code (docs/architecture.md).
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		if strings.Contains(d, "gorgonia") || strings.Contains(d, "/train/") {
			t.Errorf("evaluate links %s", d)
		}
	}
}
