package infer

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/internal/npy"
	"github.com/sgnas/sgnas/internal/testutil"
	"github.com/sgnas/sgnas/onnx"
	"github.com/sgnas/sgnas/tensor"
)

func needORT(t testing.TB) {
	t.Helper()
	// orttest.Need, which this package's tests cannot import.
	if os.Getenv("SGNAS_SKIP_ORT") == "1" {
		testutil.Require(t, "ONNX Runtime", errors.New("tests skipped by SGNAS_SKIP_ORT=1"))
	}
	if err := Init(""); err != nil {
		t.Fatalf("ONNX Runtime: %v", err)
	}
}

// tinyWeights are the fixed weights of the test CNN:
// Conv(C=2 -> 3, k3, pad 1, stride 1) -> Relu -> GlobalAveragePool ->
// Flatten -> Gemm(3 -> 4, transB).
type tinyWeights struct {
	cw, cb, fw, fb []float32
}

const tinyC, tinyH, tinyW, tinyK, tinyO = 2, 5, 6, 3, 4

func newTinyWeights() tinyWeights {
	w := tinyWeights{
		cw: make([]float32, tinyK*tinyC*3*3),
		cb: []float32{0.05, -0.1, 0.2},
		fw: make([]float32, tinyO*tinyK),
		fb: []float32{0.5, -0.25, 0, 1},
	}
	for i := range w.cw {
		w.cw[i] = float32(math.Sin(float64(i)*0.7)) * 0.5
	}
	for i := range w.fw {
		w.fw[i] = float32(math.Cos(float64(i)*1.3)) * 0.8
	}
	return w
}

// writeTinyModel writes the test CNN with a dynamic batch dimension.
func writeTinyModel(t testing.TB, dir string) string {
	w := newTinyWeights()
	g := onnx.NewGraph("tiny")
	g.AddInput("input", "batch", tinyC, tinyH, tinyW)
	g.AddInitializer("conv.weight", []int64{tinyK, tinyC, 3, 3}, w.cw)
	g.AddInitializer("conv.bias", []int64{tinyK}, w.cb)
	g.AddInitializer("fc.weight", []int64{tinyO, tinyK}, w.fw)
	g.AddInitializer("fc.bias", []int64{tinyO}, w.fb)
	g.AddNode("Conv", []string{"input", "conv.weight", "conv.bias"}, []string{"c"},
		onnx.AttrInts("kernel_shape", 3, 3), onnx.AttrInts("pads", 1, 1, 1, 1))
	g.AddNode("Relu", []string{"c"}, []string{"r"})
	g.AddNode("GlobalAveragePool", []string{"r"}, []string{"p"})
	g.AddNode("Flatten", []string{"p"}, []string{"f"}, onnx.AttrInt("axis", 1))
	g.AddNode("Gemm", []string{"f", "fc.weight", "fc.bias"}, []string{"logits"}, onnx.AttrInt("transB", 1))
	g.AddOutput("logits", "batch", tinyO)
	p := filepath.Join(dir, "tiny.onnx")
	if err := onnx.WriteFile(p, onnx.NewModel(g.Graph(), 17, "sgnas-test", "0", nil)); err != nil {
		t.Fatal(err)
	}
	return p
}

// referenceTiny computes the test CNN directly in float64.
func referenceTiny(x *tensor.Tensor) []float64 {
	w := newTinyWeights()
	n := int(x.Shape[0])
	out := make([]float64, n*tinyO)
	at := func(b, c, i, j int) float64 {
		if i < 0 || j < 0 || i >= tinyH || j >= tinyW {
			return 0
		}
		return float64(x.Data[((b*tinyC+c)*tinyH+i)*tinyW+j])
	}
	for b := 0; b < n; b++ {
		pooled := make([]float64, tinyK)
		for k := 0; k < tinyK; k++ {
			sum := 0.0
			for i := 0; i < tinyH; i++ {
				for j := 0; j < tinyW; j++ {
					v := float64(w.cb[k])
					for c := 0; c < tinyC; c++ {
						for di := 0; di < 3; di++ {
							for dj := 0; dj < 3; dj++ {
								v += float64(w.cw[((k*tinyC+c)*3+di)*3+dj]) * at(b, c, i+di-1, j+dj-1)
							}
						}
					}
					sum += math.Max(v, 0)
				}
			}
			pooled[k] = sum / float64(tinyH*tinyW)
		}
		for o := 0; o < tinyO; o++ {
			v := float64(w.fb[o])
			for k := 0; k < tinyK; k++ {
				v += float64(w.fw[o*tinyK+k]) * pooled[k]
			}
			out[b*tinyO+o] = v
		}
	}
	return out
}

func tinyInput(batch int) *tensor.Tensor {
	x := tensor.New(batch, tinyC, tinyH, tinyW)
	for i := range x.Data {
		x.Data[i] = float32(math.Sin(float64(i)*0.37+1)) * 2
	}
	return x
}

