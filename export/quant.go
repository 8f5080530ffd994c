package export

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/sgnas/sgnas/onnx"
)

// MinQuantOpset is the lowest opset an INT8 export is written at:
// per-channel DequantizeLinear (the axis attribute) needs opset 13.
const MinQuantOpset = 13

// Range is the calibrated range of one activation tensor.
type Range struct{ Min, Max float32 }

// QuantOptions control Quantize.
type QuantOptions struct {
	// PerTensor quantizes each weight with one scale instead of one per
	// output channel (per channel is the default).
	PerTensor bool
	// Symmetric quantizes activations as int8 with zero point 0 (s8
	// activations, s8 weights). The default is asymmetric uint8 activations
	// with s8 weights, the form ONNX Runtime's x86 integer kernels are
	// fastest on.
	Symmetric bool
	// FullRange quantizes weights to 8 bits ([-127, 127]). The default is
	// 7 bits ([-64, 63]): ONNX Runtime's x86 kernels for CPUs without VNNI
	// (AVX2) add pairs of u8×s8 products in 16 bits, which saturates with
	// 8-bit weights (measured: single layers of the SGNAS-C fixture off by
	// up to 28 % of their output range, 0.9 % with 7-bit weights). Use it
	// only for CPUs with VNNI or for ARM.
	FullRange bool
	// FloatDepthwise keeps depthwise convolutions with kernels larger than
	// 1×1 in float32.
	FloatDepthwise bool
	// FloatStem keeps the convolution reading the graph input in float32.
	FloatStem bool
}

// isSpatialDepthwise: a grouped conv with a kernel larger than 1×1 (the
// 1×1 depthwise conv of the h-swish gate is elementwise and stays int8).
func isSpatialDepthwise(n *onnx.NodeProto) bool {
	if attrInt(n, "group", 1) <= 1 {
		return false
	}
	for _, a := range n.GetAttribute() {
		if a.GetName() == "kernel_shape" {
			for _, k := range a.GetInts() {
				if k > 1 {
					return true
				}
			}
		}
	}
	return false
}

// quantNodes returns the nodes of g that run quantized: Conv (except those
// opts keeps in float), Gemm, Add, Mul and GlobalAveragePool, and Concat
// when every input comes from a quantized node.
func quantNodes(g *onnx.GraphProto, opts QuantOptions) map[*onnx.NodeProto]bool {
	graphIn := map[string]bool{}
	for _, v := range g.GetInput() {
		graphIn[v.GetName()] = true
	}
	producer := map[string]*onnx.NodeProto{}
	q := map[*onnx.NodeProto]bool{}
	for _, n := range g.GetNode() {
		for _, v := range n.GetOutput() {
			producer[v] = n
		}
		switch op := n.GetOpType(); {
		case op == "Conv":
			q[n] = !(opts.FloatDepthwise && isSpatialDepthwise(n)) && !(opts.FloatStem && graphIn[n.GetInput()[0]])
		case op == "Concat":
			all := true
			for _, v := range n.GetInput() {
				all = all && q[producer[v]]
			}
			q[n] = all
		default:
			q[n] = quantOps[op]
		}
	}
	return q
}

// quantOps are the operators whose activation inputs and outputs are
// quantized: ONNX Runtime's CPU EP fuses DequantizeLinear → op →
// QuantizeLinear of these into its integer kernels (QLinearConv,
// QGemm, QLinearAdd, QLinearMul, QLinearGlobalAveragePool, QLinearConcat).
var quantOps = map[string]bool{
	"Conv": true, "Gemm": true, "Add": true, "Mul": true,
	"GlobalAveragePool": true,
}

// clampOps are activations that a QuantizeLinear after them can absorb:
// a Conv followed only by one of them is not quantized itself, the
// activation's output is (ONNX Runtime removes the Relu/Clip when the
// quantized range lies within its bounds).
var clampOps = map[string]bool{"Relu": true, "Clip": true}

