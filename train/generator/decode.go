package generator

import (
	"github.com/sgnas/sgnas/models"
)

// Choices is a hard decision per layer and channel group: candidate index
// 0..3 (k3, k5, k7, skip). Group 0 is never skip.
type Choices [models.NumLayers][models.NumGroups]int

// Argmax is the authors' hard decoding of raw scores: per group the candidate
// with the highest score (the first on ties, like torch.argmax), only among
// the three kernels for group 0 of every layer (all layers are static).
func Argmax(s *Scores) Choices {
	var c Choices
	for l := 0; l < models.NumLayers; l++ {
		for b := 0; b < models.NumGroups; b++ {
			n := models.NumCandidates
			if b == 0 {
				n = models.SkipCandidate
			}
			best := 0
			for j := 1; j < n; j++ {
				if s[l][models.NumCandidates*b+j] > s[l][models.NumCandidates*b+best] {
					best = j
				}
			}
			c[l][b] = best
		}
	}
	return c
}

// Encoding returns the one-hot matrix of the choices.
func (c *Choices) Encoding() *models.Encoding {
	var e models.Encoding
	for l := range c {
		for b, j := range c[l] {
			e[l][models.NumCandidates*b+j] = 1
		}
	}
	return &e
}

// Arch decodes the choices: kernels of non-skip groups in group order.
func (c *Choices) Arch(space string) *models.Arch {
	a := &models.Arch{Space: space, Layers: make([]models.Layer, models.NumLayers)}
	for l := range c {
		a.Layers[l].Kernels = c.kernels(l)
	}
	return a
}

func (c *Choices) kernels(l int) []int {
	ks := make([]int, 0, models.NumGroups)
	for _, j := range c[l] {
		if j != models.SkipCandidate {
			ks = append(ks, models.KernelSizes[j])
		}
	}
	return ks
}

// Margin is the smallest score gap between the chosen candidate and the
// runner-up over all groups, and where it occurs: how far the scores may move
// before the hard decoding changes.
func Margin(s *Scores) (margin float64, layer, group int) {
	margin = -1
	c := Argmax(s)
	for l := 0; l < models.NumLayers; l++ {
		for b := 0; b < models.NumGroups; b++ {
			n := models.NumCandidates
			if b == 0 {
				n = models.SkipCandidate
			}
			best := s[l][models.NumCandidates*b+c[l][b]]
			for j := 0; j < n; j++ {
				if j == c[l][b] {
					continue
				}
				if d := best - s[l][models.NumCandidates*b+j]; margin < 0 || d < margin {
					margin, layer, group = d, l, b
				}
			}
		}
	}
	return margin, layer, group
}