func TestRunMatchesReference(t *testing.T) {
	needORT(t)
	if !versionAtLeast(Version(), MinORTVersion) {
		t.Fatalf("loaded version %q", Version())
	}
	model := writeTinyModel(t, t.TempDir())
	for _, opt := range []int{0, 99} {
		s, err := NewSession(model, SessionOptions{EP: "cpu", IntraOpThreads: 1, OptLevel: opt})
		if err != nil {
			t.Fatal(err)
		}
		if in := s.Inputs(); len(in) != 1 || in[0].Name != "input" || npy.FormatShape(in[0].Shape) != "?x2x5x6" {
			t.Fatalf("inputs %+v", in)
		}
		if out := s.Outputs(); len(out) != 1 || out[0].Name != "logits" || npy.FormatShape(out[0].Shape) != "?x4" {
			t.Fatalf("outputs %+v", out)
		}
		for _, batch := range []int{1, 3} {
			x := tinyInput(batch)
			outs, err := s.Run(context.Background(), x)
			if err != nil {
				t.Fatal(err)
			}
			y := outs[0]
			if npy.FormatShape(y.Shape) != npy.FormatShape([]int64{int64(batch), tinyO}) {
				t.Fatalf("output shape %v", y.Shape)
			}
			ref := referenceTiny(x)
			refArr := &tensor.Tensor{Shape: y.Shape, Data: make([]float32, len(ref))}
			for i, v := range ref {
				refArr.Data[i] = float32(v)
			}
			d, err := MaxAbsDiff(y, refArr)
			if err != nil {
				t.Fatal(err)
			}
			if d > 1e-5 {
				t.Fatalf("opt %d batch %d: max abs diff %g vs reference", opt, batch, d)
			}
			got, want := ArgmaxRows(y), ArgmaxRows(refArr)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("argmax %v want %v", got, want)
				}
			}
		}
		// Cancellable context path gives the same answer.
		ctx, cancel := context.WithCancel(context.Background())
		outs, err := s.Run(ctx, tinyInput(2))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(outs[0].Data) != 2*tinyO {
			t.Fatalf("cancellable run: %v", outs[0].Shape)
		}
		if _, err := s.Run(ctx, tinyInput(2)); err == nil || !strings.Contains(err.Error(), "canceled") {
			t.Fatalf("cancelled ctx: %v", err)
		}
		s.Close()
		s.Close()
		if _, err := s.Run(context.Background(), tinyInput(1)); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Fatalf("run after close: %v", err)
		}
	}
}

func TestBadInputs(t *testing.T) {
	needORT(t)
	dir := t.TempDir()
	model := writeTinyModel(t, dir)

	_, err := NewSession(filepath.Join(dir, "missing.onnx"), DefaultSessionOptions())
	wantErr(t, err, "missing.onnx", "does not exist")

	corrupt := filepath.Join(dir, "corrupt.onnx")
	os.WriteFile(corrupt, []byte("definitely not protobuf \xff\xff\xff"), 0o644)
	_, err = NewSession(corrupt, DefaultSessionOptions())
	wantErr(t, err, "corrupt.onnx", "not an ONNX model")

	// Valid protobuf, invalid graph: ORT itself must refuse it.
	g := onnx.NewGraph("bad")
	g.AddInput("x", 1, 3)
	g.AddNode("NoSuchOp", []string{"x"}, []string{"y"})
	g.AddOutput("y", 1, 3)
	badop := filepath.Join(dir, "badop.onnx")
	onnx.WriteFile(badop, onnx.NewModel(g.Graph(), 17, "t", "0", nil))
	_, err = NewSession(badop, DefaultSessionOptions())
	wantErr(t, err, "badop.onnx", "could not load", "NoSuchOp")

	s, err := NewSession(model, DefaultSessionOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Run(context.Background(), tensor.New(1, 3, tinyH, tinyW))
	wantErr(t, err, `input "input"`, "expected shape ?x2x5x6", "got 1x3x5x6")
	_, err = s.Run(context.Background(), tensor.New(1, tinyC, tinyH))
	wantErr(t, err, `input "input"`, "got 1x2x5")
	_, err = s.Run(context.Background())
	wantErr(t, err, "takes 1 input", "got 0")
	_, err = s.Run(context.Background(), &tensor.Tensor{Shape: []int{1, tinyC, tinyH, tinyW}, Data: make([]float32, 5)})
	wantErr(t, err, "5 values")

	_, err = NewSession(model, SessionOptions{EP: "tpu", OptLevel: 99})
	wantErr(t, err, `"tpu"`, "cpu or cuda")
	_, err = NewSession(model, SessionOptions{OptLevel: 3})
	wantErr(t, err, "optimization level 3")

	// A model whose input is not float32.
	g = onnx.NewGraph("ints")
	g.Graph().Input = append(g.Graph().Input, &onnx.ValueInfoProto{Name: "ids", Type: &onnx.TypeProto{
		Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: int32(onnx.TensorProto_INT64)}}}})
	g.AddNode("Cast", []string{"ids"}, []string{"y"}, onnx.AttrInt("to", 1))
	g.AddOutput("y", 2)
	ints := filepath.Join(dir, "ints.onnx")
	onnx.WriteFile(ints, onnx.NewModel(g.Graph(), 17, "t", "0", nil))
	_, err = NewSession(ints, DefaultSessionOptions())
	wantErr(t, err, "ints.onnx", `input "ids"`, "INT64", "float32")
}

