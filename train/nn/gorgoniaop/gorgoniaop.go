// Package gorgoniaop exposes the training engine's kernels (train/nn) as
// gorgonia.Op implementations. It is the project's only gorgonia import.
package gorgoniaop

import (
	"fmt"
	"hash"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sgnas/sgnas/train/nn"
)

// The gorgonia.Op implementations below expose the engine's kernels to a
// gorgonia ExprGraph. Images use gorgonia's usual NCHW layout at the
// graph boundary; inside Do the data are transposed to CNHW and run through
// the same Tape code that training uses, so forward and gradient math are
// shared (and tested) once. Gradients are symbolic (SDOp): SymDiff adds one
// gradient node per differentiable input whose Do re-runs the forward on a
// private tape and back-propagates the incoming gradient. This path favours
// reuse and correctness over speed; training uses the Tape directly.

// gKernel is one engine operation as seen by gorgonia.
type gKernel interface {
	name() string
	inDims() []int // rank of each input
	outDims() int  // rank of the output (0 = scalar)
	diffWRT() []bool
	outShape(in []tensor.Shape) (tensor.Shape, error)
	// run records the op on tp for inputs already converted to engine
	// layout, returning the output in engine layout. training tells BN
	// whether to update running statistics (false in gradient re-runs).
	run(tp *nn.Tape, in []*nn.Var, updateStats bool) (*nn.Var, error)
	hashKey() string
	// images marks the inputs stored NCHW in the graph (converted to CNHW
	// for the engine); other inputs (weights, vectors) are used as they are.
	images() []bool
}

func toEngine(d []float32, shape tensor.Shape, image bool) *nn.Tensor {
	if image {
		return nn.ToCNHW(nn.FromData(d, shape...))
	}
	return &nn.Tensor{Shape: append([]int(nil), shape...), Data: append([]float32(nil), d...)}
}

// fromEngine converts an output (4-d outputs are always images).
func fromEngine(t *nn.Tensor, rank int) []float32 {
	if rank == 4 {
		return nn.ToNCHW(t).Data
	}
	return t.Data
}

func valueF32(v G.Value) ([]float32, tensor.Shape, error) {
	switch x := v.(type) {
	case *tensor.Dense:
		d, ok := x.Data().([]float32)
		if !ok {
			return nil, nil, fmt.Errorf("sgnas nn op: expected float32 data, got %v", x.Dtype())
		}
		return d, x.Shape().Clone(), nil
	case *G.F32:
		return []float32{float32(*x)}, tensor.ScalarShape(), nil
	default:
		return nil, nil, fmt.Errorf("sgnas nn op: unsupported value type %T", v)
	}
}

