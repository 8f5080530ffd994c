// Package weights holds named float32 tensors (state dicts) keyed by the
// authors' PyTorch state-dict names, imports PyTorch .pth checkpoints (zip and
// legacy formats), checks a state dict against a network description and
// creates seeded initial weights with the authors' init scheme.
package weights

import (
	"fmt"
	"math"
	"sort"

	"github.com/sgnas/sgnas/tensor"
)

// Tensor is the project's host tensor (package tensor).
type Tensor = tensor.Tensor

// NewTensor returns a zero tensor of the given shape.
func NewTensor(shape ...int) *Tensor { return tensor.New(shape...) }

func numel(shape []int) int { return tensor.Elements(shape) }

// IntTensor is a dense row-major int64 tensor, e.g. BN's num_batches_tracked.
type IntTensor struct {
	Shape []int
	Data  []int64
}

// StateDict maps tensor names to float tensors.
type StateDict map[string]*Tensor

// Names returns the tensor names in sorted order.
func (sd StateDict) Names() []string {
	names := make([]string, 0, len(sd))
	for n := range sd {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NumParams is the total number of elements over all tensors.
func (sd StateDict) NumParams() int64 {
	var n int64
	for _, t := range sd {
		n += int64(t.Numel())
	}
	return n
}

// Get returns the tensor called name after checking its shape.
func (sd StateDict) Get(name string, shape ...int) (*Tensor, error) {
	t, ok := sd[name]
	if !ok {
		return nil, fmt.Errorf("tensor %s: missing", name)
	}
	if !sameShape(t.Shape, shape) {
		return nil, fmt.Errorf("tensor %s: shape %v, expected %v", name, t.Shape, shape)
	}
	return t, nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// CheckFinite returns an error naming the first tensor (in name order) that
// holds a NaN or an infinity, with the element's index, or nil. Loaders of
// checkpoints whose values steer decisions (e.g. a generator) call it: the
// legacy .pth format has no checksum, so a NaN there would silently change
// every result.
func (sd StateDict) CheckFinite() error {
	for _, name := range sd.Names() {
		t := sd[name]
		for i, v := range t.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("tensor %s%v: element %v is %v (not finite)", name, t.Shape, unravel(i, t.Shape), v)
			}
		}
	}
	return nil
}

// CheckFinite is StateDict.CheckFinite with the checkpoint's path in the error.
func (ck *Checkpoint) CheckFinite() error {
	if err := ck.Tensors.CheckFinite(); err != nil {
		return fmt.Errorf("load %s: %w", ck.Path, err)
	}
	return nil
}

// unravel turns a row-major flat index into a multi-index.
func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] > 0 {
			idx[d] = i % shape[d]
			i /= shape[d]
		}
	}
	return idx
}
