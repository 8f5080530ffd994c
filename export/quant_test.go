package export

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/onnx"
)

// wideRanges gives every tensor Quantize needs the range [-8, 8] ([0, 8]
// after a ReLU6 clamp).
func wideRanges(m *onnx.ModelProto, opts QuantOptions) map[string]Range {
	r := map[string]Range{}
	for _, v := range QuantTensors(m, opts) {
		r[v] = Range{Min: -8, Max: 8}
	}
	return r
}

func initMap(g *onnx.GraphProto) map[string]*onnx.TensorProto {
	m := map[string]*onnx.TensorProto{}
	for _, t := range g.GetInitializer() {
		m[t.GetName()] = t
	}
	return m
}

func scalarF(t *testing.T, tp *onnx.TensorProto) []float32 {
	t.Helper()
	v, err := onnx.FloatData(tp)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestQuantizeStructure checks the QDQ graph of the SGNAS-C fixture:
// every quantized Conv/Gemm reads DequantizeLinear outputs for its data
// input, its int8 weight (per channel, axis 0, zero points 0, |q| ≤ 127,
// dequantized within half a step of the float weight) and its int32 bias
// (scale = input scale × weight scale); no float weight is left on them;
// the kept float convs (stem, depthwise) are unchanged; onnx.checker
// accepts the model.
func TestQuantizeStructure(t *testing.T) {
	net, sd, _, _ := loadFixture(t)
	fp32, err := Build(net, sd, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []QuantOptions{{}, {FloatDepthwise: true, FloatStem: true}, {Symmetric: true, PerTensor: true}, {FullRange: true}} {
		q, err := Quantize(fp32, wideRanges(fp32, opts), opts)
		if err != nil {
			t.Fatal(err)
		}
		g := q.GetGraph()
		inits := initMap(g)
		fInits := initMap(fp32.GetGraph())
		producer := map[string]*onnx.NodeProto{}
		for _, n := range g.GetNode() {
			for _, o := range n.GetOutput() {
				producer[o] = n
			}
		}
		dqOf := func(v string) *onnx.NodeProto {
			if p := producer[v]; p != nil && p.GetOpType() == "DequantizeLinear" {
				return p
			}
			return nil
		}
		quantized, kept := 0, 0
		for _, n := range g.GetNode() {
			op := n.GetOpType()
			if op != "Conv" && op != "Gemm" {
				continue
			}
			in := n.GetInput()
			if dqOf(in[1]) == nil {
				// A float conv: only the ones opts keeps.
				isDW := attrInt(n, "group", 1) > 1
				isStem := in[0] == InputName
				if !(opts.FloatDepthwise && isDW) && !(opts.FloatStem && isStem) {
					t.Fatalf("%+v: %s %s has a float weight", opts, op, n.GetName())
				}
				if _, ok := fInits[in[1]]; !ok {
					t.Fatalf("%s: float weight %s not from the FP32 model", n.GetName(), in[1])
				}
				kept++
				continue
			}
			quantized++
			xdq := dqOf(in[0])
			if xdq == nil {
				t.Fatalf("%s: data input %s is not dequantized", n.GetName(), in[0])
			}
			xs := scalarF(t, inits[xdq.GetInput()[1]])[0]
			wdq := dqOf(in[1])
			wq := inits[wdq.GetInput()[0]]
			if wq.GetDataType() != int32(onnx.TensorProto_INT8) {
				t.Fatalf("%s: weight type %d, want INT8", n.GetName(), wq.GetDataType())
			}
			ws := scalarF(t, inits[wdq.GetInput()[1]])
			outC := int(wq.GetDims()[0])
			if !opts.PerTensor && (len(ws) != outC || attrInt(wdq, "axis", 1) != 0) {
				t.Fatalf("%s: %d weight scales (axis %d), want %d on axis 0", n.GetName(), len(ws), attrInt(wdq, "axis", 1), outC)
			}
			if opts.PerTensor && len(ws) != 1 {
				t.Fatalf("%s: %d weight scales, want 1", n.GetName(), len(ws))
			}
			for _, z := range inits[wdq.GetInput()[2]].GetRawData() {
				if z != 0 {
					t.Fatalf("%s: weight zero point %d", n.GetName(), z)
				}
			}
			// The float weight: the FP32 model's initializer of the same node.
			var orig []float32
			for _, fn := range fp32.GetGraph().GetNode() {
				if fn.GetName() == n.GetName() {
					orig = scalarF(t, fInits[fn.GetInput()[1]])
				}
			}
			raw := wq.GetRawData()
			per := len(raw) / len(ws)
			qmax := 64
			if opts.FullRange {
				qmax = 127
			}
			for i, b := range raw {
				v := int(int8(b))
				if v > qmax || v < -qmax {
					t.Fatalf("%s: weight %d out of range", n.GetName(), v)
				}
				s := ws[i/per]
				if d := math.Abs(float64(orig[i]) - float64(v)*float64(s)); d > float64(s)/2*1.0001 {
					t.Fatalf("%s: weight %d dequantizes %g off (scale %g)", n.GetName(), i, d, s)
				}
			}
			if len(in) > 2 {
				bdq := dqOf(in[2])
				if bdq == nil || inits[bdq.GetInput()[0]].GetDataType() != int32(onnx.TensorProto_INT32) {
					t.Fatalf("%s: bias is not an int32 DequantizeLinear", n.GetName())
				}
				bs := scalarF(t, inits[bdq.GetInput()[1]])
				for o := range bs {
					want := float64(xs) * float64(ws[min(o, len(ws)-1)])
					if math.Abs(float64(bs[o])-want) > 1e-6*want {
						t.Fatalf("%s: bias scale %g, want %g", n.GetName(), bs[o], want)
					}
				}
				bq := inits[bdq.GetInput()[0]].GetRawData()
				var fb []float32
				for _, fn := range fp32.GetGraph().GetNode() {
					if fn.GetName() == n.GetName() {
						fb = scalarF(t, fInits[fn.GetInput()[2]])
					}
				}
				for o := range bs {
					v := int32(binary.LittleEndian.Uint32(bq[4*o:]))
					if d := math.Abs(float64(fb[o]) - float64(v)*float64(bs[o])); d > float64(bs[o])/2*1.0001 {
						t.Fatalf("%s: bias %d dequantizes %g off", n.GetName(), o, d)
					}
				}
			}
		}
		wantQ := 0
		for _, n := range fp32.GetGraph().GetNode() {
			if op := n.GetOpType(); op == "Conv" || op == "Gemm" {
				wantQ++
			}
		}
		if quantized+kept != wantQ || quantized == 0 {
			t.Fatalf("%+v: %d quantized + %d float convs, want %d in all", opts, quantized, kept, wantQ)
		}
		if opts.FloatDepthwise && kept == 0 {
			t.Fatalf("%+v: no float conv kept", opts)
		}
		for _, tp := range g.GetInitializer() {
			if strings.HasSuffix(tp.GetName(), ".weight") && tp.GetDataType() == int32(onnx.TensorProto_FLOAT) {
				if !opts.FloatDepthwise && !opts.FloatStem {
					t.Fatalf("%+v: float weight %s left", opts, tp.GetName())
				}
			}
		}
		path := filepath.Join(t.TempDir(), "q.onnx")
		if err := onnx.WriteFile(path, q); err != nil {
			t.Fatal(err)
		}
		pythonCheck(t, path)
	}
}

// TestQuantizeErrors: a model below opset 13, a missing or invalid range.
func TestQuantizeErrors(t *testing.T) {
	net, sd, _, _ := loadFixture(t)
	fp32, err := Build(net, sd, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	r := wideRanges(fp32, QuantOptions{})
	old := WithOutputs(fp32, nil)
	old.OpsetImport[0].Version = 12
	if _, err := Quantize(old, r, QuantOptions{}); err == nil || !strings.Contains(err.Error(), "opset 12") {
		t.Fatalf("opset 12: %v", err)
	}
	var some string
	for k := range r {
		some = k
		break
	}
	bad := map[string]Range{}
	for k, v := range r {
		bad[k] = v
	}
	delete(bad, some)
	if _, err := Quantize(fp32, bad, QuantOptions{}); err == nil || !strings.Contains(err.Error(), some) {
		t.Fatalf("missing range: %v", err)
	}
	bad[some] = Range{Min: 1, Max: float32(math.NaN())}
	if _, err := Quantize(fp32, bad, QuantOptions{}); err == nil || !strings.Contains(err.Error(), "invalid range") {
		t.Fatalf("NaN range: %v", err)
	}
}

// TestActParams: the quantization of a range represents its ends and 0.
func TestActParams(t *testing.T) {
	for _, r := range []Range{{-1, 3}, {0, 6}, {-5, -1}, {0.5, 2}, {0, 0}, {-2, 2}} {
		for _, sym := range []bool{false, true} {
			s, zp := ActParams(r, QuantOptions{Symmetric: sym})
			if !(s > 0) {
				t.Fatalf("%v sym %v: scale %g", r, sym, s)
			}
			lo, hi := 0.0, 255.0
			if sym {
				lo, hi = -127, 127
				if zp != 0 {
					t.Fatalf("%v symmetric: zero point %d", r, zp)
				}
			}
			for _, x := range []float32{r.Min, r.Max, 0} {
				q := math.Round(float64(x)/float64(s)) + float64(zp)
				if q < lo-0.5 || q > hi+0.5 {
					t.Fatalf("%v sym %v: %g quantizes to %g outside [%g,%g]", r, sym, x, q, lo, hi)
				}
				if d := math.Abs((q-float64(zp))*float64(s) - float64(x)); d > float64(s)/2+1e-6 {
					t.Fatalf("%v sym %v: %g round-trips %g off (scale %g)", r, sym, x, d, s)
				}
			}
		}
	}
}

// TestQuantTensorsClamp: with asymmetric activations a Conv followed only by
// a Clip (ReLU6) is not quantized itself, its Clip output is.
func TestQuantTensorsClamp(t *testing.T) {
	net, err := models.Build(testArch("cifar10", 3), models.Options{Act: models.ReLU6, Classes: 10})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Build(net, InitWeights(net, 1), DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	asym := strings.Join(QuantTensors(m, QuantOptions{}), " ")
	sym := strings.Join(QuantTensors(m, QuantOptions{Symmetric: true}), " ")
	if strings.Contains(asym, "first.conv ") || !strings.Contains(asym, "first.act") {
		t.Fatalf("asymmetric: %s", asym)
	}
	if !strings.Contains(sym, "first.conv ") {
		t.Fatalf("symmetric: %s", sym)
	}
}

// TestQuantizeBiasOverflow: with tiny activation ranges the int32 biases
// would overflow; the weight scales are raised so that every bias stays
// representable (|q| ≤ 2^30) and dequantizes to itself within half a step.
func TestQuantizeBiasOverflow(t *testing.T) {
	net, sd, _, _ := loadFixture(t)
	fp32, err := Build(net, sd, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	r := map[string]Range{}
	for _, v := range QuantTensors(fp32, QuantOptions{}) {
		r[v] = Range{Min: -1e-9, Max: 1e-9}
	}
	for _, opts := range []QuantOptions{{}, {PerTensor: true}} {
		q, err := Quantize(fp32, r, opts)
		if err != nil {
			t.Fatal(err)
		}
		inits := initMap(q.GetGraph())
		fInits := initMap(fp32.GetGraph())
		checked := 0
		for _, n := range q.GetGraph().GetNode() {
			if n.GetOpType() != "DequantizeLinear" || inits[n.GetInput()[0]].GetDataType() != int32(onnx.TensorProto_INT32) {
				continue
			}
			name := strings.TrimSuffix(n.GetInput()[0], "_quantized")
			fb := scalarF(t, fInits[name])
			bs := scalarF(t, inits[n.GetInput()[1]])
			raw := inits[n.GetInput()[0]].GetRawData()
			for o := range fb {
				v := int32(binary.LittleEndian.Uint32(raw[4*o:]))
				if v > 1<<30 || v < -(1<<30) {
					t.Fatalf("%s[%d]: int32 bias %d beyond 2^30", name, o, v)
				}
				if d := math.Abs(float64(fb[o]) - float64(v)*float64(bs[o])); d > float64(bs[o])/2*1.0001 {
					t.Fatalf("%s[%d]: bias %g dequantizes %g off (scale %g)", name, o, fb[o], d, bs[o])
				}
			}
			checked++
		}
		if checked == 0 {
			t.Fatal("no bias checked")
		}
	}
}
