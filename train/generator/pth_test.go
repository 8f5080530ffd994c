package generator

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	gen "github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/internal/testutil"
	"github.com/sgnas/sgnas/weights"
)

func TestSavePTHRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.pth")
	n := NewNet(11)
	n.bias.Value.Data[0] = 0.125
	sd := n.StateDict()
	lr := 0.001
	opt := weights.StateDict{"step": {Shape: []int{1}, Data: []float32{7}}, "x.exp_avg": {Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, -6}}}
	err := SavePTH(path, []PTHEntry{
		{Key: "model", Tensors: sd},
		{Key: "optimzier", Tensors: opt},
		{Key: "meta", Scalars: map[string]float64{"epoch": 12, "big": 1 << 40}},
		{Key: "lr", Float: &lr},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The inference loader reads it unchanged: same scores as the state dict.
	g, err := gen.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := gen.FromStateDict(sd)
	if err != nil {
		t.Fatal(err)
	}
	prior := randomPrior(5)
	if got, want := g.Forward(prior, []float64{0.3}), ref.Forward(prior, []float64{0.3}); got[0] != want[0] {
		t.Errorf("loaded generator scores differ from the saved state dict's")
	}
	got, err := weights.LoadPTH(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range sd {
		gt := got[name]
		if gt == nil || len(gt.Data) != len(want.Data) || gt.ShapeString() != want.ShapeString() {
			t.Fatalf("%s: read %v, want shape %v", name, gt, want.Shape)
		}
		for i := range want.Data {
			if gt.Data[i] != want.Data[i] {
				t.Fatalf("%s[%d] = %g, want %g", name, i, gt.Data[i], want.Data[i])
			}
		}
	}
	ck, err := weights.LoadPTHWith(path, weights.LoadOptions{Key: "optimzier"})
	if err != nil {
		t.Fatal(err)
	}
	if ck.Tensors["x.exp_avg"].Data[5] != -6 || ck.Tensors["step"].Data[0] != 7 {
		t.Errorf("optimizer state read back as %v", ck.Tensors)
	}
	if strings.Join(ck.TopKeys, ",") != "model,optimzier,meta,lr" {
		t.Errorf("top-level keys %v", ck.TopKeys)
	}
	meta, err := readMeta(path)
	if err != nil {
		t.Fatal(err)
	}
	if meta["epoch"] != 12 || meta["big"] != 1<<40 {
		t.Errorf("meta read back as %v", meta)
	}
}

// TestSavePTHTorch loads the file with PyTorch when available.
func TestSavePTHTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: PyTorch cross-check (long: starts torch)")
	}
	py := testutil.Python
	testutil.RequirePython(t, "torch")
	path := filepath.Join(t.TempDir(), "g.pth")
	n := NewNet(2)
	n.bias.Value.Data[0] = -0.5
	if err := SavePTH(path, []PTHEntry{
		{Key: "model", Tensors: n.StateDict(), Order: tensorOrder()},
		{Key: "meta", Scalars: map[string]float64{"epoch": 3}},
	}); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, torch
ck = torch.load(sys.argv[1], map_location="cpu")
sd = ck["model"]
print(list(sd.keys())[0], list(sd.keys())[-1], sum(v.numel() for v in sd.values()),
      float(sd["tail.0.bias"][0]), float(sd["head.conv.weight"][3, 4, 1, 2]), int(ck["meta"]["epoch"]),
      tuple(sd["hc_head.0.conv.weight"].shape))
`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("torch.load: %v\n%s", err, out)
	}
	w := n.StateDict()["head.conv.weight"].Data[((3*32+4)*3+1)*3+2]
	fields := strings.Fields(string(out))
	if len(fields) < 9 || fields[0] != "hc_head.0.conv.weight" || fields[1] != "tail.0.bias" || fields[2] != "67969" ||
		fields[3] != "-0.5" || fields[5] != "3" || strings.Join(fields[6:], "") != "(32,10,3,3)" {
		t.Fatalf("torch read %q", out)
	}
	if v, err := strconv.ParseFloat(fields[4], 64); err != nil || v != float64(w) {
		t.Errorf("torch read head weight %s, want %v", fields[4], float64(w))
	}
	_ = os.Remove(path)
}
