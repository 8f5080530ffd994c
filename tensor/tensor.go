// Package tensor holds the project's one host tensor type: a dense,
// row-major (C-contiguous) float32 tensor. State dicts (weights), the
// training engine (train/nn), .npy files (internal/npy) and ONNX Runtime
// inputs and outputs (infer) all use it, so nothing copies between types.
package tensor

import "fmt"

// Tensor is a dense, row-major float32 tensor (NCHW for images).
type Tensor struct {
	Shape []int
	Data  []float32
}

// New returns a zero tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, Elements(shape))}
}

// FromData wraps data (not copied) as a tensor of the given shape; it panics
// when the lengths disagree (a programming error, not bad input).
func FromData(data []float32, shape ...int) *Tensor {
	if len(data) != Elements(shape) {
		panic(fmt.Sprintf("tensor.FromData: %d values for shape %v", len(data), shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}
}

// Elements is the number of elements a shape describes (1 for rank 0).
func Elements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Numel is the number of elements of the tensor's shape.
func (t *Tensor) Numel() int { return Elements(t.Shape) }

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// Zero sets every element to 0.
func (t *Tensor) Zero() { clear(t.Data) }

// ShapeString formats the shape like PyTorch, e.g. "[32 3 3 3]".
func (t *Tensor) ShapeString() string { return fmt.Sprint(t.Shape) }
