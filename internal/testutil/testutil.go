// Package testutil holds helpers shared by sgnas tests.
//
// Tests that need a tool (Python with onnx/torch/numpy, ONNX Runtime) or
// data (../shared) check for it through Require: on a developer machine a
// missing tool or data set skips the test with a message naming it; under
// CI=true it fails the test, so CI never passes green with checks that did
// not run.
package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Python is the interpreter the cross-checks run (Debian's, where
// python3-onnx, python3-torch and python3-numpy install their modules).
const Python = "/usr/bin/python3"

// InCI reports whether the tests run under CI (the environment variable CI
// is a true boolean: "true", "1", …).
func InCI() bool {
	v, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && v
}

// Require does nothing when err is nil. Otherwise the tool or data named by
// what is missing: the test is skipped with a message naming it and err, or
// fails under CI=true.
func Require(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if InCI() {
		t.Fatalf("%s not available: %v (CI=true: a missing tool or data set fails the test instead of skipping it)", what, err)
	}
	t.Skipf("%s not available: %v", what, err)
}

// PythonModules returns nil when Python imports every module in mods. It
// runs from a temporary directory, so that a folder of the working directory
// with a module's name (the repository's own onnx/, a namespace package to
// Python) cannot pass for the module.
func PythonModules(mods ...string) error {
	cmd := exec.Command(Python, "-c", "import "+strings.Join(mods, ", "))
	cmd.Dir = os.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return fmt.Errorf("%s cannot import %s: %v: %s", Python, strings.Join(mods, ", "), err, lines[len(lines)-1])
	}
	return nil
}

// RequirePython skips (or under CI=true fails) the test unless Python
// imports every module in mods (e.g. "onnx"; "torch", "numpy").
func RequirePython(t testing.TB, mods ...string) {
	t.Helper()
	Require(t, "Python module "+strings.Join(mods, ", "), PythonModules(mods...))
}

// Shared returns the path of rel inside ../shared (the test data directory
// beside the repository checkout). When it is absent the test is skipped
// (failed under CI=true) with a message naming the missing path.
func Shared(t testing.TB, rel ...string) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		Require(t, "repository root (go.mod)", err)
	}
	p := filepath.Join(append([]string{root, "..", "shared"}, rel...)...)
	_, err = os.Stat(p)
	Require(t, "shared test data "+p+" (../shared beside the checkout)", err)
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

// ForbidDeps fails the test for every package pkg links (go list -deps)
// whose import path contains one of forbidden, e.g. "/train/".
func ForbidDeps(t testing.TB, pkg string, forbidden ...string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	for _, d := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.Contains(d, f) {
				t.Errorf("%s links %s", pkg, d)
			}
		}
	}
}
