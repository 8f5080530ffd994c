package models

import (
	"fmt"
)

// Options are the network options an architecture is built with.
type Options struct {
	Space   *Space
	Classes int        // 0: the space's default
	SE      bool       // squeeze-and-excitation in every inverted-residual block
	Act     Activation // "" means ReLU6
}

// Conv is a convolution of the network description. Padding is Kernel/2.
type Conv struct {
	Weight string // state-dict tensor name of the weight [Out, In/Groups, K, K]
	Bias   string // tensor name of the bias, "" when there is none
	In     int
	Out    int
	Kernel int
	Stride int
	Groups int
	HIn    int
	HOut   int
}

// MACs is the multiply-accumulate count of the conv on one image, as the
// authors' counter computes it: output elements × k² × In/Groups.
func (c Conv) MACs() int64 {
	return int64(c.Out) * int64(c.HOut) * int64(c.HOut) * int64(c.Kernel*c.Kernel) * int64(c.In/c.Groups)
}

// Params is the number of weights (and bias entries) of the conv.
func (c Conv) Params() int64 {
	n := int64(c.Out) * int64(c.In/c.Groups) * int64(c.Kernel*c.Kernel)
	if c.Bias != "" {
		n += int64(c.Out)
	}
	return n
}

// WeightShape is [Out, In/Groups, K, K].
func (c Conv) WeightShape() []int { return []int{c.Out, c.In / c.Groups, c.Kernel, c.Kernel} }

// BN is a batch normalisation over C channels (eps 1e-5). Its tensors are
// Prefix+".weight", ".bias", ".running_mean" and ".running_var".
type BN struct {
	Prefix string
	C      int
}

// BNEps is the batch-norm epsilon of every BN in the network (PyTorch default).
const BNEps = 1e-5

// Tensor names of a BN.
func (b BN) Weight() string      { return b.Prefix + ".weight" }
func (b BN) Bias() string        { return b.Prefix + ".bias" }
func (b BN) RunningMean() string { return b.Prefix + ".running_mean" }
func (b BN) RunningVar() string  { return b.Prefix + ".running_var" }

// SE is a squeeze-and-excitation unit: global average pool, Squeeze (1×1 conv
// with bias, M→M/4), ReLU, Excite (1×1 conv with bias, M/4→M), h-sigmoid, and
// a channel-wise multiply.
type SE struct {
	Squeeze, Excite Conv
}

// Block is an inverted-residual block of the standalone network.
type Block struct {
	Name        string // "first_mb" or "stages.{l}"
	Layer       int    // searchable layer index, -1 for first_mb
	In          int
	Out         int
	Hidden      int
	Stride      int
	HIn         int
	HOut        int
	Kernels     []int // depthwise kernel per channel group, in group order
	GroupSize   int   // channels per group (= In)
	Expand      *Conv // nil when Hidden == In
	ExpandBN    *BN
	Depthwise   []Conv // one per group
	DepthwiseBN BN     // over all Hidden channels
	SE          *SE
	Project     Conv
	ProjectBN   BN
	Residual    bool
}

// GroupOffset is the first hidden channel of group g.
func (b *Block) GroupOffset(g int) int { return g * b.GroupSize }

// Linear is the classifier.
type Linear struct {
	Weight, Bias string
	In, Out      int
}

// Network is the standalone network an architecture and options yield
// (reference §7.1), with the authors' state-dict tensor names.
type Network struct {
	Arch       *Arch
	Space      *Space
	Opts       Options
	Stem       Conv
	StemBN     BN
	Blocks     []Block // Blocks[0] = first_mb, Blocks[1+l] = stages.l
	Head       Conv
	HeadBN     BN
	Classifier Linear
}

// Act returns the network's activation (ReLU6 when unset).
func (o Options) Activation() Activation {
	if o.Act == "" {
		return ReLU6
	}
	return o.Act
}

// NumClasses returns the number of classes (the space's default when unset).
func (o Options) NumClasses() int {
	if o.Classes > 0 {
		return o.Classes
	}
	return o.Space.Classes
}

