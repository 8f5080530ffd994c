package profiles

import (
	"math"

	"github.com/sgnas/sgnas/models"
)

// CostModel is a differentiable latency model (ms) for generator training
// (models.CostModel), fitted by least squares to a predictor's table. Per
// layer l, with n_j = Σ_g P[l][4g+j] the expected number of groups using
// kernel j (3, 5, 7) and e = n_3 + n_5 + n_7:
//
//	cost_l(P) = α_l + Σ_j β_lj·n_j + γ_l·clamp(e − 1, 0, 1)
//
// and Cost(P) = Base + Σ_l cost_l(P). The γ term is the expand conv, present
// from expansion 2 on (as the FLOPs LUT's PW1 term). The per-group,
// per-candidate coefficient of group g, candidate j is β_lj for every g:
// latency depends only on the multiset of kernels, so groups are
// exchangeable and a least-squares fit over positional encodings gives the
// same coefficient to each group; "skip" has coefficient 0 (dropping a group
// removes its β). Fit reports how well it matches the table.
type CostModel struct {
	Base  float64
	Alpha [models.NumLayers]float64
	Beta  [models.NumLayers][3]float64
	Gamma [models.NumLayers]float64
	Fit   CostFit
}

// CostFit is the cost model's error against the predictor: over the 19×83
// table entries (abs % of the entry) and over seeded random whole
// architectures (abs % of the predicted model latency).
type CostFit struct {
	TableMeanAbsPct float64 `json:"table_mean_abs_pct"`
	TableMaxAbsPct  float64 `json:"table_max_abs_pct"`
	ModelMeanAbsPct float64 `json:"model_mean_abs_pct"`
	ModelMaxAbsPct  float64 `json:"model_max_abs_pct"`
	Models          int     `json:"models"`
}

func costFeatures(c Config) []float64 {
	e := float64(c.Expansion())
	return []float64{1, float64(c.N3), float64(c.N5), float64(c.N7), math.Max(0, math.Min(1, e-1))}
}

// NewCostModel fits the cost model to a predictor's (corrected) table.
func NewCostModel(pr *Predictor) *CostModel {
	cm := &CostModel{Base: pr.Base()}
	cs := Configs()
	var tSum, tMax float64
	for l := 0; l < models.NumLayers; l++ {
		X := make([][]float64, len(cs))
		y := make([]float64, len(cs))
		for i, c := range cs {
			X[i] = costFeatures(c)
			y[i] = pr.t[l][c.N3][c.N5][c.N7]
		}
		w := leastSquares(X, y, 5)
		cm.Alpha[l], cm.Beta[l] = w[0], [3]float64{w[1], w[2], w[3]}
		cm.Gamma[l] = w[4]
		for i, c := range cs {
			v := cm.layer(l, float64(c.N3), float64(c.N5), float64(c.N7))
			if y[i] > 0 {
				e := math.Abs(v-y[i]) / y[i] * 100
				tSum += e
				tMax = math.Max(tMax, e)
			}
		}
	}
	cm.Fit.TableMeanAbsPct = tSum / float64(models.NumLayers*len(cs))
	cm.Fit.TableMaxAbsPct = tMax
	archs := SampleArchs(pr.P.Network.Space, 1000, 1, 0xc057)
	var mSum, mMax float64
	for _, a := range archs {
		want := pr.Value(a)
		got := cm.Cost(a.Encoding())
		e := math.Abs(got-want) / want * 100
		mSum += e
		mMax = math.Max(mMax, e)
	}
	cm.Fit.Models = len(archs)
	cm.Fit.ModelMeanAbsPct = mSum / float64(len(archs))
	cm.Fit.ModelMaxAbsPct = mMax
	return cm
}

func (cm *CostModel) layer(l int, n3, n5, n7 float64) float64 {
	e := n3 + n5 + n7
	return cm.Alpha[l] + cm.Beta[l][0]*n3 + cm.Beta[l][1]*n5 + cm.Beta[l][2]*n7 + cm.Gamma[l]*math.Max(0, math.Min(1, e-1))
}

func counts(row *[models.RowLen]float64) (n [3]float64) {
	for g := 0; g < models.NumGroups; g++ {
		for j := 0; j < 3; j++ {
			n[j] += row[models.NumCandidates*g+j]
		}
	}
	return n
}

// Cost is the model's latency (ms) of an architecture matrix (probabilities
// or one-hot).
func (cm *CostModel) Cost(p *models.Encoding) float64 {
	v := cm.Base
	for l := 0; l < models.NumLayers; l++ {
		n := counts(&p[l])
		v += cm.layer(l, n[0], n[1], n[2])
	}
	return v
}

// Grad is ∂Cost/∂P: for group g, kernel candidate j of layer l, β_lj plus
// γ_l while 1 ≤ e < 2 (the one-sided derivative at e = 1, where adding a
// group adds the expand conv); 0 for skip.
func (cm *CostModel) Grad(p *models.Encoding) *models.Encoding {
	var g models.Encoding
	for l := 0; l < models.NumLayers; l++ {
		n := counts(&p[l])
		e := n[0] + n[1] + n[2]
		extra := 0.0
		if e >= 1 && e < 2 {
			extra = cm.Gamma[l]
		}
		for b := 0; b < models.NumGroups; b++ {
			for j := 0; j < 3; j++ {
				g[l][models.NumCandidates*b+j] = cm.Beta[l][j] + extra
			}
		}
	}
	return &g
}

// Unit is "ms".
func (cm *CostModel) Unit() string { return "ms" }

var _ models.CostModel = (*CostModel)(nil)
