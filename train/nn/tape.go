package nn

import (
	"fmt"
	"math"
)

// Var is a value recorded on a Tape. Image activations are CNHW
// ([C, N, H, W]); vectors per sample are [N, F].
type Var struct {
	Value *Tensor
	// Grad is ∂loss/∂Value after Tape.Backward (nil if no gradient reached
	// it). For parameter Vars it is the Param's accumulating gradient.
	Grad *Tensor
	req  bool
	base *Var // views (SliceChannels) alias base's value and gradient
	off  int
}

// RequiresGrad reports whether gradients are computed for v.
func (v *Var) RequiresGrad() bool { return v.req }

// Tape records operations eagerly (define-by-run) so that a network whose
// structure changes every step can be differentiated without building a
// graph. Buffers come from a Pool and go back to it on Reset, so repeated
// steps of similar shapes do not allocate. A Tape is not safe for
// concurrent use; kernels themselves run on Threads() goroutines.
type Tape struct {
	pool *Pool
	ops  []func()
	bufs [][]float32
	prof *Profile
}

// NewTape returns a tape drawing buffers from pool (a new pool if nil).
func NewTape(pool *Pool) *Tape {
	if pool == nil {
		pool = NewPool()
	}
	return &Tape{pool: pool}
}

// Pool returns the tape's buffer pool.
func (t *Tape) Pool() *Pool { return t.pool }

// Reset forgets all recorded operations and recycles every buffer the tape
// allocated; Vars created before Reset must not be used afterwards.
func (t *Tape) Reset() {
	for _, b := range t.bufs {
		t.pool.Put(b)
	}
	t.bufs = t.bufs[:0]
	clear(t.ops)
	t.ops = t.ops[:0]
}

func (t *Tape) alloc(n int, zero bool) []float32 {
	var b []float32
	if zero {
		b = t.pool.Get(n)
	} else {
		b = t.pool.GetDirty(n)
	}
	t.bufs = append(t.bufs, b)
	return b
}

func (t *Tape) newVar(req bool, shape ...int) *Var {
	return &Var{Value: &Tensor{Shape: shape, Data: t.alloc(numel(shape), false)}, req: req}
}

// grad returns v's gradient tensor, allocating a zeroed one on first use.
func (t *Tape) grad(v *Var) []float32 {
	if v.Grad == nil {
		n := v.Value.Numel()
		if v.base != nil {
			bg := t.grad(v.base)
			v.Grad = &Tensor{Shape: v.Value.Shape, Data: bg[v.off : v.off+n]}
		} else {
			v.Grad = &Tensor{Shape: v.Value.Shape, Data: t.alloc(n, true)}
		}
	}
	return v.Grad.Data
}

func (t *Tape) gradIf(v *Var) []float32 {
	if !v.req {
		return nil
	}
	return t.grad(v)
}

// Const wraps x as a Var without gradient (e.g. the input batch, CNHW).
func (t *Tape) Const(x *Tensor) *Var { return &Var{Value: x} }

// Leaf wraps x as a Var whose gradient is wanted (e.g. architecture
// probabilities); read v.Grad after Backward and before Reset.
func (t *Tape) Leaf(x *Tensor) *Var { return &Var{Value: x, req: true} }

// Param wraps a store tensor: gradients accumulate into p.Grad (buffers
// without Grad become constants).
func (t *Tape) Param(p *Param) *Var {
	return &Var{Value: p.Value, Grad: p.Grad, req: p.Grad != nil}
}

// Zeros returns a constant zero activation of the given shape.
func (t *Tape) Zeros(shape ...int) *Var {
	return &Var{Value: &Tensor{Shape: shape, Data: t.alloc(numel(shape), true)}}
}

// Backward runs the recorded operations in reverse, starting from
// ∂loss/∂loss = 1 for a one-element loss. Parameter gradients accumulate
// (call Store.ZeroGrad between optimizer steps, not between paths).
func (t *Tape) Backward(loss *Var) {
	if loss.Value.Numel() != 1 {
		panic(fmt.Sprintf("nn.Tape.Backward: loss must have one element, has shape %v", loss.Value.Shape))
	}
	t.grad(loss)[0] += 1
	for i := len(t.ops) - 1; i >= 0; i-- {
		t.ops[i]()
	}
}

