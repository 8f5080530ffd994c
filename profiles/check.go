package profiles

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/sgnas/sgnas/models"
)

// CheckConfig configures Check.
type CheckConfig struct {
	Models int    // held-out random architectures (default 100)
	Seed   uint64 // seed of CheckArchs
	// Measurer times whole models (ItemModel items); Check calls it twice,
	// on the same models, for two independent measurements.
	Measurer Measurer
	// Chunk bounds how many models are timed interleaved at once (default
	// 50); both passes use the same chunks.
	Chunk    int
	Progress func(done, total int)
	Worst    int // worst cases reported (default 5)
}

// CheckModel is one checked architecture.
type CheckModel struct {
	Arch        string  `json:"arch"`
	PredictedMS float64 `json:"predicted_ms"`
	MeasuredMS  float64 `json:"measured_ms"`  // first measurement (median)
	Measured2MS float64 `json:"measured2_ms"` // second, independent measurement
	ErrorPct    float64 `json:"error_pct"`    // (predicted − measured)/measured·100
}

// Agreement summarises how well one series matches a reference series.
type Agreement struct {
	MeanAbsPct float64 `json:"mean_abs_pct"`
	MaxAbsPct  float64 `json:"max_abs_pct"`
	Within5    float64 `json:"within_5pct"`  // share (0..1) within ±5 %
	Within10   float64 `json:"within_10pct"` // share within ±10 %
	KendallTau float64 `json:"kendall_tau"`
}

// CheckResult is the report of Check.
type CheckResult struct {
	Profile    string       `json:"profile,omitempty"`
	Network    Network      `json:"network"`
	Device     Fingerprint  `json:"device"`
	Seed       uint64       `json:"seed"`
	Prediction Agreement    `json:"prediction"`    // predicted vs first measurement
	Raw        Agreement    `json:"uncorrected"`   // uncorrected sum vs first measurement
	Noise      Agreement    `json:"noise_ceiling"` // second vs first measurement
	Models     []CheckModel `json:"models"`
	Worst      []CheckModel `json:"worst"`
}

// Agree compares got with ref (both > 0).
func Agree(got, ref []float64) Agreement {
	var a Agreement
	n := len(ref)
	if n == 0 {
		return a
	}
	for i := range ref {
		e := math.Abs(got[i]-ref[i]) / ref[i] * 100
		a.MeanAbsPct += e
		a.MaxAbsPct = math.Max(a.MaxAbsPct, e)
		if e <= 5 {
			a.Within5++
		}
		if e <= 10 {
			a.Within10++
		}
	}
	a.MeanAbsPct /= float64(n)
	a.Within5 /= float64(n)
	a.Within10 /= float64(n)
	a.KendallTau = KendallTau(got, ref)
	return a
}

// KendallTau is Kendall's τ-b rank correlation of x and y.
func KendallTau(x, y []float64) float64 {
	var conc, disc, tx, ty float64
	for i := 0; i < len(x); i++ {
		for j := i + 1; j < len(x); j++ {
			dx, dy := x[i]-x[j], y[i]-y[j]
			switch {
			case dx == 0 && dy == 0:
			case dx == 0:
				tx++
			case dy == 0:
				ty++
			case (dx > 0) == (dy > 0):
				conc++
			default:
				disc++
			}
		}
	}
	d := math.Sqrt((conc + disc + tx) * (conc + disc + ty))
	if d == 0 {
		return 0
	}
	return (conc - disc) / d
}

// Check builds cfg.Models held-out random architectures (CheckArchs), has
// the measurer time each of them twice (two independent interleaved passes,
// medians), and compares the predictor's values with the first pass; the
// second pass against the first is the noise ceiling.
func Check(ctx context.Context, pr *Predictor, cfg CheckConfig) (*CheckResult, error) {
	if cfg.Models <= 0 {
		cfg.Models = 100
	}
	if cfg.Chunk <= 0 {
		cfg.Chunk = 50
	}
	if cfg.Worst <= 0 {
		cfg.Worst = 5
	}
	archs := CheckArchs(pr.P, cfg.Models, cfg.Seed)
	total := 2 * len(archs)
	done := 0
	measure := func() ([]float64, error) {
		var out []float64
		for s := 0; s < len(archs); s += cfg.Chunk {
			e := min(s+cfg.Chunk, len(archs))
			items := make([]Item, 0, e-s)
			for _, a := range archs[s:e] {
				items = append(items, Item{Kind: ItemModel, Arch: a})
			}
			us, err := cfg.Measurer.Measure(ctx, items)
			if err != nil {
				return nil, err
			}
			if len(us) != len(items) {
				return nil, fmt.Errorf("profile check: measurer returned %d results for %d models", len(us), len(items))
			}
			for _, v := range us {
				out = append(out, v/1000)
			}
			done += len(items)
			if cfg.Progress != nil {
				cfg.Progress(done, total)
			}
		}
		return out, nil
	}
	m1, err := measure()
	if err != nil {
		return nil, err
	}
	m2, err := measure()
	if err != nil {
		return nil, err
	}
	return checkResult(pr, archs, m1, m2, cfg), nil
}

func checkResult(pr *Predictor, archs []*models.Arch, m1, m2 []float64, cfg CheckConfig) *CheckResult {
	r := &CheckResult{Network: pr.P.Network, Device: pr.P.Device, Seed: cfg.Seed}
	pred := make([]float64, len(archs))
	raw := make([]float64, len(archs))
	for i, a := range archs {
		pred[i], raw[i] = pr.Value(a), pr.Raw(a)
		r.Models = append(r.Models, CheckModel{
			Arch: a.String(), PredictedMS: pred[i], MeasuredMS: m1[i], Measured2MS: m2[i],
			ErrorPct: (pred[i] - m1[i]) / m1[i] * 100,
		})
	}
	r.Prediction, r.Raw, r.Noise = Agree(pred, m1), Agree(raw, m1), Agree(m2, m1)
	w := append([]CheckModel(nil), r.Models...)
	sort.Slice(w, func(i, j int) bool { return math.Abs(w[i].ErrorPct) > math.Abs(w[j].ErrorPct) })
	r.Worst = w[:min(cfg.Worst, len(w))]
	return r
}