// QuantTensors returns the activation tensors of the FP32 model m that
// Quantize quantizes with the given options, sorted: the inputs and outputs
// of Conv, Gemm, Add, Mul, GlobalAveragePool and Concat nodes (and of the
// nodes between them: activations, Flatten, Split), except initializers and
// the graph outputs. With asymmetric activations a Conv output consumed
// only by one Relu/Clip is left in float (the clamp's output is quantized).
// These are the tensors a calibration must give a Range for.
func QuantTensors(m *onnx.ModelProto, opts QuantOptions) []string {
	g := m.GetGraph()
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	outs := map[string]bool{}
	for _, o := range g.GetOutput() {
		outs[o.GetName()] = true
	}
	cons := consumers(g)
	qn := quantNodes(g, opts)
	set := map[string]bool{}
	add := func(v string) {
		if v != "" && !inits[v] && !outs[v] {
			set[v] = true
		}
	}
	for _, n := range g.GetNode() {
		if !qn[n] {
			// Outputs of other ops feeding a quantized op are added as
			// that op's inputs below.
			continue
		}
		in := n.GetInput()
		switch n.GetOpType() {
		case "Conv", "Gemm":
			add(in[0])
		default:
			for _, v := range in {
				add(v)
			}
		}
		for _, v := range n.GetOutput() {
			if n.GetOpType() == "Conv" && !opts.Symmetric {
				if c := cons[v]; len(c) == 1 && clampOps[c[0].GetOpType()] {
					add(c[0].GetOutput()[0])
					continue
				}
			}
			add(v)
		}
	}
	names := make([]string, 0, len(set))
	for v := range set {
		names = append(names, v)
	}
	sort.Strings(names)
	return names
}

func consumers(g *onnx.GraphProto) map[string][]*onnx.NodeProto {
	c := map[string][]*onnx.NodeProto{}
	for _, n := range g.GetNode() {
		for _, v := range n.GetInput() {
			c[v] = append(c[v], n)
		}
	}
	return c
}

// WithOutputs returns a copy of m that also outputs the named tensors
// (float32, shape left to the runtime), for calibration.
func WithOutputs(m *onnx.ModelProto, names []string) *onnx.ModelProto {
	c := cloneModel(m)
	g := c.GetGraph()
	for _, v := range names {
		vi := onnx.TensorValueInfo(v)
		vi.GetType().GetTensorType().Shape = nil
		g.Output = append(g.Output, vi)
	}
	return c
}

func cloneModel(m *onnx.ModelProto) *onnx.ModelProto {
	b, err := onnx.Marshal(m)
	if err != nil {
		panic(err) // a model built in memory always marshals
	}
	c, err := onnx.Unmarshal(b)
	if err != nil {
		panic(err)
	}
	return c
}

// actParams are the scale and zero point of one quantized activation.
type actParams struct {
	scale float32
	zp    int32
}

// ActParams returns the scale and zero point of an activation with range r:
// asymmetric uint8 (range widened to include 0, zero point in [0,255]) or,
// with opts.Symmetric, int8 with zero point 0.
func ActParams(r Range, opts QuantOptions) (scale float32, zeroPoint int32) {
	lo, hi := math.Min(float64(r.Min), 0), math.Max(float64(r.Max), 0)
	if opts.Symmetric {
		a := math.Max(-lo, hi)
		s := a / 127
		if !(s > 0) || math.IsInf(s, 0) {
			s = 1
		}
		return float32(s), 0
	}
	s := (hi - lo) / 255
	if !(s > 0) || math.IsInf(s, 0) {
		return 1, 0
	}
	zp := math.Round(-lo / s)
	return float32(s), int32(math.Max(0, math.Min(255, zp)))
}

