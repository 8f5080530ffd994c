package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"
	"google.golang.org/protobuf/proto"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/onnx"
	"github.com/sgnas/sgnas/supernetckpt"
	"github.com/sgnas/sgnas/train/supernet"
	"github.com/sgnas/sgnas/weights"
)

func runConvertCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	app := &cli.Command{Name: "sgnas", Commands: []*cli.Command{convertCommand()}, Writer: &buf, ErrWriter: &buf}
	err := app.Run(context.Background(), append([]string{"sgnas", "convert"}, args...))
	return buf.String(), err
}

// TestSupernetTensorList checks that the supernet checkpoint's tensor list
// (supernetckpt.Tensors) is the training engine's, for every space.
func TestSupernetTensorList(t *testing.T) {
	for _, name := range models.SpaceNames {
		space := models.MustSpace(name)
		s := supernet.New(space, 0, 1)
		specs := supernetckpt.Tensors(space, space.Classes)
		if err := weights.Match(weights.StateDict(s.Store.StateDict()), specs, false); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(specs) != len(s.Store.Names()) {
			t.Fatalf("%s: %d specs, the engine has %d tensors", name, len(specs), len(s.Store.Names()))
		}
	}
}

// TestConvertSupernetForSearch converts a supernet state dict saved the
// authors' way (DDP prefixes, skip candidates) into a checkpoint that the
// generator search's loader and `sgnas export --supernet` accept, with the
// same weights, and back into safetensors.
func TestConvertSupernetForSearch(t *testing.T) {
	dir := t.TempDir()
	space := models.MustSpace("cifar10")
	src := supernet.New(space, 10, 5)
	sd := weights.StateDict{}
	for n, v := range src.Store.StateDict() {
		sd["module."+n] = v
	}
	for b := 0; b < models.NumGroups; b++ {
		sd[fmt.Sprintf("module.stages.0.depthwise.blocks.%d.blocks.3.weight", b)] = weights.NewTensor(16, 16, 1, 1)
	}
	in := filepath.Join(dir, "authors.safetensors")
	if err := weights.WriteSafetensors(in, sd, nil, nil); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "supernet.ckpt")
	out, err := runConvertCLI(t, in, ckpt, "--space", "cifar10", "--dataset", "synthetic")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "dropped 6 tensors") {
		t.Errorf("output %q", out)
	}
	sn, ck, err := supernet.LoadCheckpoint(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Config.Dataset != "synthetic" || ck.Config.Space != "cifar10" || sn.Classes != 10 {
		t.Fatalf("config %+v classes %d", ck.Config, sn.Classes)
	}
	for n, want := range src.Store.StateDict() {
		got := sn.Store.Get(n).Value
		for i := range want.Data {
			if got.Data[i] != want.Data[i] {
				t.Fatalf("%s[%d] = %v, want %v", n, i, got.Data[i], want.Data[i])
			}
		}
	}
	// export --supernet slices it.
	a := &models.Arch{Space: "cifar10", Layers: make([]models.Layer, models.NumLayers)}
	for l := range a.Layers {
		a.Layers[l].Kernels = []int{3, 5, 7, 3}[:2+l%3]
	}
	archPath := filepath.Join(dir, "arch.json")
	if err := a.Save(archPath); err != nil {
		t.Fatal(err)
	}
	if msg, err := runExportCLI(t, archPath, "-o", filepath.Join(dir, "m.onnx"), "--supernet", ckpt); err != nil {
		t.Fatalf("export --supernet: %v\n%s", err, msg)
	}
	// Reverse, and a supernet's safetensors is refused as network weights.
	back := filepath.Join(dir, "back.safetensors")
	if out, err := runConvertCLI(t, ckpt, back); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	_, err = runExportCLI(t, archPath, "-o", filepath.Join(dir, "w.onnx"), "--weights", back)
	if err == nil || !strings.Contains(err.Error(), "weights of a supernet") {
		t.Fatalf("export --weights SUPERNET: %v", err)
	}
	// A standalone network's state dict is not a supernet.
	if _, err := runConvertCLI(t, back, filepath.Join(dir, "x.ckpt"), "--arch", archPath); err == nil {
		t.Fatal("converted a supernet with --arch")
	}
	if _, err := runConvertCLI(t, in, filepath.Join(dir, "y.ckpt"), "--se"); err == nil || !strings.Contains(err.Error(), "give --arch") {
		t.Fatalf("--se without --arch: %v", err)
	}
}

// TestExportSafetensorsWeights exports an architecture from a safetensors
// file: the same values as the seeded init give the same model, and a file
// whose metadata names another architecture is refused in one line.
func TestExportSafetensorsWeights(t *testing.T) {
	dir := t.TempDir()
	a := &models.Arch{Space: "cifar10", Layers: make([]models.Layer, models.NumLayers)}
	for l := range a.Layers {
		a.Layers[l].Kernels = []int{5, 3, 7}[:1+l%3]
	}
	archPath := filepath.Join(dir, "arch.json")
	if err := a.Save(archPath); err != nil {
		t.Fatal(err)
	}
	net, err := models.Build(a, models.DefaultOptions(models.MustSpace("cifar10")))
	if err != nil {
		t.Fatal(err)
	}
	sd := weights.Init(net.Tensors(), 11)
	st := filepath.Join(dir, "w.bin") // content decides, not the extension
	if err := weights.WriteSafetensors(st, sd, nil, weights.NetworkMetadata(net, "test")); err != nil {
		t.Fatal(err)
	}
	if msg, err := runExportCLI(t, archPath, "-o", filepath.Join(dir, "st.onnx"), "--weights", st); err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	if msg, err := runExportCLI(t, archPath, "-o", filepath.Join(dir, "seed.onnx"), "--seed", "11"); err != nil {
		t.Fatalf("%v\n%s", err, msg)
	}
	if !sameInitializers(t, filepath.Join(dir, "st.onnx"), filepath.Join(dir, "seed.onnx")) {
		t.Fatal("safetensors weights give another model than the same seeded values")
	}
	// Metadata naming another architecture.
	other := a.Clone()
	other.Layers[3].Kernels = []int{7, 7, 7, 7}
	onet, _ := models.Build(other, models.DefaultOptions(models.MustSpace("cifar10")))
	bad := filepath.Join(dir, "other.safetensors")
	if err := weights.WriteSafetensors(bad, sd, nil, weights.NetworkMetadata(onet, "test")); err != nil {
		t.Fatal(err)
	}
	_, err = runExportCLI(t, archPath, "-o", filepath.Join(dir, "x.onnx"), "--weights", bad)
	if err == nil || !strings.Contains(err.Error(), "metadata sgnas.arch is") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("want one metadata mismatch line, got %v", err)
	}
	// --act disagreeing with the file's metadata.
	_, err = runExportCLI(t, archPath, "-o", filepath.Join(dir, "y.onnx"), "--weights", st, "--act", "hswish")
	if err == nil || !strings.Contains(err.Error(), "metadata sgnas.act") {
		t.Fatalf("want an activation mismatch, got %v", err)
	}
}

// sameInitializers reports whether two ONNX files hold the same graph
// (nodes and initializers; metadata may differ).
func sameInitializers(t *testing.T, a, b string) bool {
	t.Helper()
	ma, err := onnx.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := onnx.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ma.GetGraph().GetInitializer()) == 0 {
		t.Fatal("no initializers")
	}
	return proto.Equal(ma.GetGraph(), mb.GetGraph())
}
