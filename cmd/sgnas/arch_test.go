package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/internal/npy"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/tensor"
)

// archCmd returns a root with a fresh "arch" command (flags keep state between runs).
func archCmd(t *testing.T) *cli.Command {
	return &cli.Command{Name: "sgnas", Commands: []*cli.Command{archCommand()}}
}

func captureStdout(t *testing.T, fn func() error) (string, error) {
	t.Helper()
	r, w, _ := os.Pipe()
	old := os.Stdout
	os.Stdout = w
	err := fn()
	w.Close()
	os.Stdout = old
	var b bytes.Buffer
	b.ReadFrom(r)
	return b.String(), err
}

func TestArchRandomThenInfoJSON(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.json")
	if err := archCmd(t).Run(context.Background(), []string{"sgnas", "arch", "random", "--space", "cifar100", "--seed", "4", "--flops", "95", "-o", p}); err != nil {
		t.Fatal(err)
	}
	out, err := captureStdout(t, func() error {
		return archCmd(t).Run(context.Background(), []string{"sgnas", "arch", "info", p, "--json", "--se"})
	})
	if err != nil {
		t.Fatal(err)
	}
	var info archInfoJSON
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("%v in %q", err, out)
	}
	if info.Space != "cifar100" || !info.SE || info.Classes != 100 || len(info.Layers) != models.NumLayers {
		t.Fatalf("info %+v", info)
	}
	if math.Abs(info.LUTMFLOPs-95) > 1 || info.MFLOPs <= info.LUTMFLOPs {
		t.Fatalf("LUT %.2f (target 95±1), full with SE %.2f must exceed it", info.LUTMFLOPs, info.MFLOPs)
	}
	sum := 0.0
	for _, l := range info.Layers {
		sum += l.LUTMFLOPs
	}
	if math.Abs(sum+models.MustSpace("cifar100").LUT().Basic-info.LUTMFLOPs) > 1e-6 {
		t.Fatal("per-layer LUT MFLOPs do not add up to the total")
	}
}

func TestArchInfoErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	models.RandomArch("cifar10", rand.New(rand.NewSource(1)), 2, 6).Save(good)
	if _, err := captureStdout(t, func() error {
		return archCmd(t).Run(context.Background(), []string{"sgnas", "arch", "info", "--space", "CIFAR100", good})
	}); err != nil {
		t.Fatalf("--space CIFAR100: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"space":"imagenet","layers":[{"kernels":[4]}]}`), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"arch", "info", filepath.Join(dir, "none.json")}, "none.json"},
		{[]string{"arch", "info", bad}, "1 layers, want 19"},
		{[]string{"arch", "info"}, "exactly one ARCH_FILE"},
		{[]string{"arch", "random", "--space", "imagenet", "--flops", "5000"}, "out of range"},
		{[]string{"arch", "info", "--classes", "0", good}, "--classes 0"},
	} {
		_, err := captureStdout(t, func() error {
			return archCmd(t).Run(context.Background(), append([]string{"sgnas"}, c.args...))
		})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}

func TestCompareReference(t *testing.T) {
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref.npy")
	npy.Write(ref, &tensor.Tensor{Shape: []int{2, 3}, Data: []float32{0, 1, 0, 2, 0, 0}})
	var w bytes.Buffer
	close := &tensor.Tensor{Shape: []int{2, 3}, Data: []float32{0, 1.00001, 0, 2, 0, 0}}
	if err := compareReference(&w, close, ref, 1e-4); err != nil {
		t.Fatal(err)
	}
	far := &tensor.Tensor{Shape: []int{2, 3}, Data: []float32{0, 1, 0, 2, 0, 0.5}}
	if err := compareReference(&w, far, ref, 1e-4); err == nil || !strings.Contains(err.Error(), "0.5") {
		t.Fatalf("want a difference error, got %v", err)
	}
	flipped := &tensor.Tensor{Shape: []int{2, 3}, Data: []float32{0, 1, 0, 0, 0, 2}}
	if err := compareReference(&w, flipped, ref, 10); err == nil || !strings.Contains(err.Error(), "1/2 rows agree") {
		t.Fatalf("want an argmax error, got %v", err)
	}
}
