package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/data"
	"github.com/sgnas/sgnas/evaluate"
	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/internal/testutil"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/supernetckpt"
	"github.com/sgnas/sgnas/tensor"
	"github.com/sgnas/sgnas/train/standalone"
	"github.com/sgnas/sgnas/train/supernet"
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

// TestEvalMatchesTrainingEngine trains a tiny supernet, exports an
// architecture's slice and evaluates it with `sgnas eval`'s package: the
// top-1 accuracy equals the supernet's own validation of the architecture
// (supernet.Evaluate, the training path's) and every image's top-1 class
// equals the training engine's (the standalone network of the same weights
// on the same preprocessed images), near-ties (two largest logits within
// 1e-4) excepted. The same is checked on the slice with its BatchNorm
// statistics recalibrated on data (standalone.CalibrateBN), whose
// predictions spread over several classes.
func TestEvalMatchesTrainingEngine(t *testing.T) {
	inferTestNeedORT(t)
	ctx := context.Background()
	run := t.TempDir()
	scfg := supernet.DefaultConfig()
	scfg.Epochs, scfg.Batch, scfg.Samples, scfg.Seed = 1, 8, 80, 2
	scfg.MaxTrainBatches, scfg.MaxValBatches = 4, 1
	if _, err := supernet.Train(ctx, scfg, run, supernet.TrainOptions{}); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(run, "supernet.ckpt")
	a := &models.Arch{Space: scfg.Space, Layers: make([]models.Layer, models.NumLayers)}
	for l := range a.Layers {
		a.Layers[l].Kernels = []int{5, 3, 7, 3, 5, 7}[:2+(l*3)%5]
	}
	archPath := filepath.Join(run, "arch.json")
	if err := a.Save(archPath); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(run, "slice.onnx")
	if msg, err := runExportCLI(t, archPath, "-o", model, "--supernet", ckpt); err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	const n = 120
	ds, err := data.Open("synthetic", "", data.Options{Split: "test", Size: 32})
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(n, 3, 32, 32)
	for i := 0; i < n; i++ {
		if _, err := ds.Get(i, nil, false, x.Data[i*3072:(i+1)*3072]); err != nil {
			t.Fatal(err)
		}
	}

	// The supernet's validation of the architecture on the same images.
	sn, _, err := supernet.LoadCheckpoint(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	loader, err := data.NewLoader(ds, idx, data.LoaderOptions{BatchSize: 40})
	if err != nil {
		t.Fatal(err)
	}
	valTop1, err := sn.Evaluate(ctx, loader, a)
	if err != nil {
		t.Fatal(err)
	}

	slicer, err := supernetckpt.Load(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := slicer.Standalone(a)
	if err != nil {
		t.Fatal(err)
	}
	net, err := models.Build(a, slicer.NetOptions())
	if err != nil {
		t.Fatal(err)
	}
	eng, err := standalone.New(net, sd)
	if err != nil {
		t.Fatal(err)
	}
	compare := func(model string) (res *evaluate.Result, ties, classes int) {
		t.Helper()
		res, err := evaluate.Run(ctx, evaluate.Config{Model: model, Dataset: "synthetic", Limit: n, Batch: 32, Threads: 1, KeepPredictions: true})
		if err != nil {
			t.Fatal(err)
		}
		logits, err := eng.Predict(x)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]bool{}
		correct := 0
		for i, p := range res.Predictions {
			row := logits.Data[i*10 : (i+1)*10]
			order := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
			sort.SliceStable(order, func(a, b int) bool { return row[order[a]] > row[order[b]] })
			seen[order[0]] = true
			if order[0] == ds.Label(i) {
				correct++
			}
			if row[order[0]]-row[order[1]] < 1e-4 {
				ties++
				continue
			}
			if p.Top1 != order[0] {
				t.Fatalf("%s image %d: eval top-1 %d, engine %d (logits %v)", model, i, p.Top1, order[0], row)
			}
		}
		if d := res.Correct1 - correct; d > ties || -d > ties {
			t.Fatalf("%s: eval top-1 %d/%d, engine %d/%d (%d near-ties)", model, res.Correct1, n, correct, n, ties)
		}
		return res, ties, len(seen)
	}
	res, ties, _ := compare(model)
	if d := valTop1*n - float64(res.Correct1); d > float64(ties)+1e-9 || -d > float64(ties)+1e-9 {
		t.Fatalf("supernet validation top-1 %.4f, eval %.4f (%d near-ties)", valTop1, res.Top1, ties)
	}
	t.Logf("slice: top-1 eval %.3f, supernet validation %.3f, %d near-ties", res.Top1, valTop1, ties)

	// BN recalibrated on training images: predictions spread out.
	train, err := data.Open("synthetic", "", data.Options{Split: "train", Size: 32})
	if err != nil {
		t.Fatal(err)
	}
	cal := tensor.New(64, 3, 32, 32)
	for i := 0; i < 64; i++ {
		train.Get(i, nil, false, cal.Data[i*3072:(i+1)*3072])
	}
	eng.CalibrateBN(cal)
	calibrated := filepath.Join(run, "calibrated.onnx")
	if _, err := export.WriteFile(calibrated, net, weights.StateDict(eng.Store.StateDict()), export.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	res, ties, classes := compare(calibrated)
	if classes < 2 {
		t.Fatalf("calibrated slice predicts %d classes only: the comparison says little", classes)
	}
	t.Logf("calibrated: top-1 %.3f top-5 %.3f over %d predicted classes, %d near-ties", res.Top1, res.Top5, classes, ties)
}