// BackwardFrom runs the recorded operations in reverse, starting from the
// gradient g of v (len(g) == v's element count): Backward for an output that
// is not a scalar loss. Gradients accumulate as in Backward.
func (t *Tape) BackwardFrom(v *Var, g []float32) {
	if len(g) != v.Value.Numel() {
		panic(fmt.Sprintf("nn.Tape.BackwardFrom: %d gradient values for shape %v", len(g), v.Value.Shape))
	}
	dst := t.grad(v)
	for i, x := range g {
		dst[i] += x
	}
	for i := len(t.ops) - 1; i >= 0; i-- {
		t.ops[i]()
	}
}

// GradOf returns v's gradient, a zero tensor when no operation reached v.
func (t *Tape) GradOf(v *Var) *Tensor {
	t.grad(v)
	return v.Grad
}

// Conv2d applies a dense (Groups 1) or depthwise (Groups = Cin) convolution
// without bias to x [Cin,N,H,W] with weight w [Cout,Cin/Groups,K,K].
func (t *Tape) Conv2d(x, w *Var, g ConvGeom) *Var {
	if err := g.check(); err != nil {
		panic("nn.Tape.Conv2d: " + err.Error())
	}
	c, n, h, wd := dims4(x.Value.Shape)
	if c != g.Cin || !SameShape(w.Value.Shape, g.WeightShape()) {
		panic(fmt.Sprintf("nn.Tape.Conv2d: input %v / weight %v do not match %+v", x.Value.Shape, w.Value.Shape, g))
	}
	ho, wo := g.OutSize(h), g.OutSize(wd)
	y := t.newVar(x.req || w.req, g.Cout, n, ho, wo)
	kind := "conv_kxk"
	switch {
	case g.Groups > 1:
		kind = "depthwise"
	case g.pointwise():
		kind = "conv1x1"
	}
	defer t.fwdDone(kind, t.now())
	if g.Groups > 1 {
		dwForwardFast(g, x.Value.Data, n, h, wd, w.Value.Data, y.Value.Data)
		t.recordK(kind, func() {
			if y.Grad == nil {
				return
			}
			dwBackwardFast(g, x.Value.Data, n, h, wd, w.Value.Data, y.Grad.Data, t.gradIf(w), t.gradIf(x))
		})
		return y
	}
	var cols []float32
	if !g.pointwise() {
		cols = t.alloc(g.Cin*g.K*g.K*n*ho*wo, false)
	}
	convDenseForward(g, x.Value.Data, n, h, wd, w.Value.Data, y.Value.Data, cols)
	t.recordK(kind, func() {
		if y.Grad == nil {
			return
		}
		var dcols []float32
		dx := t.gradIf(x)
		if dx != nil && cols != nil {
			dcols = t.pool.GetDirty(len(cols))
			defer t.pool.Put(dcols)
		}
		convDenseBackward(g, x.Value.Data, n, h, wd, w.Value.Data, cols, y.Grad.Data, t.gradIf(w), dx, dcols, t.pool)
	})
	return y
}

// BNState is the running statistics and hyper-parameters of a BatchNorm.
type BNState struct {
	RunningMean, RunningVar *Tensor
	Momentum, Eps           float64
}

// BatchNorm normalises x [C,N,H,W] (or [N,C]-free CNHW only) per channel
// and applies act (fused, saving memory). training selects batch
// statistics (and updates the running ones) or running statistics.
func (t *Tape) BatchNorm(x, gamma, beta *Var, st BNState, training bool, act Activation) *Var {
	defer t.fwdDone("bn", t.now())
	c := x.Value.Shape[0]
	m := x.Value.Numel() / c
	if gamma.Value.Numel() != c || beta.Value.Numel() != c || st.RunningMean.Numel() != c || st.RunningVar.Numel() != c {
		panic(fmt.Sprintf("nn.Tape.BatchNorm: %d channels but parameters of size %d/%d", c, gamma.Value.Numel(), beta.Value.Numel()))
	}
	y := t.newVar(x.req || gamma.req || beta.req, x.Value.Shape...)
	var mean, invstd []float32
	if training {
		mean, invstd = t.alloc(c, false), t.alloc(c, false)
		bnTrainForward(x.Value.Data, c, m, gamma.Value.Data, beta.Value.Data, y.Value.Data, mean, invstd,
			st.RunningMean.Data, st.RunningVar.Data, st.Momentum, st.Eps)
	} else {
		mean, invstd = t.alloc(c, false), t.alloc(c, false)
		for i := range mean {
			mean[i] = st.RunningMean.Data[i]
			invstd[i] = float32(1 / math.Sqrt(float64(st.RunningVar.Data[i])+st.Eps))
		}
		bnEvalForward(x.Value.Data, c, m, gamma.Value.Data, beta.Value.Data, y.Value.Data, st.RunningMean.Data, st.RunningVar.Data, st.Eps)
	}
	if act != ActNone {
		actForwardInPlace(act, y.Value.Data)
	}
	t.recordK("bn", func() {
		if y.Grad == nil {
			return
		}
		dy := y.Grad.Data
		dg, db := t.gradIf(gamma), t.gradIf(beta)
		if training {
			bnActTrainBackward(act, x.Value.Data, c, m, gamma.Value.Data, beta.Value.Data, mean, invstd, dy, dg, db, t.gradIf(x))
			return
		}
		if act != ActNone {
			dz := t.pool.GetDirty(len(dy))
			defer t.pool.Put(dz)
			bnActGrad(act, x.Value.Data, c, m, gamma.Value.Data, beta.Value.Data, mean, invstd, dy, dz)
			dy = dz
		}
		bnEvalBackward(x.Value.Data, c, m, gamma.Value.Data, st.RunningMean.Data, st.RunningVar.Data, dy, dg, db, t.gradIf(x), st.Eps)
	})
	return y
}

