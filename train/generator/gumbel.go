package generator

import (
	"math"
	"math/rand/v2"

	gen "github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/models"
)

// Tau is the authors' Gumbel-softmax temperature of generator epoch e
// (counted from 0): 5·0.95^e (reference §3).
func Tau(epoch int) float64 { return 5 * math.Pow(0.95, float64(epoch)) }

// Gumbel is a soft (hard=False) Gumbel-softmax sample of a score matrix,
// kept for the backward pass.
type Gumbel struct {
	// P is the sample: per layer and channel group a probability vector
	// over [k3, k5, k7, skip]; group 0 only over the three kernels (its
	// skip entry is 0).
	P   models.Encoding
	Tau float64
}

// GumbelSoftmax draws per channel group softmax((s + g)/τ) with g standard
// Gumbel noise (g = −log E, E ~ Exp(1), as torch.nn.functional.gumbel_softmax),
// over the first 3 scores for group 0 of every layer and over all 4
// otherwise (reference §3). rng nil means no noise (plain tempered softmax).
func GumbelSoftmax(s *gen.Scores, tau float64, rng *rand.Rand) *Gumbel {
	g := &Gumbel{Tau: tau}
	var buf [models.NumCandidates]float64
	for l := 0; l < models.NumLayers; l++ {
		for b := 0; b < models.NumGroups; b++ {
			n := models.NumCandidates
			if b == 0 {
				n = models.SkipCandidate
			}
			row := s[l][models.NumCandidates*b : models.NumCandidates*b+n]
			mx := math.Inf(-1)
			for j, v := range row {
				if rng != nil {
					v -= math.Log(rng.ExpFloat64())
				}
				buf[j] = v / tau
				mx = math.Max(mx, buf[j])
			}
			var z float64
			for j := 0; j < n; j++ {
				buf[j] = math.Exp(buf[j] - mx)
				z += buf[j]
			}
			for j := 0; j < n; j++ {
				g.P[l][models.NumCandidates*b+j] = buf[j] / z
			}
		}
	}
	return g
}

// Backward returns ∂L/∂scores given ∂L/∂P: per group
// (1/τ)·y_j·(dy_j − Σ_k y_k·dy_k); the noise does not depend on the scores,
// and group 0's skip score gets no gradient.
func (g *Gumbel) Backward(dP *models.Encoding) gen.Scores {
	var ds gen.Scores
	for l := 0; l < models.NumLayers; l++ {
		for b := 0; b < models.NumGroups; b++ {
			n := models.NumCandidates
			if b == 0 {
				n = models.SkipCandidate
			}
			o := models.NumCandidates * b
			var dot float64
			for j := 0; j < n; j++ {
				dot += g.P[l][o+j] * dP[l][o+j]
			}
			for j := 0; j < n; j++ {
				ds[l][o+j] = g.P[l][o+j] * (dP[l][o+j] - dot) / g.Tau
			}
		}
	}
	return ds
}
