package profiles

import (
	"errors"
	"fmt"
	"math"

	"github.com/sgnas/sgnas/models"
)

// Predictor predicts whole-model latency in milliseconds from a complete
// profile:
//
//	Value(a) = A·(overhead + stem + head + Σ_l T[l][config_l]) + B
//
// where T is the profile's table and (A, B) the calibration (1, 0 when the
// profile has none or it was not applied). It has the generator's Metric
// shape: Base() = A·(overhead + stem + head) + B and Layer(l, ks) =
// A·T[l][multiset of ks], so Value = Base + Σ Layer exactly.
type Predictor struct {
	P    *Profile
	A, B float64 // correction actually used (µs)
	base float64
	t    [models.NumLayers][7][7][7]float64 // ms, correction applied
}

// NewPredictor builds the predictor of a complete profile.
func NewPredictor(p *Profile) (*Predictor, error) {
	if p == nil {
		return nil, errors.New("no profile")
	}
	if err := p.Validate(false); err != nil {
		return nil, err
	}
	pr := &Predictor{P: p, A: 1}
	if c := p.Calibration; c != nil && c.Applied {
		pr.A, pr.B = c.A, c.B
	}
	for i := range pr.t {
		for a := range pr.t[i] {
			for b := range pr.t[i][a] {
				for c := range pr.t[i][a][b] {
					pr.t[i][a][b][c] = math.NaN()
				}
			}
		}
	}
	for _, l := range p.Layers {
		for _, e := range l.Entries {
			c, _ := ParseConfigKey(e.Kernels)
			pr.t[l.Layer][c.N3][c.N5][c.N7] = pr.A * e.US / 1000
		}
	}
	pr.base = (pr.A*(p.OverheadUS+p.StemUS+p.HeadUS) + pr.B) / 1000
	return pr, nil
}

// Name is "latency".
func (pr *Predictor) Name() string { return "latency" }

// Unit is "ms".
func (pr *Predictor) Unit() string { return "ms" }

// Base is the corrected fixed part: per-run overhead, stem + first block,
// head + classifier, and the correction's intercept (ms).
func (pr *Predictor) Base() float64 { return pr.base }

// Layer is the corrected latency of layer l with the given kernels (order
// does not matter), in ms; NaN for an invalid layer or kernel list.
func (pr *Predictor) Layer(l int, kernels []int) float64 {
	c, ok := ConfigOf(kernels)
	if !ok || l < 0 || l >= models.NumLayers {
		return math.NaN()
	}
	return pr.t[l][c.N3][c.N5][c.N7]
}

// Value is the predicted latency of a in ms; NaN if a is not a valid
// architecture.
func (pr *Predictor) Value(a *models.Arch) float64 {
	if a == nil || len(a.Layers) != models.NumLayers {
		return math.NaN()
	}
	v := pr.base
	for l, layer := range a.Layers {
		v += pr.Layer(l, layer.Kernels)
	}
	return v
}

// Raw is the uncorrected prediction in ms (overhead + fixed parts + table).
func (pr *Predictor) Raw(a *models.Arch) float64 {
	return ((pr.Value(a)*1000 - pr.B) / pr.A) / 1000
}

// Range is the fastest and slowest predicted latency over the space (ms):
// every layer in its fastest, respectively slowest, configuration with at
// least minExpansion groups (1 for the whole space).
func (pr *Predictor) Range(minExpansion int) (lo, hi float64) {
	lo, hi = pr.base, pr.base
	for l := 0; l < models.NumLayers; l++ {
		mn, mx := math.Inf(1), math.Inf(-1)
		for _, c := range Configs() {
			if c.Expansion() < minExpansion {
				continue
			}
			v := pr.t[l][c.N3][c.N5][c.N7]
			mn, mx = math.Min(mn, v), math.Max(mx, v)
		}
		lo += mn
		hi += mx
	}
	return lo, hi
}

// CheckTarget refuses a latency target (ms) outside the predicted range of
// the space with one line saying the range.
func (pr *Predictor) CheckTarget(ms float64, minExpansion int) error {
	lo, hi := pr.Range(minExpansion)
	switch {
	case ms < lo:
		return fmt.Errorf("latency target %s is below the fastest architecture of the space on this profile (%.3f ms; range %.3f–%.3f ms)", FormatMS(ms), lo, lo, hi)
	case ms > hi:
		return fmt.Errorf("latency target %s is above the slowest architecture of the space on this profile (%.3f ms; range %.3f–%.3f ms)", FormatMS(ms), hi, lo, hi)
	}
	return nil
}
