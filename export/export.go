// Package export turns a network description (models.Network) and its
// weights (weights.StateDict) into an ONNX inference graph.
//
// Two forms are written. The plain form mirrors the authors' PyTorch module
// one to one (every conv followed by its BatchNormalization, channel groups
// split, convolved and concatenated). The optimised form (the default) folds
// every BatchNormalization into the preceding convolution and merges the
// depthwise channel groups of equal kernel size into one convolution by
// permuting the channels between the expand and the project convolutions, so
// that a layer has at most three depthwise convolutions and no Split/Concat
// when it uses a single kernel size. Both compute the same function.
//
// Quantize rewrites a built graph into an INT8 QDQ graph from activation
// ranges that the caller calibrated (package pipeline runs the model for
// that; this package only builds graphs).
package export

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/onnx"
	"github.com/sgnas/sgnas/weights"
)

// Supported operator-set versions. HardSwish needs opset 14; opset 18 changed
// Split and the Reduce ops, so 17 is the newest written.
const (
	MinOpset     = 14
	MaxOpset     = 17
	DefaultOpset = 17
)

// Graph input and output names.
const (
	InputName  = "input"
	OutputName = "logits"
	BatchDim   = "N"
)

// Producer is the producer_name written into every model.
const Producer = "sgnas"

// Options control an export.
type Options struct {
	// Opset is the default-domain operator-set version (MinOpset..MaxOpset);
	// 0 means DefaultOpset.
	Opset int
	// Optimize folds BatchNormalization into convolutions and merges
	// same-kernel depthwise groups. False writes the plain graph. Note the
	// zero Options is the plain graph: start from DefaultOptions.
	Optimize bool
	// DepthwiseForm selects how the optimised graph writes a layer whose
	// channel groups use several kernel sizes (see the Depthwise*
	// constants; "" is DepthwiseSplit).
	DepthwiseForm string
	// HSwishForm selects how the optimised graph writes h-swish (see the
	// HSwish* constants; "" is HSwishOp).
	HSwishForm string
	// Target is the constraint the architecture was generated for, e.g.
	// "flops:275" ("" when unknown; then no "target" entry is written).
	Target string
	// GeneratorDigest identifies the generator checkpoint the architecture
	// came from (e.g. "sha256:…"; "" when unknown).
	GeneratorDigest string
	// Version is the sgnas version written as producer_version and
	// "sgnas_version".
	Version string
	// Metadata holds extra metadata_props entries; they override the
	// computed ones of the same key.
	Metadata map[string]string
}

// Depthwise forms of the optimised graph for layers with several kernel
// sizes.
const (
	// DepthwiseSplit splits the hidden channels by kernel size, runs one
	// depthwise conv per size and concatenates the results.
	DepthwiseSplit = "split"
	// DepthwisePadded runs one depthwise conv with the largest kernel of
	// the layer; smaller kernels are zero-padded (centred) to it, which
	// computes the same function without Split/Concat at the price of more
	// multiply-adds.
	DepthwisePadded = "padded"
)

// H-swish forms of the optimised graph.
const (
	// HSwishOp is ONNX's HardSwish op.
	HSwishOp = "op"
	// HSwishGate is x · Clip(DepthwiseConv1x1(x; 1/6, 1/2), 0, 1): ONNX
	// Runtime fuses the Clip into the conv and keeps conv and Mul in its
	// blocked NCHWc layout, where HardSwish (and HardSigmoid) force
	// layout reorders.
	HSwishGate = "gate"
)

// DefaultOptions is the optimised graph at the default opset.
func DefaultOptions() Options { return Options{Opset: DefaultOpset, Optimize: true} }

func (o Options) opset() (int, error) {
	if o.Opset == 0 {
		return DefaultOpset, nil
	}
	if o.Opset < MinOpset || o.Opset > MaxOpset {
		return 0, fmt.Errorf("opset %d is not supported: want %d..%d (HardSwish needs 14; 18 changed Split)", o.Opset, MinOpset, MaxOpset)
	}
	return o.Opset, nil
}

