package profiles

import (
	"context"
	"testing"
	"time"

	"github.com/sgnas/sgnas/internal/orttest"
)

// TestORTSmoke builds a tiny --quick-like CIFAR-10 profile in ONNX Runtime
// (per layer only the 18 single-kernel configurations, 2 timed runs each, 3
// calibration models) and checks 4 held-out models with it. Timings are not
// asserted beyond being positive and finite.
func TestORTSmoke(t *testing.T) {
	orttest.Need(t)
	net := Network{Space: "cifar10", SE: false, Activation: "relu6", Classes: 10}
	nopts, _ := net.Options()
	m := &ORTMeasurer{Net: nopts, Threads: 1, Batch: 1, OptLevel: 99, Runs: 2, Warmup: 1, Dir: t.TempDir()}
	start := time.Now()
	p, err := Build(context.Background(), BuildConfig{
		Network: net, Device: CurrentFingerprint("cpu", 1, 1, 99), Measurer: m, Runs: 2, Warmup: 1,
		Quick: true, CalModels: 3,
		configs: func() []Config { return QuickConfigs()[:18] },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tiny profile built in %v: stem %.1f µs, head %.1f µs, overhead %.1f µs, calibration %+v",
		time.Since(start), p.StemUS, p.HeadUS, p.OverheadUS, *p.Calibration)
	if err := p.CheckDevice(CurrentFingerprint("cpu", 1, 1, 99), false); err != nil {
		t.Fatal(err)
	}
	pr, err := NewPredictor(p)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Check(context.Background(), pr, CheckConfig{Models: 4, Measurer: m})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range r.Models {
		if !(cm.PredictedMS > 0 && cm.MeasuredMS > 0 && cm.Measured2MS > 0) {
			t.Fatalf("%+v", cm)
		}
	}
	t.Logf("check: %+v (noise %+v), total %v", r.Prediction, r.Noise, time.Since(start))
}
