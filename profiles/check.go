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
	// Speed and Speed2 are the speed factors of the model's chunk in the two
	// passes (the reference items against the profile's; 1 for a version 1
	// profile).
	Speed  float64 `json:"speed"`
	Speed2 float64 `json:"speed2"`
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
	Profile    string      `json:"profile,omitempty"`
	Network    Network     `json:"network"`
	Device     Fingerprint `json:"device"`
	Seed       uint64      `json:"seed"`
	Prediction Agreement   `json:"prediction"`    // predicted vs first measurement
	Raw        Agreement   `json:"uncorrected"`   // uncorrected sum vs first measurement
	Noise      Agreement   `json:"noise_ceiling"` // second vs first measurement
	// AtSpeed and NoiseAtSpeed are Prediction and Noise with every
	// measurement divided by its chunk's speed factor: the machine brought
	// back to the speed the profile was measured at. Only when the profile
	// has speed references (HasSpeed).
	HasSpeed     bool         `json:"has_speed"`
	AtSpeed      Agreement    `json:"at_profile_speed"`
	NoiseAtSpeed Agreement    `json:"noise_ceiling_at_profile_speed"`
	Models       []CheckModel `json:"models"`
	Worst        []CheckModel `json:"worst"`
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
	var refs []Item
	if len(pr.P.ReferenceUS) > 0 {
		refs = ReferenceItems(pr.P.Network.Space)
	}
	measure := func() (ms, speed []float64, err error) {
		for s := 0; s < len(archs); s += cfg.Chunk {
			e := min(s+cfg.Chunk, len(archs))
			items := append([]Item(nil), refs...)
			for _, a := range archs[s:e] {
				items = append(items, Item{Kind: ItemModel, Arch: a})
			}
			us, err := cfg.Measurer.Measure(ctx, items)
			if err != nil {
				return nil, nil, err
			}
			if len(us) != len(items) {
				return nil, nil, fmt.Errorf("profile check: measurer returned %d results for %d items", len(us), len(items))
			}
			f := SpeedFactor(us[:len(refs)], pr.P.ReferenceUS)
			for _, v := range us[len(refs):] {
				ms = append(ms, v/1000)
				speed = append(speed, f)
			}
			done += e - s
			if cfg.Progress != nil {
				cfg.Progress(done, total)
			}
		}
		return ms, speed, nil
	}
	m1, f1, err := measure()
	if err != nil {
		return nil, err
	}
	m2, f2, err := measure()
	if err != nil {
		return nil, err
	}
	return checkResult(pr, archs, [2][]float64{m1, m2}, [2][]float64{f1, f2}, cfg), nil
}

func checkResult(pr *Predictor, archs []*models.Arch, m, f [2][]float64, cfg CheckConfig) *CheckResult {
	r := &CheckResult{Network: pr.P.Network, Device: pr.P.Device, Seed: cfg.Seed, HasSpeed: len(pr.P.ReferenceUS) > 0}
	pred := make([]float64, len(archs))
	raw := make([]float64, len(archs))
	var at [2][]float64
	for i, a := range archs {
		pred[i], raw[i] = pr.Value(a), pr.Raw(a)
		r.Models = append(r.Models, CheckModel{
			Arch: a.String(), PredictedMS: pred[i], MeasuredMS: m[0][i], Measured2MS: m[1][i],
			ErrorPct: (pred[i] - m[0][i]) / m[0][i] * 100, Speed: f[0][i], Speed2: f[1][i],
		})
		for p := range at {
			at[p] = append(at[p], m[p][i]/f[p][i])
		}
	}
	r.Prediction, r.Raw, r.Noise = Agree(pred, m[0]), Agree(raw, m[0]), Agree(m[1], m[0])
	if r.HasSpeed {
		r.AtSpeed, r.NoiseAtSpeed = Agree(pred, at[0]), Agree(at[1], at[0])
	}
	w := append([]CheckModel(nil), r.Models...)
	sort.Slice(w, func(i, j int) bool { return math.Abs(w[i].ErrorPct) > math.Abs(w[j].ErrorPct) })
	r.Worst = w[:min(cfg.Worst, len(w))]
	return r
}
