package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoTrainingEngine: the deployment command links no training code, and
// generator inference and the supernet checkpoint depend only on models and
// weights (docs/architecture.md).
func TestNoTrainingEngine(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	deps := func(pkg string) []string {
		out, err := exec.Command(goBin, "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	for _, d := range deps(".") {
		if strings.Contains(d, "gorgonia") || strings.Contains(d, "/train/") || strings.HasPrefix(d, "gonum.org/v1/plot") {
			t.Errorf("sgnas-export links %s", d)
		}
	}
	allowed := map[string]bool{"models": true, "weights": true, "tensor": true, "internal/fsutil": true, "generator": true, "supernetckpt": true}
	for _, pkg := range []string{"github.com/sgnas/sgnas/generator", "github.com/sgnas/sgnas/supernetckpt"} {
		for _, d := range deps(pkg) {
			if rel, ok := strings.CutPrefix(d, "github.com/sgnas/sgnas/"); ok && !allowed[rel] {
				t.Errorf("%s depends on %s", pkg, d)
			}
		}
	}
}
