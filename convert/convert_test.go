package convert

import (
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/internal/testutil"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/supernetckpt"
	"github.com/sgnas/sgnas/weights"
)

// authorsSupernet returns a seeded supernet state dict of space as the
// authors' DDP training saves it: "module." prefixes, the skip candidates
// and BN num_batches_tracked.
func authorsSupernet(space *models.Space, classes int) (weights.StateDict, map[string]*weights.IntTensor, weights.StateDict) {
	clean := weights.Init(supernetckpt.Tensors(space, classes), 7)
	sd := weights.StateDict{}
	ints := map[string]*weights.IntTensor{}
	for n, t := range clean {
		sd["module."+n] = t
		if strings.HasSuffix(n, ".running_var") {
			ints["module."+strings.TrimSuffix(n, "running_var")+"num_batches_tracked"] = &weights.IntTensor{Shape: []int{}, Data: []int64{42}}
		}
	}
	for l, spec := range space.Layers {
		for b := 0; b < models.NumGroups; b++ {
			sd[fmt.Sprintf("module.stages.%d.depthwise.blocks.%d.blocks.3.weight", l, b)] = weights.NewTensor(spec.In, spec.In, 1, 1)
		}
	}
	return sd, ints, clean
}

func sameTensors(t *testing.T, what string, got, want weights.StateDict) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d tensors, want %d", what, len(got), len(want))
	}
	for n, w := range want {
		g := got[n]
		if g == nil || fmt.Sprint(g.Shape) != fmt.Sprint(w.Shape) {
			t.Fatalf("%s: tensor %s: %v, want shape %v", what, n, g, w.Shape)
		}
		for i := range w.Data {
			if math.Float32bits(g.Data[i]) != math.Float32bits(w.Data[i]) {
				t.Fatalf("%s: %s[%d] = %v, want %v", what, n, i, g.Data[i], w.Data[i])
			}
		}
	}
}

func TestSupernetRoundTrip(t *testing.T) {
	dir := t.TempDir()
	space := models.MustSpace("cifar10")
	sd, ints, clean := authorsSupernet(space, 10)
	in := filepath.Join(dir, "authors.safetensors")
	if err := weights.WriteSafetensors(in, sd, ints, nil); err != nil {
		t.Fatal(err)
	}
	// No space anywhere: one clear line.
	if _, err := Convert(in, filepath.Join(dir, "x.ckpt"), Options{}); err == nil || !strings.Contains(err.Error(), "give --space") {
		t.Fatalf("want a --space error, got %v", err)
	}
	ckpt := filepath.Join(dir, "supernet.ckpt")
	res, err := Convert(in, ckpt, Options{Space: "cifar10", Dataset: "synthetic"})
	if err != nil {
		t.Fatal(err)
	}
	if res.From != Safetensors || res.To != Supernet || res.Kind != weights.MetaKindSupernet || len(res.Dropped) != 19*6+len(ints) {
		t.Fatalf("result %+v (%d dropped)", res, len(res.Dropped))
	}
	sn, err := supernetckpt.Load(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if sn.Space.Name != "cifar10" || sn.Classes != 10 {
		t.Fatalf("supernet %s/%d", sn.Space.Name, sn.Classes)
	}
	sameTensors(t, "checkpoint", sn.Weights, clean)

	// Reverse: checkpoint → safetensors, with supernet metadata.
	st := filepath.Join(dir, "back.safetensors")
	if _, err := Convert(ckpt, st, Options{Producer: "sgnas test"}); err != nil {
		t.Fatal(err)
	}
	ck, err := weights.LoadFile(st)
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, "safetensors", ck.Tensors, clean)
	for k, v := range map[string]string{weights.MetaKind: "supernet", weights.MetaSpace: "cifar10", weights.MetaClasses: "10", weights.MetaProducer: "sgnas test", weights.MetaAct: "relu6"} {
		if ck.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, ck.Metadata[k], v)
		}
	}
	// ... which converts back without --space (the metadata names it).
	if _, err := Convert(st, filepath.Join(dir, "again.ckpt"), Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Convert(st, filepath.Join(dir, "again2.ckpt"), Options{Space: "imagenet"}); err == nil || !strings.Contains(err.Error(), "says its space is cifar10") {
		t.Fatalf("want a space conflict, got %v", err)
	}
}

