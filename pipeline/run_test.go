package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/internal/testutil"
)

func testConfig(t *testing.T, out string, targets ...float64) Config {
	t.Helper()
	return Config{
		Targets:   targets,
		Generator: testutil.Shared(t, "pretrained", "imagenet", "best_avg.pth"),
		Out:       out,
		Metric:    "full",
		Export:    export.Options{Opset: export.DefaultOpset, Optimize: true, Version: "test"},
	}
}

// consistent checks that DIR/manifest.json names exactly the models that
// DIR holds with matching sha256, and returns the manifest.
func consistent(t *testing.T, out string) *export.Manifest {
	t.Helper()
	m, err := export.LoadManifest(filepath.Join(out, manifestName))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range m.Models {
		sum, err := export.FileSHA256(filepath.Join(out, e.File))
		if err != nil || sum != e.SHA256 {
			t.Fatalf("%s: sha256 %s, manifest says %s (%v)", e.File, sum, e.SHA256, err)
		}
	}
	return m
}

func targetsOf(m *export.Manifest) []float64 {
	var ts []float64
	for _, e := range m.Models {
		ts = append(ts, e.Target)
	}
	return ts
}

// TestFailureLeavesPreviousRun: a run that fails at any step of publishing
// (or before it) leaves the previous models and manifest consistent; a
// later run cleans up and publishes.
func TestFailureLeavesPreviousRun(t *testing.T) {
	out := t.TempDir()
	ctx := context.Background()
	if _, err := Run(ctx, testConfig(t, out, 275, 320)); err != nil {
		t.Fatal(err)
	}
	first := consistent(t, out)
	defer func() { failpoint = func(string) error { return nil } }()
	// Same names with other weights (seed 1), and one new name.
	for _, step := range []string{"run", "link", "current"} {
		failpoint = func(s string) error {
			if s == step {
				return errors.New("injected failure at " + s)
			}
			return nil
		}
		cfg := testConfig(t, out, 275, 320, 300)
		cfg.Weights.Seed = 1
		_, err := Run(ctx, cfg)
		if step == "current" {
			// The swap happened: the new run is complete and consistent.
			if err == nil {
				t.Fatal("injected failure not reported")
			}
			if m := consistent(t, out); len(m.Models) != 3 {
				t.Fatalf("after the swap: %v", targetsOf(m))
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "injected") {
			t.Fatalf("step %s: error %v", step, err)
		}
		m := consistent(t, out)
		if len(m.Models) != 2 || m.Models[0].SHA256 != first.Models[0].SHA256 || m.Models[1].SHA256 != first.Models[1].SHA256 {
			t.Fatalf("step %s: the failed run changed the published models: %v", step, targetsOf(m))
		}
	}
	failpoint = func(string) error { return nil }
	// A folder in the way of a model's link: refused before anything moves.
	os.Mkdir(filepath.Join(out, "sgnas_imagenet_full350.onnx"), 0o755)
	if _, err := Run(ctx, testConfig(t, out, 350)); err == nil || !strings.Contains(err.Error(), "in the way") {
		t.Fatalf("folder in the way: error %v", err)
	}
	if m := consistent(t, out); len(m.Models) != 3 {
		t.Fatalf("after a refused run: %v", targetsOf(m))
	}
	// A clean run replaces the set: links of models it does not write go,
	// and only the new and the previous run stay in runs/ (with a user's
	// folder there, which is not sgnas's to remove).
	os.Mkdir(filepath.Join(out, runsName, "mine"), 0o755)
	if _, err := Run(ctx, testConfig(t, out, 290)); err != nil {
		t.Fatal(err)
	}
	if m := consistent(t, out); len(m.Models) != 1 || m.Models[0].Target != 290 {
		t.Fatalf("final run: %v", targetsOf(m))
	}
	if _, err := os.Lstat(filepath.Join(out, "sgnas_imagenet_full275.onnx")); !os.IsNotExist(err) {
		t.Errorf("link of a model no longer in the manifest kept: %v", err)
	}
	runs, _ := os.ReadDir(filepath.Join(out, runsName))
	if len(runs) != 3 {
		t.Errorf("runs/ holds %v, want the current and the previous run and mine", runs)
	}
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), stagePrefix) {
			t.Errorf("left-over %s", e.Name())
		}
	}
}

// TestConcurrentRunRefused: while another process holds the lock, a run
// into the same folder fails with one clear message and writes nothing.
func TestConcurrentRunRefused(t *testing.T) {
	out := t.TempDir()
	f, err := os.OpenFile(filepath.Join(out, lockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	f.WriteString("4242\n")
	_, err = Run(context.Background(), testConfig(t, out, 300))
	if err == nil || !strings.Contains(err.Error(), "another sgnas-export run (pid 4242) is writing into it") {
		t.Fatalf("want a refusal naming the other run, got %v", err)
	}
	if _, err := os.Lstat(filepath.Join(out, manifestName)); !os.IsNotExist(err) {
		t.Fatalf("refused run wrote a manifest: %v", err)
	}
	// Released: the next run goes through.
	f.Close()
	if _, err := Run(context.Background(), testConfig(t, out, 300)); err != nil {
		t.Fatal(err)
	}
	consistent(t, out)
}

// TestStaleStagingCleaned: staging folders and temporary links of killed
// runs are removed by the next run; other files are left alone.
func TestStaleStagingCleaned(t *testing.T) {
	out := t.TempDir()
	stale := filepath.Join(out, stagePrefix+"123456")
	os.MkdirAll(stale, 0o755)
	os.WriteFile(filepath.Join(stale, "big.onnx"), make([]byte, 1<<16), 0o644)
	os.Symlink("current/x.onnx", filepath.Join(out, stagePrefix+"link-x.onnx"))
	os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)
	if _, err := Run(context.Background(), testConfig(t, out, 300)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{stale, filepath.Join(out, stagePrefix+"link-x.onnx")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("stale %s not removed (%v)", p, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(out, "notes.txt")); err != nil || string(b) != "mine" {
		t.Errorf("a user's file was touched: %q %v", b, err)
	}
	consistent(t, out)
}

// TestLegacyFlatFolder: a folder written by an older sgnas (plain model
// files and manifest.json) is taken over; plain files of other names stay.
func TestLegacyFlatFolder(t *testing.T) {
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, manifestName), []byte(`{"version":1,"models":[{"file":"sgnas_imagenet_full300.onnx","sha256":"00"}]}`), 0o644)
	os.WriteFile(filepath.Join(out, "sgnas_imagenet_full300.onnx"), []byte("old"), 0o644)
	os.WriteFile(filepath.Join(out, "sgnas_imagenet_full999.onnx"), []byte("other"), 0o644)
	if _, err := Run(context.Background(), testConfig(t, out, 300)); err != nil {
		t.Fatal(err)
	}
	if m := consistent(t, out); len(m.Models) != 1 {
		t.Fatalf("manifest: %v", targetsOf(m))
	}
	if b, _ := os.ReadFile(filepath.Join(out, "sgnas_imagenet_full999.onnx")); string(b) != "other" {
		t.Error("a plain file of another name was touched")
	}
}
