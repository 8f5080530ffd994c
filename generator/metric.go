package generator

import (
	"fmt"
	"math"

	"github.com/sgnas/sgnas/models"
)

// Metric is the budgeted quantity of an architecture (FLOPs, latency, ...).
// Value is the truth; Base and Layer are an additive decomposition
// (Value = Base + Σ_l Layer(l, kernels_l)) that the repair step uses for fast
// incremental updates. Layer must depend only on the multiset of kernels.
type Metric interface {
	Name() string // e.g. "full", "lut"
	Unit() string // e.g. "MFLOPs"
	Value(a *models.Arch) float64
	Base() float64
	Layer(l int, kernels []int) float64
}

// LUTMetric is the authors' lookup-table FLOPs (no SE): what the generator
// was trained against.
type LUTMetric struct{ T *models.LUT }

// NewLUTMetric returns the LUT metric of a space.
func NewLUTMetric(s *models.Space) LUTMetric { return LUTMetric{T: s.LUT()} }

func (m LUTMetric) Name() string                       { return "lut" }
func (m LUTMetric) Unit() string                       { return "MFLOPs" }
func (m LUTMetric) Value(a *models.Arch) float64       { return m.T.ArchMFLOPs(a) }
func (m LUTMetric) Base() float64                      { return m.T.Basic }
func (m LUTMetric) Layer(l int, kernels []int) float64 { return m.T.LayerMFLOPs(l, kernels) }

// FullMetric is the full MAC count of the model as exported (SE convs
// included when on; classifier excluded), in MFLOPs. Value walks the network
// description (models.Count); Base/Layer are the LUT terms plus the SE terms.
type FullMetric struct {
	Opts models.Options
	lut  *models.LUT
}

// NewFullMetric returns the full-count metric for network options (Space set).
func NewFullMetric(opts models.Options) FullMetric {
	return FullMetric{Opts: opts, lut: opts.Space.LUT()}
}

func (m FullMetric) Name() string { return "full" }
func (m FullMetric) Unit() string { return "MFLOPs" }

// Value is models.Count's full count; NaN if the arch is invalid.
func (m FullMetric) Value(a *models.Arch) float64 {
	c, err := models.Count(a, m.Opts)
	if err != nil {
		return math.NaN()
	}
	return c.MFLOPs
}

func (m FullMetric) Base() float64 {
	b := m.lut.Basic
	if m.Opts.SE {
		b += float64(models.SEMACs(m.Opts.Space.StemChannels)) / 1e6
	}
	return b
}

func (m FullMetric) Layer(l int, kernels []int) float64 {
	f := m.lut.LayerMFLOPs(l, kernels)
	if m.Opts.SE {
		f += float64(models.SEMACs(len(kernels)*m.Opts.Space.Layers[l].In)) / 1e6
	}
	return f
}

// NewMetric returns the metric called name ("full" or "lut").
func NewMetric(name string, opts models.Options) (Metric, error) {
	switch name {
	case "full", "":
		return NewFullMetric(opts), nil
	case "lut":
		return NewLUTMetric(opts.Space), nil
	}
	return nil, fmt.Errorf("metric %q: want full or lut", name)
}

// costTable caches Metric.Layer per layer and kernel counts (n3, n5, n7).
type costTable struct {
	base float64
	c    [models.NumLayers][7][7][7]float64
	min  float64 // smallest reachable total (every layer its cheapest config)
	max  float64 // largest reachable total
}

func newCostTable(m Metric) *costTable {
	t := &costTable{base: m.Base()}
	t.min, t.max = t.base, t.base
	for l := 0; l < models.NumLayers; l++ {
		lo, hi := math.Inf(1), math.Inf(-1)
		for n3 := 0; n3 <= 6; n3++ {
			for n5 := 0; n3+n5 <= 6; n5++ {
				for n7 := 0; n3+n5+n7 <= 6; n7++ {
					if n3+n5+n7 == 0 {
						continue
					}
					ks := make([]int, 0, 6)
					for i := 0; i < n3; i++ {
						ks = append(ks, 3)
					}
					for i := 0; i < n5; i++ {
						ks = append(ks, 5)
					}
					for i := 0; i < n7; i++ {
						ks = append(ks, 7)
					}
					v := m.Layer(l, ks)
					t.c[l][n3][n5][n7] = v
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
		}
		t.min += lo
		t.max += hi
	}
	return t
}
