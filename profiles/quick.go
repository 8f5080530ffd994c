package profiles

import (
	"math"

	"github.com/sgnas/sgnas/models"
)

// quickMixed are the mixed configurations --quick measures besides the
// single-kernel ones.
var quickMixed = []Config{{1, 1, 0}, {1, 0, 1}, {0, 1, 1}, {1, 1, 1}, {2, 2, 2}, {0, 2, 2}}

// QuickConfigs is the subset of configurations a --quick build measures per
// layer: every single-kernel configuration (kernel 3, 5 or 7 at expansion
// 1..6: 18) and six mixed ones (35, 37, 57, 357, 335577, 5577): 24 of 83.
func QuickConfigs() []Config {
	var cs []Config
	for e := 1; e <= 6; e++ {
		cs = append(cs, Config{e, 0, 0}, Config{0, e, 0}, Config{0, 0, e})
	}
	return append(cs, quickMixed...)
}

// quickFeatures are the features of the mixed-configuration correction:
// two distinct kernels, three distinct kernels, kernel 3 absent from a mix.
func quickFeatures(c Config) []float64 {
	d := c.Distinct()
	f := []float64{0, 0, 0}
	if d == 2 {
		f[0] = 1
	}
	if d == 3 {
		f[1] = 1
	}
	if d >= 2 && c.N3 == 0 {
		f[2] = 1
	}
	return f
}

// quickModel is the additive per-group model --quick fits per layer:
//
//	t(n3,n5,n7) = t(3^e) + D5(n5) + D7(n7) + s·features
//
// where e = n3+n5+n7, t(3^e) is the measured all-kernel-3 configuration of
// that expansion, Dk(n) = t(k^n) − t(3^n) the measured cost of turning n
// groups from kernel 3 into kernel k (0 for n = 0), and s the least-squares
// coefficients of quickFeatures (mix overheads: extra Split/Concat and
// depthwise nodes) fitted to the measured mixed configurations.
type quickModel struct {
	m map[Config]float64
	s []float64
}

func (q *quickModel) single(k, n int) float64 {
	switch k {
	case 3:
		return q.m[Config{n, 0, 0}]
	case 5:
		return q.m[Config{0, n, 0}]
	}
	return q.m[Config{0, 0, n}]
}

func (q *quickModel) additive(c Config) float64 {
	v := q.single(3, c.Expansion())
	if c.N5 > 0 {
		v += q.single(5, c.N5) - q.single(3, c.N5)
	}
	if c.N7 > 0 {
		v += q.single(7, c.N7) - q.single(3, c.N7)
	}
	return v
}

func (q *quickModel) predict(c Config) float64 {
	v := q.additive(c)
	for i, f := range quickFeatures(c) {
		v += q.s[i] * f
	}
	return math.Max(0, v)
}

// fitQuickModel fits the model to a layer's measured entries; ok is false if
// a single-kernel configuration is missing.
func fitQuickModel(l *Layer) (*quickModel, bool) {
	q := &quickModel{m: map[Config]float64{}}
	for _, e := range l.Entries {
		if e.Fitted {
			continue
		}
		c, err := ParseConfigKey(e.Kernels)
		if err == nil {
			q.m[c] = e.US
		}
	}
	for e := 1; e <= 6; e++ {
		for _, c := range []Config{{e, 0, 0}, {0, e, 0}, {0, 0, e}} {
			if _, ok := q.m[c]; !ok {
				return nil, false
			}
		}
	}
	var X [][]float64
	var y []float64
	for c, v := range q.m {
		if c.Distinct() < 2 {
			continue
		}
		X = append(X, quickFeatures(c))
		y = append(y, v-q.additive(c))
	}
	q.s = leastSquares(X, y, 3)
	return q, true
}

// FitQuick fills the configurations of a layer that were not measured with
// the quick model's prediction (Fitted entries), keeping measured ones, and
// orders the entries as Configs. A layer without every single-kernel
// configuration is left as it is.
func FitQuick(l *Layer) {
	q, ok := fitQuickModel(l)
	if !ok {
		return
	}
	var out []Entry
	for _, c := range Configs() {
		if v, ok := q.m[c]; ok {
			out = append(out, Entry{Kernels: c.Key(), US: v})
		} else {
			out = append(out, Entry{Kernels: c.Key(), US: round3(q.predict(c)), Fitted: true})
		}
	}
	l.Entries = out
}

