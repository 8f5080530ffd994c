// Package profplot draws profile figures (gonum.org/v1/plot). It is its own
// package so that the deployment path (pipeline, sgnas-export), which uses
// package profiles for latency budgets, does not link the plotting library.
package profplot

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/sgnas/sgnas/internal/fsutil"
	"github.com/sgnas/sgnas/profiles"
)

// WritePlot writes a predicted-vs-measured scatter of a check (x predicted,
// y measured, ms) with the y = x line and the ±10 % band, as SVG or PNG by
// the file's extension; the write is atomic.
func WritePlot(path string, r *profiles.CheckResult) error {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	if format != "svg" && format != "png" {
		return fmt.Errorf("plot %s: want a .svg or .png file", path)
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s latency: predicted vs measured (%d models; %.0f%% within ±10%%, τ %.3f)",
		r.Network.Space, len(r.Models), r.Prediction.Within10*100, r.Prediction.KendallTau)
	p.X.Label.Text = "predicted (ms)"
	p.Y.Label.Text = "measured median (ms)"
	lo, hi := math.Inf(1), math.Inf(-1)
	pts := make(plotter.XYs, len(r.Models))
	for i, m := range r.Models {
		pts[i].X, pts[i].Y = m.PredictedMS, m.MeasuredMS
		lo = math.Min(lo, math.Min(m.PredictedMS, m.MeasuredMS))
		hi = math.Max(hi, math.Max(m.PredictedMS, m.MeasuredMS))
	}
	if len(pts) == 0 {
		return fmt.Errorf("plot %s: no models", path)
	}
	lo, hi = lo*0.9, hi*1.1
	line := func(f float64, c color.Color, dashed bool, name string) error {
		l, err := plotter.NewLine(plotter.XYs{{X: lo, Y: f * lo}, {X: hi, Y: f * hi}})
		if err != nil {
			return err
		}
		l.Color = c
		if dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l)
		if name != "" {
			p.Legend.Add(name, l)
		}
		return nil
	}
	grey := color.RGBA{R: 120, G: 120, B: 120, A: 255}
	if err := line(1, color.Black, false, "measured = predicted"); err != nil {
		return err
	}
	// measured = predicted/(1∓10 %) bounds |pred − meas|/meas ≤ 10 %.
	if err := line(1/0.9, grey, true, "±10 %"); err != nil {
		return err
	}
	if err := line(1/1.1, grey, true, ""); err != nil {
		return err
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return err
	}
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	sc.GlyphStyle.Radius = vg.Points(2.5)
	sc.GlyphStyle.Color = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	p.Add(sc)
	p.Legend.Add("model", sc)
	p.Legend.Top, p.Legend.Left = true, true
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = lo, hi, lo, hi
	wt, err := p.WriterTo(6*vg.Inch, 6*vg.Inch, format)
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return fsutil.WriteAtomic(path, 0o644, func(w io.Writer) error {
		_, err := wt.WriteTo(w)
		return err
	})
}
