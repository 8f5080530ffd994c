package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// Param is a named tensor of a model: a trainable parameter (Grad != nil)
// or a buffer such as BatchNorm running statistics (Grad == nil).
type Param struct {
	Name  string
	Value *Tensor
	Grad  *Tensor // accumulated by Tape.Backward; nil for buffers
}

// Trainable reports whether the optimizer updates p.
func (p *Param) Trainable() bool { return p.Grad != nil }

// Store holds a model's parameters and buffers by name (the authors'
// PyTorch state-dict names, e.g. "stages.3.point_wise.conv.weight").
// Parameters are created once and shared by every path that names them.
type Store struct {
	byName map[string]*Param
	order  []string
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{byName: map[string]*Param{}} }

func (s *Store) add(name string, shape []int, trainable bool, init func(*Tensor)) *Param {
	if p, ok := s.byName[name]; ok {
		if !SameShape(p.Value.Shape, shape) {
			panic(fmt.Sprintf("nn.Store: %s requested with shape %v, exists with %v", name, shape, p.Value.Shape))
		}
		return p
	}
	p := &Param{Name: name, Value: NewTensor(shape...)}
	if init != nil {
		init(p.Value)
	}
	if trainable {
		p.Grad = NewTensor(shape...)
	}
	s.byName[name] = p
	s.order = append(s.order, name)
	return p
}

// Param returns the trainable parameter name, creating it with init (may
// be nil: zeros) on first use. Requesting an existing name with another
// shape panics (a programming error).
func (s *Store) Param(name string, shape []int, init func(*Tensor)) *Param {
	return s.add(name, shape, true, init)
}

// Buffer returns the non-trainable tensor name (e.g. BN running stats),
// creating it filled with fill on first use.
func (s *Store) Buffer(name string, shape []int, fill float32) *Param {
	return s.add(name, shape, false, func(t *Tensor) {
		for i := range t.Data {
			t.Data[i] = fill
		}
	})
}

// Get returns the named tensor or nil.
func (s *Store) Get(name string) *Param { return s.byName[name] }

// Names returns all names in creation order.
func (s *Store) Names() []string { return append([]string(nil), s.order...) }

// Trainable returns the trainable parameters in creation order.
func (s *Store) Trainable() []*Param {
	var out []*Param
	for _, n := range s.order {
		if p := s.byName[n]; p.Grad != nil {
			out = append(out, p)
		}
	}
	return out
}

// NumParams counts trainable scalars.
func (s *Store) NumParams() int {
	n := 0
	for _, p := range s.Trainable() {
		n += p.Value.Numel()
	}
	return n
}

// ZeroGrad clears every gradient.
func (s *Store) ZeroGrad() {
	for _, p := range s.byName {
		if p.Grad != nil {
			p.Grad.Zero()
		}
	}
}

// StateDict returns the values of all parameters and buffers by name
// (shared, not copied).
func (s *Store) StateDict() map[string]*Tensor {
	m := make(map[string]*Tensor, len(s.byName))
	for n, p := range s.byName {
		m[n] = p.Value
	}
	return m
}

// Load copies values from state into existing tensors of the same name.
// Every tensor of the store must be present with the same shape unless
// allowMissing; unknown names in state are returned in extra.
func (s *Store) Load(state map[string]*Tensor, allowMissing bool) (extra []string, err error) {
	for _, n := range s.order {
		p := s.byName[n]
		t, ok := state[n]
		if !ok {
			if allowMissing {
				continue
			}
			return nil, fmt.Errorf("load state: tensor %s missing", n)
		}
		if numel(t.Shape) != p.Value.Numel() || len(t.Data) != p.Value.Numel() {
			return nil, fmt.Errorf("load state: tensor %s has shape %v, expected %v", n, t.Shape, p.Value.Shape)
		}
		copy(p.Value.Data, t.Data)
	}
	for n := range state {
		if _, ok := s.byName[n]; !ok {
			extra = append(extra, n)
		}
	}
	sort.Strings(extra)
	return extra, nil
}

// InitNormal returns an initialiser drawing N(0, std²) from rng.
func InitNormal(rng *rand.Rand, std float64) func(*Tensor) {
	return func(t *Tensor) {
		for i := range t.Data {
			t.Data[i] = float32(rng.NormFloat64() * std)
		}
	}
}

// InitConv is the authors' conv init: N(0, 2/(k·k·out_channels)) for a
// PyTorch weight shape [out, in/groups, k, k].
func InitConv(rng *rand.Rand) func(*Tensor) {
	return func(t *Tensor) {
		n := t.Shape[0] * t.Shape[2] * t.Shape[3]
		InitNormal(rng, math.Sqrt(2/float64(n)))(t)
	}
}

// InitConst fills with v.
func InitConst(v float32) func(*Tensor) {
	return func(t *Tensor) {
		for i := range t.Data {
			t.Data[i] = v
		}
	}
}
