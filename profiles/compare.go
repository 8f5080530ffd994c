package profiles

import "fmt"

// Comparison is how well profile A's predictions agree with profile B's
// (typically a --quick profile against a full one of the same device).
type Comparison struct {
	Entries     Agreement `json:"entries"`      // A's table entries vs B's (uncorrected µs; only entries A fitted when FittedOnly)
	FittedOnly  bool      `json:"fitted_only"`  // Entries covers only A's fitted entries
	EntryCount  int       `json:"entry_count"`  // entries compared
	Models      Agreement `json:"models"`       // predicted latency of random architectures, A vs B
	ModelsRaw   Agreement `json:"models_raw"`   // the same, uncorrected sums
	ModelsCount int       `json:"models_count"` // architectures compared
}

// Compare compares the tables and the predictions of two complete profiles
// of the same network: entry by entry (only the entries a fitted, if it has
// any) and over n seeded random architectures (SampleArchs).
func Compare(a, b *Profile, n int, seed uint64) (*Comparison, error) {
	if err := a.CheckNetwork(b.Network); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	pa, err := NewPredictor(a)
	if err != nil {
		return nil, err
	}
	pb, err := NewPredictor(b)
	if err != nil {
		return nil, err
	}
	c := &Comparison{}
	for _, l := range a.Layers {
		for _, e := range l.Entries {
			if e.Fitted {
				c.FittedOnly = true
				break
			}
		}
	}
	var ga, gb []float64
	for _, l := range a.Layers {
		lb := b.layer(l.Layer)
		want := map[string]float64{}
		for _, e := range lb.Entries {
			want[e.Kernels] = e.US
		}
		for _, e := range l.Entries {
			if c.FittedOnly && !e.Fitted {
				continue
			}
			if v := want[e.Kernels]; v > 0 {
				ga, gb = append(ga, e.US), append(gb, v)
			}
		}
	}
	c.Entries, c.EntryCount = Agree(ga, gb), len(ga)
	var ma, mb, ra, rb []float64
	for _, arch := range SampleArchs(a.Network.Space, n, seed, checkStream) {
		ma, mb = append(ma, pa.Value(arch)), append(mb, pb.Value(arch))
		ra, rb = append(ra, pa.Raw(arch)), append(rb, pb.Raw(arch))
	}
	c.Models, c.ModelsCount = Agree(ma, mb), len(ma)
	c.ModelsRaw = Agree(ra, rb)
	return c, nil
}

// SimulateQuick returns what a --quick build would have produced from the
// same measurements as a full profile: a copy keeping only the QuickConfigs
// entries of each layer, the rest fitted (FitQuick), the same calibration.
// Compare(SimulateQuick(full), full, …) measures the quick fit's error alone,
// free of the noise between two builds.
func SimulateQuick(full *Profile) (*Profile, error) {
	if err := full.Validate(false); err != nil {
		return nil, err
	}
	q := *full
	q.Protocol.Quick = true
	keep := map[string]bool{}
	for _, c := range QuickConfigs() {
		keep[c.Key()] = true
	}
	q.Layers = nil
	for _, l := range full.Layers {
		nl := Layer{Layer: l.Layer, OverheadUS: l.OverheadUS}
		for _, e := range l.Entries {
			if keep[e.Kernels] && !e.Fitted {
				nl.Entries = append(nl.Entries, e)
			}
		}
		FitQuick(&nl)
		q.Layers = append(q.Layers, nl)
	}
	if err := q.Validate(false); err != nil {
		return nil, fmt.Errorf("simulate quick: %w", err)
	}
	return &q, nil
}