// Build describes the standalone network of a valid architecture.
func Build(a *Arch, opts Options) (*Network, error) {
	if opts.Space == nil {
		s, err := SpaceByName(a.Space)
		if err != nil {
			return nil, err
		}
		opts.Space = s
	}
	if a.Space != "" && a.Space != opts.Space.Name {
		// cifar10 and cifar100 share a skeleton; anything else is a mismatch.
		if !(isCIFAR(a.Space) && isCIFAR(opts.Space.Name)) {
			return nil, fmt.Errorf("architecture is for space %q, options for %q", a.Space, opts.Space.Name)
		}
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if opts.Classes != 0 {
		if err := ValidateClasses(opts.Classes); err != nil {
			return nil, err
		}
	}
	if opts.Act != "" && opts.Act != ReLU6 && opts.Act != HSwish {
		return nil, fmt.Errorf("unknown activation %q: want relu6 or hswish", opts.Act)
	}
	s := opts.Space
	n := &Network{Arch: a, Space: s, Opts: opts}
	h := s.StemOutSize()
	n.Stem = Conv{Weight: "first.conv.weight", In: 3, Out: s.StemChannels, Kernel: 3, Stride: s.StemStride, Groups: 1, HIn: s.InputSize, HOut: h}
	n.StemBN = BN{Prefix: "first.bn", C: s.StemChannels}
	n.Blocks = append(n.Blocks, buildBlock("first_mb", -1, LayerSpec{In: s.StemChannels, Out: s.FirstOut, Stride: 1, HIn: h, HOut: h}, []int{3}, opts.SE))
	for l, spec := range s.Layers {
		n.Blocks = append(n.Blocks, buildBlock(fmt.Sprintf("stages.%d", l), l, spec, a.Layers[l].Kernels, opts.SE))
	}
	last := s.Layers[NumLayers-1]
	n.Head = Conv{Weight: "last_stage.0.weight", In: last.Out, Out: s.HeadChannels, Kernel: 1, Stride: 1, Groups: 1, HIn: last.HOut, HOut: last.HOut}
	n.HeadBN = BN{Prefix: "last_stage.1", C: s.HeadChannels}
	n.Classifier = Linear{Weight: "classifier.1.weight", Bias: "classifier.1.bias", In: s.HeadChannels, Out: opts.NumClasses()}
	return n, nil
}

// MaxClasses bounds the class count of a network (the classifier is a
// HeadChannels×classes matrix; 100000 classes is already 128M parameters for
// ImageNet's 1280-channel head). Larger counts in a file are corruption, not a
// model, and would make sgnas allocate gigabytes.
const MaxClasses = 100_000

// ValidateClasses checks a class count read from a file or a flag: 1..MaxClasses.
func ValidateClasses(n int) error {
	if n < 1 || n > MaxClasses {
		return fmt.Errorf("classes %d: want 1 to %d", n, MaxClasses)
	}
	return nil
}

func isCIFAR(name string) bool { return name == "cifar10" || name == "cifar100" }

func buildBlock(name string, layer int, spec LayerSpec, kernels []int, se bool) Block {
	g := spec.In
	hidden := len(kernels) * g
	b := Block{
		Name: name, Layer: layer, In: spec.In, Out: spec.Out, Hidden: hidden, Stride: spec.Stride,
		HIn: spec.HIn, HOut: spec.HOut, Kernels: append([]int(nil), kernels...), GroupSize: g,
		Residual: spec.Residual(),
	}
	if hidden != spec.In {
		b.Expand = &Conv{Weight: name + ".point_wise.conv.weight", In: spec.In, Out: hidden, Kernel: 1, Stride: 1, Groups: 1, HIn: spec.HIn, HOut: spec.HIn}
		b.ExpandBN = &BN{Prefix: name + ".point_wise.bn", C: hidden}
	}
	for i, k := range kernels {
		b.Depthwise = append(b.Depthwise, Conv{
			Weight: fmt.Sprintf("%s.depthwise.blocks.%d.weight", name, i),
			In:     g, Out: g, Kernel: k, Stride: spec.Stride, Groups: g, HIn: spec.HIn, HOut: spec.HOut,
		})
	}
	b.DepthwiseBN = BN{Prefix: name + ".depthwise.bn", C: hidden}
	if se {
		sq := hidden / 4
		b.SE = &SE{
			Squeeze: Conv{Weight: name + ".se.squeeze_conv.weight", Bias: name + ".se.squeeze_conv.bias", In: hidden, Out: sq, Kernel: 1, Stride: 1, Groups: 1, HIn: 1, HOut: 1},
			Excite:  Conv{Weight: name + ".se.excite_conv.weight", Bias: name + ".se.excite_conv.bias", In: sq, Out: hidden, Kernel: 1, Stride: 1, Groups: 1, HIn: 1, HOut: 1},
		}
	}
	b.Project = Conv{Weight: name + ".point_wise_1.conv.weight", In: hidden, Out: spec.Out, Kernel: 1, Stride: 1, Groups: 1, HIn: spec.HOut, HOut: spec.HOut}
	b.ProjectBN = BN{Prefix: name + ".point_wise_1.bn", C: spec.Out}
	return b
}

// Convs lists every conv of the block in execution order.
func (b *Block) Convs() []Conv {
	var cs []Conv
	if b.Expand != nil {
		cs = append(cs, *b.Expand)
	}
	cs = append(cs, b.Depthwise...)
	if b.SE != nil {
		cs = append(cs, b.SE.Squeeze, b.SE.Excite)
	}
	return append(cs, b.Project)
}

// BNs lists every BN of the block in execution order.
func (b *Block) BNs() []BN {
	var bs []BN
	if b.ExpandBN != nil {
		bs = append(bs, *b.ExpandBN)
	}
	return append(bs, b.DepthwiseBN, b.ProjectBN)
}

// MACs is the block's conv MAC count (SE convs included when present).
func (b *Block) MACs() int64 {
	var m int64
	for _, c := range b.Convs() {
		m += c.MACs()
	}
	return m
}

// Params is the block's trainable parameter count.
func (b *Block) Params() int64 {
	var p int64
	for _, c := range b.Convs() {
		p += c.Params()
	}
	for _, bn := range b.BNs() {
		p += 2 * int64(bn.C)
	}
	return p
}

// TensorKind says what a state-dict tensor is.
type TensorKind int

// Tensor kinds.
const (
	ConvWeight TensorKind = iota
	ConvBias
	BNWeight
	BNBias
	BNMean
	BNVar
	LinearWeight
	LinearBias
)

// String names the kind.
func (k TensorKind) String() string {
	return [...]string{"conv weight", "conv bias", "bn weight", "bn bias", "bn running_mean", "bn running_var", "linear weight", "linear bias"}[k]
}

// TensorSpec is one float tensor of the network's state dict.
type TensorSpec struct {
	Name  string
	Shape []int
	Kind  TensorKind
	// FanOut is k·k·out_channels for conv weights (the authors' init scale).
	FanOut int
}

// Trainable reports whether the tensor is a parameter (not a BN buffer).
func (t TensorSpec) Trainable() bool { return t.Kind != BNMean && t.Kind != BNVar }

// Numel is the number of elements.
func (t TensorSpec) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

func convSpecs(c Conv) []TensorSpec {
	ts := []TensorSpec{{Name: c.Weight, Shape: c.WeightShape(), Kind: ConvWeight, FanOut: c.Kernel * c.Kernel * c.Out}}
	if c.Bias != "" {
		ts = append(ts, TensorSpec{Name: c.Bias, Shape: []int{c.Out}, Kind: ConvBias})
	}
	return ts
}

func bnSpecs(b BN) []TensorSpec {
	return []TensorSpec{
		{Name: b.Weight(), Shape: []int{b.C}, Kind: BNWeight},
		{Name: b.Bias(), Shape: []int{b.C}, Kind: BNBias},
		{Name: b.RunningMean(), Shape: []int{b.C}, Kind: BNMean},
		{Name: b.RunningVar(), Shape: []int{b.C}, Kind: BNVar},
	}
}

// Tensors lists every float tensor of the state dict (parameters and BN
// running statistics; not num_batches_tracked), in module order.
func (n *Network) Tensors() []TensorSpec {
	ts := append(convSpecs(n.Stem), bnSpecs(n.StemBN)...)
	for i := range n.Blocks {
		b := &n.Blocks[i]
		if b.Expand != nil {
			ts = append(ts, convSpecs(*b.Expand)...)
			ts = append(ts, bnSpecs(*b.ExpandBN)...)
		}
		for _, c := range b.Depthwise {
			ts = append(ts, convSpecs(c)...)
		}
		ts = append(ts, bnSpecs(b.DepthwiseBN)...)
		ts = append(ts, convSpecs(b.Project)...)
		ts = append(ts, bnSpecs(b.ProjectBN)...)
		if b.SE != nil {
			ts = append(ts, convSpecs(b.SE.Squeeze)...)
			ts = append(ts, convSpecs(b.SE.Excite)...)
		}
	}
	ts = append(ts, convSpecs(n.Head)...)
	ts = append(ts, bnSpecs(n.HeadBN)...)
	ts = append(ts,
		TensorSpec{Name: n.Classifier.Weight, Shape: []int{n.Classifier.Out, n.Classifier.In}, Kind: LinearWeight},
		TensorSpec{Name: n.Classifier.Bias, Shape: []int{n.Classifier.Out}, Kind: LinearBias})
	return ts
}

// MACs is the full count of reference §6.1: every conv's MACs on one image
// (SE convs included when SE is on), classifier excluded.
func (n *Network) MACs() int64 {
	m := n.Stem.MACs() + n.Head.MACs()
	for i := range n.Blocks {
		m += n.Blocks[i].MACs()
	}
	return m
}

// MFLOPs is MACs in millions, the unit the paper reports.
func (n *Network) MFLOPs() float64 { return float64(n.MACs()) / 1e6 }

// Params counts every trainable parameter, classifier included.
func (n *Network) Params() int64 {
	p := n.Stem.Params() + 2*int64(n.StemBN.C) + n.Head.Params() + 2*int64(n.HeadBN.C)
	for i := range n.Blocks {
		p += n.Blocks[i].Params()
	}
	return p + int64(n.Classifier.In*n.Classifier.Out+n.Classifier.Out)
}