func TestConvertErrors(t *testing.T) {
	dir := t.TempDir()
	space := models.MustSpace("cifar10")
	net := mustNet(t, "cifar10", 0)
	a := net.Arch
	standalone := filepath.Join(dir, "net.safetensors")
	if err := weights.WriteSafetensors(standalone, weights.Init(net.Tensors(), 1), nil, nil); err != nil {
		t.Fatal(err)
	}
	sd, _, _ := authorsSupernet(space, 10)
	delete(sd, "module.stages.3.sbn.2.running_var")
	sd["module.extra.weight"] = weights.NewTensor(2)
	broken := filepath.Join(dir, "broken.safetensors")
	if err := weights.WriteSafetensors(broken, sd, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		in, out string
		opts    Options
		want    string
	}{
		{standalone, "s.ckpt", Options{Space: "cifar10"}, "not a unified supernet state dict"},
		{broken, "b.ckpt", Options{Space: "cifar10"}, "missing stages.3.sbn.2.running_var"},
		{broken, "b.ckpt", Options{Space: "cifar10"}, "unexpected extra.weight"},
		{standalone, "s.pth", Options{}, "writing .pth is not supported"},
		{standalone, "s.bin", Options{}, "cannot tell the format"},
		{standalone, "s.x", Options{To: "onnx"}, `--to "onnx"`},
		{standalone, "net.safetensors", Options{}, "same file"},
		{filepath.Join(dir, "missing.pth"), "m.safetensors", Options{}, "no such file"},
		{standalone, "w.safetensors", Options{Network: mustNet(t, "cifar10", 3)}, "state dict does not match the network"},
	} {
		_, err := Convert(c.in, filepath.Join(dir, c.out), c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s → %s: error %v, want one line with %q", filepath.Base(c.in), c.out, err, c.want)
		}
	}
	// With the right network the metadata records it.
	out := filepath.Join(dir, "ok.safetensors")
	if _, err := Convert(standalone, out, Options{Network: net, Producer: "p"}); err != nil {
		t.Fatal(err)
	}
	ck, err := weights.LoadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Metadata[weights.MetaArch] != a.String() || ck.Metadata[weights.MetaKind] != "network" {
		t.Fatalf("metadata %v", ck.Metadata)
	}
	if err := weights.CheckNetworkMetadata(ck.Metadata, mustNet(t, "cifar10", 3)); err == nil || !strings.Contains(err.Error(), "sgnas.arch") {
		t.Fatalf("another architecture passed the metadata check: %v", err)
	}
}

func mustNet(t *testing.T, space string, seed uint64) *models.Network {
	t.Helper()
	a := &models.Arch{Space: space, Layers: make([]models.Layer, models.NumLayers)}
	for l := range a.Layers {
		a.Layers[l].Kernels = []int{7, 5, 3, 3, 5, 7}[:1+(l+int(seed))%6]
	}
	net, err := models.Build(a, models.DefaultOptions(models.MustSpace(space)))
	if err != nil {
		t.Fatal(err)
	}
	return net
}

// TestAuthorsPTH saves a supernet state dict with torch the way the
// authors' DDP training does ({"model": state_dict} with "module." names
// and the skip candidates) and converts it into a supernet checkpoint.
func TestAuthorsPTH(t *testing.T) {
	testutil.RequirePython(t, "torch", "numpy")
	dir := t.TempDir()
	space := models.MustSpace("cifar10")
	sd, _, clean := authorsSupernet(space, 10)
	st := filepath.Join(dir, "src.safetensors")
	if err := weights.WriteSafetensors(st, sd, nil, nil); err != nil {
		t.Fatal(err)
	}
	pth := filepath.Join(dir, "checkpoint.pth")
	script := `
import json, struct, sys, collections
import numpy as np, torch
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
h = json.loads(raw[8:8 + n]); h.pop("__metadata__", None)
sd = collections.OrderedDict()
for k in sorted(h):
    b, e = h[k]["data_offsets"]
    sd[k] = torch.from_numpy(np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4").reshape(h[k]["shape"]).copy())
    if k.endswith("running_var"):
        sd[k[:-len("running_var")] + "num_batches_tracked"] = torch.tensor(9)
torch.save({"model": sd, "epoch": 3}, sys.argv[2])
`
	if out, err := exec.Command(testutil.Python, "-c", script, st, pth).CombinedOutput(); err != nil {
		t.Fatalf("torch.save: %v\n%s", err, out)
	}
	ckpt := filepath.Join(dir, "supernet.ckpt")
	res, err := Convert(pth, ckpt, Options{Space: "cifar10"})
	if err != nil {
		t.Fatal(err)
	}
	if res.From != PTH {
		t.Fatalf("from %s", res.From)
	}
	sn, err := supernetckpt.Load(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, "from .pth", sn.Weights, clean)
}
