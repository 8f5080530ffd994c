package generator

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/sgnas/sgnas/models"
)

// DefaultMapGrid is the number of generator inputs MapInputs samples across
// the space's FLOPs range [LowFLOPs, HighFLOPs] (37: every 5 MFLOPs on
// ImageNet's 270..450).
const DefaultMapGrid = 37

// forwardAt runs the generator at FLOPs inputs, one batched forward pass per
// nearest prior-pool key, and returns the scores and prior key per input.
func (g *Generator) forwardAt(ctx context.Context, space *models.Space, pool models.PriorPool, inputs []float64) ([]Scores, []int, error) {
	byKey := map[int][]int{}
	for i, t := range inputs {
		k, _ := pool.Nearest(t)
		byKey[k] = append(byKey[k], i)
	}
	keys := make([]int, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	scores := make([]Scores, len(inputs))
	prior := make([]int, len(inputs))
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		idx := byKey[k]
		cs := make([]float64, len(idx))
		for i, ti := range idx {
			cs[i] = Constraint(space, inputs[ti])
		}
		out := g.Forward(pool[k].Encoding(), cs)
		for i, ti := range idx {
			scores[ti], prior[ti] = out[i], k
		}
	}
	return scores, prior, nil
}

// MapInputs maps budgets in another metric's unit (e.g. latency in ms) onto
// the FLOPs input of a FLOPs-trained generator. The generator is evaluated
// once, in one batched pass, on grid inputs evenly spread over the space's
// range [LowFLOPs, HighFLOPs] (at least 2; 0: DefaultMapGrid); m of each
// grid point's plain argmax gives a curve m(F), made non-decreasing by a
// running maximum (the generator is close to monotone, not exactly). For a
// target T the input is where that curve crosses aim·T (linear
// interpolation inside the bracketing grid interval), clamped to the range:
// aim (e.g. the middle of the repair window, (1+window)/2) makes the raw
// architecture land near the window so the repair changes few groups. The
// cost is one forward pass per grid point, whatever the number of targets.
func (g *Generator) MapInputs(ctx context.Context, space *models.Space, pool models.PriorPool, m Metric, targets []float64, aim float64, grid int) ([]float64, error) {
	if grid == 0 {
		grid = DefaultMapGrid
	}
	if grid < 2 {
		return nil, fmt.Errorf("map targets: grid of %d inputs: want at least 2", grid)
	}
	if len(pool) == 0 {
		return nil, fmt.Errorf("map targets: empty prior pool")
	}
	lo, hi := space.LowFLOPs, space.HighFLOPs
	xs := make([]float64, grid)
	for i := range xs {
		xs[i] = lo + (hi-lo)*float64(i)/float64(grid-1)
	}
	scores, _, err := g.forwardAt(ctx, space, pool, xs)
	if err != nil {
		return nil, err
	}
	ys := make([]float64, grid)
	for i := range scores {
		ch := Argmax(&scores[i])
		v := m.Value(ch.Arch(space.Name))
		if math.IsNaN(v) {
			return nil, fmt.Errorf("map targets: %s of the generator's output at %g MFLOPs is not defined", m.Name(), xs[i])
		}
		if i > 0 && v < ys[i-1] {
			v = ys[i-1] // running maximum: a non-decreasing curve
		}
		ys[i] = v
	}
	out := make([]float64, len(targets))
	for j, t := range targets {
		y := aim * t
		i := sort.SearchFloat64s(ys, y) // first grid point with m ≥ y
		switch {
		case i == 0:
			out[j] = lo
		case i == grid:
			out[j] = hi
		default:
			f := 1.0
			if d := ys[i] - ys[i-1]; d > 0 {
				f = (y - ys[i-1]) / d
			}
			out[j] = xs[i-1] + f*(xs[i]-xs[i-1])
		}
	}
	return out, nil
}