// Quantize rewrites the FP32 model m (as Build writes it) into a QDQ INT8
// model: every Conv and Gemm weight becomes a constant int8 initializer
// behind a DequantizeLinear (per output channel, axis 0, zero point 0,
// unless opts.PerTensor), every bias an int32 initializer with scale
// input scale × weight scale behind a DequantizeLinear, and every tensor of
// QuantTensors a QuantizeLinear → DequantizeLinear pair with the scale and
// zero point of its calibrated range. The graph keeps float32 input and
// output. m is not modified; metadata is copied (callers add precision
// entries). The opset must be at least MinQuantOpset.
func Quantize(m *onnx.ModelProto, ranges map[string]Range, opts QuantOptions) (*onnx.ModelProto, error) {
	opset := int64(0)
	for _, o := range m.GetOpsetImport() {
		if o.GetDomain() == "" {
			opset = o.GetVersion()
		}
	}
	if opset < MinQuantOpset {
		return nil, fmt.Errorf("quantize: opset %d: INT8 export needs opset %d or newer (per-channel DequantizeLinear)", opset, MinQuantOpset)
	}
	names := QuantTensors(m, opts)
	for _, v := range names {
		r, ok := ranges[v]
		if !ok {
			return nil, fmt.Errorf("quantize: no calibrated range for tensor %s", v)
		}
		if math.IsNaN(float64(r.Min)) || math.IsNaN(float64(r.Max)) || math.IsInf(float64(r.Min), 0) || math.IsInf(float64(r.Max), 0) || r.Min > r.Max {
			return nil, fmt.Errorf("quantize: tensor %s: invalid range [%g, %g]", v, r.Min, r.Max)
		}
	}
	c := cloneModel(m)
	g := c.GetGraph()
	q := &quantizer{g: g, opts: opts, inits: map[string]*onnx.TensorProto{}, used: map[string]bool{}}
	for _, t := range g.GetInitializer() {
		q.inits[t.GetName()] = t
		q.used[t.GetName()] = true
	}
	for _, n := range g.GetNode() {
		q.used[n.GetName()] = true
	}
	for _, v := range g.GetInput() {
		q.used[v.GetName()] = true
	}
	for _, n := range g.GetNode() {
		for _, v := range n.GetOutput() {
			q.used[v] = true
		}
	}

	// Activation Q/DQ pairs: consumers of v read v's DequantizeLinear.
	params := map[string]actParams{}
	dq := map[string]string{}   // activation → its DequantizeLinear output
	back := map[string]string{} // the reverse
	var pairs []*onnx.NodeProto
	for _, v := range names {
		s, zp := ActParams(ranges[v], opts)
		params[v] = actParams{s, zp}
		sName, zName := q.fresh(v+"_scale"), q.fresh(v+"_zero_point")
		q.addInit(onnx.FloatTensor(sName, nil, []float32{s}))
		q.addInit(q.zeroPointTensor(zName, nil, []int32{zp}, !opts.Symmetric))
		qv, dv := q.fresh(v+"_quantized"), q.fresh(v+"_dequantized")
		dq[v], back[dv] = dv, v
		pairs = append(pairs,
			q.node("QuantizeLinear", []string{v, sName, zName}, []string{qv}),
			q.node("DequantizeLinear", []string{qv, sName, zName}, []string{dv}))
	}
	for _, n := range g.GetNode() {
		for i, v := range n.GetInput() {
			if d, ok := dq[v]; ok {
				n.Input[i] = d
			}
		}
	}

	// Weights and biases of Conv and Gemm.
	var wnodes []*onnx.NodeProto
	qn := quantNodes(g, opts)
	for _, n := range g.GetNode() {
		op := n.GetOpType()
		if (op != "Conv" && op != "Gemm") || !qn[n] {
			continue
		}
		in := n.GetInput()
		src := in[0]
		if v, ok := back[src]; ok {
			src = v
		}
		ap, ok := params[src]
		if !ok {
			return nil, fmt.Errorf("quantize: %s %s: input %s is not quantized", op, n.GetName(), in[0])
		}
		if op == "Gemm" {
			if a := attrInt(n, "transB", 0); a != 1 || attrInt(n, "transA", 0) != 0 {
				return nil, fmt.Errorf("quantize: Gemm %s: only transA=0, transB=1 is supported", n.GetName())
			}
		}
		wt := q.inits[in[1]]
		if wt == nil {
			return nil, fmt.Errorf("quantize: %s %s: weight %s is not an initializer", op, n.GetName(), in[1])
		}
		w, err := onnx.FloatData(wt)
		if err != nil {
			return nil, fmt.Errorf("quantize: %w", err)
		}
		outC := int(wt.GetDims()[0])
		var bias []float32
		hasBias := len(in) > 2 && in[2] != ""
		if hasBias {
			bt := q.inits[in[2]]
			if bt == nil {
				return nil, fmt.Errorf("quantize: %s %s: bias %s is not an initializer", op, n.GetName(), in[2])
			}
			if bias, err = onnx.FloatData(bt); err != nil {
				return nil, fmt.Errorf("quantize: %w", err)
			}
			if len(bias) != outC {
				return nil, fmt.Errorf("quantize: %s %s: bias %s has %d values, want %d", op, n.GetName(), in[2], len(bias), outC)
			}
		}
		wq, ws := quantizeWeight(w, outC, !opts.PerTensor, !opts.FullRange, biasMinScales(bias, ap.scale, outC, !opts.PerTensor))
		wName, wsName, wzName := q.fresh(in[1]+"_quantized"), q.fresh(in[1]+"_scale"), q.fresh(in[1]+"_zero_point")
		sDims := []int64{int64(len(ws))}
		if len(ws) == 1 {
			sDims = nil
		}
		q.addInit(int8Tensor(wName, wt.GetDims(), wq))
		q.addInit(onnx.FloatTensor(wsName, sDims, ws))
		q.addInit(q.zeroPointTensor(wzName, sDims, make([]int32, len(ws)), false))
		wdq := q.fresh(in[1] + "_dequantized")
		var attrs []*onnx.AttributeProto
		if len(ws) > 1 {
			attrs = append(attrs, onnx.AttrInt("axis", 0))
		}
		wnodes = append(wnodes, q.node("DequantizeLinear", []string{wName, wsName, wzName}, []string{wdq}, attrs...))
		q.drop(in[1])
		n.Input[1] = wdq
		if !hasBias {
			continue
		}
		bs := make([]float32, outC)
		bq := make([]int32, outC)
		for o := range bs {
			s := float64(ap.scale) * float64(ws[min(o, len(ws)-1)])
			bs[o] = float32(s)
			bq[o] = int32(math.Max(math.MinInt32, math.Min(math.MaxInt32, math.Round(float64(bias[o])/float64(bs[o])))))
		}
		bName, bsName, bzName := q.fresh(in[2]+"_quantized"), q.fresh(in[2]+"_scale"), q.fresh(in[2]+"_zero_point")
		q.addInit(int32Tensor(bName, []int64{int64(outC)}, bq))
		q.addInit(onnx.FloatTensor(bsName, []int64{int64(outC)}, bs))
		q.addInit(int32Tensor(bzName, []int64{int64(outC)}, make([]int32, outC)))
		bdq := q.fresh(in[2] + "_dequantized")
		wnodes = append(wnodes, q.node("DequantizeLinear", []string{bName, bsName, bzName}, []string{bdq}, onnx.AttrInt("axis", 0)))
		q.drop(in[2])
		n.Input[2] = bdq
	}

	// Topological order: weight DQs first, then each activation's Q/DQ
	// right after the node that produces it (graph input: at the start).
	after := map[string][]*onnx.NodeProto{}
	for i := 0; i < len(pairs); i += 2 {
		v := pairs[i].GetInput()[0]
		after[v] = append(after[v], pairs[i], pairs[i+1])
	}
	nodes := append([]*onnx.NodeProto{}, wnodes...)
	for _, in := range g.GetInput() {
		nodes = append(nodes, after[in.GetName()]...)
	}
	for _, n := range g.GetNode() {
		nodes = append(nodes, n)
		for _, v := range n.GetOutput() {
			nodes = append(nodes, after[v]...)
		}
	}
	g.Node = nodes
	var kept []*onnx.TensorProto
	for _, t := range g.GetInitializer() {
		if !q.dropped[t.GetName()] {
			kept = append(kept, t)
		}
	}
	g.Initializer = kept
	return c, nil
}

