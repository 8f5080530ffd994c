package generator

import (
	"fmt"
	"math"
)

// KendallTau returns Kendall's τ-b rank correlation of x and y (as
// scipy.stats.kendalltau's default): (C − D)/sqrt((n0 − n1)(n0 − n2)) with
// C/D the concordant/discordant pairs, n0 = n(n−1)/2 and n1, n2 the pairs
// tied in x, in y. Without ties it equals τ-a. It is NaN when x or y is
// constant or fewer than two points are given.
func KendallTau(x, y []float64) (float64, error) {
	if len(x) != len(y) {
		return 0, fmt.Errorf("kendall tau: %d x values but %d y values", len(x), len(y))
	}
	var c, d, tx, ty float64
	n := len(x)
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			sx, sy := sign(x[i]-x[j]), sign(y[i]-y[j])
			switch {
			case sx == 0 && sy == 0:
				tx++
				ty++
			case sx == 0:
				tx++
			case sy == 0:
				ty++
			case sx == sy:
				c++
			default:
				d++
			}
		}
	}
	n0 := float64(n*(n-1)) / 2
	den := math.Sqrt((n0 - tx) * (n0 - ty))
	if den == 0 {
		return math.NaN(), nil
	}
	return (c - d) / den, nil
}

func sign(v float64) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// Hardware-constraint loss constants of the authors (reference §5.2).
const (
	HCAlpha   = 0.0003
	HCPenalty = 1.2
	HCMargin  = 0.1
)

// HCLoss is the authors' asymmetric squared constraint loss of cost f for
// target t (both in the cost's unit, MFLOPs for the LUT):
// α·penalty·(f−t)² above t+0.1, α·(t−f)² below t−0.1, 0 in between. It
// returns the loss and its derivative with respect to f.
func HCLoss(f, t float64) (loss, dLdF float64) {
	switch {
	case f > t+HCMargin:
		return HCAlpha * HCPenalty * (f - t) * (f - t), 2 * HCAlpha * HCPenalty * (f - t)
	case f < t-HCMargin:
		return HCAlpha * (t - f) * (t - f), 2 * HCAlpha * (f - t)
	}
	return 0, 0
}
