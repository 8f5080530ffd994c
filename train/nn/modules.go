package nn

import "math/rand/v2"

// Conv is a bias-free convolution whose weight lives in a Store under the
// given name (e.g. "stages.3.point_wise.conv.weight").
type Conv struct {
	W    *Param
	Geom ConvGeom
}

// NewConv creates (or reuses) the weight weightName with the authors' init
// N(0, 2/(k·k·out)) drawn from rng.
func NewConv(s *Store, weightName string, g ConvGeom, rng *rand.Rand) *Conv {
	if err := g.check(); err != nil {
		panic("nn.NewConv " + weightName + ": " + err.Error())
	}
	return &Conv{W: s.Param(weightName, g.WeightShape(), InitConv(rng)), Geom: g}
}

// Forward applies the convolution to a CNHW activation.
func (c *Conv) Forward(t *Tape, x *Var) *Var { return t.Conv2d(x, t.Param(c.W), c.Geom) }

// BatchNorm is a BatchNorm2d with tensors prefix+".weight", ".bias",
// ".running_mean", ".running_var" (γ=1, β=0, mean 0, var 1 initially).
type BatchNorm struct {
	Weight, Bias, RunningMean, RunningVar *Param
	Momentum, Eps                         float64
}

// NewBatchNorm creates (or reuses) a BatchNorm over c channels with
// PyTorch momentum (0.1 by default in PyTorch) and eps 1e-5.
func NewBatchNorm(s *Store, prefix string, c int, momentum float64) *BatchNorm {
	return &BatchNorm{
		Weight:      s.Param(prefix+".weight", []int{c}, InitConst(1)),
		Bias:        s.Param(prefix+".bias", []int{c}, nil),
		RunningMean: s.Buffer(prefix+".running_mean", []int{c}, 0),
		RunningVar:  s.Buffer(prefix+".running_var", []int{c}, 1),
		Momentum:    momentum,
		Eps:         1e-5,
	}
}

// State returns the running statistics and hyper-parameters.
func (b *BatchNorm) State() BNState {
	return BNState{RunningMean: b.RunningMean.Value, RunningVar: b.RunningVar.Value, Momentum: b.Momentum, Eps: b.Eps}
}

// Forward normalises x (batch statistics when training, running ones
// otherwise) and applies act.
func (b *BatchNorm) Forward(t *Tape, x *Var, training bool, act Activation) *Var {
	return t.BatchNorm(x, t.Param(b.Weight), t.Param(b.Bias), b.State(), training, act)
}

// Linear is a fully connected layer with prefix+".weight" [out,in] and
// prefix+".bias" [out], initialised N(0, 0.01²) and 0 as in SGNAS.
type Linear struct{ W, B *Param }

// NewLinear creates (or reuses) a linear layer.
func NewLinear(s *Store, prefix string, in, out int, rng *rand.Rand) *Linear {
	return &Linear{
		W: s.Param(prefix+".weight", []int{out, in}, InitNormal(rng, 0.01)),
		B: s.Param(prefix+".bias", []int{out}, nil),
	}
}

// Forward maps x [N,in] to [N,out].
func (l *Linear) Forward(t *Tape, x *Var) *Var { return t.Linear(x, t.Param(l.W), t.Param(l.B)) }