func makeValue(d []float32, rank int, shape []int) G.Value {
	if rank == 0 {
		return G.NewF32(d[0])
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
}

func typeOf(rank int) hm.Type {
	a := hm.TypeVariable('a')
	if rank == 0 {
		return a
	}
	return G.TensorType{Dims: rank, Of: a}
}

// engineOp adapts a gKernel to gorgonia.Op and gorgonia.SDOp.
type engineOp struct{ k gKernel }

func (op *engineOp) Arity() int { return len(op.k.inDims()) }
func (op *engineOp) Type() hm.Type {
	ts := make([]hm.Type, 0, op.Arity()+1)
	for _, d := range op.k.inDims() {
		ts = append(ts, typeOf(d))
	}
	ts = append(ts, typeOf(op.k.outDims()))
	return hm.NewFnType(ts...)
}
func (op *engineOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	shapes := make([]tensor.Shape, len(in))
	for i, d := range in {
		s, ok := d.(tensor.Shape)
		if !ok {
			return nil, fmt.Errorf("%s: expected shapes", op.k.name())
		}
		shapes[i] = s
	}
	return op.k.outShape(shapes)
}
func (op *engineOp) ReturnsPtr() bool      { return false }
func (op *engineOp) CallsExtern() bool     { return false }
func (op *engineOp) OverwritesInput() int  { return -1 }
func (op *engineOp) WriteHash(h hash.Hash) { fmt.Fprint(h, op.k.hashKey()) }
func (op *engineOp) Hashcode() uint32      { return fnvHash(op.k.hashKey()) }
func (op *engineOp) String() string        { return op.k.name() }
func (op *engineOp) DiffWRT(n int) []bool  { return op.k.diffWRT() }

func (op *engineOp) Do(vals ...G.Value) (G.Value, error) {
	tp := nn.NewTape(nil)
	in := make([]*nn.Var, len(vals))
	for i, v := range vals {
		d, s, err := valueF32(v)
		if err != nil {
			return nil, err
		}
		in[i] = tp.Const(toEngine(d, s, op.k.images()[i]))
	}
	y, err := op.k.run(tp, in, true)
	if err != nil {
		return nil, err
	}
	out := fromEngine(y.Value, op.k.outDims())
	shape := y.Value.Shape
	if op.k.outDims() == 4 {
		shape = []int{shape[1], shape[0], shape[2], shape[3]}
	}
	return makeValue(append([]float32(nil), out...), op.k.outDims(), shape), nil
}

func (op *engineOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	diffs := op.k.diffWRT()
	ret := make(G.Nodes, len(inputs))
	for i := range inputs {
		if !diffs[i] {
			continue
		}
		children := append(append(G.Nodes{}, inputs...), grad)
		n, err := G.ApplyOp(&gradOp{k: op.k, i: i}, children...)
		if err != nil {
			return nil, fmt.Errorf("%s: gradient wrt input %d: %w", op.k.name(), i, err)
		}
		ret[i] = n
	}
	return ret, nil
}

// gradOp computes ∂L/∂input_i of engineOp{k} from its inputs and ∂L/∂output.
type gradOp struct {
	k gKernel
	i int
}

func (op *gradOp) Arity() int { return len(op.k.inDims()) + 1 }
func (op *gradOp) Type() hm.Type {
	ts := []hm.Type{}
	for _, d := range op.k.inDims() {
		ts = append(ts, typeOf(d))
	}
	ts = append(ts, typeOf(op.k.outDims()), typeOf(op.k.inDims()[op.i]))
	return hm.NewFnType(ts...)
}
func (op *gradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, ok := in[op.i].(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("%s grad: expected shapes", op.k.name())
	}
	return s.Clone(), nil
}
func (op *gradOp) ReturnsPtr() bool      { return false }
func (op *gradOp) CallsExtern() bool     { return false }
func (op *gradOp) OverwritesInput() int  { return -1 }
func (op *gradOp) WriteHash(h hash.Hash) { fmt.Fprintf(h, "grad%d(%s)", op.i, op.k.hashKey()) }
func (op *gradOp) Hashcode() uint32      { return fnvHash(fmt.Sprintf("grad%d(%s)", op.i, op.k.hashKey())) }
func (op *gradOp) String() string        { return fmt.Sprintf("∂%s/∂in%d", op.k.name(), op.i) }

func (op *gradOp) Do(vals ...G.Value) (G.Value, error) {
	n := len(op.k.inDims())
	tp := nn.NewTape(nil)
	in := make([]*nn.Var, n)
	for i := 0; i < n; i++ {
		d, s, err := valueF32(vals[i])
		if err != nil {
			return nil, err
		}
		if i == op.i {
			in[i] = tp.Leaf(toEngine(d, s, op.k.images()[i]))
		} else {
			in[i] = tp.Const(toEngine(d, s, op.k.images()[i]))
		}
	}
	y, err := op.k.run(tp, in, false)
	if err != nil {
		return nil, err
	}
	gd, gs, err := valueF32(vals[n])
	if err != nil {
		return nil, err
	}
	g := toEngine(gd, gs, op.k.outDims() == 4)
	tp.BackwardFrom(y, g.Data)
	x := in[op.i]
	tp.GradOf(x)
	_, xs, _ := valueF32(vals[op.i])
	out := x.Grad.Data
	if op.k.images()[op.i] {
		out = nn.ToNCHW(x.Grad).Data
	}
	return makeValue(append([]float32(nil), out...), len(xs), xs), nil
}

func fnvHash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// ---- kernels ----

type convKernel struct{ g nn.ConvGeom }

func (k convKernel) name() string    { return fmt.Sprintf("SgnasConv2d%+v", k.g) }
func (k convKernel) hashKey() string { return k.name() }
func (k convKernel) inDims() []int   { return []int{4, 4} }
func (k convKernel) outDims() int    { return 4 }
func (k convKernel) diffWRT() []bool { return []bool{true, true} }
func (k convKernel) images() []bool  { return []bool{true, false} }
func (k convKernel) outShape(in []tensor.Shape) (tensor.Shape, error) {
	x := in[0]
	if len(x) != 4 || x[1] != k.g.Cin || !nn.SameShape(in[1], k.g.WeightShape()) {
		return nil, fmt.Errorf("%s: input %v weight %v", k.name(), x, in[1])
	}
	return tensor.Shape{x[0], k.g.Cout, k.g.OutSize(x[2]), k.g.OutSize(x[3])}, nil
}
func (k convKernel) run(tp *nn.Tape, in []*nn.Var, _ bool) (*nn.Var, error) {
	return tp.Conv2d(in[0], in[1], k.g), nil
}

// NewConv2dOp returns a gorgonia op computing conv(x NCHW, w [Cout,Cin/groups,K,K]).
func NewConv2dOp(g nn.ConvGeom) (G.Op, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return &engineOp{convKernel{g}}, nil
}

type bnKernel struct {
	st       *nn.BNState
	training *bool
	act      nn.Activation
}

func (k bnKernel) name() string    { return fmt.Sprintf("SgnasBatchNorm(%s)", k.act) }
func (k bnKernel) hashKey() string { return fmt.Sprintf("%s%p", k.name(), k.st) }
func (k bnKernel) inDims() []int   { return []int{4, 1, 1} }
func (k bnKernel) outDims() int    { return 4 }
func (k bnKernel) diffWRT() []bool { return []bool{true, true, true} }
func (k bnKernel) images() []bool  { return []bool{true, false, false} }
func (k bnKernel) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if len(in[0]) != 4 || in[0][1] != k.st.RunningMean.Numel() {
		return nil, fmt.Errorf("%s: input %v for %d channels", k.name(), in[0], k.st.RunningMean.Numel())
	}
	return in[0].Clone(), nil
}
func (k bnKernel) run(tp *nn.Tape, in []*nn.Var, update bool) (*nn.Var, error) {
	st := *k.st
	if !update {
		st.RunningMean, st.RunningVar = st.RunningMean.Clone(), st.RunningVar.Clone()
	}
	return tp.BatchNorm(in[0], in[1], in[2], st, *k.training, k.act), nil
}

