package supernet

import (
	"math/rand/v2"

	"github.com/sgnas/sgnas/models"
)

// MinExpansion and MaxExpansion bound the expansions the supernet trains
// (the authors' min_expansion 2 and expansion 6).
const (
	MinExpansion = 2
	MaxExpansion = models.NumGroups
)

// Sampler draws single paths exactly as the authors' supernet training
// does (reference §5.1):
//
//   - per layer, a shuffled cycle over the expansions 2..6: Reset reshuffles
//     it and uses its first element, Next takes the following element
//     (reshuffling when the cycle is exhausted), so consecutive paths after a
//     Reset have distinct expansions per layer;
//   - given e, e distinct blocks chosen uniformly at random are active, the
//     others skipped;
//   - each block has its own shuffled cycle over the kernels {3,5,7}: Reset
//     draws a fresh permutation and, for an active block, advances the index
//     at once; Next advances the cycles of active blocks only.
//
// All randomness comes from one PCG generator, so a Sampler is
// deterministic given its seeds.
type Sampler struct {
	rng      *rand.Rand
	expOrder [models.NumLayers][MaxExpansion - MinExpansion + 1]int
	expIdx   [models.NumLayers]int
	kOrder   [models.NumLayers][models.NumGroups][3]int
	kIdx     [models.NumLayers][models.NumGroups]int
	path     Path
}

// NewSampler returns a sampler seeded with (seed, stream) and already Reset.
func NewSampler(seed, stream uint64) *Sampler {
	s := &Sampler{rng: rand.New(rand.NewPCG(seed, stream))}
	for l := range s.expOrder {
		for i := range s.expOrder[l] {
			s.expOrder[l][i] = MinExpansion + i
		}
		for b := range s.kOrder[l] {
			s.kOrder[l][b] = [3]int{0, 1, 2}
		}
	}
	s.Reset()
	return s
}

func (s *Sampler) shuffleExp(l int) {
	o := &s.expOrder[l]
	s.rng.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
}

func (s *Sampler) shuffleKernels(l, b int) {
	o := &s.kOrder[l][b]
	s.rng.Shuffle(len(o), func(i, j int) { o[i], o[j] = o[j], o[i] })
}

// Reset reshuffles every cycle and draws the first path of a batch.
func (s *Sampler) Reset() { s.step(true) }

// Next draws the following path.
func (s *Sampler) Next() { s.step(false) }

// Path returns the current path.
func (s *Sampler) Path() *Path {
	p := s.path
	return &p
}

func (s *Sampler) step(reset bool) {
	for l := range s.expOrder {
		var e int
		if reset {
			s.shuffleExp(l)
			e = s.expOrder[l][0]
			s.expIdx[l] = 1
		} else {
			e = s.expOrder[l][s.expIdx[l]]
			s.expIdx[l]++
			if s.expIdx[l] == len(s.expOrder[l]) {
				s.expIdx[l] = 0
				s.shuffleExp(l)
			}
		}
		perm := s.rng.Perm(models.NumGroups)
		var active [models.NumGroups]bool
		for _, b := range perm[:e] {
			active[b] = true
		}
		for b := 0; b < models.NumGroups; b++ {
			if reset {
				s.shuffleKernels(l, b)
				s.kIdx[l][b] = 0
			}
			if !active[b] {
				s.path[l][b] = Skip
				continue
			}
			s.kIdx[l][b]++
			if s.kIdx[l][b] == 3 {
				s.kIdx[l][b] = 0
				s.shuffleKernels(l, b)
			}
			s.path[l][b] = s.kOrder[l][b][s.kIdx[l][b]]
		}
	}
}
