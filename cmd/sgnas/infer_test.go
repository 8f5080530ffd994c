package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/internal/npy"
	"github.com/sgnas/sgnas/internal/orttest"
	"github.com/sgnas/sgnas/onnx"
	"github.com/sgnas/sgnas/tensor"
)

func inferTestNeedORT(t *testing.T) {
	t.Helper()
	orttest.Need(t)
}

// inferTestModel writes x[N,2,4,4] -> GlobalAveragePool -> Flatten ->
// Gemm(2->3) with W = [[1,0],[0,1],[-1,-1]] and no bias, so logits are
// (mean c0, mean c1, -(mean c0 + mean c1)).
func inferTestModel(t *testing.T, dir string) string {
	g := onnx.NewGraph("gap")
	g.AddInput("x", "N", 2, 4, 4)
	g.AddInitializer("W", []int64{3, 2}, []float32{1, 0, 0, 1, -1, -1})
	g.AddNode("GlobalAveragePool", []string{"x"}, []string{"p"})
	g.AddNode("Flatten", []string{"p"}, []string{"f"})
	g.AddNode("Gemm", []string{"f", "W"}, []string{"logits"}, onnx.AttrInt("transB", 1))
	g.AddOutput("logits", "N", 3)
	p := filepath.Join(dir, "gap.onnx")
	if err := onnx.WriteFile(p, onnx.NewModel(g.Graph(), 17, "t", "0", nil)); err != nil {
		t.Fatal(err)
	}
	return p
}

// runApp runs the sgnas app with args, capturing stdout.
func runApp(t *testing.T, args ...string) (string, error) {
	var buf bytes.Buffer
	app := &cli.Command{Name: "sgnas", Commands: commands, Writer: &buf, ErrWriter: &buf}
	err := app.Run(context.Background(), append([]string{"sgnas"}, args...))
	return buf.String(), err
}

func TestInferCommand(t *testing.T) {
	inferTestNeedORT(t)
	dir := t.TempDir()
	model := inferTestModel(t, dir)
	x := tensor.New(3, 2, 4, 4)
	for i := range x.Data {
		b, c := i/32, (i/16)%2
		// row 0: c0 big; row 1: c1 big; row 2: both negative (class 2 wins)
		switch b {
		case 0:
			x.Data[i] = float32(3 - 2*c)
		case 1:
			x.Data[i] = float32(1 + 4*c)
		case 2:
			x.Data[i] = -2
		}
	}
	in := filepath.Join(dir, "x.npy")
	if err := npy.Write(in, x); err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(dir, "out", "y.npy")
	out, err := runApp(t, "infer", model, "--input", in, "--output", outPath)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"logits 3x3", "argmax  [0 1 2]", "ONNX Runtime 1.24", in, outPath} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	y, err := npy.Read(outPath)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{3, 1, -4, 1, 5, -6, -2, -2, 4}
	for i, v := range want {
		if math.Abs(float64(y.Data[i]-v)) > 1e-5 {
			t.Fatalf("y = %v, want %v", y.Data, want)
		}
	}

	// Error paths, through the same code the command runs.
	ctx := context.Background()
	var sink bytes.Buffer
	opts := infer.SessionOptions{EP: "cpu", OptLevel: 99}
	f64 := filepath.Join(dir, "f64.npy")
	writeRawNpy(t, f64, "<f8", "(3, 2, 4, 4)", 3*2*4*4*8)
	_, err = runInfer(ctx, &sink, model, []string{f64}, nil, opts)
	inferWantErr(t, err, f64, "'<f8'", "float64")

	bad := filepath.Join(dir, "bad.npy")
	npy.Write(bad, tensor.New(1, 3, 4, 4))
	_, err = runInfer(ctx, &sink, model, []string{bad}, nil, opts)
	inferWantErr(t, err, `input "x"`, "expected shape ?x2x4x4", "got 1x3x4x4", bad)

	_, err = runInfer(ctx, &sink, model, []string{in, in}, nil, opts)
	inferWantErr(t, err, "takes 1 input", "got 2 --input")

	_, err = runInfer(ctx, &sink, filepath.Join(dir, "nope.onnx"), []string{in}, nil, opts)
	inferWantErr(t, err, "nope.onnx", "does not exist")

	_, err = runInfer(ctx, &sink, model, []string{filepath.Join(dir, "nope.npy")}, nil, opts)
	inferWantErr(t, err, "nope.npy", "does not exist")
}

func TestBenchCommand(t *testing.T) {
	inferTestNeedORT(t)
	dir := t.TempDir()
	model := inferTestModel(t, dir)
	out, err := runApp(t, "bench", model, model, "--runs", "15", "--warmup", "2", "--batch", "2", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rep struct {
		Device struct {
			ORTVersion string `json:"ort_version"`
			EP         string `json:"ep"`
			Threads    int    `json:"threads"`
			Cores      int    `json:"cores"`
		} `json:"device"`
		Models []map[string]any `json:"models"`
		Ratio  []float64        `json:"ratio_p50_vs_first"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out)
	}
	if len(rep.Models) != 2 || len(rep.Ratio) != 2 || rep.Ratio[0] != 1 || rep.Device.ORTVersion == "" || rep.Device.EP != "cpu" || rep.Device.Threads != 1 {
		t.Fatalf("report %+v", rep)
	}
	for _, m := range rep.Models {
		for _, k := range []string{"p50_ms", "p90_ms", "mean_ms", "runs", "device"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("model entry lacks %q: %v", k, m)
			}
		}
		if m["runs"].(float64) != 15 || m["batch"].(float64) != 2 {
			t.Fatalf("runs/batch %v %v", m["runs"], m["batch"])
		}
	}

	// Table output, one model, exercised without re-parsing flags.
	res, err := infer.Bench(context.Background(), []string{model}, infer.BenchConfig{Runs: 5, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := printBench(&buf, res, false); err != nil {
		t.Fatal(err)
	}
	if s := buf.String(); !strings.Contains(s, "gap.onnx") || !strings.Contains(s, "p50 ms") || !strings.Contains(s, "ONNX Runtime") {
		t.Fatalf("table:\n%s", s)
	}
	buf.Reset()
	printBench(&buf, res, true)
	var one map[string]any
	if err := json.Unmarshal(buf.Bytes(), &one); err != nil || one["p50_ms"] == nil || one["runs"].(float64) != 5 {
		t.Fatalf("single-model JSON %v: %s", err, buf.String())
	}
}

func writeRawNpy(t *testing.T, path, descr, shape string, nbytes int) {
	h := "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }"
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	b = append(b, h...)
	b = append(b, make([]byte, nbytes)...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func inferWantErr(t *testing.T, err error, parts ...string) {
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
