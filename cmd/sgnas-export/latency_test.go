package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/internal/orttest"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/onnx"
	"github.com/sgnas/sgnas/profiles"
)

// TestExportLatency: `sgnas-export --latency … --profile P --measure` with a
// synthetic profile of this machine: every model's predicted latency lies in
// [0.97·T, T]; manifest and metadata record the budget kind, the profile
// digest, and predicted beside measured latency.
func TestExportLatency(t *testing.T) {
	gen := sharedGenerator(t)
	orttest.Need(t)
	dir := t.TempDir()
	p, err := profiles.Synthetic(profiles.NetworkOf(models.DefaultOptions(models.MustSpace("imagenet"))), profiles.CurrentFingerprint("cpu", 1, 1, 99))
	if err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(dir, "here.json")
	if err := p.Save(prof); err != nil {
		t.Fatal(err)
	}
	pr, _ := profiles.NewPredictor(p)
	lo, hi := pr.Range(1)
	t1, t2 := lo+0.35*(hi-lo), lo+0.45*(hi-lo)
	out := filepath.Join(dir, "models")
	if err := runArgs(t, "--latency", fmt.Sprintf("%.2fms,%.2fms", t1, t2), "--profile", prof, "--generator", gen, "--out", out,
		"--measure", "--runs", "3"); err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, out)
	if len(m.Models) != 2 || m.Metric != "latency" || m.Budget != "latency" || !strings.HasPrefix(m.ProfileDigest, "sha256:") {
		t.Fatalf("manifest: %+v", m)
	}
	for _, e := range m.Models {
		a := &models.Arch{Space: "imagenet", Layers: e.Layers}
		v := pr.Value(a)
		if e.PredictedLatencyMS == nil || v > e.Target+1e-6 || v < 0.97*e.Target-1e-6 || *e.PredictedLatencyMS < 0.97*e.Target-1e-3 {
			t.Errorf("target %g ms: predicted %v (%g)", e.Target, e.PredictedLatencyMS, v)
		}
		if e.MeasuredLatency == nil || e.MeasuredLatency.P50MS <= 0 {
			t.Errorf("%s: no measured latency", e.File)
		}
		if !strings.HasSuffix(e.File, "ms.onnx") || !strings.Contains(e.File, "latency") {
			t.Errorf("file name %s", e.File)
		}
		model, err := onnx.ReadFile(filepath.Join(out, e.File))
		if err != nil {
			t.Fatal(err)
		}
		md := onnx.Metadata(model)
		if md["budget"] != "latency" || md["profile_digest"] != m.ProfileDigest || md["predicted_latency_ms"] == "" || !strings.HasPrefix(md["target"], "latency_ms:") {
			t.Errorf("%s metadata %v", e.File, md)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--latency", "12"}, "missing unit"},
		{[]string{"--latency", "-3ms"}, "must be positive"},
		{[]string{"--latency", "abc"}, "not a duration"},
		{[]string{"--latency", "12ms", "--flops", "300"}, "not both"},
		{[]string{"--latency", fmt.Sprintf("%.2fms", hi*2)}, "above the slowest"},
	} {
		err := runArgs(t, append(c.args, "--profile", prof, "--generator", gen, "--out", out)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.args, err, c.want)
		}
	}
	if err := runArgs(t, "--latency", "12ms", "--generator", gen, "--out", out); err == nil || !strings.Contains(err.Error(), "needs --profile") {
		t.Errorf("--latency without --profile: %v", err)
	}
}