// BNOp is a gorgonia BatchNorm(+activation) op over NCHW input with inputs
// (x, gamma [C], beta [C]). It implements gorgonia.TrainModeOp.
type BNOp struct {
	engineOp
	training *bool
}

// SetTraining selects batch statistics (true) or running statistics.
func (op *BNOp) SetTraining(t bool) error { *op.training = t; return nil }

// NewBatchNormOp returns a BatchNorm op using (and, in training mode,
// updating) st's running statistics, followed by act.
func NewBatchNormOp(st *nn.BNState, training bool, act nn.Activation) *BNOp {
	tr := training
	return &BNOp{engineOp: engineOp{bnKernel{st: st, training: &tr, act: act}}, training: &tr}
}

type actKernel struct {
	a    nn.Activation
	rank int
}

func (k actKernel) name() string    { return fmt.Sprintf("Sgnas%s%d", k.a, k.rank) }
func (k actKernel) hashKey() string { return k.name() }
func (k actKernel) inDims() []int   { return []int{k.rank} }
func (k actKernel) outDims() int    { return k.rank }
func (k actKernel) diffWRT() []bool { return []bool{true} }
func (k actKernel) images() []bool  { return []bool{k.rank == 4} }
func (k actKernel) outShape(in []tensor.Shape) (tensor.Shape, error) {
	return in[0].Clone(), nil
}
func (k actKernel) run(tp *nn.Tape, in []*nn.Var, _ bool) (*nn.Var, error) {
	return tp.Act(in[0], k.a), nil
}

