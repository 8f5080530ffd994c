package nn

import (
	"fmt"
	"math"
)

// Tensor is a dense float32 tensor in row-major order (NCHW for images).
type Tensor struct {
	Shape []int
	Data  []float32
}

// NewTensor returns a zero tensor of the given shape.
func NewTensor(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, numel(shape))}
}

// FromData wraps data (not copied) as a tensor of the given shape.
func FromData(data []float32, shape ...int) *Tensor {
	if len(data) != numel(shape) {
		panic(fmt.Sprintf("nn.FromData: %d values for shape %v", len(data), shape))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}
}

func numel(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

// Numel is the number of elements.
func (t *Tensor) Numel() int { return len(t.Data) }

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// Zero sets every element to 0.
func (t *Tensor) Zero() { clear(t.Data) }

// SameShape reports whether a and b have identical shapes.
func SameShape(a, b []int) bool {
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

// dims4 returns N, C, H, W of a 4-d shape.
func dims4(s []int) (n, c, h, w int) {
	if len(s) != 4 {
		panic(fmt.Sprintf("nn: expected a 4-d NCHW shape, got %v", s))
	}
	return s[0], s[1], s[2], s[3]
}

// MaxAbsDiff returns max |a-b| over elements (panics on length mismatch).
func MaxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		panic("nn.MaxAbsDiff: length mismatch")
	}
	m := 0.0
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if d > m {
			m = d
		}
	}
	return m
}
