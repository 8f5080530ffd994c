package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/onnx"
	"github.com/sgnas/sgnas/train/supernet"
)

// TestExportFromSupernet trains a tiny supernet, exports an architecture's
// slice of it (checked against the plain graph in ORT by --check) and
// rejects options the supernet's weights cannot serve.
func TestExportFromSupernet(t *testing.T) {
	inferTestNeedORT(t)
	ctx := context.Background()
	run := t.TempDir()
	scfg := supernet.DefaultConfig()
	scfg.Epochs, scfg.Batch, scfg.Samples, scfg.Seed = 1, 4, 40, 1
	scfg.MaxTrainBatches, scfg.MaxValBatches = 1, 1
	if _, err := supernet.Train(ctx, scfg, run, supernet.TrainOptions{}); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(run, "supernet.ckpt")
	a := &models.Arch{Space: scfg.Space, Layers: make([]models.Layer, models.NumLayers)}
	for l := range a.Layers {
		a.Layers[l].Kernels = []int{3, 5, 7, 3, 5, 7}[:2+l%5]
	}
	archPath := filepath.Join(run, "arch.json")
	if err := a.Save(archPath); err != nil {
		t.Fatal(err)
	}
	exportRun := func(args ...string) (string, error) {
		return runExportCLI(t, append([]string{archPath}, args...)...)
	}
	out := filepath.Join(run, "slice.onnx")
	msg, err := exportRun("-o", out, "--supernet", ckpt, "--check")
	if err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	if !strings.Contains(msg, "supernet slice of") || !strings.Contains(msg, "argmax agrees 2/2") {
		t.Fatalf("unexpected output:\n%s", msg)
	}
	m, err := onnx.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if md := onnx.Metadata(m); md["se"] != "false" || md["activation"] != "relu6" || md["arch"] != a.String() {
		t.Fatalf("metadata %v", md)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--se"}, "no SE weights"},
		{[]string{"--act", "hswish"}, "trained with relu6"},
		{[]string{"--classes", "7"}, "has 10 classes"},
		{[]string{"--weights", ckpt}, "exclusive"},
	} {
		_, err := exportRun(append([]string{"-o", filepath.Join(run, "x.onnx"), "--supernet", ckpt}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
	// Expansion-1 layers do not exist in the supernet.
	a.Layers[4].Kernels = []int{3}
	a.Save(archPath)
	if _, err := exportRun("-o", filepath.Join(run, "y.onnx"), "--supernet", ckpt); err == nil || !strings.Contains(err.Error(), "layer 4 has expansion 1") {
		t.Fatalf("want an expansion-1 error, got %v", err)
	}
}
