package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sgnas/sgnas/data"
	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/internal/npy"
	"github.com/sgnas/sgnas/onnx"
	"github.com/sgnas/sgnas/tensor"
)

// Calibration methods.
const (
	CalibMinMax     = "minmax"
	CalibPercentile = "percentile"
	CalibEntropy    = "entropy"
)

// CalibMethods lists the accepted calibration methods.
var CalibMethods = []string{CalibMinMax, CalibPercentile, CalibEntropy}

// Calibration defaults.
const (
	DefaultCalibSamples = 128
	MaxCalibSamples     = 100000
	// CalibPercentileValue is the share of values the percentile method
	// keeps inside the range (the rest, split evenly between both tails,
	// saturates).
	CalibPercentileValue = 99.99
	histBins             = 2048
)

// Int8Config asks for an INT8 (QDQ) export calibrated on Data.
type Int8Config struct {
	// Data is the calibration data: a .npy file of inputs [N,3,H,W]
	// (float32, preprocessed as the model expects), or a dataset KIND[:DIR]
	// of package data (fashion-mnist, cifar10:DIR, cifar100:DIR,
	// folder:DIR, synthetic), read with its evaluation transform.
	Data string
	// Samples is the number of calibration inputs (0: DefaultCalibSamples;
	// a .npy file gives at most its rows).
	Samples int
	// Method is minmax, percentile or entropy ("": minmax).
	Method string
	// Quant are the weight and activation forms.
	Quant export.QuantOptions
}

// Check validates the settings without reading anything.
func (c *Int8Config) Check() error {
	if strings.TrimSpace(c.Data) == "" {
		return errors.New("--int8 needs calibration data (--calib FILE.npy or a dataset: " + strings.Join(data.Kinds, ", ") + ")")
	}
	if c.Samples < 0 || c.Samples > MaxCalibSamples {
		return fmt.Errorf("--calib-samples %d: want 1..%d", c.Samples, MaxCalibSamples)
	}
	if c.Method != "" && !slices.Contains(CalibMethods, c.Method) {
		return fmt.Errorf("--calib-method %q: want one of %s", c.Method, strings.Join(CalibMethods, ", "))
	}
	return nil
}

func (c *Int8Config) method() string {
	if c.Method == "" {
		return CalibMinMax
	}
	return c.Method
}

func (c *Int8Config) samples() int {
	if c.Samples == 0 {
		return DefaultCalibSamples
	}
	return c.Samples
}

// LoadCalibration reads up to n calibration inputs for a model taking
// [N,3,size,size] from spec (see Int8Config.Data), each as a [1,3,size,size]
// tensor, and a description of where they came from. Dataset samples are
// taken evenly spread over the dataset (deterministic).
func LoadCalibration(spec string, size, n int) ([]*tensor.Tensor, string, error) {
	if strings.HasSuffix(strings.ToLower(spec), ".npy") {
		return loadCalibNPY(spec, size, n)
	}
	kind, dir, _ := strings.Cut(spec, ":")
	if !slices.Contains(data.Kinds, strings.ToLower(kind)) {
		return nil, "", fmt.Errorf("calibration data %q: want a .npy file or a dataset %s[:DIR]", spec, strings.Join(data.Kinds, "|"))
	}
	ds, err := data.Open(kind, dir, data.Options{Split: "train", Size: size})
	if err != nil {
		return nil, "", fmt.Errorf("calibration data %s: %w", spec, err)
	}
	c, h, w := ds.Shape()
	if c != 3 || h != size || w != size {
		return nil, "", fmt.Errorf("calibration data %s: images are %d×%d×%d, the model takes 3×%d×%d", spec, c, h, w, size, size)
	}
	if ds.Len() == 0 {
		return nil, "", fmt.Errorf("calibration data %s: no samples", spec)
	}
	n = min(n, ds.Len())
	out := make([]*tensor.Tensor, n)
	for i := range out {
		t := tensor.New(1, 3, size, size)
		if _, err := ds.Get(i*ds.Len()/n, nil, false, t.Data); err != nil {
			return nil, "", fmt.Errorf("calibration data %s: %w", spec, err)
		}
		out[i] = t
	}
	return out, fmt.Sprintf("%s (%d of %d samples, evaluation transform)", spec, n, ds.Len()), nil
}

func loadCalibNPY(path string, size, n int) ([]*tensor.Tensor, string, error) {
	a, err := npy.Read(path)
	if err != nil {
		return nil, "", fmt.Errorf("calibration data: %w", err)
	}
	if len(a.Shape) != 4 || a.Shape[1] != 3 || a.Shape[2] != size || a.Shape[3] != size {
		return nil, "", fmt.Errorf("calibration data %s: shape %s, the model takes [N,3,%d,%d]", path, npy.FormatShape(a.Shape), size, size)
	}
	if a.Shape[0] == 0 {
		return nil, "", fmt.Errorf("calibration data %s: no samples (shape %s)", path, npy.FormatShape(a.Shape))
	}
	per := 3 * size * size
	for i, v := range a.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, "", fmt.Errorf("calibration data %s: non-finite value at sample %d", path, i/per)
		}
	}
	n = min(n, a.Shape[0])
	out := make([]*tensor.Tensor, n)
	for i := range out {
		t := tensor.New(1, 3, size, size)
		copy(t.Data, a.Data[i*per:(i+1)*per])
		out[i] = t
	}
	return out, fmt.Sprintf("%s (%d of %d inputs)", path, n, a.Shape[0]), nil
}

