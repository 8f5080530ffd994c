package infer

import (
	"fmt"
	"math"

	"github.com/sgnas/sgnas/internal/npy"
	"github.com/sgnas/sgnas/tensor"
)

// MaxAbsDiff returns max |a_i - b_i| over two arrays of the same shape. A NaN
// in either array makes the result +Inf, so a parity check never passes on
// NaNs.
func MaxAbsDiff(a, b *tensor.Tensor) (float64, error) {
	if npy.FormatShape(a.Shape) != npy.FormatShape(b.Shape) || len(a.Shape) != len(b.Shape) {
		return 0, fmt.Errorf("shape mismatch: %s vs %s", npy.FormatShape(a.Shape), npy.FormatShape(b.Shape))
	}
	if len(a.Data) != len(b.Data) {
		return 0, fmt.Errorf("length mismatch: %d vs %d values", len(a.Data), len(b.Data))
	}
	m := 0.0
	for i := range a.Data {
		d := math.Abs(float64(a.Data[i]) - float64(b.Data[i]))
		if math.IsNaN(d) {
			return math.Inf(1), nil
		}
		if d > m {
			m = d
		}
	}
	return m, nil
}

// ArgmaxRows returns the index of the largest value in each row of a, where a
// row is the last dimension (a [N, C] logits array gives N indices). Ties go
// to the lowest index. A rank-0 or empty array gives nil.
func ArgmaxRows(a *tensor.Tensor) []int {
	if len(a.Shape) == 0 || len(a.Data) == 0 {
		return nil
	}
	c := int(a.Shape[len(a.Shape)-1])
	if c <= 0 {
		return nil
	}
	rows := len(a.Data) / c
	out := make([]int, rows)
	for r := 0; r < rows; r++ {
		row := a.Data[r*c : (r+1)*c]
		best := 0
		for j, v := range row {
			if v > row[best] || (math.IsNaN(float64(row[best])) && !math.IsNaN(float64(v))) {
				best = j
			}
		}
		out[r] = best
	}
	return out
}
