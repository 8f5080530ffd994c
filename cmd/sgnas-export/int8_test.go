package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/internal/orttest"
	"github.com/sgnas/sgnas/onnx"
)

// TestExportInt8 writes SGNAS-A (365 MFLOPs) with its INT8 form beside it
// and checks the manifest entries and the INT8 model's metadata; bad INT8
// flags stop the run with one line before anything is written.
func TestExportInt8(t *testing.T) {
	orttest.Need(t)
	gen := sharedGenerator(t)
	out := t.TempDir()
	if err := runArgs(t, "--flops", "365", "--generator", gen, "--out", out, "--int8", "--calib", "synthetic", "--calib-samples", "4"); err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, out)
	if len(m.Models) != 2 || m.Models[0].Precision != "" || m.Models[1].Precision != "int8" || m.Models[1].Int8 == nil {
		t.Fatalf("manifest models: %+v", m.Models)
	}
	fp, q := m.Models[0], m.Models[1]
	if q.File != strings.TrimSuffix(fp.File, ".onnx")+"_int8.onnx" || q.Arch != fp.Arch || q.Int8.Samples != 4 || q.Int8.Method != "minmax" {
		t.Fatalf("int8 entry %+v (%+v)", q, q.Int8)
	}
	path := filepath.Join(out, q.File)
	sum, err := export.FileSHA256(path)
	if err != nil || sum != q.SHA256 {
		t.Fatalf("%s: sha256 %s, manifest %s (%v)", q.File, sum, q.SHA256, err)
	}
	model, err := onnx.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	md := onnx.Metadata(model)
	if md["precision"] != "int8" || md["calibration_method"] != "minmax" || md["calibration_samples"] != "4" || md["arch"] != fp.Arch {
		t.Fatalf("metadata %v", md)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--int8"}, "needs calibration data"},
		{[]string{"--calib", "synthetic"}, "--calib needs --int8"},
		{[]string{"--int8", "--calib", "synthetic", "--opset", "12"}, "--int8 needs --opset 13"},
		{[]string{"--int8", "--calib", "synthetic", "--no-optimize"}, "--no-optimize"},
		{[]string{"--int8", "--calib", "synthetic", "--calib-samples", "0"}, "--calib-samples 0"},
		{[]string{"--int8", "--calib", "fashion-mnist"}, "the model takes 3×224×224"},
	} {
		dir := t.TempDir()
		err := runArgs(t, append([]string{"--flops", "365", "--generator", gen, "--out", dir}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
		if got, _ := filepath.Glob(filepath.Join(dir, "*.onnx")); len(got) != 0 {
			t.Errorf("%v: wrote %v", c.args, got)
		}
	}
}