// Calibrate runs the FP32 model m in ONNX Runtime (CPU, one thread) on every
// sample with the tensors export.QuantTensors names exposed as extra outputs
// and returns their ranges by the given method:
//
//   - minmax: the smallest and largest value seen;
//   - percentile: a second pass histograms each tensor over its min..max in
//     2048 bins; the range is cut at the (100−p)/2 and (100+p)/2 percentiles
//     (p = CalibPercentileValue), widened to the bin edges;
//   - entropy: from the same histogram, the range whose quantization to 128
//     levels (or 256 for asymmetric) loses the least information (KL
//     divergence between the clipped histogram and its quantized form,
//     TensorRT's method), searched over symmetric cuts around 0 for
//     tensors with both signs and upper cuts for non-negative ones.
//
// The ranges always contain 0.
func Calibrate(ctx context.Context, m *onnx.ModelProto, samples []*tensor.Tensor, method string, qopts export.QuantOptions) (map[string]export.Range, error) {
	if len(samples) == 0 {
		return nil, errors.New("calibration: no samples")
	}
	names := export.QuantTensors(m, qopts)
	dir, err := os.MkdirTemp("", "sgnas-calib-")
	if err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "calib.onnx")
	if err := onnx.WriteFile(path, export.WithOutputs(m, names)); err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	opts := infer.DefaultSessionOptions()
	opts.IntraOpThreads = 1
	s, err := infer.NewSession(path, opts)
	if err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	defer s.Close()
	// Outputs: logits, then names in order.
	run := func(x *tensor.Tensor) ([]*tensor.Tensor, error) {
		outs, err := s.Run(ctx, x)
		if err != nil {
			return nil, fmt.Errorf("calibration: %w", err)
		}
		if len(outs) != len(names)+1 {
			return nil, fmt.Errorf("calibration: %d outputs, want %d", len(outs), len(names)+1)
		}
		return outs[1:], nil
	}
	lo := make([]float64, len(names))
	hi := make([]float64, len(names))
	for i := range lo {
		lo[i], hi[i] = math.Inf(1), math.Inf(-1)
	}
	for _, x := range samples {
		outs, err := run(x)
		if err != nil {
			return nil, err
		}
		for i, t := range outs {
			for _, v := range t.Data {
				f := float64(v)
				if math.IsNaN(f) || math.IsInf(f, 0) {
					return nil, fmt.Errorf("calibration: tensor %s: non-finite value", names[i])
				}
				lo[i] = math.Min(lo[i], f)
				hi[i] = math.Max(hi[i], f)
			}
		}
	}
	for i := range lo {
		lo[i], hi[i] = math.Min(lo[i], 0), math.Max(hi[i], 0)
	}
	ranges := make(map[string]export.Range, len(names))
	if method == CalibMinMax || method == "" {
		for i, v := range names {
			ranges[v] = export.Range{Min: float32(lo[i]), Max: float32(hi[i])}
		}
		return ranges, nil
	}
	hists := make([][]float64, len(names))
	for i := range hists {
		hists[i] = make([]float64, histBins)
	}
	for _, x := range samples {
		outs, err := run(x)
		if err != nil {
			return nil, err
		}
		for i, t := range outs {
			w := hi[i] - lo[i]
			if w <= 0 {
				continue
			}
			h := hists[i]
			for _, v := range t.Data {
				b := int((float64(v) - lo[i]) / w * histBins)
				h[min(max(b, 0), histBins-1)]++
			}
		}
	}
	for i, v := range names {
		var a, b float64
		switch method {
		case CalibPercentile:
			a, b = percentileRange(hists[i], lo[i], hi[i], CalibPercentileValue)
		case CalibEntropy:
			a, b = entropyRange(hists[i], lo[i], hi[i], !qopts.Symmetric)
		default:
			return nil, fmt.Errorf("calibration method %q: want one of %s", method, strings.Join(CalibMethods, ", "))
		}
		ranges[v] = export.Range{Min: float32(math.Min(a, 0)), Max: float32(math.Max(b, 0))}
	}
	return ranges, nil
}

// percentileRange cuts the histogram h over [lo,hi] at the (100−p)/2 and
// (100+p)/2 percentiles.
func percentileRange(h []float64, lo, hi, p float64) (float64, float64) {
	total := 0.0
	for _, c := range h {
		total += c
	}
	if total == 0 || hi <= lo {
		return lo, hi
	}
	tail := total * (100 - p) / 200
	bw := (hi - lo) / float64(len(h))
	a, b := lo, hi
	acc := 0.0
	for i, c := range h {
		acc += c
		if acc > tail {
			a = lo + float64(i)*bw
			break
		}
	}
	acc = 0
	for i := len(h) - 1; i >= 0; i-- {
		acc += h[i]
		if acc > tail {
			b = lo + float64(i+1)*bw
			break
		}
	}
	return a, b
}

