package infer

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/sgnas/sgnas/onnx"
	"github.com/sgnas/sgnas/tensor"
)

func TestStats(t *testing.T) {
	s := make([]float64, 101)
	for i := range s {
		s[(i*37)%101] = float64(i + 1) // shuffled 1..101
	}
	mn, p50, p90, p99, mx, mean, std := Stats(s)
	if mn != 1 || p50 != 51 || p90 != 91 || p99 != 100 || mx != 101 || mean != 51 {
		t.Fatalf("got %v %v %v %v %v %v", mn, p50, p90, p99, mx, mean)
	}
	if want := math.Sqrt(2 * 42925.0 / 100); math.Abs(std-want) > 1e-9 {
		t.Fatalf("std %v want %v", std, want)
	}
	_, p50, _, _, _, _, _ = Stats([]float64{4, 1})
	if p50 != 2.5 {
		t.Fatalf("interpolated p50 %v", p50)
	}
}

func TestBenchInterleaved(t *testing.T) {
	needORT(t)
	dir := t.TempDir()
	a := writeTinyModel(t, dir)
	b := writeSmallModel(t, filepath.Join(dir, "small.onnx"), "batch")
	var calls, lastDone, lastTotal int
	res, err := Bench(context.Background(), []string{a, b}, BenchConfig{
		Runs: 20, Warmup: 2, Batch: 2, Threads: 1, Seed: 7,
		Progress: func(done, total int) { calls++; lastDone, lastTotal = done, total },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || calls != 20 || lastDone != 20 || lastTotal != 20 {
		t.Fatalf("%d results, %d progress calls (%d/%d)", len(res), calls, lastDone, lastTotal)
	}
	for _, r := range res {
		if r.Runs != 20 || len(r.SamplesMS) != 20 || r.Batch != 2 || r.Warmup != 2 {
			t.Fatalf("%s: runs %d batch %d", r.Model, r.Runs, r.Batch)
		}
		if !(r.MinMS > 0 && r.MinMS <= r.P50MS && r.P50MS <= r.P90MS && r.P90MS <= r.P99MS && r.P99MS <= r.MaxMS && r.StdMS >= 0) {
			t.Fatalf("%s: inconsistent stats %+v", r.Model, r)
		}
		if math.Abs(r.Throughput-2*1000/r.MeanMS) > 1e-3*r.Throughput {
			t.Fatalf("throughput %v", r.Throughput)
		}
		if r.Device.ORTVersion == "" || r.Device.EP != "cpu" || r.Device.Threads != 1 || r.Device.OptLevel != 99 || r.Device.Cores <= 0 || r.Device.CPUModel == "" {
			t.Fatalf("device %+v", r.Device)
		}
	}
	if res[0].Inputs[0] != "2x2x5x6" || res[1].Inputs[0] != "2x16x28x28" {
		t.Fatalf("input shapes %v %v", res[0].Inputs, res[1].Inputs)
	}

	res, err = Bench(context.Background(), []string{a}, BenchConfig{Duration: 30 * time.Millisecond, Warmup: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Runs < 1 || res[0].Warmup != 0 || res[0].Batch != 1 {
		t.Fatalf("duration mode: %+v", res[0])
	}

	fixed := writeSmallModel(t, filepath.Join(dir, "fixed.onnx"), 1)
	_, err = Bench(context.Background(), []string{fixed}, BenchConfig{Runs: 1, Batch: 4})
	wantErr(t, err, "fixed.onnx", "fixed batch of 1", "batch 4")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Bench(ctx, []string{a}, BenchConfig{Runs: 5})
	wantErr(t, err, "canceled")
}

// writeSmallModel writes Conv(16->32, k3) -> Relu -> GAP -> Flatten ->
// Gemm(32->10) on 16x28x28 inputs: small, but heavy enough (tens of µs)
// that per-call overheads are measurable against it.
func writeSmallModel(t testing.TB, path string, batch any) string {
	g := onnx.NewGraph("small")
	g.AddInput("x", batch, 16, 28, 28)
	w := make([]float32, 32*16*9)
	for i := range w {
		w[i] = float32(math.Sin(float64(i))) * 0.1
	}
	g.AddInitializer("w", []int64{32, 16, 3, 3}, w)
	fc := make([]float32, 10*32)
	for i := range fc {
		fc[i] = float32(math.Cos(float64(i))) * 0.1
	}
	g.AddInitializer("fc", []int64{10, 32}, fc)
	g.AddNode("Conv", []string{"x", "w"}, []string{"c"}, onnx.AttrInts("kernel_shape", 3, 3), onnx.AttrInts("pads", 1, 1, 1, 1))
	g.AddNode("Relu", []string{"c"}, []string{"r"})
	g.AddNode("GlobalAveragePool", []string{"r"}, []string{"p"})
	g.AddNode("Flatten", []string{"p"}, []string{"f"})
	g.AddNode("Gemm", []string{"f", "fc"}, []string{"y"}, onnx.AttrInt("transB", 1))
	g.AddOutput("y", batch, 10)
	if err := onnx.WriteFile(path, onnx.NewModel(g.Graph(), 17, "t", "0", nil)); err != nil {
		t.Fatal(err)
	}
	return path
}

// benchOverhead times sgnas's Session.Run against the same work written
// directly on onnxruntime_go (tensor from the input slice, run with an
// ORT-allocated output, read the output, release both), alternating the two
// in every iteration. It reports both times per run and sgnas's overhead.
func benchOverhead(b *testing.B, model string, shape []int64) {
	dims := make([]int, len(shape))
	for i, d := range shape {
		dims[i] = int(d)
	}
	needORT(b)
	s, err := NewSession(model, SessionOptions{EP: "cpu", IntraOpThreads: 1, OptLevel: 99})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	x := tensor.New(dims...)
	for i := range x.Data {
		x.Data[i] = float32(i%13) * 0.1
	}
	// The bare path uses the same ORT session object, so the model work is
	// identical and only the wrapper differs.
	bare := func() float32 {
		in, err := ort.NewTensor(ort.Shape(shape), x.Data)
		if err != nil {
			b.Fatal(err)
		}
		outs := []ort.Value{nil}
		if err := s.s.Run([]ort.Value{in}, outs); err != nil {
			b.Fatal(err)
		}
		v := outs[0].(*ort.Tensor[float32]).GetData()[0]
		outs[0].Destroy()
		in.Destroy()
		return v
	}
	ctx := context.Background()
	wrapped := func() float32 {
		out, err := s.Run(ctx, x)
		if err != nil {
			b.Fatal(err)
		}
		return out[0].Data[0]
	}
	for i := 0; i < 20; i++ {
		bare()
		wrapped()
	}
	tb := make([]float64, 0, b.N)
	tw := make([]float64, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			t0 := time.Now()
			bare()
			t1 := time.Now()
			wrapped()
			tw = append(tw, float64(time.Since(t1)))
			tb = append(tb, float64(t1.Sub(t0)))
		} else {
			t0 := time.Now()
			wrapped()
			t1 := time.Now()
			bare()
			tb = append(tb, float64(time.Since(t1)))
			tw = append(tw, float64(t1.Sub(t0)))
		}
	}
	b.StopTimer()
	// Medians: robust against the scheduler hiccups that dominate means at
	// these time scales.
	_, mb, _, _, _, _, _ := Stats(tb)
	_, mw, _, _, _, _, _ := Stats(tw)
	b.ReportMetric(mb, "bare-ns/run")
	b.ReportMetric(mw, "sgnas-ns/run")
	b.ReportMetric(100*(mw/mb-1), "overhead-%")
}

// BenchmarkRunOverhead measures what Session.Run adds to a bare
// onnxruntime_go call (goal: < 2% on a small model).
func BenchmarkRunOverhead(b *testing.B) {
	dir := b.TempDir()
	b.Run("small-16x28x28", func(b *testing.B) {
		benchOverhead(b, writeSmallModel(b, filepath.Join(dir, "small.onnx"), "batch"), []int64{1, 16, 28, 28})
	})
	b.Run("tiny-2x5x6", func(b *testing.B) {
		benchOverhead(b, writeTinyModel(b, dir), []int64{1, tinyC, tinyH, tinyW})
	})
}

// TestInputShapeBounds: a model declaring a huge, negative or overflowing
// input is refused with one line before a benchmark allocates its input.
func TestInputShapeBounds(t *testing.T) {
	for _, c := range []struct {
		shape []int64
		want  string
	}{
		{[]int64{1, 3, 1000000000, 1000000000}, "more than 2147483648 elements"},
		{[]int64{-1, 3, 16384, 16384}, "more than the 268435456"},
		{[]int64{1 << 40, 1 << 40}, "more than 2147483648 elements"},
	} {
		_, err := inputShape("m.onnx", TensorInfo{Name: "input", Shape: c.shape}, 0)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `model m.onnx: input "input"`) {
			t.Errorf("shape %v: %v, want %q", c.shape, err, c.want)
		}
	}
	if s, err := inputShape("m.onnx", TensorInfo{Name: "input", Shape: []int64{-1, 3, 224, 224}}, 8); err != nil || s[0] != 8 {
		t.Fatalf("ordinary input: %v %v", s, err)
	}
}

func TestCheckBenchSettings(t *testing.T) {
	if err := CheckBenchSettings(100, -1, 64, 2); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		runs, warmup, batch, threads int
		want                         string
	}{
		{-5, 0, 1, 1, "runs -5"},
		{1e9, 0, 1, 1, "runs 1000000000"},
		{10, 1e9, 1, 1, "warm-up runs"},
		{10, 1, -1, 1, "batch -1"},
		{10, 1, 1e6, 1, "batch 1000000"},
		{10, 1, 1, -2, "threads -2"},
		{10, 1, 1, 1e9, "threads 1000000000"},
	} {
		err := CheckBenchSettings(c.runs, c.warmup, c.batch, c.threads)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c, err, c.want)
		}
	}
	if _, err := Bench(context.Background(), []string{"m.onnx"}, BenchConfig{Runs: -3}); err == nil || !strings.Contains(err.Error(), "runs -3") {
		t.Errorf("Bench with runs -3: %v", err)
	}
}
