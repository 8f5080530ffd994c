package infer

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/sgnas/sgnas/internal/npy"
	"github.com/sgnas/sgnas/onnx"
)

// BenchConfig controls Bench.
type BenchConfig struct {
	// Runs is the number of timed runs per model (default 100). Ignored
	// when Duration > 0.
	Runs int
	// Warmup is the number of untimed runs per model before timing
	// (default 10; negative means none).
	Warmup int
	// Batch is the size of a dynamic first input dimension (default 1). A
	// model with a fixed first dimension must match it, or leave Batch 0.
	Batch int
	// Threads is ORT's intra-op thread count (0: ORT's default).
	Threads int
	// EP is the execution provider, "cpu" (default) or "cuda"; DeviceID
	// picks the GPU.
	EP       string
	DeviceID int
	// OptLevel is the graph optimization level as in SessionOptions; the
	// zero value means 99 (all), since benchmarks should time what
	// deployments run. Use -1 to disable optimizations.
	OptLevel int
	// Duration, when > 0, times rounds until this much time has passed
	// instead of a fixed number of runs.
	Duration time.Duration
	// Seed seeds the random input data (and the order of Shuffle).
	Seed uint64
	// Spin lets ORT's worker threads spin between runs (SessionOptions.NoSpin
	// false). The default, false, turns spinning off: with it on, the idle
	// sessions of an interleaved benchmark keep their threads busy-waiting
	// and slow down the session being timed (at 2 threads, SGNAS-A
	// interleaved with two other models measured 2.7× its time alone).
	Spin bool
	// Shuffle runs the models of each round in a fresh seeded random order
	// instead of A B C …, so that no model always follows the same one
	// (cache state left behind by the previous model).
	Shuffle bool
	// Progress, if set, is called after each timed round with done and
	// total rounds (in Duration mode: elapsed and total milliseconds).
	Progress func(done, total int)
}

