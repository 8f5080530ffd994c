package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/data"
	"github.com/sgnas/sgnas/evaluate"
	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/internal/testutil"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/weights"
)

func runEvalCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	app := &cli.Command{Name: "sgnas", Commands: []*cli.Command{evalCommand()}, Writer: &buf, ErrWriter: &buf}
	err := app.Run(context.Background(), append([]string{"sgnas", "eval"}, args...))
	return buf.String(), err
}

// TestEvalCommand evaluates a CIFAR-space model on Fashion-MNIST and
// records the result in the manifest beside it.
func TestEvalCommand(t *testing.T) {
	inferTestNeedORT(t)
	_, err := data.OpenFashionMNIST("", "test")
	testutil.Require(t, "Fashion-MNIST", err)
	dir := t.TempDir()
	a := &models.Arch{Space: "cifar10", Layers: make([]models.Layer, models.NumLayers)}
	for l := range a.Layers {
		a.Layers[l].Kernels = []int{3, 5}[:1+l%2]
	}
	net, err := models.Build(a, models.DefaultOptions(models.MustSpace("cifar10")))
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "m.onnx")
	if _, err := export.WriteFile(model, net, weights.Init(net.Tensors(), 2), export.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	sum, _ := export.FileSHA256(model)
	man := export.Manifest{Version: 1, Models: []export.ManifestEntry{{File: "m.onnx", SHA256: sum, Arch: a.String()}}}
	if err := man.Save(filepath.Join(dir, "manifest.json")); err != nil {
		t.Fatal(err)
	}
	out, err := runEvalCLI(t, model, "--data", "fashion-mnist", "--limit", "30", "--batch", "7", "--threads", "1", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var res evaluate.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.Images != 30 || res.Dataset != "fashion-mnist" || res.Classes != 10 || res.Top5 < res.Top1 {
		t.Fatalf("result %+v", res)
	}
	got, err := export.LoadManifest(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if ev := got.Models[0].Evaluations; len(ev) != 1 || ev[0].Images != 30 || ev[0].Top1 != res.Top1 || !ev[0].Limited {
		t.Fatalf("manifest evaluations %+v", ev)
	}
	if _, err := runEvalCLI(t, model, "--data", "fashion-mnist", "--batch", "0"); err == nil || !strings.Contains(err.Error(), "--batch 0") {
		t.Fatalf("--batch 0: %v", err)
	}
	if _, err := runEvalCLI(t, model, "--data", filepath.Join(dir, "nothing")); err == nil || !strings.Contains(err.Error(), "nothing") {
		t.Fatalf("missing data: %v", err)
	}
}
