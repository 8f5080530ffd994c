package weights

import (
	"archive/zip"
	"encoding/binary"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/internal/testutil"
	"github.com/sgnas/sgnas/models"
)

// shared returns ../shared/rel..., skipping the test when it is absent.
func shared(t testing.TB, rel ...string) string { return testutil.Shared(t, rel...) }

func fixturePath(t testing.TB) string {
	return shared(t, "fixtures", "sgnas_c", "sgnas_c_state_dict.pth")
}

func generatorPath(t testing.TB) string {
	return shared(t, "pretrained", "imagenet", "best_avg.pth")
}

// rawZipFloats decodes a storage record of a zip checkpoint as little-endian
// float32, independently of gopickle.
func rawZipFloats(t *testing.T, path, record string) []float32 {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Name != record {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out
	}
	t.Fatalf("record %s not in %s", record, path)
	return nil
}

func TestLoadZipFixture(t *testing.T) {
	p := fixturePath(t)
	ck, err := LoadPTHWith(p, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ck.Key != "" {
		t.Errorf("key %q, want top level", ck.Key)
	}
	if n := len(ck.Tensors) + len(ck.Ints); n != 490 {
		t.Errorf("%d entries, want 490", n)
	}
	nbt := 0
	for name, it := range ck.Ints {
		if !strings.HasSuffix(name, ".num_batches_tracked") || len(it.Shape) != 0 || len(it.Data) != 1 {
			t.Errorf("int tensor %s shape %v", name, it.Shape)
		}
		nbt++
	}
	if nbt != 61 {
		t.Errorf("%d num_batches_tracked, want 61", nbt)
	}
	w, err := ck.Tensors.Get("first.conv.weight", 32, 3, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	// The first two storages are first.conv.weight and first.bn.weight.
	for rec, name := range map[string]string{"0": "first.conv.weight", "1": "first.bn.weight"} {
		raw := rawZipFloats(t, p, "sgnas_c_state_dict/data/"+rec)
		got := ck.Tensors[name]
		if len(raw) != len(got.Data) {
			t.Fatalf("%s: %d raw floats, %d loaded", name, len(raw), len(got.Data))
		}
		for i := range raw {
			if raw[i] != got.Data[i] {
				t.Fatalf("%s[%d] = %v, raw bytes say %v", name, i, got.Data[i], raw[i])
			}
		}
	}
	if w.Data[0] == 0 && w.Data[1] == 0 {
		t.Error("weights are zero")
	}
	pyCheck(t, p, "sd", ck.Tensors, []string{"first.conv.weight", "stages.10.point_wise.conv.weight", "classifier.1.bias", "last_stage.1.running_var"})
}

func TestLoadLegacyGenerator(t *testing.T) {
	p := generatorPath(t)
	ck, err := LoadPTHWith(p, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ck.Key != "model" {
		t.Errorf("key %q, want model", ck.Key)
	}
	if len(ck.Tensors) != 11 || ck.Tensors.NumParams() != 67969 {
		t.Errorf("%d tensors, %d params; want 11, 67969", len(ck.Tensors), ck.Tensors.NumParams())
	}
	if _, err := ck.Tensors.Get("hc_head.0.conv.weight", 32, 10, 3, 3); err != nil {
		t.Error(err)
	}
	if _, err := ck.Tensors.Get("tail.0.bias", 1); err != nil {
		t.Error(err)
	}
	// Explicit key selection and a missing key.
	if _, err := LoadPTHWith(p, LoadOptions{Key: "model"}); err != nil {
		t.Error(err)
	}
	if _, err := LoadPTHWith(p, LoadOptions{Key: "state_dict_ema"}); err == nil || !strings.Contains(err.Error(), "state_dict_ema") {
		t.Errorf("missing key: err %v", err)
	}
	pyCheck(t, p, "sd['model']", ck.Tensors, []string{"hc_head.0.conv.weight", "body.block3.conv.weight", "tail.0.weight", "tail.0.bias"})
}

// pyCheck compares sums and a few elements of tensors with PyTorch's own
// loader when /usr/bin/python3 has torch.
func pyCheck(t *testing.T, path, expr string, sd StateDict, names []string) {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import torch").Run(); err != nil {
		t.Log("python3 with torch unavailable; skipping the PyTorch cross-check")
		return
	}
	script := "import torch,sys\nsd=torch.load(sys.argv[1],map_location='cpu')\nsd=" + expr + "\n" +
		"for n in sys.argv[2:]:\n  x=sd[n].double().flatten()\n  print(n, repr(float(x.sum())), repr(float(x[-1])))\n"
	out, err := exec.Command("/usr/bin/python3", append([]string{"-c", script, path}, names...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("python output %q", line)
		}
		sum, _ := strconv.ParseFloat(f[1], 64)
		last, _ := strconv.ParseFloat(f[2], 64)
		x := sd[f[0]]
		var s float64
		for _, v := range x.Data {
			s += float64(v)
		}
		if math.Abs(s-sum) > 1e-9*math.Max(1, math.Abs(sum)) || float64(x.Data[len(x.Data)-1]) != last {
			t.Errorf("%s: sum %v last %v; torch says %v %v", f[0], s, x.Data[len(x.Data)-1], sum, last)
		}
	}
}

func TestTruncated(t *testing.T) {
	for _, p := range []string{fixturePath(t), generatorPath(t)} {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, frac := range []float64{0.001, 0.5, 0.9, 0.999} {
			cut := filepath.Join(t.TempDir(), "cut.pth")
			if err := os.WriteFile(cut, data[:int(float64(len(data))*frac)], 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadPTH(cut)
			if err == nil {
				t.Errorf("%s cut at %.3f: no error", filepath.Base(p), frac)
				continue
			}
			if !strings.Contains(err.Error(), cut) || !strings.Contains(err.Error(), "corrupt") {
				t.Errorf("%s cut at %.3f: unclear error %v", filepath.Base(p), frac, err)
			}
		}
	}
	notPTH := filepath.Join(t.TempDir(), "x.pth")
	os.WriteFile(notPTH, []byte(`{"json": true}`), 0o644)
	if _, err := LoadPTH(notPTH); err == nil || !strings.Contains(err.Error(), notPTH) {
		t.Errorf("json file: %v", err)
	}
	if _, err := LoadPTH(filepath.Join(t.TempDir(), "missing.pth")); err == nil {
		t.Error("missing file: no error")
	}
}

func sgnasCNetwork(t *testing.T) *models.Network {
	t.Helper()
	a, err := models.LoadArch(shared(t, "fixtures", "sgnas_c", "sgnas_c_arch.json"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := models.Build(a, models.Options{Space: models.MustSpace("imagenet"), Classes: 1000, SE: true, Act: models.HSwish})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMatch(t *testing.T) {
	sd, err := LoadPTH(fixturePath(t))
	if err != nil {
		t.Fatal(err)
	}
	specs := sgnasCNetwork(t).Tensors()
	if err := Match(sd, specs, false); err != nil {
		t.Fatalf("fixture does not match its network: %v", err)
	}
	bad := StateDict{}
	for k, v := range sd {
		bad[k] = v
	}
	delete(bad, "stages.3.point_wise.conv.weight")
	bad["first.bn.bias"] = NewTensor(31)
	bad["extra.weight"] = NewTensor(2, 2)
	bad["first.bn.num_batches_tracked"] = NewTensor() // tolerated by name
	err = Match(bad, specs, false)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{"3 problems", "missing stages.3.point_wise.conv.weight", "first.bn.bias: shape [31], expected [32]", "unexpected extra.weight (shape [2 2])"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if err := Match(bad, specs, true); err == nil || strings.Contains(err.Error(), "extra.weight") {
		t.Errorf("allowUnexpected: %v", err)
	}
	// Many problems are capped.
	err = Match(StateDict{}, specs, false)
	if err == nil || !strings.Contains(err.Error(), "more") || strings.Count(err.Error(), "missing") != maxProblems {
		t.Errorf("cap: %v", err)
	}
}

func TestInit(t *testing.T) {
	specs := sgnasCNetwork(t).Tensors()
	a := Init(specs, 7)
	if err := Match(a, specs, false); err != nil {
		t.Fatal(err)
	}
	b := Init(specs[len(specs)/2:], 7) // a subset: shared tensors must be identical
	for name, tb := range b {
		ta := a[name]
		for i := range tb.Data {
			if ta.Data[i] != tb.Data[i] {
				t.Fatalf("%s differs when other tensors are absent", name)
			}
		}
	}
	c := Init(specs[:1], 8)
	if c[specs[0].Name].Data[0] == a[specs[0].Name].Data[0] {
		t.Error("seed does not change the weights")
	}
	for _, s := range specs {
		x := a[s.Name].Data
		var mean, sq float64
		for _, v := range x {
			mean += float64(v)
			sq += float64(v) * float64(v)
		}
		mean /= float64(len(x))
		std := math.Sqrt(sq/float64(len(x)) - mean*mean)
		switch s.Kind {
		case models.ConvWeight, models.LinearWeight:
			want := 0.01
			if s.Kind == models.ConvWeight {
				want = math.Sqrt(2 / float64(s.Shape[0]*s.Shape[2]*s.Shape[3]))
			}
			if len(x) >= 2000 && (math.Abs(std-want) > 0.06*want || math.Abs(mean) > 0.1*want) {
				t.Errorf("%s: mean %.4g std %.4g, want 0, %.4g", s.Name, mean, std, want)
			}
		case models.BNWeight, models.BNVar:
			if mean != 1 || std != 0 {
				t.Errorf("%s: not all ones", s.Name)
			}
		default:
			if mean != 0 || std != 0 {
				t.Errorf("%s: not all zeros", s.Name)
			}
		}
	}
}

// TestTorchWritten checks views, dtypes, EMA selection and "module." prefixes
// on small checkpoints PyTorch writes in both formats (skipped without torch).
func TestTorchWritten(t *testing.T) {
	testutil.RequirePython(t, "torch")
	dir := t.TempDir()
	script := `
import torch,sys
base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
sd = {"module.t": base.t(), "module.sl": base[1:3, 2:5], "module.d": torch.tensor([1.5, -2.25], dtype=torch.float64),
      "module.h": torch.tensor([0.5, 3.0], dtype=torch.float16), "module.n": torch.tensor(7)}
ema = {"w": torch.ones(2)}
for i, zip_ in enumerate([True, False]):
    torch.save({"state_dict": sd, "state_dict_ema": ema, "epoch": 3}, sys.argv[1] + "/ck%d.pth" % i, _use_new_zipfile_serialization=zip_)
`
	if out, err := exec.Command("/usr/bin/python3", "-c", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	for i := 0; i < 2; i++ {
		p := filepath.Join(dir, "ck"+strconv.Itoa(i)+".pth")
		sd, err := LoadPTH(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(sd) != 1 || sd["w"] == nil {
			t.Errorf("format %d: EMA not preferred: %v", i, sd.Names())
		}
		ck, err := LoadPTHWith(p, LoadOptions{NoEMA: true})
		if err != nil {
			t.Fatal(err)
		}
		if ck.Key != "state_dict" {
			t.Errorf("format %d: key %q", i, ck.Key)
		}
		want := map[string][]float32{
			"t":  {0, 6, 12, 18, 1, 7, 13, 19, 2, 8, 14, 20, 3, 9, 15, 21, 4, 10, 16, 22, 5, 11, 17, 23},
			"sl": {8, 9, 10, 14, 15, 16},
			"d":  {1.5, -2.25},
			"h":  {0.5, 3},
		}
		for name, w := range want {
			got := ck.Tensors[name]
			if got == nil || len(got.Data) != len(w) {
				t.Fatalf("format %d: %s = %+v", i, name, got)
			}
			for j := range w {
				if got.Data[j] != w[j] {
					t.Errorf("format %d: %s = %v, want %v", i, name, got.Data, w)
					break
				}
			}
		}
		if n := ck.Ints["n"]; n == nil || n.Data[0] != 7 {
			t.Errorf("format %d: int tensor n = %+v", i, n)
		}
	}
}
