package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/data"
	"github.com/sgnas/sgnas/internal/testutil"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/train/standalone"
	"github.com/sgnas/sgnas/train/supernet"
)

func trainRoot(out *bytes.Buffer) *cli.Command {
	return &cli.Command{Name: "sgnas", Writer: out, ErrWriter: out, Commands: []*cli.Command{trainCommand()}}
}

// writeTinyArch writes the cheapest CIFAR-10 architecture (expansion 1,
// k3) with one wider layer.
func writeTinyArch(t *testing.T, dir string, firstKernel int) string {
	t.Helper()
	a := &models.Arch{Space: "cifar10", Layers: make([]models.Layer, models.NumLayers)}
	for l := range a.Layers {
		a.Layers[l].Kernels = []int{3}
	}
	a.Layers[0].Kernels = []int{firstKernel, 3}
	path := filepath.Join(dir, "arch.json")
	if err := a.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTrainCLI: a tiny run writes the run folder and the final line;
// --resume of the finished run only reports; bad inputs get one line.
func TestTrainCLI(t *testing.T) {
	dir := t.TempDir()
	arch := writeTinyArch(t, dir, 5)
	run := filepath.Join(dir, "run")
	args := []string{"sgnas", "train", "--arch", arch, "--data", "synthetic", "--samples", "24", "--batch", "8",
		"--val-samples", "8", "--out", run, "--threads", "1", "--workers", "1", "--epochs", "1"}
	var out bytes.Buffer
	if err := trainRoot(&out).Run(context.Background(), args); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "trained 1 epochs: best top-1") || !strings.Contains(out.String(), filepath.Join(run, "best.ckpt")) {
		t.Fatalf("output:\n%s", out.String())
	}
	for _, f := range []string{standalone.LastCheckpoint, standalone.BestCheckpoint, standalone.LogFile, standalone.ArchFile, standalone.ConfigFile} {
		if _, err := os.Stat(filepath.Join(run, f)); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	if err := trainRoot(&out).Run(context.Background(), []string{"sgnas", "train", "--out", run, "--resume", "--threads", "1"}); err != nil {
		t.Fatalf("resume of a finished run: %v\n%s", err, out.String())
	}

	cifar := filepath.Join(dir, "cifar")
	small, err := data.NewSynthetic(data.SyntheticOptions{Classes: 10, Size: 32, Samples: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := data.WriteCIFAR10(cifar, small, small); err != nil {
		t.Fatal(err)
	}
	other := writeTinyArch(t, t.TempDir(), 7)
	sn := filepath.Join(dir, "supernet.ckpt")
	s := supernet.New(models.MustSpace("cifar100"), 100, 1)
	c := supernet.DefaultConfig()
	c.Space = "cifar100"
	if err := supernet.SaveCheckpoint(sn, &supernet.Checkpoint{Config: c, Classes: 100, Model: s.StateDict()}); err != nil {
		t.Fatal(err)
	}
	base := []string{"sgnas", "train", "--threads", "1", "--epochs", "1", "--batch", "4"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing dataset", []string{"--arch", arch, "--data", filepath.Join(dir, "nowhere"), "--out", t.TempDir()}, "nowhere"},
		{"image size", []string{"--arch", arch, "--space", "imagenet", "--dataset", "cifar10", "--data", cifar, "--out", t.TempDir()}, "expects 224×224"},
		{"unknown recipe", []string{"--arch", arch, "--recipe", "mnist", "--out", t.TempDir()}, "--recipe"},
		{"no architecture", []string{"--out", t.TempDir()}, "--arch"},
		{"flops without generator", []string{"--flops", "60", "--out", t.TempDir()}, "--generator"},
		{"resume another arch", []string{"--arch", other, "--resume", "--out", run}, "trains architecture"},
		{"resume nothing", []string{"--resume", "--out", t.TempDir()}, "no checkpoint"},
		{"supernet misfit", []string{"--arch", arch, "--samples", "8", "--init-from-supernet", sn, "--out", t.TempDir()}, "space cifar100"},
		{"missing supernet", []string{"--arch", arch, "--samples", "8", "--init-from-supernet", filepath.Join(dir, "none.ckpt"), "--out", t.TempDir()}, "none.ckpt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o bytes.Buffer
			err := trainRoot(&o).Run(context.Background(), append(append([]string(nil), base...), tc.args...))
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err %v, want one line mentioning %q", err, tc.want)
			}
		})
	}
}

// TestTrainGeneratedInherited: supernet → generator → `sgnas train --flops
// --generator --init-from-supernet`: the generated architecture is trained
// from weights sliced with the generator's exact choices.
func TestTrainGeneratedInherited(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a supernet, a generator and a network")
	}
	ctx := context.Background()
	run := t.TempDir()
	scfg := supernet.DefaultConfig()
	scfg.Epochs, scfg.Batch, scfg.Samples, scfg.Seed = 1, 4, 40, 1
	scfg.MaxTrainBatches, scfg.MaxValBatches = 1, 1
	if _, err := supernet.Train(ctx, scfg, run, supernet.TrainOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := searchGeneratorRoot().Run(ctx, []string{"sgnas", "search", "generator", "--supernet", filepath.Join(run, "supernet.ckpt"), "--out", run,
		"--batch", "2", "--max-train-batches", "2", "--max-eval-batches", "1", "--seed", "3", "--epochs", "1"}); err != nil {
		t.Fatal(err)
	}
	gdir := filepath.Join(run, "generator")
	out := filepath.Join(run, "standalone")
	var o bytes.Buffer
	err := trainRoot(&o).Run(ctx, []string{"sgnas", "train", "--space", "cifar10", "--flops", "100",
		"--generator", filepath.Join(gdir, "final.pth"), "--init-from-supernet", filepath.Join(run, "supernet.ckpt"),
		"--data", "synthetic", "--samples", "16", "--batch", "8", "--val-samples", "8", "--epochs", "1", "--out", out, "--threads", "1"})
	if err != nil {
		t.Fatalf("%v\n%s", err, o.String())
	}
	if !strings.Contains(o.String(), "inherited") || !strings.Contains(o.String(), "generator choices") {
		t.Fatalf("no inheritance report:\n%s", o.String())
	}
	ck, err := standalone.ReadCheckpoint(filepath.Join(out, standalone.LastCheckpoint))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Config.InitChoices == nil || !ck.Config.InitChoices.Arch("cifar10").Equal(ck.Config.Arch) {
		t.Fatalf("stored choices %v do not give the trained architecture %s", ck.Config.InitChoices, ck.Config.Arch)
	}
}

// TestTrainExportEval: a model trained by `sgnas train` on Fashion-MNIST,
// exported from RUN/arch.json and RUN/best.safetensors and evaluated by
// `sgnas eval` on the run's validation images gets exactly the top-1 the
// training engine measured for that epoch.
func TestTrainExportEval(t *testing.T) {
	inferTestNeedORT(t)
	_, err := data.OpenFashionMNIST("", "test")
	testutil.Require(t, "Fashion-MNIST (Debian package dataset-fashion-mnist)", err)
	dir := t.TempDir()
	arch := writeTinyArch(t, dir, 5)
	run := filepath.Join(dir, "run")
	const val = 300
	var out bytes.Buffer
	if err := trainRoot(&out).Run(context.Background(), []string{"sgnas", "train", "--arch", arch, "--data", "fashion-mnist",
		"--train-samples", "1024", "--val-samples", strconv.Itoa(val), "--batch", "32", "--lr", "0.05", "--epochs", "2",
		"--out", run, "--threads", "1", "--workers", "1"}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	ck, err := standalone.ReadCheckpoint(filepath.Join(run, standalone.BestCheckpoint))
	if err != nil {
		t.Fatal(err)
	}
	var ex bytes.Buffer
	model := filepath.Join(dir, "trained.onnx")
	exp := &cli.Command{Name: "sgnas", Writer: &ex, ErrWriter: &ex, Commands: []*cli.Command{exportCommand()}}
	if err := exp.Run(context.Background(), []string{"sgnas", "export", filepath.Join(run, standalone.ArchFile),
		"--weights", filepath.Join(run, standalone.BestWeights), "-o", model}); err != nil {
		t.Fatalf("export: %v\n%s", err, ex.String())
	}
	res, err := runEvalCLI(t, model, "--data", "fashion-mnist", "--limit", strconv.Itoa(val), "--threads", "1", "--json")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, res)
	}
	var got struct {
		Images int     `json:"images"`
		Top1   float64 `json:"top1"`
	}
	if err := json.Unmarshal([]byte(res[strings.Index(res, "{"):]), &got); err != nil {
		t.Fatalf("%v\n%s", err, res)
	}
	t.Logf("engine top-1 %.4f (epoch %d), ONNX Runtime top-1 %.4f on %d images", ck.BestTop1, ck.BestEpoch+1, got.Top1, got.Images)
	if got.Images != val || math.Round(got.Top1*val) != math.Round(ck.BestTop1*val) {
		t.Fatalf("sgnas eval top-1 %.4f on %d images, the engine measured %.4f on %d", got.Top1, got.Images, ck.BestTop1, val)
	}
	if ck.BestTop1 < 0.2 {
		t.Fatalf("best top-1 %.3f: the run did not learn (chance 0.1), the comparison proves little", ck.BestTop1)
	}
}
