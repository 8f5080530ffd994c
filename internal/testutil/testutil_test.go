package testutil

import (
	"errors"
	"os"
	"runtime"
	"testing"
)

// fakeTB records how Require ends a test.
type fakeTB struct {
	testing.TB
	failed, skipped bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true; runtime.Goexit() }
func (f *fakeTB) Skipf(string, ...any)  { f.skipped = true; runtime.Goexit() }

func TestRequire(t *testing.T) {
	for _, c := range []struct {
		ci            string
		err           error
		fail, skipped bool
	}{
		{"", nil, false, false},
		{"true", nil, false, false},
		{"", errors.New("missing"), false, true},
		{"false", errors.New("missing"), false, true},
		{"true", errors.New("missing"), true, false},
		{"1", errors.New("missing"), true, false},
	} {
		t.Setenv("CI", c.ci)
		f := &fakeTB{}
		done := make(chan struct{})
		go func() { defer close(done); Require(f, "tool", c.err) }()
		<-done
		if f.failed != c.fail || f.skipped != c.skipped {
			t.Errorf("CI=%q err=%v: failed %v skipped %v, want %v %v", c.ci, c.err, f.failed, f.skipped, c.fail, c.skipped)
		}
	}
}

// TestPythonModulesNotFooledByFolder: a folder named like the module in the
// working directory (the repository's onnx/) must not count as the module.
func TestPythonModulesNotFooledByFolder(t *testing.T) {
	if _, err := os.Stat(Python); err != nil {
		t.Skipf("%s absent", Python)
	}
	dir := t.TempDir()
	if err := os.Mkdir(dir+"/sgnas_no_such_module", 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if err := PythonModules("sgnas_no_such_module"); err == nil {
		t.Fatal("a folder in the working directory passed for a Python module")
	}
}
