// Package testutil holds helpers shared by sgnas tests.
package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// Shared returns the path of rel inside ../shared (the test data directory
// beside the repository checkout), skipping the test with a message naming
// the missing path when it is absent.
func Shared(t testing.TB, rel ...string) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(append([]string{root, "..", "shared"}, rel...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared test data %s not found (%v): ../shared beside the checkout is needed for this test", p, err)
	}
	return p
}

// RepoRoot is the directory holding go.mod, found upwards from the working
// directory (a test's package directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// Missing reports that a tool or data set a test needs is absent: under CI
// (CI=true), where .ci/run installs everything, the test fails; elsewhere it
// is skipped with the reason.
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing under CI=true (.ci/run installs it): %v", what, err)
	}
	t.Skipf("%s not available: %v", what, err)
}