// leastSquares solves min ‖Xw − y‖² for k unknowns through the normal
// equations with a tiny ridge (so that unidentified coefficients stay 0).
func leastSquares(X [][]float64, y []float64, k int) []float64 {
	A := make([][]float64, k)
	b := make([]float64, k)
	for i := range A {
		A[i] = make([]float64, k)
	}
	for r, row := range X {
		for i := 0; i < k; i++ {
			b[i] += row[i] * y[r]
			for j := 0; j < k; j++ {
				A[i][j] += row[i] * row[j]
			}
		}
	}
	tr := 0.0
	for i := 0; i < k; i++ {
		tr += A[i][i]
	}
	lambda := 1e-10*tr/float64(k) + 1e-12
	for i := 0; i < k; i++ {
		A[i][i] += lambda
	}
	// Gaussian elimination with partial pivoting.
	for c := 0; c < k; c++ {
		p := c
		for r := c + 1; r < k; r++ {
			if math.Abs(A[r][c]) > math.Abs(A[p][c]) {
				p = r
			}
		}
		A[c], A[p] = A[p], A[c]
		b[c], b[p] = b[p], b[c]
		if A[c][c] == 0 {
			continue
		}
		for r := c + 1; r < k; r++ {
			f := A[r][c] / A[c][c]
			for j := c; j < k; j++ {
				A[r][j] -= f * A[c][j]
			}
			b[r] -= f * b[c]
		}
	}
	w := make([]float64, k)
	for c := k - 1; c >= 0; c-- {
		if A[c][c] == 0 {
			continue
		}
		s := b[c]
		for j := c + 1; j < k; j++ {
			s -= A[c][j] * w[j]
		}
		w[c] = s / A[c][c]
	}
	return w
}

// rawSum is the uncorrected prediction of a (µs): overhead + fixed parts +
// table entries.
func rawSum(p *Profile, ks [][]int) float64 {
	v := p.OverheadUS + p.StemUS + p.HeadUS
	for l, k := range ks {
		c, _ := ConfigOf(k)
		key := c.Key()
		for _, e := range p.layer(l).Entries {
			if e.Kernels == key {
				v += e.US
				break
			}
		}
	}
	return v
}

// calibrate fits the correction over the calibration models and keeps it
// when its leave-one-out error beats the uncorrected sum's. Two forms are
// tried: a ratio (measured ≈ A·sum, A the median of measured/sum) and a line
// (measured ≈ A·sum + B, least squares); the line is used only when its
// leave-one-out error is lower, A lies in [0.25, 4] and it predicts a
// positive latency for the fastest architecture of the space.
func calibrate(p *Profile, archs []*models.Arch, measured []float64) *Calibration {
	c := &Calibration{A: 1, B: 0, Method: "none"}
	x := make([]float64, len(archs))
	for i, a := range archs {
		ks := make([][]int, len(a.Layers))
		for l := range a.Layers {
			ks[l] = a.Layers[l].Kernels
		}
		x[i] = rawSum(p, ks)
		c.Models = append(c.Models, CalModel{Arch: a.String(), SumUS: round3(x[i]), MeasuredUS: round3(measured[i])})
	}
	n := len(x)
	if n < 3 {
		return c
	}
	minSum := p.OverheadUS + p.StemUS + p.HeadUS
	for _, l := range p.Layers {
		m := math.Inf(1)
		for _, e := range l.Entries {
			m = math.Min(m, e.US)
		}
		minSum += m
	}
	ratio := func(xs, ys []float64) (float64, float64) {
		r := make([]float64, len(xs))
		for i := range xs {
			r[i] = ys[i] / xs[i]
		}
		return median(r), 0
	}
	loo := func(fit func(xs, ys []float64) (float64, float64)) float64 {
		pred := make([]float64, n)
		for i := 0; i < n; i++ {
			var xs, ys []float64
			for j := 0; j < n; j++ {
				if j != i {
					xs, ys = append(xs, x[j]), append(ys, measured[j])
				}
			}
			a, b := fit(xs, ys)
			pred[i] = a*x[i] + b
		}
		return meanAbsPct(pred, measured)
	}
	c.LOORawPct = math.Round(meanAbsPct(x, measured)*1000) / 1000
	best, method := c.LOORawPct, ""
	var a, b float64
	if e := loo(ratio); e < best {
		a, b = ratio(x, measured)
		best, method = e, "ratio"
	}
	if e := loo(fitLine); e < best {
		la, lb := fitLine(x, measured)
		if la >= 0.25 && la <= 4 && la*minSum+lb > 0 {
			a, b, best, method = la, lb, e, "line"
		}
	}
	c.LOOPct = math.Round(best*1000) / 1000
	if method != "" && a > 0 && finite(a) && finite(b) {
		c.A, c.B, c.Applied, c.Method = math.Round(a*1e6)/1e6, round3(b), true, method
	}
	return c
}

// fitLine is the ordinary least-squares line y ≈ a·x + b.
func fitLine(x, y []float64) (a, b float64) {
	n := float64(len(x))
	var mx, my float64
	for i := range x {
		mx += x[i] / n
		my += y[i] / n
	}
	var sxy, sxx float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	if sxx == 0 {
		return 1, my - mx
	}
	a = sxy / sxx
	return a, my - a*mx
}

func meanAbsPct(pred, meas []float64) float64 {
	s := 0.0
	for i := range pred {
		s += math.Abs(pred[i]-meas[i]) / meas[i] * 100
	}
	return s / float64(len(pred))
}
