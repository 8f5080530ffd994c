package main

import (
	"bytes"
	"context"
	"github.com/sgnas/sgnas/internal/testutil"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/onnx"
)

// runExportCLI runs "sgnas export args..." and returns its stdout.
func runExportCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	app := &cli.Command{Name: "sgnas", Commands: []*cli.Command{exportCommand()}, Writer: &buf, ErrWriter: &buf}
	err := app.Run(context.Background(), append([]string{"sgnas", "export"}, args...))
	return buf.String(), err
}

func TestExportCommandSeededCIFAR(t *testing.T) {
	dir := t.TempDir()
	a := models.RandomArch("cifar10", rand.New(rand.NewSource(3)), 1, 6)
	archPath := filepath.Join(dir, "arch.json")
	if err := a.Save(archPath); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "m.onnx")
	args := []string{archPath, "-o", out, "--act", "hswish", "--se", "--seed", "5", "--opset", "15", "--target", "flops:100"}
	if os.Getenv("SGNAS_SKIP_ORT") != "1" {
		args = append(args, "--check")
	}
	stdout, err := runExportCLI(t, args...)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, stdout)
	}
	for _, want := range []string{"wrote " + out, "nodes", "MFLOPs", "params", "seeded init (seed 5)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(strings.Join(args, " "), "--check") && !strings.Contains(stdout, "argmax agrees 2/2") {
		t.Errorf("--check output missing:\n%s", stdout)
	}
	m, err := onnx.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	md := onnx.Metadata(m)
	want := map[string]string{"space": "cifar10", "activation": "hswish", "se": "true", "classes": "10",
		"opset": "15", "target": "flops:100", "arch": a.String(), "optimized": "true", "sgnas_version": version}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, md[k], v)
		}
	}
	if m.GetOpsetImport()[0].GetVersion() != 15 {
		t.Errorf("opset %d, want 15", m.GetOpsetImport()[0].GetVersion())
	}
}

func TestExportCommandFixtureOptionsAndErrors(t *testing.T) {
	fx := testutil.Shared(t, "fixtures", "sgnas_c")
	dir := t.TempDir()
	arch := filepath.Join(fx, "sgnas_c_arch.json")
	pth := filepath.Join(fx, "sgnas_c_state_dict.pth")
	out := filepath.Join(dir, "c.onnx")
	stdout, err := runExportCLI(t, arch, "-o", out, "--weights", pth, "--no-optimize")
	if err != nil {
		t.Fatalf("export: %v\n%s", err, stdout)
	}
	m, err := onnx.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	md := onnx.Metadata(m)
	// Options come from the arch file: SE, h-swish, 1000 classes.
	if md["se"] != "true" || md["activation"] != "hswish" || md["classes"] != "1000" || md["optimized"] != "false" {
		t.Errorf("metadata %v", md)
	}
	if !strings.Contains(stdout, "BatchNormalization") {
		t.Errorf("plain graph summary lacks BatchNormalization:\n%s", stdout)
	}

	// Overriding --se=false makes the fixture's SE tensors unexpected.
	_, err = runExportCLI(t, arch, "-o", filepath.Join(dir, "x.onnx"), "--weights", pth, "--se=false")
	if err == nil || !strings.Contains(err.Error(), "unexpected stages.") || !strings.Contains(err.Error(), "se.squeeze_conv") {
		t.Errorf("unexpected tensors: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.onnx")); err == nil {
		t.Errorf("failed export left a file behind")
	}
	if _, err := runExportCLI(t, arch, "-o", filepath.Join(dir, "y.onnx"), "--weights", pth, "--se=false", "--allow-unexpected"); err != nil {
		t.Errorf("--allow-unexpected: %v", err)
	}
	// Wrong classes: classifier shape mismatch names the tensor.
	_, err = runExportCLI(t, arch, "-o", filepath.Join(dir, "z.onnx"), "--weights", pth, "--classes", "10")
	if err == nil || !strings.Contains(err.Error(), "classifier.1.weight: shape [1000 1280], expected [10 1280]") {
		t.Errorf("wrong classes: err = %v", err)
	}
	_, err = runExportCLI(t, arch, "-o", filepath.Join(dir, "o.onnx"), "--opset", "18")
	if err == nil || !strings.Contains(err.Error(), "opset 18") {
		t.Errorf("opset 18: err = %v", err)
	}
	if _, err = runExportCLI(t, arch); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Errorf("no -o: err = %v", err)
	}
}

// TestExportCommandInt8 exports a CIFAR architecture as INT8 calibrated on
// the synthetic dataset (3×32×32) and checks the summary and metadata; flags that
// need --int8 are refused without it.
func TestExportCommandInt8(t *testing.T) {
	dir := t.TempDir()
	a := models.RandomArch("cifar10", rand.New(rand.NewSource(4)), 1, 6)
	archPath := filepath.Join(dir, "arch.json")
	if err := a.Save(archPath); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "q.onnx")
	if os.Getenv("SGNAS_SKIP_ORT") != "1" {
		{
			stdout, err := runExportCLI(t, archPath, "-o", out, "--int8", "--calib", "synthetic", "--calib-samples", "16", "--calib-method", "entropy", "--check")
			if err != nil {
				t.Fatalf("export: %v\n%s", err, stdout)
			}
			for _, want := range []string{"INT8 QDQ", "entropy calibration on synthetic", "argmax agrees", "QuantizeLinear"} {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, stdout)
				}
			}
			m, err := onnx.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if md := onnx.Metadata(m); md["precision"] != "int8" || md["calibration_method"] != "entropy" || md["calibration_samples"] != "16" {
				t.Errorf("metadata %v", md)
			}
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--calib-method", "entropy"}, "--calib-method needs --int8"},
		{[]string{"--int8", "--calib", "synthetic", "--calib-method", "kl"}, "--calib-method \"kl\""},
		{[]string{"--depthwise-form", "pad"}, "depthwise form \"pad\""},
	} {
		_, err := runExportCLI(t, append([]string{archPath, "-o", filepath.Join(dir, "bad.onnx")}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}