func attrInt(n *onnx.NodeProto, name string, def int64) int64 {
	for _, a := range n.GetAttribute() {
		if a.GetName() == name {
			return a.GetI()
		}
	}
	return def
}

type quantizer struct {
	g       *onnx.GraphProto
	opts    QuantOptions
	inits   map[string]*onnx.TensorProto
	used    map[string]bool
	dropped map[string]bool
	nodes   int
}

func (q *quantizer) fresh(base string) string {
	name := base
	for i := 1; q.used[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	q.used[name] = true
	return name
}

func (q *quantizer) addInit(t *onnx.TensorProto) {
	q.g.Initializer = append(q.g.Initializer, t)
}

func (q *quantizer) drop(name string) {
	if q.dropped == nil {
		q.dropped = map[string]bool{}
	}
	q.dropped[name] = true
}

func (q *quantizer) node(op string, in, out []string, attrs ...*onnx.AttributeProto) *onnx.NodeProto {
	name := q.fresh(op + "_q" + strconv.Itoa(q.nodes))
	q.nodes++
	return &onnx.NodeProto{Name: name, OpType: op, Input: in, Output: out, Attribute: attrs}
}

// zeroPointTensor is a uint8 (unsigned) or int8 zero-point tensor.
func (q *quantizer) zeroPointTensor(name string, dims []int64, zp []int32, unsigned bool) *onnx.TensorProto {
	raw := make([]byte, len(zp))
	for i, z := range zp {
		raw[i] = byte(int8(z))
		if unsigned {
			raw[i] = byte(z)
		}
	}
	dt := onnx.TensorProto_INT8
	if unsigned {
		dt = onnx.TensorProto_UINT8
	}
	return &onnx.TensorProto{Name: name, Dims: dims, DataType: int32(dt), RawData: raw}
}

func int8Tensor(name string, dims []int64, v []int8) *onnx.TensorProto {
	raw := make([]byte, len(v))
	for i, x := range v {
		raw[i] = byte(x)
	}
	return &onnx.TensorProto{Name: name, Dims: append([]int64(nil), dims...), DataType: int32(onnx.TensorProto_INT8), RawData: raw}
}

func int32Tensor(name string, dims []int64, v []int32) *onnx.TensorProto {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(x))
	}
	return &onnx.TensorProto{Name: name, Dims: append([]int64(nil), dims...), DataType: int32(onnx.TensorProto_INT32), RawData: raw}
}