// entropyRange searches the cut of the histogram h over [lo,hi] (which
// contains 0) that minimises the KL divergence between the clipped
// distribution and its quantization to levels bins. Tensors of one sign are
// cut at the far end only; tensors of both signs symmetrically around 0
// (as far as the histogram reaches on each side).
func entropyRange(h []float64, lo, hi float64, unsigned bool) (float64, float64) {
	levels := 128
	if unsigned {
		levels = 256
	}
	n := len(h)
	bw := (hi - lo) / float64(n)
	if bw <= 0 {
		return lo, hi
	}
	zero := int(math.Round(-lo / bw)) // bin edge of 0
	bestKL, bestA, bestB := math.Inf(1), lo, hi
	for width := levels; ; width += max(1, n/256) {
		// Bins [i0, i1) kept: around zero, width bins per side when the
		// tensor has both signs.
		i0, i1 := max(0, zero-width), min(n, zero+width)
		if lo >= 0 {
			i0, i1 = 0, min(n, width)
		} else if hi <= 0 {
			i0, i1 = max(0, n-width), n
		}
		kl := clipKL(h, i0, i1, levels)
		if kl < bestKL {
			bestKL, bestA, bestB = kl, lo+float64(i0)*bw, lo+float64(i1)*bw
		}
		if i0 == 0 && i1 == n {
			break
		}
	}
	return bestA, bestB
}

// clipKL is KL(P‖Q) where P is h restricted to [i0,i1) with the outside mass
// added to the edge bins, and Q is P merged into levels equal chunks and
// spread back uniformly over each chunk's non-empty bins.
func clipKL(h []float64, i0, i1, levels int) float64 {
	m := i1 - i0
	if m <= 0 {
		return math.Inf(1)
	}
	p := make([]float64, m)
	copy(p, h[i0:i1])
	for i := 0; i < i0; i++ {
		p[0] += h[i]
	}
	for i := i1; i < len(h); i++ {
		p[m-1] += h[i]
	}
	q := make([]float64, m)
	chunks := min(levels, m)
	for c := 0; c < chunks; c++ {
		a, b := c*m/chunks, (c+1)*m/chunks
		sum, nz := 0.0, 0
		for i := a; i < b; i++ {
			sum += h[i0+i]
			if h[i0+i] > 0 {
				nz++
			}
		}
		for i := a; i < b; i++ {
			if h[i0+i] > 0 {
				q[i] = sum / float64(nz)
			}
		}
	}
	ps, qs := 0.0, 0.0
	for i := range p {
		ps += p[i]
		qs += q[i]
	}
	if ps == 0 || qs == 0 {
		return math.Inf(1)
	}
	kl := 0.0
	for i := range p {
		if p[i] == 0 {
			continue
		}
		pi, qi := p[i]/ps, q[i]/qs
		if qi == 0 {
			qi = 1e-12 // an edge bin that only holds clipped mass
		}
		kl += pi * math.Log(pi/qi)
	}
	return kl
}

// CompareModels runs the models at fp32 and int8 (CPU, all graph
// optimisations) on every input and fills q's error fields: max and mean
// abs logit error, the largest FP32 logit and the argmax agreement (of
// q.Samples rows).
func CompareModels(ctx context.Context, fp32, int8 string, inputs []*tensor.Tensor, q *export.QuantInfo) error {
	a, err := infer.NewSession(fp32, infer.DefaultSessionOptions())
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := infer.NewSession(int8, infer.DefaultSessionOptions())
	if err != nil {
		return err
	}
	defer b.Close()
	q.MaxAbsLogitError, q.MeanAbsLogitError, q.MaxAbsFP32Logit, q.ArgmaxAgree, q.Samples = 0, 0, 0, 0, 0
	sum, count := 0.0, 0
	for _, x := range inputs {
		fa, err := a.Run(ctx, x)
		if err != nil {
			return err
		}
		fb, err := b.Run(ctx, x)
		if err != nil {
			return err
		}
		ya, yb := fa[0], fb[0]
		if len(ya.Data) != len(yb.Data) {
			return fmt.Errorf("compare: %d vs %d logits", len(ya.Data), len(yb.Data))
		}
		for i := range ya.Data {
			d := math.Abs(float64(ya.Data[i]) - float64(yb.Data[i]))
			if math.IsNaN(d) {
				d = math.Inf(1)
			}
			q.MaxAbsLogitError = math.Max(q.MaxAbsLogitError, d)
			q.MaxAbsFP32Logit = math.Max(q.MaxAbsFP32Logit, math.Abs(float64(ya.Data[i])))
			sum += d
			count++
		}
		ra, rb := infer.ArgmaxRows(ya), infer.ArgmaxRows(yb)
		for i := range ra {
			q.Samples++
			if ra[i] == rb[i] {
				q.ArgmaxAgree++
			}
		}
	}
	q.MeanAbsLogitError = sum / float64(max(count, 1))
	return nil
}
