package onnx

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sgnas/sgnas/internal/testutil"
)

// tinyCNN builds Conv(3->4, k3, pad1) -> Relu -> GlobalAveragePool ->
// Flatten -> Gemm(4->5) with a dynamic batch dimension.
func tinyCNN() *ModelProto {
	g := NewGraph("tiny")
	g.AddInput("input", "batch", 3, 8, 8)
	w := make([]float32, 4*3*3*3)
	for i := range w {
		w[i] = float32(i%7)*0.1 - 0.3
	}
	g.AddInitializer("conv.weight", []int64{4, 3, 3, 3}, w)
	g.AddInitializer("conv.bias", []int64{4}, []float32{0.1, -0.2, 0.3, 0})
	fc := make([]float32, 5*4)
	for i := range fc {
		fc[i] = float32(i) * 0.05
	}
	g.AddInitializer("fc.weight", []int64{5, 4}, fc)
	g.AddInitializer("fc.bias", []int64{5}, []float32{1, 2, 3, 4, 5})
	g.AddInitializerInt64("unused.shape", []int64{2}, []int64{-1, 4})
	g.AddNode("Conv", []string{"input", "conv.weight", "conv.bias"}, []string{"c1"},
		AttrInts("kernel_shape", 3, 3), AttrInts("pads", 1, 1, 1, 1), AttrInts("strides", 1, 1), AttrInt("group", 1))
	g.AddNode("Relu", []string{"c1"}, []string{"r1"})
	g.AddNode("GlobalAveragePool", []string{"r1"}, []string{"p1"})
	g.AddNode("Flatten", []string{"p1"}, []string{"f1"}, AttrInt("axis", 1))
	g.AddNode("Gemm", []string{"f1", "fc.weight", "fc.bias"}, []string{"logits"},
		AttrFloat("alpha", 1), AttrFloat("beta", 1), AttrInt("transB", 1))
	g.AddOutput("logits", "batch", 5)
	// Unused initializers are legal but noisy; drop it before writing.
	gp := g.Graph()
	gp.Initializer = gp.Initializer[:4]
	return NewModel(gp, 17, "sgnas-test", "0.0.1", map[string]string{"zeta": "last", "arch": "k3", "space": "imagenet"})
}

func TestRoundTripAndMetadata(t *testing.T) {
	m := tinyCNN()
	if got := m.GetMetadataProps(); got[0].Key != "arch" || got[1].Key != "space" || got[2].Key != "zeta" {
		t.Fatalf("metadata not sorted: %v", got)
	}
	names := []string{}
	for _, n := range m.Graph.Node {
		names = append(names, n.Name)
	}
	if strings.Join(names, ",") != "Conv_0,Relu_0,GlobalAveragePool_0,Flatten_0,Gemm_0" {
		t.Fatalf("node names %v", names)
	}
	p := filepath.Join(t.TempDir(), "sub", "tiny.onnx")
	if err := WriteFile(p, m); err != nil {
		t.Fatal(err)
	}
	back, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m, back) {
		t.Fatal("read-back model differs from written model")
	}
	md := Metadata(back)
	if md["space"] != "imagenet" || md["arch"] != "k3" || len(md) != 3 {
		t.Fatalf("metadata %v", md)
	}
	w, err := FloatData(back.Graph.Initializer[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 108 || w[1] != float32(1)*0.1-0.3 {
		t.Fatalf("initializer data %v", w[:3])
	}
	if back.IrVersion != 8 || back.OpsetImport[0].Version != 17 || back.OpsetImport[0].Domain != "" {
		t.Fatalf("ir/opset %d %v", back.IrVersion, back.OpsetImport)
	}
	dims := back.Graph.Input[0].GetType().GetTensorType().GetShape().GetDim()
	if dims[0].GetDimParam() != "batch" || dims[1].GetDimValue() != 3 {
		t.Fatalf("input dims %v", dims)
	}
	b1, _ := Marshal(m)
	b2, _ := Marshal(back)
	if string(b1) != string(b2) {
		t.Fatal("marshal is not deterministic across a round trip")
	}
}

func TestUniqueNodeNames(t *testing.T) {
	g := NewGraph("g")
	seen := map[string]bool{}
	for i, op := range []string{"Relu", "Conv", "Relu", "Relu", "Conv"} {
		n := g.AddNode(op, []string{"x"}, []string{"y"})
		if seen[n.Name] || !strings.HasPrefix(n.Name, op+"_") {
			t.Fatalf("node %d: name %q duplicate or not derived from %s", i, n.Name, op)
		}
		seen[n.Name] = true
	}
	if len(g.Graph().Node) != 5 {
		t.Fatalf("%d nodes", len(g.Graph().Node))
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadFile(filepath.Join(dir, "missing.onnx"))
	if err == nil || !strings.Contains(err.Error(), "missing.onnx") || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("missing file error: %v", err)
	}
	for name, data := range map[string][]byte{
		"empty.onnx":   {},
		"garbage.onnx": []byte("this is not a protobuf \xff\xff\xff\xff"),
		"json.onnx":    []byte(`{"ir_version": 8}`),
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o644)
		_, err := ReadFile(p)
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "not an ONNX model") {
			t.Fatalf("%s: error %v", name, err)
		}
	}
}

func TestPanicsOnBadLength(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), "w") {
			t.Fatalf("want panic, got %v", r)
		}
	}()
	NewGraph("g").AddInitializer("w", []int64{2, 2}, []float32{1, 2, 3})
}

// TestPythonChecker validates the written file with the reference ONNX
// checker and reads the metadata back through the official schema, which
// proves the field numbers match. Skipped when python3-onnx is absent.
func TestPythonChecker(t *testing.T) {
	py := testutil.Python
	testutil.RequirePython(t, "onnx")
	p := filepath.Join(t.TempDir(), "tiny.onnx")
	if err := WriteFile(p, tinyCNN()); err != nil {
		t.Fatal(err)
	}
	script := `
import sys, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
md = {p.key: p.value for p in m.metadata_props}
assert md == {"zeta": "last", "arch": "k3", "space": "imagenet"}, md
assert [n.op_type for n in m.graph.node] == ["Conv","Relu","GlobalAveragePool","Flatten","Gemm"]
w = numpy_helper.to_array(m.graph.initializer[0])
assert w.shape == (4,3,3,3) and abs(float(w.flatten()[1]) - (0.1-0.3)) < 1e-6, w.flatten()[:3]
a = {x.name: x for x in m.graph.node[0].attribute}
assert list(a["pads"].ints) == [1,1,1,1] and a["group"].i == 1
g = {x.name: x for x in m.graph.node[4].attribute}
assert g["alpha"].f == 1.0 and g["transB"].i == 1
d = m.graph.input[0].type.tensor_type.shape.dim
assert d[0].dim_param == "batch" and d[1].dim_value == 3
# byte-exact: re-serializing through the official schema gives the same bytes
assert m.SerializeToString() == open(sys.argv[1], "rb").read(), "bytes differ"
print("ok")
`
	out, err := exec.Command(py, "-c", script, p).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("python onnx check failed: %v\n%s", err, out)
	}
}
