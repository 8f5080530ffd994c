package pipeline

import (
	"context"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/data"
	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/internal/npy"
	"github.com/sgnas/sgnas/internal/orttest"
	"github.com/sgnas/sgnas/internal/testutil"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/onnx"
	"github.com/sgnas/sgnas/tensor"
	"github.com/sgnas/sgnas/weights"
)

// fixtureNet loads the SGNAS-C fixture network and weights.
func fixtureNet(t *testing.T) (*models.Network, weights.StateDict) {
	t.Helper()
	dir := testutil.Shared(t, "fixtures", "sgnas_c")
	af, err := models.LoadArchFile(filepath.Join(dir, "sgnas_c_arch.json"))
	if err != nil {
		t.Fatal(err)
	}
	net, err := models.Build(af.Arch, models.Options{SE: *af.SE, Act: models.Activation(af.Activation), Classes: af.Classes})
	if err != nil {
		t.Fatal(err)
	}
	sd, err := export.LoadWeights(filepath.Join(dir, "sgnas_c_state_dict.pth"), net, false)
	if err != nil {
		t.Fatal(err)
	}
	return net, sd
}

func runLevel(t *testing.T, path string, level int, x *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	o := infer.DefaultSessionOptions()
	o.OptLevel = level
	s, err := infer.NewSession(path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

// TestInt8Fixture exports the SGNAS-C fixture (real weights) as INT8,
// calibrated on 16 synthetic 224×224 images, in the default form (stem and
// depthwise convs in float) and with every conv quantized, and checks:
//   - metadata (precision=int8, method, samples) and the error report;
//   - ONNX Runtime's optimised graph runs the quantized convs as
//     QLinearConv (no float Conv left beyond the kept ones);
//   - on held-out inputs (synthetic test split and the fixture input) the
//     INT8 vs FP32 and fused-kernel vs QDQ-emulation figures are logged.
//
// The fixture's weights are seeded with calibrated BN: a random network
// whose 20 layers amplify any per-layer perturbation (quantization noise,
// or the rounding differences between ORT's integer kernels and its float
// emulation of the QDQ graph), so its end-to-end INT8 error is large; the
// per-layer accuracy is asserted by TestInt8Layers.
func TestInt8Fixture(t *testing.T) {
	orttest.Need(t)
	net, sd := fixtureNet(t)
	dir := t.TempDir()
	ctx := context.Background()
	fp32, err := export.Build(net, sd, export.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	fp32Path := filepath.Join(dir, "fp32.onnx")
	if err := onnx.WriteFile(fp32Path, fp32); err != nil {
		t.Fatal(err)
	}
	// Held out: the synthetic dataset's test split (calibration reads train).
	ds, err := data.Open("synthetic", "", data.Options{Split: "test", Size: 224})
	if err != nil {
		t.Fatal(err)
	}
	var held []*tensor.Tensor
	for i := 0; i < 4; i++ {
		x := tensor.New(1, 3, 224, 224)
		if _, err := ds.Get(i, nil, false, x.Data); err != nil {
			t.Fatal(err)
		}
		held = append(held, x)
	}
	fx, err := npy.Read(testutil.Shared(t, "fixtures", "sgnas_c", "sgnas_c_input.npy"))
	if err != nil {
		t.Fatal(err)
	}
	for _, spatial := range []bool{false, true} {
		cfg := &Int8Config{Data: "synthetic", Samples: 16, Method: CalibPercentile}
		cfg.Quant.FloatDepthwise, cfg.Quant.FloatStem = !spatial, !spatial
		q, info, err := Int8Model(ctx, "", net, fp32, cfg)
		if err != nil {
			t.Fatal(err)
		}
		md := onnx.Metadata(q)
		if md["precision"] != "int8" || md["calibration_method"] != CalibPercentile || md["calibration_samples"] != "16" || md["arch"] != net.Arch.String() {
			t.Fatalf("metadata %v", md)
		}
		if info.Samples != 16 || info.ArgmaxAgree > 16 || !(info.MaxAbsFP32Logit > 0) || !(info.MeanAbsLogitError <= info.MaxAbsLogitError) {
			t.Fatalf("info %+v", info)
		}
		t.Logf("spatial %v: %s", spatial, info)
		path := filepath.Join(dir, "int8.onnx")
		if err := onnx.WriteFile(path, q); err != nil {
			t.Fatal(err)
		}
		// The kernels ORT runs.
		o := infer.DefaultSessionOptions()
		o.OptimizedModelPath = filepath.Join(dir, "opt.onnx")
		s, err := infer.NewSession(path, o)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		om, err := onnx.ReadFile(o.OptimizedModelPath)
		if err != nil {
			t.Fatal(err)
		}
		counts := export.NodeCounts(om)
		floatConvs, allConvs := 0, 0
		for _, n := range fp32.GetGraph().GetNode() {
			if n.GetOpType() != "Conv" {
				continue
			}
			allConvs++
			g := int64(1)
			for _, a := range n.GetAttribute() {
				if a.GetName() == "group" {
					g = a.GetI()
				}
			}
			if !spatial && (g > 1 || n.GetInput()[0] == export.InputName) {
				floatConvs++
			}
		}
		t.Logf("spatial %v: ORT optimised graph %s", spatial, export.FormatNodeCounts(counts))
		if counts["QLinearConv"] != allConvs-floatConvs || counts["QGemm"] != 1 {
			t.Errorf("spatial %v: %d QLinearConv, %d QGemm; want %d and 1", spatial, counts["QLinearConv"], counts["QGemm"], allConvs-floatConvs)
		}
		// Integer kernels vs the QDQ specification, and INT8 vs FP32 on held-out inputs.
		var fpAll, qAll []float64
		agree, rows, maxErr := 0, 0, 0.0
		for i, x := range append(held, fx) {
			y99, y0 := runLevel(t, path, 99, x), runLevel(t, path, 0, x)
			f := runLevel(t, fp32Path, 99, x)
			sc := 0.0
			for _, v := range f.Data {
				sc = math.Max(sc, math.Abs(float64(v)))
			}
			d := 0.0
			for j := range y0.Data {
				d = math.Max(d, math.Abs(float64(y0.Data[j]-y99.Data[j])))
			}
			t.Logf("spatial %v held-out input %d: max |FP32 logit| %.3g, INT8 fused kernels vs QDQ graph (float emulation) max abs diff %.3g", spatial, i, sc, d)
			for j := range f.Data {
				fpAll, qAll = append(fpAll, float64(f.Data[j])), append(qAll, float64(y99.Data[j]))
				maxErr = math.Max(maxErr, math.Abs(float64(f.Data[j]-y99.Data[j])))
			}
			fa, qa := infer.ArgmaxRows(f), infer.ArgmaxRows(y99)
			for r := range fa {
				rows++
				if fa[r] == qa[r] {
					agree++
				}
			}
		}
		t.Logf("spatial %v: held-out INT8 vs FP32: max abs logit error %.3g, argmax agrees %d/%d, logit correlation %.3f", spatial, maxErr, agree, rows, corr(fpAll, qAll))
	}
}

func corr(a, b []float64) float64 {
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var sab, saa, sbb float64
	for i := range a {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	return sab / math.Sqrt(saa*sbb)
}

// TestInt8BadInput: every bad calibration setting is one clear error
// naming what was wrong, and nothing is written.
func TestInt8BadInput(t *testing.T) {
	orttest.Need(t)
	net, sd := fixtureNet(t)
	dir := t.TempDir()
	fp32, err := export.Build(net, sd, export.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.npy")
	if err := npy.Write(empty, tensor.New(0, 3, 224, 224)); err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(dir, "small.npy")
	if err := npy.Write(small, tensor.New(2, 3, 32, 32)); err != nil {
		t.Fatal(err)
	}
	nan := filepath.Join(dir, "nan.npy")
	a := tensor.New(1, 3, 224, 224)
	a.Data[5] = float32(math.NaN())
	if err := npy.Write(nan, a); err != nil {
		t.Fatal(err)
	}
	trunc := filepath.Join(dir, "trunc.npy")
	b, _ := os.ReadFile(small)
	if err := os.WriteFile(trunc, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cfg  Int8Config
		want string
	}{
		{Int8Config{}, "needs calibration data"},
		{Int8Config{Data: filepath.Join(dir, "missing.npy")}, "missing.npy"},
		{Int8Config{Data: empty}, "no samples"},
		{Int8Config{Data: small}, "the model takes [N,3,224,224]"},
		{Int8Config{Data: nan}, "non-finite"},
		{Int8Config{Data: trunc}, "trunc.npy"},
		{Int8Config{Data: "fashion-mnist"}, "images are 3×32×32, the model takes 3×224×224"},
		{Int8Config{Data: "mnist"}, "want a .npy file or a dataset"},
		{Int8Config{Data: "cifar10:" + dir}, "cifar10"},
		{Int8Config{Data: "synthetic", Method: "kl"}, "--calib-method"},
		{Int8Config{Data: "synthetic", Samples: -1}, "--calib-samples"},
	} {
		_, _, err := Int8Model(context.Background(), "", net, fp32, &c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: error %v, want one line with %q", c.cfg, err, c.want)
		}
	}
	for _, c := range []struct {
		opts export.Options
		want string
	}{
		{export.Options{Opset: 12, Optimize: true}, "--int8 needs --opset 13"},
		{export.Options{Opset: 17}, "--no-optimize"},
	} {
		if err := CheckInt8(&Int8Config{Data: "synthetic"}, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v", c.opts, err)
		}
	}
}

// TestCalibRanges: percentile and entropy ranges cut a far outlier that
// minmax keeps, and stay within the minmax range; minmax contains 0.
func TestCalibRanges(t *testing.T) {
	h := make([]float64, histBins)
	lo, hi := -1.0, 100.0 // values in [-1, 3] plus one outlier at 100
	bw := (hi - lo) / histBins
	for i := 0; i < 100000; i++ {
		v := -1 + 4*float64(i)/100000
		h[int((v-lo)/bw)]++
	}
	h[histBins-1]++
	a, b := percentileRange(h, lo, hi, 99.99)
	if a < lo || b > 3.5 || b < 2.9 {
		t.Errorf("percentile range [%g, %g], want about [-1, 3]", a, b)
	}
	for _, unsigned := range []bool{false, true} {
		a, b = entropyRange(h, lo, hi, unsigned)
		if a < lo-bw || b > 20 || b < 2 {
			t.Errorf("entropy (unsigned %v) range [%g, %g], want the outlier cut", unsigned, a, b)
		}
	}
	flat := make([]float64, histBins)
	for i := range flat {
		flat[i] = 1
	}
	if a, b := entropyRange(flat, 0, 1, true); a != 0 || b < 0.9 {
		t.Errorf("uniform [0,1]: entropy range [%g, %g], want [0, ~1]", a, b)
	}
}

// TestInt8Layers quantizes every searchable layer of the SGNAS-C fixture
// on its own (its real weights, export.BuildPiece; h-swish as HardSwish and
// in the gate form, whose 1×1 depthwise gate conv and Mul run as
// QLinearConv and QLinearMul), calibrated on 8 random
// inputs, and checks on 2 held-out inputs that the INT8 output is within a
// few percent of the FP32 output's range, and that ORT's fused integer
// kernels (level 99) agree with its float emulation of the QDQ graph
// (level 0) to within a few percent.
func TestInt8Layers(t *testing.T) {
	orttest.Need(t)
	net, sd := fixtureNet(t)
	if err := infer.Init(""); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx := context.Background()
	worst, worstFused := 0.0, 0.0
	for _, form := range []string{export.HSwishOp, export.HSwishGate} {
		for l := 0; l < models.NumLayers; l++ {
			blk := net.Blocks[1+l]
			p := export.Piece{Kind: export.PieceLayer, Layer: l, Kernels: blk.Kernels}
			eopts := export.DefaultOptions()
			eopts.HSwishForm = form
			m, err := export.BuildPiece(p, net.Opts, sd, 0, eopts)
			if err != nil {
				t.Fatal(err)
			}
			fpPath := filepath.Join(dir, "fp.onnx")
			if err := onnx.WriteFile(fpPath, m); err != nil {
				t.Fatal(err)
			}
			var xs []*tensor.Tensor
			for i := 0; i < 10; i++ {
				x := tensor.New(1, blk.In, blk.HIn, blk.HIn)
				copy(x.Data, seededInputN(int64(100*l+i), len(x.Data)))
				xs = append(xs, x)
			}
			for _, opts := range []export.QuantOptions{{}, {Symmetric: true}} {
				ranges, err := Calibrate(ctx, m, xs[:8], CalibMinMax, opts)
				if err != nil {
					t.Fatal(err)
				}
				q, err := export.Quantize(m, ranges, opts)
				if err != nil {
					t.Fatal(err)
				}
				qPath := filepath.Join(dir, "q.onnx")
				if err := onnx.WriteFile(qPath, q); err != nil {
					t.Fatal(err)
				}
				for _, x := range xs[8:] {
					f := runLevel(t, fpPath, 99, x)
					y99, y0 := runLevel(t, qPath, 99, x), runLevel(t, qPath, 0, x)
					sc, e, fused := 0.0, 0.0, 0.0
					for j := range f.Data {
						sc = math.Max(sc, math.Abs(float64(f.Data[j])))
						e = math.Max(e, math.Abs(float64(f.Data[j]-y99.Data[j])))
						fused = math.Max(fused, math.Abs(float64(y0.Data[j]-y99.Data[j])))
					}
					rel := e / sc
					worst = math.Max(worst, rel)
					worstFused = math.Max(worstFused, fused/sc)
					if rel > 0.15 {
						t.Errorf("h-swish %s, layer %d %v (symmetric %v): INT8 vs FP32 max abs error %.3g of max |out| %.3g", form, l, blk.Kernels, opts.Symmetric, e, sc)
					}
					if fused > 0.03*sc {
						t.Errorf("h-swish %s, layer %d %v (symmetric %v): fused kernels vs QDQ graph max abs diff %.3g of max |out| %.3g", form, l, blk.Kernels, opts.Symmetric, fused, sc)
					}
				}
			}
		}
	}
	t.Logf("worst layer: INT8 vs FP32 max abs error %.2f%% of max |out|; fused kernels vs QDQ graph %.2f%%", 100*worst, 100*worstFused)
}

func seededInputN(seed int64, n int) []float32 {
	rng := rand.New(rand.NewSource(seed))
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	return out
}