// Metadata returns the metadata_props an export of net with opts carries:
// space, arch (compact form), target (when known), lut_mflops (lookup-table
// count, no SE), mflops (full count, SE convs included when on), params, se,
// activation, classes, generator_digest (when known), sgnas_version, opset
// and optimized, then opts.Metadata on top.
func Metadata(net *models.Network, opts Options) map[string]string {
	opset, err := opts.opset()
	if err != nil {
		opset = opts.Opset
	}
	md := map[string]string{
		"space":      net.Space.Name,
		"arch":       net.Arch.String(),
		"lut_mflops": strconv.FormatFloat(net.Space.LUT().ArchMFLOPs(net.Arch), 'f', 3, 64),
		"mflops":     strconv.FormatFloat(net.MFLOPs(), 'f', 3, 64),
		"params":     strconv.FormatInt(net.Params(), 10),
		"se":         strconv.FormatBool(net.Opts.SE),
		"activation": string(net.Opts.Activation()),
		"classes":    strconv.Itoa(net.Opts.NumClasses()),
		"input_size": strconv.Itoa(net.Space.InputSize),
		"opset":      strconv.Itoa(opset),
		"optimized":  strconv.FormatBool(opts.Optimize),
	}
	if opts.Optimize && opts.DepthwiseForm == DepthwisePadded {
		md["depthwise_form"] = DepthwisePadded
	}
	if opts.Optimize && opts.HSwishForm == HSwishGate && net.Opts.Activation() == models.HSwish {
		md["hswish_form"] = HSwishGate
	}
	if opts.Target != "" {
		md["target"] = opts.Target
	}
	if opts.GeneratorDigest != "" {
		md["generator_digest"] = opts.GeneratorDigest
	}
	if opts.Version != "" {
		md["sgnas_version"] = opts.Version
	}
	for k, v := range opts.Metadata {
		md[k] = v
	}
	return md
}