func actForwardInPlace(a Activation, y []float32) { actForward(a, y, y) }

// bnActGrad writes dz = act'(z)·dy where z = (x−mean)·invstd·γ + β is
// recomputed from x.
func bnActGrad(act Activation, x []float32, c, m int, gamma, beta, mean, invstd, dy, dz []float32) {
	parallelFor(c, 2*m, func(_, lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			a := gamma[ch] * invstd[ch]
			b := beta[ch] - mean[ch]*a
			xs, gs, ds := x[ch*m:(ch+1)*m], dy[ch*m:(ch+1)*m], dz[ch*m:(ch+1)*m]
			switch act {
			case ActReLU6:
				for i, v := range xs {
					z := v*a + b
					if z > 0 && z < 6 {
						ds[i] = gs[i]
					} else {
						ds[i] = 0
					}
				}
			default:
				for i, v := range xs {
					ds[i] = gs[i] * actDeriv(act, v*a+b)
				}
			}
		}
	})
}

// Act applies a pointwise activation.
func (t *Tape) Act(x *Var, a Activation) *Var {
	defer t.fwdDone("act", t.now())
	y := t.newVar(x.req, x.Value.Shape...)
	actForward(a, x.Value.Data, y.Value.Data)
	t.recordK("act", func() {
		if y.Grad == nil || !x.req {
			return
		}
		actBackward(a, x.Value.Data, y.Grad.Data, t.grad(x))
	})
	return y
}

// Add returns a + b (same shapes).
func (t *Tape) Add(a, b *Var) *Var {
	defer t.fwdDone("add", t.now())
	if !SameShape(a.Value.Shape, b.Value.Shape) {
		panic(fmt.Sprintf("nn.Tape.Add: shapes %v and %v", a.Value.Shape, b.Value.Shape))
	}
	y := t.newVar(a.req || b.req, a.Value.Shape...)
	ad, bd, yd := a.Value.Data, b.Value.Data, y.Value.Data
	for i := range yd {
		yd[i] = ad[i] + bd[i]
	}
	t.recordK("add", func() {
		if y.Grad == nil {
			return
		}
		if a.req {
			axpyTo(t.grad(a), 1, y.Grad.Data)
		}
		if b.req {
			axpyTo(t.grad(b), 1, y.Grad.Data)
		}
	})
	return y
}

// Scale returns s·x for a one-element s (gradients flow to both).
func (t *Tape) Scale(x, s *Var) *Var {
	defer t.fwdDone("scale", t.now())
	if s.Value.Numel() != 1 {
		panic("nn.Tape.Scale: scale must have one element")
	}
	y := t.newVar(x.req || s.req, x.Value.Shape...)
	sv := s.Value.Data[0]
	for i, v := range x.Value.Data {
		y.Value.Data[i] = sv * v
	}
	t.recordK("scale", func() {
		if y.Grad == nil {
			return
		}
		if x.req {
			axpyTo(t.grad(x), sv, y.Grad.Data)
		}
		if s.req {
			var acc float64
			for i, g := range y.Grad.Data {
				acc += float64(g) * float64(x.Value.Data[i])
			}
			t.grad(s)[0] += float32(acc)
		}
	})
	return y
}

