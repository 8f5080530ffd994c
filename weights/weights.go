// Package weights holds named float32 tensors (state dicts) keyed by the
// authors' PyTorch state-dict names, imports PyTorch .pth checkpoints (zip and
// legacy formats), checks a state dict against a network description and
// creates seeded initial weights with the authors' init scheme.
package weights

import (
	"fmt"
	"sort"
)

// Tensor is a dense, row-major (C-contiguous) float32 tensor.
type Tensor struct {
	Shape []int
	Data  []float32
}

// NewTensor returns a zero tensor of the given shape.
func NewTensor(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, numel(shape))}
}

// Numel is the number of elements of the tensor's shape.
func (t *Tensor) Numel() int { return numel(t.Shape) }

// ShapeString formats the shape like PyTorch, e.g. "[32 3 3 3]".
func (t *Tensor) ShapeString() string { return fmt.Sprint(t.Shape) }

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

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