// Build writes the ONNX model (IR 8) of net with the weights sd. Every tensor
// the network needs must be in sd with the expected shape (extra tensors are
// ignored here; use LoadWeights or weights.Match to reject them). The graph
// input is "input" [N,3,H,W] with a dynamic batch dimension N, the output
// "logits" [N,classes].
func Build(net *models.Network, sd weights.StateDict, opts Options) (*onnx.ModelProto, error) {
	opset, err := opts.opset()
	if err != nil {
		return nil, err
	}
	if net == nil {
		return nil, errors.New("export: no network")
	}
	if err := opts.checkForms(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := weights.Match(sd, net.Tensors(), true); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	b := newBuilder("sgnas_"+net.Space.Name, net, sd, opts)
	s := net.Space
	b.g.AddInput(InputName, BatchDim, 3, s.InputSize, s.InputSize)

	x := b.convBN(InputName, "first", net.Stem, net.StemBN)
	x = b.activation(x, "first", net.Stem.Out)
	for i := range net.Blocks {
		x = b.block(x, &net.Blocks[i])
	}
	b.head(x, net, OutputName)
	b.g.AddOutput(OutputName, BatchDim, net.Classifier.Out)
	if b.err != nil {
		return nil, fmt.Errorf("export: %w", b.err)
	}
	return onnx.NewModel(b.g.Graph(), int64(opset), Producer, opts.Version, Metadata(net, opts)), nil
}

// WriteFile builds the model of net and writes it to path atomically.
func WriteFile(path string, net *models.Network, sd weights.StateDict, opts Options) (*onnx.ModelProto, error) {
	m, err := Build(net, sd, opts)
	if err != nil {
		return nil, err
	}
	if err := onnx.WriteFile(path, m); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return m, nil
}

// checkForms refuses unknown graph forms.
func (o Options) checkForms() error {
	if f := o.DepthwiseForm; f != "" && f != DepthwiseSplit && f != DepthwisePadded {
		return fmt.Errorf("depthwise form %q: want %s or %s", f, DepthwiseSplit, DepthwisePadded)
	}
	if f := o.HSwishForm; f != "" && f != HSwishOp && f != HSwishGate {
		return fmt.Errorf("h-swish form %q: want %s or %s", f, HSwishOp, HSwishGate)
	}
	return nil
}

// newBuilder starts the graph name of net with weights sd and opts.
func newBuilder(name string, net *models.Network, sd weights.StateDict, opts Options) *builder {
	return &builder{
		g:          onnx.NewGraph(name),
		sd:         sd,
		opt:        opts.Optimize,
		dwForm:     opts.DepthwiseForm,
		hswishForm: opts.HSwishForm,
		act:        net.Opts.Activation(),
		names:      map[string]int{},
		inits:      map[string]bool{},
	}
}

// builder holds the state of one export.
type builder struct {
	g          *onnx.GraphBuilder
	sd         weights.StateDict
	opt        bool
	dwForm     string
	hswishForm string
	act        models.Activation
	names      map[string]int
	inits      map[string]bool
	err        error
}

// value returns a fresh value name based on base.
func (b *builder) value(base string) string {
	n := b.names[base]
	b.names[base]++
	if n == 0 {
		return base
	}
	return base + "_" + strconv.Itoa(n)
}

func (b *builder) tensor(name string) *weights.Tensor {
	t, ok := b.sd[name]
	if !ok && b.err == nil {
		b.err = fmt.Errorf("tensor %s: missing", name)
		return &weights.Tensor{}
	}
	return t
}

func (b *builder) initializer(name string, shape []int, data []float32) {
	if b.inits[name] {
		if b.err == nil {
			b.err = fmt.Errorf("internal error: initializer %s added twice", name)
		}
		return
	}
	b.inits[name] = true
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	b.g.AddInitializer(name, dims, data)
}

// activation applies the network's activation to x (channels channels):
// ReLU6 as Clip(0, 6) with scalar initializer bounds, h-swish as HardSwish
// or, in the HSwishGate form, as x · g where the gate g is a 1×1 depthwise
// Conv (weight 1/6, bias 1/2) followed by Clip(0, 1).
func (b *builder) activation(x, base string, channels int) string {
	out := b.value(base + ".act")
	switch {
	case b.act == models.HSwish && b.opt && b.hswishForm == HSwishGate:
		const lo, hi = "const.gate_min", "const.gate_max"
		if !b.inits[lo] {
			b.initializer(lo, []int{}, []float32{0})
			b.initializer(hi, []int{}, []float32{1})
		}
		w, bias := make([]float32, channels), make([]float32, channels)
		for i := range w {
			w[i], bias[i] = 1.0/6, 0.5
		}
		gbase := b.value(base + ".gate")
		c := models.Conv{In: channels, Out: channels, Kernel: 1, Stride: 1, Groups: channels}
		g := b.convNode(x, gbase+".conv", c, gbase+".weight", []int{channels, 1, 1, 1}, w, gbase+".bias", bias)
		gate := b.value(gbase)
		b.g.AddNode("Clip", []string{g, lo, hi}, []string{gate})
		b.g.AddNode("Mul", []string{x, gate}, []string{out})
	case b.act == models.HSwish:
		b.g.AddNode("HardSwish", []string{x}, []string{out})
	default:
		const lo, hi = "const.relu6_min", "const.relu6_max"
		if !b.inits[lo] {
			b.initializer(lo, []int{}, []float32{0})
			b.initializer(hi, []int{}, []float32{6})
		}
		b.g.AddNode("Clip", []string{x, lo, hi}, []string{out})
	}
	return out
}

// convNode adds a Conv node with the attributes of c and weight (and bias)
// initializers named wName (bName, "" for none).
func (b *builder) convNode(x, base string, c models.Conv, wName string, wShape []int, w []float32, bName string, bias []float32) string {
	b.initializer(wName, wShape, w)
	inputs := []string{x, wName}
	if bName != "" {
		b.initializer(bName, []int{len(bias)}, bias)
		inputs = append(inputs, bName)
	}
	out := b.value(base)
	p := int64(c.Kernel / 2)
	b.g.AddNode("Conv", inputs, []string{out},
		onnx.AttrInts("kernel_shape", int64(c.Kernel), int64(c.Kernel)),
		onnx.AttrInts("strides", int64(c.Stride), int64(c.Stride)),
		onnx.AttrInts("pads", p, p, p, p),
		onnx.AttrInts("dilations", 1, 1),
		onnx.AttrInt("group", int64(c.Groups)))
	return out
}

// plainConv adds conv c with its state-dict weight (and bias).
func (b *builder) plainConv(x, base string, c models.Conv) string {
	w := b.tensor(c.Weight)
	if c.Bias == "" {
		return b.convNode(x, base, c, c.Weight, w.Shape, w.Data, "", nil)
	}
	bias := b.tensor(c.Bias)
	return b.convNode(x, base, c, c.Weight, w.Shape, w.Data, c.Bias, bias.Data)
}

// bnNode adds a plain BatchNormalization node over bn's state-dict tensors.
func (b *builder) bnNode(x, base string, bn models.BN) string {
	names := []string{bn.Weight(), bn.Bias(), bn.RunningMean(), bn.RunningVar()}
	for _, n := range names {
		t := b.tensor(n)
		b.initializer(n, t.Shape, t.Data)
	}
	out := b.value(base + ".bn")
	b.g.AddNode("BatchNormalization", append([]string{x}, names...), []string{out},
		onnx.AttrFloat("epsilon", models.BNEps))
	return out
}

// bnAffine returns the per-channel scale γ/√(σ²+ε) and shift β − μ·scale of bn.
func (b *builder) bnAffine(bn models.BN) (scale, shift []float64) {
	g, be, mu, v := b.tensor(bn.Weight()), b.tensor(bn.Bias()), b.tensor(bn.RunningMean()), b.tensor(bn.RunningVar())
	if b.err != nil {
		return make([]float64, bn.C), make([]float64, bn.C)
	}
	scale = make([]float64, bn.C)
	shift = make([]float64, bn.C)
	for i := 0; i < bn.C; i++ {
		scale[i] = float64(g.Data[i]) / math.Sqrt(float64(v.Data[i])+models.BNEps)
		shift[i] = float64(be.Data[i]) - float64(mu.Data[i])*scale[i]
	}
	return scale, shift
}

// fold scales every output channel o of the conv weight w ([Out, …]) by
// scale[o] and returns the new weight and the bias shift (bias·scale+shift
// when the conv already has a bias).
func fold(w *weights.Tensor, bias []float32, scale, shift []float64) ([]float32, []float32) {
	out := len(scale)
	per := len(w.Data) / out
	nw := make([]float32, len(w.Data))
	nb := make([]float32, out)
	for o := 0; o < out; o++ {
		for i := 0; i < per; i++ {
			nw[o*per+i] = float32(float64(w.Data[o*per+i]) * scale[o])
		}
		bo := shift[o]
		if bias != nil {
			bo += float64(bias[o]) * scale[o]
		}
		nb[o] = float32(bo)
	}
	return nw, nb
}

// convBN adds conv c followed by bn: two nodes in the plain graph, one conv

// head writes the head (1×1 conv + BN + activation), global average pooling,
// flatten and the classifier from x into the value named out.
func (b *builder) head(x string, net *models.Network, out string) {
	x = b.convBN(x, "last_stage", net.Head, net.HeadBN)
	x = b.activation(x, "last_stage", net.Head.Out)
	pooled := b.value("pool")
	b.g.AddNode("GlobalAveragePool", []string{x}, []string{pooled})
	flat := b.value("flatten")
	b.g.AddNode("Flatten", []string{pooled}, []string{flat}, onnx.AttrInt("axis", 1))
	c := net.Classifier
	w := b.tensor(c.Weight)
	bias := b.tensor(c.Bias)
	b.initializer(c.Weight, w.Shape, w.Data)
	b.initializer(c.Bias, bias.Shape, bias.Data)
	b.g.AddNode("Gemm", []string{flat, c.Weight, c.Bias}, []string{out},
		onnx.AttrFloat("alpha", 1), onnx.AttrFloat("beta", 1), onnx.AttrInt("transB", 1))
}

// with folded weights in the optimised graph.
func (b *builder) convBN(x, base string, c models.Conv, bn models.BN) string {
	if !b.opt {
		return b.bnNode(b.plainConv(x, base+".conv", c), base, bn)
	}
	scale, shift := b.bnAffine(bn)
	w := b.tensor(c.Weight)
	nw, nb := fold(w, nil, scale, shift)
	return b.convNode(x, base+".conv", c, c.Weight, w.Shape, nw, base+".conv.bias", nb)
}

// block adds one inverted-residual block.
func (b *builder) block(x string, blk *models.Block) string {
	if b.opt {
		return b.optimisedBlock(x, blk)
	}
	return b.plainBlock(x, blk)
}

func (b *builder) plainBlock(x string, blk *models.Block) string {
	h := x
	if blk.Expand != nil {
		h = b.plainConv(h, blk.Name+".point_wise.conv", *blk.Expand)
		h = b.bnNode(h, blk.Name+".point_wise", *blk.ExpandBN)
		h = b.activation(h, blk.Name+".point_wise", blk.Hidden)
	}
	e := len(blk.Kernels)
	var parts []string
	if e == 1 {
		parts = []string{b.plainConv(h, blk.Name+".depthwise.blocks.0", blk.Depthwise[0])}
	} else {
		sizes := make([]int64, e)
		outs := make([]string, e)
		for i := range sizes {
			sizes[i] = int64(blk.GroupSize)
			outs[i] = b.value(fmt.Sprintf("%s.depthwise.split.%d", blk.Name, i))
		}
		splitName := blk.Name + ".depthwise.split_sizes"
		b.inits[splitName] = true
		b.g.AddInitializerInt64(splitName, []int64{int64(e)}, sizes)
		b.g.AddNode("Split", []string{h, splitName}, outs, onnx.AttrInt("axis", 1))
		for i, c := range blk.Depthwise {
			parts = append(parts, b.plainConv(outs[i], fmt.Sprintf("%s.depthwise.blocks.%d", blk.Name, i), c))
		}
	}
	h = b.concat(parts, blk.Name+".depthwise.concat")
	h = b.bnNode(h, blk.Name+".depthwise", blk.DepthwiseBN)
	h = b.activation(h, blk.Name+".depthwise", blk.Hidden)
	if blk.SE != nil {
		sq := b.tensor(blk.SE.Squeeze.Weight)
		sqb := b.tensor(blk.SE.Squeeze.Bias)
		ex := b.tensor(blk.SE.Excite.Weight)
		exb := b.tensor(blk.SE.Excite.Bias)
		h = b.se(h, blk, sq.Data, sqb.Data, ex.Data, exb.Data)
	}
	h = b.plainConv(h, blk.Name+".point_wise_1.conv", blk.Project)
	h = b.bnNode(h, blk.Name+".point_wise_1", blk.ProjectBN)
	return b.residual(x, h, blk)
}

func (b *builder) concat(parts []string, base string) string {
	if len(parts) == 1 {
		return parts[0]
	}
	out := b.value(base)
	b.g.AddNode("Concat", parts, []string{out}, onnx.AttrInt("axis", 1))
	return out
}

func (b *builder) residual(x, h string, blk *models.Block) string {
	if !blk.Residual {
		return h
	}
	out := b.value(blk.Name + ".add")
	b.g.AddNode("Add", []string{h, x}, []string{out})
	return out
}

// se adds the squeeze-and-excitation unit with the given (possibly permuted)
// weights: GlobalAveragePool → Conv(bias) → Relu → Conv(bias) →
// HardSigmoid(1/6, 1/2) → Mul.
func (b *builder) se(x string, blk *models.Block, sqW, sqB, exW, exB []float32) string {
	s := blk.SE
	base := blk.Name + ".se"
	pooled := b.value(base + ".pool")
	b.g.AddNode("GlobalAveragePool", []string{x}, []string{pooled})
	h := b.convNode(pooled, base+".squeeze_conv", s.Squeeze, s.Squeeze.Weight, s.Squeeze.WeightShape(), sqW, s.Squeeze.Bias, sqB)
	r := b.value(base + ".relu")
	b.g.AddNode("Relu", []string{h}, []string{r})
	h = b.convNode(r, base+".excite_conv", s.Excite, s.Excite.Weight, s.Excite.WeightShape(), exW, s.Excite.Bias, exB)
	gate := b.value(base + ".gate")
	b.g.AddNode("HardSigmoid", []string{h}, []string{gate}, onnx.AttrFloat("alpha", float32(1.0/6.0)), onnx.AttrFloat("beta", 0.5))
	out := b.value(base + ".mul")
	b.g.AddNode("Mul", []string{x, gate}, []string{out})
	return out
}

// segment is a run of hidden channels (after permutation) that share a
// depthwise kernel size: the groups, in original group order.
type segment struct {
	kernel int
	groups []int
}

// segments groups the channel groups of blk by kernel size, smallest first.
func segments(blk *models.Block) []segment {
	byK := map[int][]int{}
	var ks []int
	for g, k := range blk.Kernels {
		if _, ok := byK[k]; !ok {
			ks = append(ks, k)
		}
		byK[k] = append(byK[k], g)
	}
	sort.Ints(ks)
	segs := make([]segment, len(ks))
	for i, k := range ks {
		segs[i] = segment{kernel: k, groups: byK[k]}
	}
	return segs
}

// optimisedBlock adds blk with all BN folded and same-kernel groups merged:
// hidden channel j of the new order is old channel perm[j].
func (b *builder) optimisedBlock(x string, blk *models.Block) string {
	G, M := blk.GroupSize, blk.Hidden
	segs := segments(blk)
	perm := make([]int, 0, M)
	for _, s := range segs {
		for _, g := range s.groups {
			for c := 0; c < G; c++ {
				perm = append(perm, g*G+c)
			}
		}
	}

	h := x
	if blk.Expand != nil {
		scale, shift := b.bnAffine(*blk.ExpandBN)
		w := b.tensor(blk.Expand.Weight)
		nw, nb := fold(w, nil, scale, shift)
		pw, pb := permuteRows(nw, M, perm), permuteVec(nb, perm)
		h = b.convNode(h, blk.Name+".point_wise.conv", *blk.Expand, blk.Expand.Weight, w.Shape, pw, blk.Name+".point_wise.conv.bias", pb)
		h = b.activation(h, blk.Name+".point_wise", blk.Hidden)
	}

	// Depthwise: one conv per kernel size, BN folded per channel.
	dscale, dshift := b.bnAffine(blk.DepthwiseBN)
	if len(segs) > 1 && b.dwForm == DepthwisePadded {
		segs = []segment{{kernel: segs[len(segs)-1].kernel, groups: perm2groups(segs)}}
	}
	inputs := []string{h}
	if len(segs) > 1 {
		sizes := make([]int64, len(segs))
		outs := make([]string, len(segs))
		for i, s := range segs {
			sizes[i] = int64(len(s.groups) * G)
			outs[i] = b.value(fmt.Sprintf("%s.depthwise.split.k%d", blk.Name, s.kernel))
		}
		splitName := blk.Name + ".depthwise.split_sizes"
		b.inits[splitName] = true
		b.g.AddInitializerInt64(splitName, []int64{int64(len(segs))}, sizes)
		b.g.AddNode("Split", []string{h, splitName}, outs, onnx.AttrInt("axis", 1))
		inputs = outs
	}
	var parts []string
	for i, s := range segs {
		k := s.kernel
		n := len(s.groups) * G
		w := make([]float32, 0, n*k*k)
		bias := make([]float32, 0, n)
		for _, g := range s.groups {
			src := b.tensor(blk.Depthwise[g].Weight)
			off := g * G
			nw, nb := fold(src, nil, dscale[off:off+G], dshift[off:off+G])
			w = append(w, padKernels(nw, G, blk.Kernels[g], k)...)
			bias = append(bias, nb...)
		}
		c := models.Conv{In: n, Out: n, Kernel: k, Stride: blk.Stride, Groups: n}
		base := fmt.Sprintf("%s.depthwise.k%d", blk.Name, k)
		parts = append(parts, b.convNode(inputs[i], base, c, base+".weight", []int{n, 1, k, k}, w, base+".bias", bias))
	}
	h = b.concat(parts, blk.Name+".depthwise.concat")
	h = b.activation(h, blk.Name+".depthwise", blk.Hidden)

	if blk.SE != nil {
		sq := b.tensor(blk.SE.Squeeze.Weight)
		sqb := b.tensor(blk.SE.Squeeze.Bias)
		ex := b.tensor(blk.SE.Excite.Weight)
		exb := b.tensor(blk.SE.Excite.Bias)
		h = b.se(h, blk,
			permuteCols(sq.Data, blk.SE.Squeeze.Out, M, perm), sqb.Data,
			permuteRows(ex.Data, M, perm), permuteVec(exb.Data, perm))
	}

	scale, shift := b.bnAffine(blk.ProjectBN)
	w := b.tensor(blk.Project.Weight)
	nw, nb := fold(w, nil, scale, shift)
	h = b.convNode(h, blk.Name+".point_wise_1.conv", blk.Project, blk.Project.Weight, w.Shape,
		permuteCols(nw, blk.Project.Out, M, perm), blk.Name+".point_wise_1.conv.bias", nb)
	return b.residual(x, h, blk)
}

// perm2groups lists the groups of segs in order (the hidden-channel order
// of the permuted block).
func perm2groups(segs []segment) []int {
	var gs []int
	for _, s := range segs {
		gs = append(gs, s.groups...)
	}
	return gs
}

// padKernels zero-pads n depthwise kernels of size k×k (row-major, one
// after the other) to K×K, centred. A centred K×K kernel with padding K/2
// computes the same outputs as the k×k kernel with padding k/2 at any
// stride.
func padKernels(w []float32, n, k, K int) []float32 {
	if k == K {
		return w
	}
	out := make([]float32, n*K*K)
	off := (K - k) / 2
	for c := 0; c < n; c++ {
		for i := 0; i < k; i++ {
			copy(out[c*K*K+(i+off)*K+off:], w[c*k*k+i*k:c*k*k+i*k+k])
		}
	}
	return out
}

// permuteRows reorders the rows (first dimension, rows of them) of a
// row-major matrix: row j of the result is row perm[j] of w.
func permuteRows(w []float32, rows int, perm []int) []float32 {
	per := len(w) / rows
	out := make([]float32, len(w))
	for j, src := range perm {
		copy(out[j*per:(j+1)*per], w[src*per:(src+1)*per])
	}
	return out
}

// permuteCols reorders the columns of a row-major [rows, cols] matrix (a
// 1×1 conv weight [Out, In, 1, 1]): column j of the result is column perm[j].
func permuteCols(w []float32, rows, cols int, perm []int) []float32 {
	out := make([]float32, len(w))
	for r := 0; r < rows; r++ {
		for j, src := range perm {
			out[r*cols+j] = w[r*cols+src]
		}
	}
	return out
}

func permuteVec(v []float32, perm []int) []float32 {
	out := make([]float32, len(perm))
	for j, src := range perm {
		out[j] = v[src]
	}
	return out
}

// NodeCounts counts the nodes of a model by op type.
func NodeCounts(m *onnx.ModelProto) map[string]int {
	out := map[string]int{}
	for _, n := range m.GetGraph().GetNode() {
		out[n.GetOpType()]++
	}
	return out
}

// FormatNodeCounts formats node counts as "total (Conv 70, Add 9, …)", the
// most frequent op first.
func FormatNodeCounts(counts map[string]int) string {
	type kv struct {
		op string
		n  int
	}
	var kvs []kv
	total := 0
	for op, n := range counts {
		kvs = append(kvs, kv{op, n})
		total += n
	}
	sort.Slice(kvs, func(i, j int) bool {
		if kvs[i].n != kvs[j].n {
			return kvs[i].n > kvs[j].n
		}
		return kvs[i].op < kvs[j].op
	})
	s := strconv.Itoa(total) + " ("
	for i, e := range kvs {
		if i > 0 {
			s += ", "
		}
		s += e.op + " " + strconv.Itoa(e.n)
	}
	return s + ")"
}
