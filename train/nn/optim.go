package nn

import (
	"fmt"
	"math"
)

// Optimizer updates trainable parameters from their accumulated gradients.
type Optimizer interface {
	// Step applies one update with learning rate lr.
	Step(lr float64)
	// State returns the optimizer state as named tensors (shared, not
	// copied), e.g. "<param>.momentum_buffer", for checkpoints.
	State() map[string]*Tensor
	// LoadState restores State() output.
	LoadState(map[string]*Tensor) error
}

// SGD is stochastic gradient descent with PyTorch semantics
// (torch.optim.SGD, dampening 0, no Nesterov): g' = g + wd·p;
// buf = g' on the first step, then buf = momentum·buf + g'; p -= lr·buf.
// Weight decay applies to every parameter given (incl. BN), as in SGNAS.
type SGD struct {
	Params      []*Param
	Momentum    float64
	WeightDecay float64
	bufs        []*Tensor
	started     []bool
}

// NewSGD returns SGD over params.
func NewSGD(params []*Param, momentum, weightDecay float64) *SGD {
	s := &SGD{Params: params, Momentum: momentum, WeightDecay: weightDecay}
	s.bufs = make([]*Tensor, len(params))
	s.started = make([]bool, len(params))
	for i, p := range params {
		s.bufs[i] = NewTensor(p.Value.Shape...)
	}
	return s
}

// Step applies one update.
func (s *SGD) Step(lr float64) {
	mom, wd, flr := float32(s.Momentum), float32(s.WeightDecay), float32(lr)
	for i, p := range s.Params {
		w, g, b := p.Value.Data, p.Grad.Data, s.bufs[i].Data
		first := !s.started[i]
		s.started[i] = true
		parallelFor(len(w), 4, func(_, lo, hi int) {
			for j := lo; j < hi; j++ {
				d := g[j] + wd*w[j]
				if mom != 0 {
					if first {
						b[j] = d
					} else {
						b[j] = mom*b[j] + d
					}
					d = b[j]
				}
				w[j] -= flr * d
			}
		})
	}
}

// State returns the momentum buffers ("<name>.momentum_buffer"); buffers of
// parameters that have not been stepped yet are omitted, as in PyTorch.
func (s *SGD) State() map[string]*Tensor {
	m := map[string]*Tensor{}
	for i, p := range s.Params {
		if s.started[i] {
			m[p.Name+".momentum_buffer"] = s.bufs[i]
		}
	}
	return m
}

// LoadState restores momentum buffers by name.
func (s *SGD) LoadState(st map[string]*Tensor) error {
	for i, p := range s.Params {
		t, ok := st[p.Name+".momentum_buffer"]
		if !ok {
			s.started[i] = false
			continue
		}
		if len(t.Data) != len(s.bufs[i].Data) {
			return fmt.Errorf("sgd state: %s.momentum_buffer has %d values, expected %d", p.Name, len(t.Data), len(s.bufs[i].Data))
		}
		copy(s.bufs[i].Data, t.Data)
		s.started[i] = true
	}
	return nil
}

// Adam is torch.optim.Adam (L2 weight decay added to the gradient,
// amsgrad off).
type Adam struct {
	Params       []*Param
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64
	m, v         []*Tensor
	step         int
}

// NewAdam returns Adam over params (PyTorch defaults: betas (0.9, 0.999),
// eps 1e-8; SGNAS's generator uses betas (0.5, 0.999)).
func NewAdam(params []*Param, beta1, beta2, eps, weightDecay float64) *Adam {
	a := &Adam{Params: params, Beta1: beta1, Beta2: beta2, Eps: eps, WeightDecay: weightDecay}
	for _, p := range params {
		a.m = append(a.m, NewTensor(p.Value.Shape...))
		a.v = append(a.v, NewTensor(p.Value.Shape...))
	}
	return a
}

// Step applies one update.
func (a *Adam) Step(lr float64) {
	a.step++
	bc1 := 1 - math.Pow(a.Beta1, float64(a.step))
	bc2 := 1 - math.Pow(a.Beta2, float64(a.step))
	stepSize := lr / bc1
	sq := math.Sqrt(bc2)
	b1, b2 := a.Beta1, a.Beta2
	for i, p := range a.Params {
		w, g, m, v := p.Value.Data, p.Grad.Data, a.m[i].Data, a.v[i].Data
		for j := range w {
			gj := float64(g[j]) + a.WeightDecay*float64(w[j])
			mj := b1*float64(m[j]) + (1-b1)*gj
			vj := b2*float64(v[j]) + (1-b2)*gj*gj
			m[j], v[j] = float32(mj), float32(vj)
			w[j] -= float32(stepSize * mj / (math.Sqrt(vj)/sq + a.Eps))
		}
	}
}

// State returns "<name>.exp_avg", "<name>.exp_avg_sq" and "step" (one
// element holding the step count).
func (a *Adam) State() map[string]*Tensor {
	st := map[string]*Tensor{"step": FromData([]float32{float32(a.step)}, 1)}
	for i, p := range a.Params {
		st[p.Name+".exp_avg"] = a.m[i]
		st[p.Name+".exp_avg_sq"] = a.v[i]
	}
	return st
}

// LoadState restores State() output.
func (a *Adam) LoadState(st map[string]*Tensor) error {
	s, ok := st["step"]
	if !ok || len(s.Data) != 1 {
		return fmt.Errorf("adam state: tensor step missing")
	}
	a.step = int(s.Data[0])
	for i, p := range a.Params {
		if err := loadBuffers("adam", st, p.Name, namedBuf{".exp_avg", a.m[i]}, namedBuf{".exp_avg_sq", a.v[i]}); err != nil {
			return err
		}
	}
	return nil
}

// namedBuf is an optimizer buffer of a parameter and its name suffix.
type namedBuf struct {
	suffix string
	dst    *Tensor
}

// loadBuffers copies st[name+suffix] into each buffer; every one must be
// present with the buffer's size.
func loadBuffers(kind string, st map[string]*Tensor, name string, bufs ...namedBuf) error {
	for _, b := range bufs {
		t, ok := st[name+b.suffix]
		if !ok || len(t.Data) != len(b.dst.Data) {
			return fmt.Errorf("%s state: %s%s missing or of wrong size (expected %d values)", kind, name, b.suffix, len(b.dst.Data))
		}
		copy(b.dst.Data, t.Data)
	}
	return nil
}

// CosineLR is torch.optim.lr_scheduler.CosineAnnealingLR in closed form:
// lr(t) = Min + (Base−Min)·(1+cos(π·t/TMax))/2, with t the number of
// scheduler steps taken (SGNAS steps it every iteration, TMax =
// iterations per epoch × epochs).
type CosineLR struct {
	Base, Min float64
	TMax      int
}

// At returns the learning rate after t scheduler steps.
func (c CosineLR) At(t int) float64 {
	if c.TMax <= 0 {
		return c.Base
	}
	return c.Min + (c.Base-c.Min)*(1+math.Cos(math.Pi*float64(t)/float64(c.TMax)))/2
}