// NewActOp returns an element-wise activation op for tensors of the given rank.
func NewActOp(a nn.Activation, rank int) G.Op { return &engineOp{actKernel{a, rank}} }

type gapKernel struct{}

func (gapKernel) name() string    { return "SgnasGlobalAvgPool" }
func (gapKernel) hashKey() string { return "SgnasGlobalAvgPool" }
func (gapKernel) inDims() []int   { return []int{4} }
func (gapKernel) outDims() int    { return 2 }
func (gapKernel) diffWRT() []bool { return []bool{true} }
func (gapKernel) images() []bool  { return []bool{true} }
func (gapKernel) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if len(in[0]) != 4 {
		return nil, fmt.Errorf("SgnasGlobalAvgPool: input %v is not NCHW", in[0])
	}
	return tensor.Shape{in[0][0], in[0][1]}, nil
}
func (gapKernel) run(tp *nn.Tape, in []*nn.Var, _ bool) (*nn.Var, error) {
	return tp.GlobalAvgPool(in[0]), nil
}

// NewGlobalAvgPoolOp returns an op mapping NCHW to [N,C] (differentiable,
// unlike gorgonia's pooling helpers).
func NewGlobalAvgPoolOp() G.Op { return &engineOp{gapKernel{}} }

type linearKernel struct{}

func (linearKernel) name() string    { return "SgnasLinear" }
func (linearKernel) hashKey() string { return "SgnasLinear" }
func (linearKernel) inDims() []int   { return []int{2, 2, 1} }
func (linearKernel) outDims() int    { return 2 }
func (linearKernel) diffWRT() []bool { return []bool{true, true, true} }
func (linearKernel) images() []bool  { return []bool{false, false, false} }
func (linearKernel) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if in[0][1] != in[1][1] || in[2][0] != in[1][0] {
		return nil, fmt.Errorf("SgnasLinear: x %v, w %v, b %v", in[0], in[1], in[2])
	}
	return tensor.Shape{in[0][0], in[1][0]}, nil
}
func (linearKernel) run(tp *nn.Tape, in []*nn.Var, _ bool) (*nn.Var, error) {
	return tp.Linear(in[0], in[1], in[2]), nil
}

// NewLinearOp returns an op computing x·wᵀ + b for x [N,In], w [Out,In], b [Out].
func NewLinearOp() G.Op { return &engineOp{linearKernel{}} }

type ceKernel struct{ eps float64 }

func (k ceKernel) name() string    { return fmt.Sprintf("SgnasLabelSmoothCE(%g)", k.eps) }
func (k ceKernel) hashKey() string { return k.name() }
func (k ceKernel) inDims() []int   { return []int{2, 1} }
func (k ceKernel) outDims() int    { return 0 }
func (k ceKernel) diffWRT() []bool { return []bool{true, false} }
func (k ceKernel) images() []bool  { return []bool{false, false} }
func (k ceKernel) outShape(in []tensor.Shape) (tensor.Shape, error) {
	if len(in[0]) != 2 || in[1][0] != in[0][0] {
		return nil, fmt.Errorf("%s: logits %v labels %v", k.name(), in[0], in[1])
	}
	return tensor.ScalarShape(), nil
}
func (k ceKernel) run(tp *nn.Tape, in []*nn.Var, _ bool) (*nn.Var, error) {
	labels := make([]int, len(in[1].Value.Data))
	for i, v := range in[1].Value.Data {
		labels[i] = int(v)
	}
	return tp.CrossEntropy(in[0], labels, k.eps)
}

// NewCrossEntropyOp returns the label-smoothed cross-entropy op with inputs
// (logits [N,C], labels [N] as float32 class indices) and a scalar output.
func NewCrossEntropyOp(eps float64) G.Op { return &engineOp{ceKernel{eps}} }