// DeviceInfo describes where a benchmark ran.
type DeviceInfo struct {
	CPUModel   string `json:"cpu_model"`
	Cores      int    `json:"cores"`
	GPU        string `json:"gpu,omitempty"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	ORTVersion string `json:"ort_version"`
	ORTLibrary string `json:"ort_library"`
	EP         string `json:"ep"`
	Threads    int    `json:"threads"`
	OptLevel   int    `json:"graph_opt_level"`
	// Spinning reports whether ORT's worker threads were allowed to spin
	// (BenchConfig.Spin).
	Spinning bool `json:"spinning"`
}

// BenchResult holds the latency statistics of one model. Times are in
// milliseconds per run (one run = one batch).
type BenchResult struct {
	Model      string     `json:"model"`
	Inputs     []string   `json:"input_shapes"`
	Batch      int        `json:"batch"`
	Runs       int        `json:"runs"`
	Warmup     int        `json:"warmup"`
	MinMS      float64    `json:"min_ms"`
	P50MS      float64    `json:"p50_ms"`
	P90MS      float64    `json:"p90_ms"`
	P99MS      float64    `json:"p99_ms"`
	MaxMS      float64    `json:"max_ms"`
	MeanMS     float64    `json:"mean_ms"`
	StdMS      float64    `json:"std_ms"`
	Throughput float64    `json:"throughput_per_s"` // samples (batch items) per second, from the mean
	Device     DeviceInfo `json:"device"`
	SamplesMS  []float64  `json:"-"`
}

// CPUModel returns the CPU model name from /proc/cpuinfo (or GOARCH when it
// cannot be read).
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	fallback := ""
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "model name":
			return v
		case "Hardware", "Model", "CPU part":
			if fallback == "" && v != "" {
				fallback = k + " " + v
			}
		}
	}
	if fallback != "" {
		return fallback
	}
	return runtime.GOARCH
}

// gpuModel reads the first NVIDIA GPU's model from the driver's proc files.
func gpuModel() string {
	infos, _ := filepath.Glob("/proc/driver/nvidia/gpus/*/information")
	for _, p := range infos {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "Model" {
				return strings.TrimSpace(v)
			}
		}
	}
	return ""
}

// Device describes the current machine and runtime for the given settings.
func Device(ep string, threads, optLevel int) DeviceInfo {
	if ep == "" {
		ep = "cpu"
	}
	d := DeviceInfo{
		CPUModel: CPUModel(), Cores: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		ORTVersion: Version(), ORTLibrary: LibraryPath(), EP: ep, Threads: threads, OptLevel: optLevel,
	}
	if ep == "cuda" {
		d.GPU = gpuModel()
	}
	return d
}

// Stats computes latency statistics over samples (ms). Percentiles
// interpolate linearly between order statistics; std is the sample
// standard deviation.
func Stats(samples []float64) (min, p50, p90, p99, max, mean, std float64) {
	n := len(samples)
	if n == 0 {
		return
	}
	s := append([]float64(nil), samples...)
	sort.Float64s(s)
	pct := func(p float64) float64 {
		x := p * float64(n-1)
		i := int(math.Floor(x))
		if i >= n-1 {
			return s[n-1]
		}
		f := x - float64(i)
		return s[i]*(1-f) + s[i+1]*f
	}
	sum := 0.0
	for _, v := range s {
		sum += v
	}
	mean = sum / float64(n)
	if n > 1 {
		ss := 0.0
		for _, v := range s {
			ss += (v - mean) * (v - mean)
		}
		std = math.Sqrt(ss / float64(n-1))
	}
	return s[0], pct(0.5), pct(0.9), pct(0.99), s[n-1], mean, std
}

type benchModel struct {
	sess   *Session
	inputs []ort.Value
	shapes []string
	res    *BenchResult
}

func (m *benchModel) runOnce() (time.Duration, error) {
	outs := make([]ort.Value, len(m.sess.outputs))
	start := time.Now()
	err := m.sess.s.Run(m.inputs, outs)
	el := time.Since(start)
	for _, o := range outs {
		if o != nil {
			o.Destroy()
		}
	}
	if err != nil {
		return 0, fmt.Errorf("model %s: run: %w", m.sess.path, cleanORTError(err))
	}
	return el, nil
}

func (m *benchModel) close() {
	for _, v := range m.inputs {
		if v != nil {
			v.Destroy()
		}
	}
	m.sess.Close()
}

// inputShape resolves a declared input shape for a benchmark batch size.
func inputShape(model string, ti TensorInfo, batch int) ([]int64, error) {
	if ti.Shape == nil {
		return nil, fmt.Errorf("model %s: input %q declares no shape; benchmarks need declared input shapes", model, ti.Name)
	}
	shape := append([]int64(nil), ti.Shape...)
	for i, d := range shape {
		switch {
		case i == 0 && d < 0:
			if batch <= 0 {
				batch = 1
			}
			shape[0] = int64(batch)
		case i == 0 && batch > 0 && d != int64(batch):
			return nil, fmt.Errorf("model %s: input %q has a fixed batch of %d; cannot benchmark batch %d", model, ti.Name, d, batch)
		case d < 0:
			return nil, fmt.Errorf("model %s: input %q dimension %d is dynamic (shape %s); only the batch dimension may be", model, ti.Name, i, npy.FormatShape(ti.Shape))
		}
	}
	n, err := onnx.CheckedElements(shape)
	if err == nil && n > MaxBenchInputElements {
		err = fmt.Errorf("%d elements, more than the %d (1 GiB of float32) a benchmark input may hold", n, MaxBenchInputElements)
	}
	if err != nil {
		return nil, fmt.Errorf("model %s: input %q of shape %s: %w", model, ti.Name, npy.FormatShape(shape), err)
	}
	return shape, nil
}

// Bounds of timing settings, checked before any session is made.
const (
	MaxRuns    = 1_000_000
	MaxBatch   = 65536
	MaxThreads = 1024
)

// CheckBenchSettings checks timing settings up front: runs and warm-up runs
// (0: the default; a negative warm-up: none) at most MaxRuns, batch 0..MaxBatch
// (0: the model's own or 1), threads 0..MaxThreads (0: ONNX Runtime's default).
func CheckBenchSettings(runs, warmup, batch, threads int) error {
	switch {
	case runs < 0 || runs > MaxRuns:
		return fmt.Errorf("runs %d: want 1 to %d", runs, MaxRuns)
	case warmup > MaxRuns:
		return fmt.Errorf("warm-up runs %d: want 0 to %d", warmup, MaxRuns)
	case batch < 0 || batch > MaxBatch:
		return fmt.Errorf("batch %d: want 1 to %d", batch, MaxBatch)
	case threads < 0 || threads > MaxThreads:
		return fmt.Errorf("threads %d: want 0 (ONNX Runtime's default) to %d", threads, MaxThreads)
	}
	return nil
}

// MaxBenchInputElements bounds the random input a benchmark allocates for
// one model input, checked before anything is allocated.
const MaxBenchInputElements = 1 << 28

// Bench times each model on random inputs. Models are run interleaved
// (A B A B ...) so that drift in machine state (frequency scaling, other
// load) affects all of them alike; warm-up runs are interleaved too. ctx is
// checked between runs.
func Bench(ctx context.Context, models []string, cfg BenchConfig) ([]BenchResult, error) {
	if len(models) == 0 {
		return nil, fmt.Errorf("bench: no models given")
	}
	if err := CheckBenchSettings(cfg.Runs, cfg.Warmup, cfg.Batch, cfg.Threads); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if cfg.Runs <= 0 {
		cfg.Runs = 100
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = 10
	} else if cfg.Warmup < 0 {
		cfg.Warmup = 0
	}
	opt := cfg.OptLevel
	switch opt {
	case 0:
		opt = 99
	case -1:
		opt = 0
	}
	if cfg.EP == "" {
		cfg.EP = "cpu"
	}
	so := SessionOptions{EP: cfg.EP, DeviceID: cfg.DeviceID, IntraOpThreads: cfg.Threads, OptLevel: opt, NoSpin: !cfg.Spin}
	if err := Init(""); err != nil {
		return nil, err
	}
	dev := Device(cfg.EP, cfg.Threads, opt)
	dev.Spinning = cfg.Spin
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))

	var bms []*benchModel
	defer func() {
		for _, m := range bms {
			m.close()
		}
	}()
	for _, path := range models {
		s, err := NewSession(path, so)
		if err != nil {
			return nil, err
		}
		m := &benchModel{sess: s}
		bms = append(bms, m)
		for _, ti := range s.inputs {
			shape, err := inputShape(path, ti, cfg.Batch)
			if err != nil {
				return nil, err
			}
			n, _ := onnx.CheckedElements(shape) // bounded by inputShape
			data := make([]float32, n)
			for i := range data {
				data[i] = float32(rng.NormFloat64())
			}
			t, err := ort.NewTensor(ort.Shape(shape), data)
			if err != nil {
				return nil, fmt.Errorf("model %s: input %q: %w", path, ti.Name, err)
			}
			m.inputs = append(m.inputs, t)
			m.shapes = append(m.shapes, npy.FormatShape(shape))
		}
		batch := cfg.Batch
		if len(m.inputs) > 0 && batch <= 0 {
			batch = int(m.inputs[0].GetShape()[0])
		}
		m.res = &BenchResult{Model: path, Inputs: m.shapes, Batch: batch, Warmup: cfg.Warmup, Device: dev}
	}

	for w := 0; w < cfg.Warmup; w++ {
		for _, m := range bms {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if _, err := m.runOnce(); err != nil {
				return nil, err
			}
		}
	}
	order := make([]int, len(bms))
	for i := range order {
		order[i] = i
	}
	orderRNG := rand.New(rand.NewPCG(cfg.Seed, 0x0dde7))
	start := time.Now()
	for round := 0; ; round++ {
		if cfg.Duration > 0 {
			if round > 0 && time.Since(start) >= cfg.Duration {
				break
			}
		} else if round >= cfg.Runs {
			break
		}
		if cfg.Shuffle {
			orderRNG.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		for _, i := range order {
			m := bms[i]
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			el, err := m.runOnce()
			if err != nil {
				return nil, err
			}
			m.res.SamplesMS = append(m.res.SamplesMS, float64(el.Nanoseconds())/1e6)
		}
		if cfg.Progress != nil {
			if cfg.Duration > 0 {
				cfg.Progress(int(min(time.Since(start), cfg.Duration).Milliseconds()), int(cfg.Duration.Milliseconds()))
			} else {
				cfg.Progress(round+1, cfg.Runs)
			}
		}
	}
	out := make([]BenchResult, len(bms))
	for i, m := range bms {
		r := m.res
		r.Runs = len(r.SamplesMS)
		r.MinMS, r.P50MS, r.P90MS, r.P99MS, r.MaxMS, r.MeanMS, r.StdMS = Stats(r.SamplesMS)
		if r.MeanMS > 0 {
			r.Throughput = math.Round(float64(r.Batch)*1000/r.MeanMS*1000) / 1000
		}
		// Nanosecond resolution is all the clock gives; round for readable JSON.
		for _, p := range []*float64{&r.MinMS, &r.P50MS, &r.P90MS, &r.P99MS, &r.MaxMS, &r.MeanMS, &r.StdMS} {
			*p = math.Round(*p*1e6) / 1e6
		}
		out[i] = *r
	}
	return out, nil
}
