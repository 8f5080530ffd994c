package nn

import (
	"fmt"
	"math"

	"github.com/sgnas/sgnas/tensor"
)

// Tensor is the project's host tensor (package tensor).
type Tensor = tensor.Tensor

// NewTensor returns a zero tensor of the given shape.
func NewTensor(shape ...int) *Tensor { return tensor.New(shape...) }

// FromData wraps data (not copied) as a tensor of the given shape.
func FromData(data []float32, shape ...int) *Tensor { return tensor.FromData(data, shape...) }

func numel(shape []int) int { return tensor.Elements(shape) }

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
