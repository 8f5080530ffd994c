package main

import (
	"context"
	"github.com/sgnas/sgnas/internal/testutil"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/onnx"
	"github.com/sgnas/sgnas/train/supernet"
)

func sharedGenerator(t *testing.T) string {
	return testutil.Shared(t, "pretrained", "imagenet", "best_avg.pth")
}

func runArgs(t *testing.T, args ...string) error {
	t.Helper()
	return newCommand().Run(context.Background(), append([]string{"sgnas-export", "--quiet"}, args...))
}

func TestExportWritesBudgetedModelsAndManifest(t *testing.T) {
	gen := sharedGenerator(t)
	out := t.TempDir()
	if err := runArgs(t, "--flops", "275,365", "--generator", gen, "--out", out); err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, out)
	if len(m.Models) != 2 || m.Metric != "full" || !strings.HasPrefix(m.GeneratorDigest, "sha256:") {
		t.Fatalf("manifest: %+v", m)
	}
	for _, e := range m.Models {
		if e.MFLOPs > e.Target || e.MFLOPs < 0.97*e.Target {
			t.Errorf("target %g: %.2f MFLOPs outside [0.97·T, T]", e.Target, e.MFLOPs)
		}
		path := filepath.Join(out, e.File)
		sum, err := export.FileSHA256(path)
		if err != nil || sum != e.SHA256 {
			t.Errorf("%s: sha256 %s, manifest says %s (%v)", e.File, sum, e.SHA256, err)
		}
		model, err := onnx.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		md := onnx.Metadata(model)
		if md["arch"] != e.Arch || md["target"] == "" || md["generator_digest"] != m.GeneratorDigest {
			t.Errorf("%s metadata %v does not match manifest entry", e.File, md)
		}
	}
	// A failing run (target out of range) leaves the earlier outputs intact.
	before, _ := os.ReadFile(filepath.Join(out, "manifest.json"))
	err := runArgs(t, "--flops", "275,900", "--generator", gen, "--out", out)
	if err == nil || !strings.Contains(err.Error(), "900") {
		t.Fatalf("want an error naming target 900, got %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(out, "manifest.json"))
	if string(before) != string(after) {
		t.Fatal("failed run changed manifest.json")
	}
}

func TestExportRawReproducesPaperModelWithFixtureWeights(t *testing.T) {
	gen := sharedGenerator(t)
	sd := filepath.Join(filepath.Dir(gen), "..", "..", "fixtures", "sgnas_c", "sgnas_c_state_dict.pth")
	out := t.TempDir()
	if err := runArgs(t, "--flops", "275", "--raw", "--generator", gen, "--weights", sd, "--out", out); err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, out)
	if e := m.Models[0]; e.Params != 4652252 || e.MFLOPs < 280.55 || e.MFLOPs > 280.57 {
		t.Fatalf("raw 275 should be SGNAS-C (280.56 MFLOPs, 4652252 params): %+v", e)
	}
	// A run that fails part-way (target 320's architecture does not fit the
	// fixture weights) leaves the earlier model and manifest untouched and no
	// staging folder behind.
	before := readManifest(t, out)
	err := runArgs(t, "--flops", "275,320", "--raw", "--opset", "16", "--generator", gen, "--weights", sd, "--out", out)
	if err == nil || !strings.Contains(err.Error(), "target 320") {
		t.Fatalf("want a weight mismatch error naming target 320, got %v", err)
	}
	if sum, _ := export.FileSHA256(filepath.Join(out, before.Models[0].File)); sum != before.Models[0].SHA256 {
		t.Fatal("failed run replaced an earlier model")
	}
	if after := readManifest(t, out); len(after.Models) != 1 || after.Models[0].SHA256 != before.Models[0].SHA256 {
		t.Fatal("failed run changed manifest.json")
	}
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".sgnas-export-") {
			t.Fatalf("left-over %s in %s", e.Name(), out)
		}
	}
	if runs, _ := os.ReadDir(filepath.Join(out, "runs")); len(runs) != 1 {
		t.Fatalf("runs/ holds %v, want the one published run", runs)
	}
	if err := runArgs(t, "--flops", "300,300", "--generator", gen, "--out", out); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Fatalf("want a duplicate-target error, got %v", err)
	}
	// The fixture weights do not fit the repaired architecture of 365.
	err = runArgs(t, "--flops", "365", "--generator", gen, "--weights", sd, "--out", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "target 365") {
		t.Fatalf("want a weight mismatch error naming the target, got %v", err)
	}
}

func TestExportNeedsPrior(t *testing.T) {
	dir := t.TempDir()
	gen := filepath.Join(dir, "g.pth")
	os.WriteFile(gen, []byte("x"), 0o644)
	err := runArgs(t, "--flops", "300", "--generator", gen, "--out", dir)
	if err == nil || !strings.Contains(err.Error(), "prior_pool.json") {
		t.Fatalf("want a missing-prior error, got %v", err)
	}
}

func readManifest(t *testing.T, dir string) *export.Manifest {
	t.Helper()
	m, err := export.LoadManifest(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestExportSupernetSlices writes an (untrained) ImageNet supernet checkpoint
// and exports the authors' raw SGNAS-C architecture with its slice.
func TestExportSupernetSlices(t *testing.T) {
	gen := sharedGenerator(t)
	dir := t.TempDir()
	sn := supernet.New(models.MustSpace("imagenet"), 1000, 3)
	ckpt := filepath.Join(dir, "supernet.ckpt")
	cfg := supernet.DefaultConfig()
	cfg.Space = "imagenet"
	if err := supernet.SaveCheckpoint(ckpt, &supernet.Checkpoint{Config: cfg, Classes: 1000, Model: sn.StateDict()}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := runArgs(t, "--flops", "275", "--raw", "--generator", gen, "--supernet", ckpt, "--out", out); err != nil {
		t.Fatal(err)
	}
	e := readManifest(t, out).Models[0]
	if e.SE || e.Activation != "relu6" || e.Weights != "supernet:"+ckpt || e.Params != 3403000 {
		t.Fatalf("supernet slice entry: %+v (want no SE, relu6, 3,403,000 params)", e)
	}
	if err := runArgs(t, "--flops", "275", "--generator", gen, "--supernet", ckpt, "--se", "--out", out); err == nil || !strings.Contains(err.Error(), "--se") {
		t.Fatalf("want an error for --se with --supernet, got %v", err)
	}
}