func TestCUDAUnavailable(t *testing.T) {
	needORT(t)
	model := writeTinyModel(t, t.TempDir())
	s, err := NewSession(model, SessionOptions{EP: "cuda", OptLevel: 99})
	if err == nil {
		// A GPU build on a GPU machine: check it runs.
		defer s.Close()
		out, err := s.Run(context.Background(), tinyInput(2))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("CUDA EP available; output %v", out[0].Shape)
		return
	}
	wantErr(t, err, "CUDA", "make deps-cuda", "cuDNN 9", "--ort-lib")
	t.Logf("CUDA error as users see it: %v", err)
}

func TestLibraryLookup(t *testing.T) {
	_, err := FindLibrary("/nonexistent/libonnxruntime.so")
	wantErr(t, err, "/nonexistent/libonnxruntime.so", "does not exist", "make deps", "--ort-lib")

	t.Setenv(EnvLib, "/nonexistent/env/libonnxruntime.so")
	_, err = FindLibrary("")
	wantErr(t, err, "$SGNAS_ORT_LIB", "/nonexistent/env", "make deps")

	t.Setenv(EnvLib, "")
	t.Setenv("SGNAS_ORT_DIR", t.TempDir())
	t.Setenv("LD_LIBRARY_PATH", "")
	if p, err := FindLibrary(""); err == nil {
		t.Logf("found a system library %s (system lookup works)", p)
	} else {
		wantErr(t, err, "not found", "make deps", "--ort-lib")
	}

	dir := t.TempDir()
	fake := filepath.Join(dir, "libonnxruntime.so.1")
	os.WriteFile(fake, []byte("not an ELF file"), 0o644)
	t.Setenv("LD_LIBRARY_PATH", dir)
	if p, err := FindLibrary(""); err != nil || p != fake {
		t.Fatalf("LD_LIBRARY_PATH lookup: %q %v", p, err)
	}
	_, err = probeVersion(fake)
	wantErr(t, err, "cannot load", fake, "make deps")
	if libm, _ := filepath.Glob("/lib/*/libm.so.6"); len(libm) > 0 {
		_, err = probeVersion(libm[0])
		wantErr(t, err, "not an ONNX Runtime library")
	}

	t.Setenv("SGNAS_ORT_DIR", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if d := CacheDir(); d != "/xdg/sgnas/onnxruntime/"+ORTVersion {
		t.Fatalf("CacheDir %s", d)
	}
}

func TestInitIdempotent(t *testing.T) {
	needORT(t)
	if err := Init(""); err != nil {
		t.Fatal(err)
	}
	if err := Init(LibraryPath()); err != nil {
		t.Fatalf("same path: %v", err)
	}
	other := filepath.Join(t.TempDir(), "libonnxruntime.so")
	os.WriteFile(other, []byte("x"), 0o644)
	wantErr(t, Init(other), "already initialized")
}

func TestVersionCompare(t *testing.T) {
	for _, c := range []struct {
		v    string
		want bool
	}{{"1.24.3", true}, {"1.24.0", true}, {"1.25.1", true}, {"2.0.0", true}, {"1.23.2", false}, {"1.9.0", false}, {"", false}, {"1.24.0-dev", true}} {
		if got := versionAtLeast(c.v, "1.24"); got != c.want {
			t.Errorf("versionAtLeast(%q) = %v", c.v, got)
		}
	}
}

func TestCompare(t *testing.T) {
	a := &tensor.Tensor{Shape: []int{2, 3}, Data: []float32{1, 5, 2, -1, -3, -1}}
	b := &tensor.Tensor{Shape: []int{2, 3}, Data: []float32{1, 4.5, 2, -1, -3, -0.75}}
	d, err := MaxAbsDiff(a, b)
	if err != nil || d != 0.5 {
		t.Fatalf("diff %v %v", d, err)
	}
	if got := ArgmaxRows(a); len(got) != 2 || got[0] != 1 || got[1] != 0 {
		t.Fatalf("argmax %v (ties must go to the lowest index)", got)
	}
	_, err = MaxAbsDiff(a, &tensor.Tensor{Shape: []int{3, 2}, Data: a.Data})
	wantErr(t, err, "shape mismatch", "2x3", "3x2")
	nan := &tensor.Tensor{Shape: []int{2, 3}, Data: []float32{1, float32(math.NaN()), 2, -1, -3, -1}}
	if d, _ := MaxAbsDiff(a, nan); !math.IsInf(d, 1) {
		t.Fatalf("NaN diff %v", d)
	}
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected an error containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}
