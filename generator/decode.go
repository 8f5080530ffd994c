package generator

import (
	"github.com/sgnas/sgnas/models"
)

// Choices is a hard decision per layer and channel group: candidate index
// 0..3 (k3, k5, k7, skip). Group 0 is never skip in generated choices.
type Choices = models.Choices

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
