package generator

import (
	"fmt"
	"math"

	"github.com/sgnas/sgnas/models"
)

// maxRepairSteps bounds the greedy search (a repair typically takes < 30).
const maxRepairSteps = 1000

// repairState is a set of choices with its per-layer kernel counts and
// metric value, updated incrementally.
type repairState struct {
	s      *Scores
	tab    *costTable
	minE   int // no move may leave a layer with fewer kernel groups
	ch     Choices
	counts [models.NumLayers][3]int
	layer  [models.NumLayers]float64
	v      float64
}

func newRepairState(s *Scores, tab *costTable, ch Choices) *repairState {
	st := &repairState{s: s, tab: tab, ch: ch, v: tab.base}
	for l := range ch {
		for _, j := range ch[l] {
			if j != models.SkipCandidate {
				st.counts[l][j]++
			}
		}
		c := st.counts[l]
		st.layer[l] = tab.c[l][c[0]][c[1]][c[2]]
		st.v += st.layer[l]
	}
	return st
}

// move is switching group b of layer l to candidate j.
type move struct {
	l, b, j     int
	delta, harm float64
}

// eval returns the metric change and the score drop of a move.
func (st *repairState) eval(l, b, j int) (delta, harm float64) {
	old := st.ch[l][b]
	c := st.counts[l]
	if old != models.SkipCandidate {
		c[old]--
	}
	if j != models.SkipCandidate {
		c[j]++
	}
	delta = st.tab.c[l][c[0]][c[1]][c[2]] - st.layer[l]
	harm = st.s[l][models.NumCandidates*b+old] - st.s[l][models.NumCandidates*b+j]
	return delta, harm
}

func (st *repairState) apply(m move) {
	old := st.ch[m.l][m.b]
	if old != models.SkipCandidate {
		st.counts[m.l][old]--
	}
	if m.j != models.SkipCandidate {
		st.counts[m.l][m.j]++
	}
	st.ch[m.l][m.b] = m.j
	c := st.counts[m.l]
	nl := st.tab.c[m.l][c[0]][c[1]][c[2]]
	st.v += nl - st.layer[m.l]
	st.layer[m.l] = nl
}

// forEachMove calls f for every single-group change.
func (st *repairState) forEachMove(f func(m move)) {
	for l := 0; l < models.NumLayers; l++ {
		for b := 0; b < models.NumGroups; b++ {
			n := models.NumCandidates
			if b == 0 {
				n = models.SkipCandidate
			}
			for j := 0; j < n; j++ {
				if j == st.ch[l][b] {
					continue
				}
				if j == models.SkipCandidate && st.ch[l][b] != models.SkipCandidate && st.expansion(l) <= st.minE {
					continue
				}
				d, h := st.eval(l, b, j)
				if d == 0 && h >= 0 {
					continue
				}
				f(move{l, b, j, d, h})
			}
		}
	}
}

// expansion is the number of kernel (non-skip) groups of layer l.
func (st *repairState) expansion(l int) int {
	c := st.counts[l]
	return c[0] + c[1] + c[2]
}

// raiseExpansion turns skipped groups into kernels, least harmful first,
// until every layer has at least minE kernel groups.
func (st *repairState) raiseExpansion() {
	for l := 0; l < models.NumLayers; l++ {
		for st.expansion(l) < st.minE {
			var best *move
			for b := 1; b < models.NumGroups; b++ {
				if st.ch[l][b] != models.SkipCandidate {
					continue
				}
				for j := 0; j < models.SkipCandidate; j++ {
					d, h := st.eval(l, b, j)
					if best == nil || h < best.harm {
						best = &move{l, b, j, d, h}
					}
				}
			}
			if best == nil {
				break
			}
			st.apply(*best)
		}
	}
}

// repair moves the choices into [lo, hi] of the metric by single-group
// changes, guided by the generator's own scores: the harm of switching a
// group from candidate a to b is the score drop s[a] − s[b] (a log-probability
// ratio under the per-group softmax). Each step takes, in order of
// preference: the least harmful change that lands in the window; else the
// change in the needed direction with the least harm per unit of metric that
// does not cross the window; else the crossing change that ends nearest the
// window. Once inside, changes that raise the score (undo earlier harm) while
// staying inside are applied greedily.
//
// minE > 1 also keeps every layer at or above that expansion (first raising
// layers below it by their least harmful additions), e.g. 2 when the weights
// come from a supernet, which has no expansion-1 layers.
func repair(s *Scores, tab *costTable, start Choices, lo, hi float64, minE int) (*repairState, error) {
	st := newRepairState(s, tab, start)
	st.minE = minE
	st.raiseExpansion()
	in := func(v float64) bool { return v >= lo && v <= hi }
	for step := 0; !in(st.v); step++ {
		if step == maxRepairSteps {
			return st, fmt.Errorf("repair did not reach [%.2f, %.2f] in %d steps (at %.2f)", lo, hi, maxRepairSteps, st.v)
		}
		down := st.v > hi
		var land, prog, cross *move
		var progKey, crossKey float64
		st.forEachMove(func(m move) {
			nv := st.v + m.delta
			switch {
			case in(nv):
				if land == nil || m.harm < land.harm || (m.harm == land.harm && nv > st.v+land.delta) {
					mm := m
					land = &mm
				}
			case down && m.delta < 0 && nv > hi, !down && m.delta > 0 && nv < lo:
				if k := m.harm / math.Abs(m.delta); prog == nil || k < progKey {
					mm := m
					prog, progKey = &mm, k
				}
			case down && m.delta < 0, !down && m.delta > 0:
				// crosses the window: prefer ending near it
				k := math.Max(lo-nv, nv-hi)
				if cross == nil || k < crossKey {
					mm := m
					cross, crossKey = &mm, k
				}
			}
		})
		switch {
		case land != nil:
			st.apply(*land)
		case prog != nil:
			st.apply(*prog)
		case cross != nil:
			st.apply(*cross)
		default:
			return st, fmt.Errorf("repair: no change moves %.2f towards [%.2f, %.2f]", st.v, lo, hi)
		}
	}
	// Polish: undo harm while staying inside.
	for step := 0; step < maxRepairSteps; step++ {
		var best *move
		st.forEachMove(func(m move) {
			if m.harm < 0 && in(st.v+m.delta) && (best == nil || m.harm < best.harm) {
				mm := m
				best = &mm
			}
		})
		if best == nil {
			break
		}
		st.apply(*best)
	}
	return st, nil
}

// changed counts the groups whose choice differs.
func changed(a, b *Choices) int {
	n := 0
	for l := range a {
		for g := range a[l] {
			if a[l][g] != b[l][g] {
				n++
			}
		}
	}
	return n
}

// scoreLoss is Σ over groups of s[raw choice] − s[choice] (≥ 0 when raw is
// the argmax).
func scoreLoss(s *Scores, raw, c *Choices) float64 {
	t := 0.0
	for l := range c {
		for b := range c[l] {
			t += s[l][models.NumCandidates*b+raw[l][b]] - s[l][models.NumCandidates*b+c[l][b]]
		}
	}
	return t
}
