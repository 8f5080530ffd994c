package generator

import (
	"context"
	"fmt"
	"math"

	"github.com/sgnas/sgnas/models"
)

// DefaultWindow is the default lower edge of the accepted metric range as a
// fraction of the target: results land in [0.97·T, T].
const DefaultWindow = 0.97

// Request says how Generate turns targets into architectures.
type Request struct {
	// Net are the options of the exported model (Space required); they define
	// the full count and the params of each result.
	Net models.Options
	// Metric is the budgeted quantity; nil means the full count under Net.
	Metric Metric
	// Raw skips the repair: the authors' plain argmax decoding.
	Raw bool
	// Window is the lower edge as a fraction of the target (0: DefaultWindow).
	Window float64
	// MinExpansion, when > 1, makes the repair keep every layer at or above
	// this many channel groups (2 for weights sliced from a supernet, which
	// never has an expansion-1 layer). Ignored with Raw.
	MinExpansion int
	// MapTargets says the targets are in Metric's unit (e.g. latency in ms)
	// rather than the generator's FLOPs input: each is first mapped onto an
	// input by MapInputs (aimed at the middle of the window, MapGrid grid
	// points), then the result is repaired to [Window·T, T] of Metric.
	MapTargets bool
	// MapGrid is MapInputs' grid size (0: DefaultMapGrid).
	MapGrid int
}

// Result is one generated architecture.
type Result struct {
	Target    float64
	Input     float64 // the generator's FLOPs input (Target unless Request.MapTargets)
	PriorKey  int
	Arch      *models.Arch // emitted architecture (repaired unless Raw)
	RawArch   *models.Arch // the generator's plain argmax
	Scores    Scores
	Choices   Choices
	Raw       Choices
	LUTMFLOPs float64 // lookup-table count (no SE)
	MFLOPs    float64 // full count under Request.Net
	Params    int64   // params under Request.Net
	Metric    float64 // value of the requested metric
	RawMetric float64 // the same for RawArch
	// ChangedGroups is the number of channel groups the repair changed;
	// ScoreLoss the generator score it gave up doing so (Σ logit drops).
	ChangedGroups int
	ScoreLoss     float64
}

// Generate produces one architecture per target with a single batched
// forward pass per prior key. Targets must lie in the space's generator range
// [LowFLOPs, HighFLOPs]; unless Raw, each result's metric is in
// [Window·T, T] or Generate fails naming the target.
func (g *Generator) Generate(ctx context.Context, pool models.PriorPool, targets []float64, req Request) ([]Result, error) {
	space := req.Net.Space
	if space == nil {
		return nil, fmt.Errorf("generate: no search space")
	}
	if len(pool) == 0 {
		return nil, fmt.Errorf("generate: empty prior pool")
	}
	metric := req.Metric
	if metric == nil {
		metric = NewFullMetric(req.Net)
	}
	window := req.Window
	if window == 0 {
		window = DefaultWindow
	}
	if window <= 0 || window > 1 {
		return nil, fmt.Errorf("generate: window %g: want a fraction in (0, 1]", window)
	}
	tab := newCostTable(metric)
	for _, t := range targets {
		if !req.MapTargets && (math.IsNaN(t) || t < space.LowFLOPs || t > space.HighFLOPs) {
			return nil, fmt.Errorf("target %g MFLOPs outside the generator's range [%g, %g] for space %s",
				t, space.LowFLOPs, space.HighFLOPs, space.Name)
		}
		if math.IsNaN(t) || (!req.Raw && (t < tab.min || window*t > tab.max)) {
			return nil, fmt.Errorf("target %g: unreachable, %s %s of space %s spans [%.2f, %.2f]",
				t, metric.Name(), metric.Unit(), space.Name, tab.min, tab.max)
		}
	}
	inputs := targets
	if req.MapTargets {
		var err error
		if inputs, err = g.MapInputs(ctx, space, pool, metric, targets, (1+window)/2, req.MapGrid); err != nil {
			return nil, err
		}
	}
	// One batched forward per prior key.
	scores, keys, err := g.forwardAt(ctx, space, pool, inputs)
	if err != nil {
		return nil, err
	}
	results := make([]Result, len(targets))
	lut := space.LUT()
	for ti := range targets {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r := &results[ti]
		r.Target, r.Input, r.PriorKey, r.Scores = targets[ti], inputs[ti], keys[ti], scores[ti]
		r.Raw = Argmax(&r.Scores)
		r.RawArch = r.Raw.Arch(space.Name)
		r.Choices = r.Raw
		if !req.Raw {
			st, err := repair(&r.Scores, tab, r.Raw, window*r.Target, r.Target, req.MinExpansion)
			if err != nil {
				return nil, fmt.Errorf("target %g: %w", r.Target, err)
			}
			r.Choices = st.ch
		}
		r.Arch = r.Choices.Arch(space.Name)
		r.ChangedGroups = changed(&r.Raw, &r.Choices)
		r.ScoreLoss = scoreLoss(&r.Scores, &r.Raw, &r.Choices)
		r.Metric, r.RawMetric = metric.Value(r.Arch), metric.Value(r.RawArch)
		if !req.Raw && !(r.Metric >= window*r.Target-1e-9 && r.Metric <= r.Target+1e-9) {
			return nil, fmt.Errorf("target %g: internal error: repaired %s %.4f outside [%.2f, %.2f] (the metric is not additive per layer?)",
				r.Target, metric.Name(), r.Metric, window*r.Target, r.Target)
		}
		c, err := models.Count(r.Arch, req.Net)
		if err != nil {
			return nil, fmt.Errorf("target %g: %w", r.Target, err)
		}
		r.LUTMFLOPs, r.MFLOPs, r.Params = lut.ArchMFLOPs(r.Arch), c.MFLOPs, c.Params
	}
	return results, nil
}