// maxBiasQ bounds the int32 biases (half the int32 range, so that the
// kernels' accumulations keep headroom).
const maxBiasQ = 1 << 30

// biasMinScales returns, per weight scale group, the smallest weight scale
// that keeps every bias b of the group representable as an int32 of scale
// inScale·weight scale (|b| / (inScale·w) ≤ maxBiasQ); nil without bias.
// Tiny activations (a small input scale) with a large bias would
// otherwise overflow.
func biasMinScales(bias []float32, inScale float32, outC int, perChannel bool) []float64 {
	if bias == nil {
		return nil
	}
	groups := 1
	if perChannel {
		groups = outC
	}
	out := make([]float64, groups)
	for o, b := range bias {
		g := o * groups / outC
		out[g] = math.Max(out[g], math.Abs(float64(b))/(float64(inScale)*maxBiasQ))
	}
	return out
}

// quantizeWeight quantizes w ([outC, …], row-major) symmetrically to int8:
// one scale per output channel (perChannel) or one for the tensor,
// max|w|/127 (/63 with reduceRange, values then in [-64, 63]), raised to
// minScale[group] when that is larger (nil: no bound).
func quantizeWeight(w []float32, outC int, perChannel, reduceRange bool, minScale []float64) ([]int8, []float32) {
	qmax := 127.0
	if reduceRange {
		qmax = 63
	}
	groups, per := 1, len(w)
	if perChannel {
		groups, per = outC, len(w)/outC
	}
	q := make([]int8, len(w))
	scales := make([]float32, groups)
	for c := 0; c < groups; c++ {
		a := 0.0
		for _, v := range w[c*per : (c+1)*per] {
			a = math.Max(a, math.Abs(float64(v)))
		}
		s := float32(a / qmax)
		if minScale != nil && float64(s) < minScale[c] {
			s = float32(minScale[c] * (1 + 1e-6))
		}
		if !(s > 0) {
			s = 1 // an all-zero channel: any scale represents it exactly
		}
		scales[c] = s
		for i := c * per; i < (c+1)*per; i++ {
			x := math.Round(float64(w[i]) / float64(s))
			q[i] = int8(math.Max(-qmax-1, math.Min(qmax, x)))
		}
	}
	return q, scales
}