// SliceChannels returns channels [lo,hi) of a CNHW activation as a view
// (no copy; its gradient aliases x's).
func (t *Tape) SliceChannels(x *Var, lo, hi int) *Var {
	c := x.Value.Shape[0]
	if lo < 0 || hi > c || lo >= hi {
		panic(fmt.Sprintf("nn.Tape.SliceChannels: [%d,%d) of %d channels", lo, hi, c))
	}
	per := x.Value.Numel() / c
	shape := append([]int{hi - lo}, x.Value.Shape[1:]...)
	return &Var{Value: &Tensor{Shape: shape, Data: x.Value.Data[lo*per : hi*per]}, req: x.req, base: x, off: lo * per}
}

// Concat concatenates CNHW activations along channels.
func (t *Tape) Concat(xs ...*Var) *Var {
	defer t.fwdDone("concat", t.now())
	rest := xs[0].Value.Shape[1:]
	c, req := 0, false
	for _, x := range xs {
		if !SameShape(x.Value.Shape[1:], rest) {
			panic(fmt.Sprintf("nn.Tape.Concat: shapes %v and %v", xs[0].Value.Shape, x.Value.Shape))
		}
		c += x.Value.Shape[0]
		req = req || x.req
	}
	y := t.newVar(req, append([]int{c}, rest...)...)
	off := 0
	offs := make([]int, len(xs))
	for i, x := range xs {
		offs[i] = off
		off += copy(y.Value.Data[off:], x.Value.Data)
	}
	t.recordK("concat", func() {
		if y.Grad == nil {
			return
		}
		for i, x := range xs {
			if x.req {
				axpyTo(t.grad(x), 1, y.Grad.Data[offs[i]:offs[i]+x.Value.Numel()])
			}
		}
	})
	return y
}

// GlobalAvgPool averages x [C,N,H,W] over space into [N,C].
func (t *Tape) GlobalAvgPool(x *Var) *Var {
	defer t.fwdDone("gap", t.now())
	c, n, h, w := dims4(x.Value.Shape)
	y := t.newVar(x.req, n, c)
	gapForward(x.Value.Data, c, n, h*w, y.Value.Data)
	t.recordK("gap", func() {
		if y.Grad == nil || !x.req {
			return
		}
		gapBackward(y.Grad.Data, c, n, h*w, t.grad(x))
	})
	return y
}

// Linear computes x [N,In]·wᵀ + b with w [Out,In] and b [Out] (b may be nil).
func (t *Tape) Linear(x, w, b *Var) *Var {
	defer t.fwdDone("linear", t.now())
	n, in := x.Value.Shape[0], x.Value.Shape[1]
	out := w.Value.Shape[0]
	if len(x.Value.Shape) != 2 || w.Value.Shape[1] != in || (b != nil && b.Value.Numel() != out) {
		panic(fmt.Sprintf("nn.Tape.Linear: input %v, weight %v", x.Value.Shape, w.Value.Shape))
	}
	req := x.req || w.req || (b != nil && b.req)
	y := t.newVar(req, n, out)
	var bd []float32
	if b != nil {
		bd = b.Value.Data
	}
	linearForward(x.Value.Data, n, in, out, w.Value.Data, bd, y.Value.Data)
	t.recordK("linear", func() {
		if y.Grad == nil {
			return
		}
		var db []float32
		if b != nil {
			db = t.gradIf(b)
		}
		linearBackward(x.Value.Data, n, in, out, w.Value.Data, y.Grad.Data, t.gradIf(w), db, t.gradIf(x))
	})
	return y
}

// CrossEntropy returns the batch-mean label-smoothed cross-entropy of
// logits [N,C] against labels (target = onehot·(1−eps) + eps/C) as a
// one-element Var.
func (t *Tape) CrossEntropy(logits *Var, labels []int, eps float64) (*Var, error) {
	defer t.fwdDone("ce", t.now())
	n, c := logits.Value.Shape[0], logits.Value.Shape[1]
	g := t.alloc(n*c, false)
	l, err := softmaxCE(logits.Value.Data, n, c, labels, eps, g)
	if err != nil {
		return nil, err
	}
	y := t.newVar(logits.req, 1)
	y.Value.Data[0] = float32(l)
	t.recordK("ce", func() {
		if y.Grad == nil || !logits.req {
			return
		}
		axpyTo(t.grad(logits), y.Grad.Data[0], g)
	})
	return y, nil
}
