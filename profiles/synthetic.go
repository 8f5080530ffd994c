package profiles

import (
	"time"

	"github.com/sgnas/sgnas/models"
)

// Synthetic returns a complete, deterministic profile that was never
// measured, for tests, benchmarks and examples that need a latency metric
// without timing anything: a layer configuration costs
//
//	25 µs + 40 µs per depthwise node (one per distinct kernel) + 45 µs/MFLOP
//
// of its lookup-table MFLOPs (SE terms added when on), so latency follows
// the FLOPs closely with a per-node penalty for mixes; stem 600 µs, head
// 400 µs, per-run overhead 15 µs, no calibration. dev is recorded as the
// device (e.g. CurrentFingerprint for a profile this machine accepts).
func Synthetic(net Network, dev Fingerprint) (*Profile, error) {
	opts, err := net.Options()
	if err != nil {
		return nil, err
	}
	lut := opts.Space.LUT()
	p := &Profile{
		Schema: Schema, Created: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), SGNASVersion: "synthetic", Complete: true,
		Device: dev, Network: net,
		Protocol:   Protocol{Warmup: 1, Runs: 1, Statistic: "median", Order: "synthetic (not measured)", Overhead: "synthetic", Seed: 1, CalModels: 0},
		OverheadUS: 15, StemUS: 600, HeadUS: 400, FixedOverheadUS: 15,
	}
	for l := 0; l < models.NumLayers; l++ {
		ly := Layer{Layer: l, OverheadUS: 15}
		for _, c := range Configs() {
			ks := c.Kernels()
			f := lut.LayerMFLOPs(l, ks)
			if opts.SE {
				f += float64(models.SEMACs(len(ks)*opts.Space.Layers[l].In)) / 1e6
			}
			us := 25 + 40*float64(c.Distinct()) + 45*f
			ly.Entries = append(ly.Entries, Entry{Kernels: c.Key(), US: round3(us)})
		}
		p.Layers = append(p.Layers, ly)
	}
	if err := p.Validate(false); err != nil {
		return nil, err
	}
	return p, nil
}
