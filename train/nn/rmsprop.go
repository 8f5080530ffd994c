package nn

import (
	"math"
	"strings"
)

// RMSpropTF is TensorFlow-style RMSprop as in timm's RMSpropTF (the
// authors' ImageNet recipe, reference §7.2), with lr_in_momentum:
//
//	g' = g + wd·p              (L2, only where Decay(p))
//	sq = sq + (1−Alpha)·(g'² − sq)   (sq starts at 1, not 0)
//	buf = Momentum·buf + lr·g' / sqrt(sq + Eps)
//	p -= buf
//
// Eps sits inside the square root (TensorFlow), not outside (PyTorch).
type RMSpropTF struct {
	Params      []*Param
	Alpha       float64 // decay of the mean square (0.9)
	Eps         float64 // inside the square root (0.001 in the recipe)
	Momentum    float64 // 0.9
	WeightDecay float64
	// Decay reports whether weight decay applies to p (default
	// DecayNotBNOrBias: timm's add_weight_decay rule).
	Decay   func(p *Param) bool
	sq, buf []*Tensor
}

// DecayNotBNOrBias is timm's add_weight_decay rule: no weight decay for
// one-dimensional tensors (BN γ/β, biases) and names ending in ".bias".
func DecayNotBNOrBias(p *Param) bool {
	return len(p.Value.Shape) > 1 && !strings.HasSuffix(p.Name, ".bias")
}

// NewRMSpropTF returns RMSpropTF over params with the mean squares at 1 and
// the momentum buffers at 0.
func NewRMSpropTF(params []*Param, alpha, eps, momentum, weightDecay float64) *RMSpropTF {
	r := &RMSpropTF{Params: params, Alpha: alpha, Eps: eps, Momentum: momentum, WeightDecay: weightDecay, Decay: DecayNotBNOrBias}
	for _, p := range params {
		sq := NewTensor(p.Value.Shape...)
		for i := range sq.Data {
			sq.Data[i] = 1
		}
		r.sq = append(r.sq, sq)
		r.buf = append(r.buf, NewTensor(p.Value.Shape...))
	}
	return r
}

// Step applies one update with learning rate lr.
func (r *RMSpropTF) Step(lr float64) {
	oma, mom, eps, flr := float32(1-r.Alpha), float32(r.Momentum), float32(r.Eps), float32(lr)
	for i, p := range r.Params {
		wd := float32(0)
		if r.Decay == nil || r.Decay(p) {
			wd = float32(r.WeightDecay)
		}
		w, g, sq, buf := p.Value.Data, p.Grad.Data, r.sq[i].Data, r.buf[i].Data
		parallelFor(len(w), 8, func(_, lo, hi int) {
			for j := lo; j < hi; j++ {
				d := g[j] + wd*w[j]
				sq[j] += oma * (d*d - sq[j])
				avg := float32(math.Sqrt(float64(sq[j] + eps)))
				buf[j] = mom*buf[j] + flr*d/avg
				w[j] -= buf[j]
			}
		})
	}
}

// State returns "<name>.square_avg" and "<name>.momentum_buffer" (shared,
// not copied).
func (r *RMSpropTF) State() map[string]*Tensor {
	st := make(map[string]*Tensor, 2*len(r.Params))
	for i, p := range r.Params {
		st[p.Name+".square_avg"] = r.sq[i]
		st[p.Name+".momentum_buffer"] = r.buf[i]
	}
	return st
}

// LoadState restores State() output; every tensor must be present.
func (r *RMSpropTF) LoadState(st map[string]*Tensor) error {
	for i, p := range r.Params {
		if err := loadBuffers("rmsprop", st, p.Name, namedBuf{".square_avg", r.sq[i]}, namedBuf{".momentum_buffer", r.buf[i]}); err != nil {
			return err
		}
	}
	return nil
}

// StepLR is timm's StepLRScheduler stepped once per epoch: a linear
// warm-up from WarmupInit over WarmupEpochs epochs (epoch e < WarmupEpochs
// uses WarmupInit + e·(Base−WarmupInit)/WarmupEpochs), then
// Base·DecayRate^⌊e/DecayEpochs⌋ with e the absolute epoch.
type StepLR struct {
	Base, DecayRate float64
	DecayEpochs     int
	WarmupEpochs    int
	WarmupInit      float64
}

// At returns the learning rate of epoch e (0-based).
func (s StepLR) At(e int) float64 {
	if e < s.WarmupEpochs {
		return s.WarmupInit + float64(e)*(s.Base-s.WarmupInit)/float64(s.WarmupEpochs)
	}
	if s.DecayEpochs <= 0 {
		return s.Base
	}
	return s.Base * math.Pow(s.DecayRate, float64(e/s.DecayEpochs))
}

// EMA keeps an exponential moving average of a store's parameters AND
// buffers (timm's ModelEMA): after every optimizer step
// ema = Decay·ema + (1−Decay)·value, for every tensor of the store.
type EMA struct {
	Decay  float64
	src    *Store
	shadow *Store
}

// NewEMA returns an EMA of s starting from s's current values.
func NewEMA(s *Store, decay float64) *EMA {
	sh := NewStore()
	for _, n := range s.order {
		p := s.byName[n]
		q := sh.add(n, p.Value.Shape, false, nil)
		copy(q.Value.Data, p.Value.Data)
	}
	return &EMA{Decay: decay, src: s, shadow: sh}
}

// Update moves the average one step towards the source's values.
func (e *EMA) Update() {
	d := float32(e.Decay)
	omd := float32(1 - e.Decay)
	for _, n := range e.shadow.order {
		a, v := e.shadow.byName[n].Value.Data, e.src.byName[n].Value.Data
		for i := range a {
			a[i] = a[i]*d + omd*v[i]
		}
	}
}

// Store returns the averaged tensors as a store of buffers (no gradients),
// under the source's names: a network bound to it evaluates the EMA weights.
func (e *EMA) Store() *Store { return e.shadow }

// StateDict returns the averaged tensors by name (shared, not copied).
func (e *EMA) StateDict() map[string]*Tensor { return e.shadow.StateDict() }
