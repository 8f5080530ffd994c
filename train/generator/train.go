package generator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/sgnas/sgnas/data"
	gen "github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/internal/fsutil"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/train/nn"
	"github.com/sgnas/sgnas/weights"
)

// Supernet is what generator training needs from the (frozen) supernet:
// *supernet.Supernet implements it. ForwardArch runs architecture-parameter
// mode (reference §2.2) and returns dLoss/dP after Backward; Discard forgets
// a forward that is not differentiated.
type Supernet interface {
	ForwardArch(t *nn.Tape, x *nn.Var, p *models.Encoding, training bool) (logits *nn.Var, grad func() *models.Encoding)
	Backward(t *nn.Tape, loss *nn.Var)
	Discard(t *nn.Tape)
}

// Config holds the generator-training settings (reference §5.2). Zero
// values select the authors' values noted per field.
type Config struct {
	Space *models.Space
	// Low, High: the constraint range (default the space's LowFLOPs/HighFLOPs:
	// 270/450 ImageNet, 80/120 CIFAR), in the cost's unit.
	Low, High float64
	// TrainStep is the spacing of the training targets range(low, high,
	// step) (default 5); each step's target also gets uniform noise in
	// [−0.5, 0.5)·TrainStep/5 (the authors' [−0.5, 0.5) at step 5).
	TrainStep float64
	// EvalStep is the spacing of the tracking targets range(low, high, step)
	// (default 10).
	EvalStep float64
	// Epochs is the number of generator epochs (default 50).
	Epochs int
	// LR, Beta1, Beta2: Adam (defaults 0.001, 0.5, 0.999; weight decay 0).
	LR, Beta1, Beta2 float64
	// Tau0 and TauDecay: Gumbel temperature τ_e = Tau0·TauDecay^e (5, 0.95).
	Tau0, TauDecay float64
	// LabelSmoothing of the cross-entropy (default 0.1; negative: none).
	LabelSmoothing float64
	// HCThreshold: best_avg.pth needs total hard L_hc below it (default 0.4).
	HCThreshold float64
	// Seed drives targets, target noise and Gumbel noise (per epoch, so a
	// resumed run repeats the uninterrupted one).
	Seed int64
	// MaxTrainBatches and MaxEvalBatches cap the batches per epoch (0: all).
	MaxTrainBatches, MaxEvalBatches int
	// SkipTop1 skips the per-epoch top-1 evaluation (best_avg then tracks
	// L_hc only).
	SkipTop1 bool
	// HCScale multiplies cost and target inside L_hc (default 1). The
	// authors' L_hc (α = 0.0003, margin 0.1) is sized for MFLOPs; a latency
	// cost in ms uses (space FLOPs span)/(Low..High span in ms), so a target
	// range in ms weighs like the authors' 180 MFLOPs.
	HCScale float64
	// PriorByPosition picks each target's prior-pool key (keys are MFLOPs)
	// by its position in [Low, High], mapped onto the space's FLOPs range,
	// instead of by its value: for a cost in another unit (latency).
	PriorByPosition bool
}

func (c *Config) defaults() error {
	if c.Space == nil {
		return errors.New("generator training: no search space")
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Low, c.Space.LowFLOPs)
	def(&c.High, c.Space.HighFLOPs)
	def(&c.TrainStep, 5)
	def(&c.EvalStep, 10)
	def(&c.LR, 0.001)
	def(&c.Beta1, 0.5)
	def(&c.Beta2, 0.999)
	def(&c.Tau0, 5)
	def(&c.TauDecay, 0.95)
	def(&c.LabelSmoothing, 0.1)
	def(&c.HCThreshold, 0.4)
	def(&c.HCScale, 1)
	if c.LabelSmoothing < 0 {
		c.LabelSmoothing = 0
	}
	if c.Epochs == 0 {
		c.Epochs = 50
	}
	if !(c.High > c.Low) {
		return fmt.Errorf("generator training: constraint range [%g, %g) is empty", c.Low, c.High)
	}
	if c.TrainStep <= 0 || c.EvalStep <= 0 {
		return fmt.Errorf("generator training: target steps must be positive (train %g, eval %g)", c.TrainStep, c.EvalStep)
	}
	return nil
}

// Targets returns range(low, high, step): low, low+step, … < high.
func Targets(low, high, step float64) []float64 {
	var ts []float64
	for k := 0; ; k++ {
		t := low + float64(k)*step
		if t >= high {
			return ts
		}
		ts = append(ts, t)
	}
}

// Trainer trains a generator against a frozen supernet and a cost model.
type Trainer struct {
	Cfg      Config
	Net      *Net
	Adam     *nn.Adam
	Supernet Supernet
	Cost     models.CostModel
	Pool     models.PriorPool
	// Train is the loader of the generator's training split (the authors'
	// search-val split, with training augmentation); Val the loader for the
	// per-epoch top-1 (may be nil with Cfg.SkipTop1).
	Train, Val *data.Loader
	// OutDir receives best.pth, best_avg.pth, final.pth, last.pth (resume
	// state) and log.jsonl; empty: nothing is written.
	OutDir string
	// OnStep, if set, is called after every training step (for progress).
	OnStep func(epoch, step, steps int, s StepStats)
	// Log, if set, receives one line per epoch.
	Log io.Writer

	// Epoch is the next epoch to run; BestHC and BestTop1 the best values
	// so far (restored by Resume).
	Epoch    int
	BestHC   float64
	BestTop1 float64
}

// NewTrainer returns a trainer for a fresh generator (authors' init from
// cfg.Seed) with Adam as configured.
func NewTrainer(cfg Config, sn Supernet, cost models.CostModel, pool models.PriorPool, train, val *data.Loader) (*Trainer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if len(pool) == 0 {
		return nil, errors.New("generator training: empty prior pool")
	}
	if !cfg.SkipTop1 && val == nil {
		return nil, errors.New("generator training: no validation loader for the top-1 evaluation")
	}
	// Generator training needs a frozen supernet (eval-mode BN, no
	// parameter gradients); freeze it when it can be frozen.
	if f, ok := sn.(interface{ SetFrozen(bool) }); ok {
		f.SetFrozen(true)
	}
	n := NewNet(cfg.Seed)
	return &Trainer{
		Cfg: cfg, Net: n, Adam: nn.NewAdam(n.Params(), cfg.Beta1, cfg.Beta2, 1e-8, 0),
		Supernet: sn, Cost: cost, Pool: pool, Train: train, Val: val,
		BestHC: math.Inf(1), BestTop1: math.Inf(-1),
	}, nil
}

// StepStats are the values of one training step.
type StepStats struct {
	Target, Cost float64 // target T (with noise) and soft cost F(P)
	CE, HC       float64 // cross-entropy and L_hc
}

// Tracking is the FLOPs-tracking evaluation (reference §5.2): hard
// architectures for the targets range(low, high, EvalStep).
type Tracking struct {
	Targets []float64 `json:"targets"`
	Costs   []float64 `json:"costs"`    // cost of each hard architecture
	HCTotal float64   `json:"hc_total"` // Σ hard L_hc
	Kendall float64   `json:"kendall_tau"`
}

// EvalTracking evaluates g on targets: per target the hard (argmax)
// architecture from the nearest prior, its cost, the summed hard L_hc and
// Kendall's τ-b between targets and costs.
func EvalTracking(g *gen.Generator, pool models.PriorPool, cost models.CostModel, low, high float64, targets []float64) Tracking {
	return evalTracking(g, pool, cost, low, high, targets, 1, func(t float64) float64 { return t })
}

// evalTracking is EvalTracking with L_hc's scale and the prior-key choice.
func evalTracking(g *gen.Generator, pool models.PriorPool, cost models.CostModel, low, high float64, targets []float64, scale float64, key func(float64) float64) Tracking {
	tr := Tracking{Targets: targets, Costs: make([]float64, len(targets))}
	for i, t := range targets {
		_, prior := pool.Nearest(key(t))
		sc := g.Forward(prior.Encoding(), []float64{(t - low) / (high - low)})[0]
		ch := gen.Argmax(&sc)
		tr.Costs[i] = cost.Cost(ch.Encoding())
		l, _ := HCLoss(scale*tr.Costs[i], scale*t)
		tr.HCTotal += l
	}
	tr.Kendall, _ = KendallTau(targets, tr.Costs)
	return tr
}

// EpochStats is one line of log.jsonl.
type EpochStats struct {
	Epoch   int      `json:"epoch"`
	Tau     float64  `json:"tau"`
	Steps   int      `json:"steps"`
	CE      float64  `json:"ce"`       // mean training cross-entropy
	HC      float64  `json:"hc"`       // mean training L_hc (soft)
	CostErr float64  `json:"cost_err"` // mean |F(P) − T| of training steps
	Top1    *float64 `json:"top1,omitempty"`
	Tracking
	Best    bool    `json:"best"`
	BestAvg bool    `json:"best_avg"`
	Seconds float64 `json:"seconds"`
}

func (tr *Trainer) constraint(t float64) float64 {
	return (t - tr.Cfg.Low) / (tr.Cfg.High - tr.Cfg.Low)
}

// priorKey is the value whose nearest prior-pool key a target uses.
func (tr *Trainer) priorKey(t float64) float64 {
	if !tr.Cfg.PriorByPosition {
		return t
	}
	s := tr.Cfg.Space
	return s.LowFLOPs + tr.constraint(t)*(s.HighFLOPs-s.LowFLOPs)
}

// Step runs one training step on batch b for target t: generator forward,
// Gumbel-softmax, supernet in architecture-parameter mode, CE + L_hc,
// backward into the generator and one Adam update.
func (tr *Trainer) Step(gt, st *nn.Tape, b *data.Batch, t, tau float64, rng *rand.Rand) (StepStats, error) {
	defer gt.Reset()
	defer st.Reset()
	_, prior := tr.Pool.Nearest(tr.priorKey(t))
	out := tr.Net.Forward(gt, []*models.Encoding{prior.Encoding()}, []float64{tr.constraint(t)})
	gs := GumbelSoftmax(&out.Scores[0], tau, rng)
	f := tr.Cost.Cost(&gs.P)
	hc, dF := HCLoss(tr.Cfg.HCScale*f, tr.Cfg.HCScale*t)
	dF *= tr.Cfg.HCScale
	x := st.Const(nn.ToCNHW(nn.FromData(b.X, b.N, b.C, b.H, b.W)))
	logits, grad := tr.Supernet.ForwardArch(st, x, &gs.P, false)
	ce, err := st.CrossEntropy(logits, b.Y, tr.Cfg.LabelSmoothing)
	if err != nil {
		tr.Supernet.Discard(st)
		return StepStats{}, err
	}
	tr.Supernet.Backward(st, ce)
	dP := grad()
	if dF != 0 {
		cg := tr.Cost.Grad(&gs.P)
		for l := range dP {
			for j := range dP[l] {
				dP[l][j] += dF * cg[l][j]
			}
		}
	}
	ds := gs.Backward(dP)
	out.Backward([]gen.Scores{ds})
	tr.Adam.Step(tr.Cfg.LR)
	tr.Net.Store.ZeroGrad()
	return StepStats{Target: t, Cost: f, CE: float64(ce.Value.Data[0]), HC: hc}, nil
}

// epochRand is the random stream of an epoch (targets, noise, Gumbel).
func (tr *Trainer) epochRand(epoch int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(tr.Cfg.Seed), 0x9e3779b97f4a7c15^uint64(epoch)))
}

// TrainEpoch runs the training steps of one epoch.
func (tr *Trainer) TrainEpoch(ctx context.Context, epoch int) (EpochStats, error) {
	es := EpochStats{Epoch: epoch, Tau: tr.Cfg.Tau0 * math.Pow(tr.Cfg.TauDecay, float64(epoch))}
	rng := tr.epochRand(epoch)
	base := Targets(tr.Cfg.Low, tr.Cfg.High, tr.Cfg.TrainStep)
	var order []float64
	steps := tr.Train.NumBatches()
	if tr.Cfg.MaxTrainBatches > 0 {
		steps = min(steps, tr.Cfg.MaxTrainBatches)
	}
	gt, st := nn.NewTape(nil), nn.NewTape(nil)
	it := tr.Train.Epoch(ctx, epoch, 0)
	defer it.Close()
	for i := 0; i < steps; i++ {
		b, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return es, err
		}
		if len(order) == 0 {
			order = append(order, base...)
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		t := order[0] + (rng.Float64()-0.5)*tr.Cfg.TrainStep/5 // authors: ±0.5 at step 5
		order = order[1:]
		s, err := tr.Step(gt, st, b, t, es.Tau, rng)
		if err != nil {
			return es, fmt.Errorf("generator epoch %d step %d: %w", epoch, i, err)
		}
		es.Steps++
		es.CE += s.CE
		es.HC += s.HC
		es.CostErr += math.Abs(s.Cost - s.Target)
		if tr.OnStep != nil {
			tr.OnStep(epoch, i, steps, s)
		}
	}
	if es.Steps > 0 {
		es.CE /= float64(es.Steps)
		es.HC /= float64(es.Steps)
		es.CostErr /= float64(es.Steps)
	}
	return es, nil
}

// Top1 is the supernet's top-1 accuracy (in [0,1]) on loader with the hard
// architecture the generator yields for target t (reference §5.2: the mid
// target), at most maxBatches batches (0: all).
func (tr *Trainer) Top1(ctx context.Context, g *gen.Generator, loader *data.Loader, t float64, maxBatches int) (float64, error) {
	_, prior := tr.Pool.Nearest(t)
	sc := g.Forward(prior.Encoding(), []float64{tr.constraint(t)})[0]
	ch := gen.Argmax(&sc)
	p := ch.Encoding()
	st := nn.NewTape(nil)
	it := loader.Epoch(ctx, 0, 0)
	defer it.Close()
	correct, total := 0, 0
	for i := 0; maxBatches <= 0 || i < maxBatches; i++ {
		b, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		x := st.Const(nn.ToCNHW(nn.FromData(b.X, b.N, b.C, b.H, b.W)))
		logits, _ := tr.Supernet.ForwardArch(st, x, p, false)
		nc := logits.Value.Shape[1]
		for n := 0; n < b.N; n++ {
			row := logits.Value.Data[n*nc : (n+1)*nc]
			best := 0
			for j, v := range row {
				if v > row[best] {
					best = j
				}
			}
			if best == b.Y[n] {
				correct++
			}
			total++
		}
		tr.Supernet.Discard(st)
		st.Reset()
	}
	if total == 0 {
		return 0, errors.New("top-1: validation loader yielded no samples")
	}
	return float64(correct) / float64(total), nil
}

// Checkpoint file names inside Trainer.OutDir.
const (
	BestFile    = "best.pth"     // lowest total hard L_hc (authors: best_generator.pth)
	BestAvgFile = "best_avg.pth" // best top-1 with total hard L_hc < threshold
	FinalFile   = "final.pth"
	LastFile    = "last.pth" // resume state after every epoch
	LogFile     = "log.jsonl"
)

// Run trains from tr.Epoch to Cfg.Epochs, evaluating, logging and saving
// checkpoints after every epoch.
func (tr *Trainer) Run(ctx context.Context) error {
	if tr.OutDir != "" {
		if err := os.MkdirAll(tr.OutDir, 0o755); err != nil {
			return err
		}
	}
	for ; tr.Epoch < tr.Cfg.Epochs; tr.Epoch++ {
		start := time.Now()
		es, err := tr.TrainEpoch(ctx, tr.Epoch)
		if err != nil {
			return err
		}
		g := tr.Net.Inference()
		es.Tracking = evalTracking(g, tr.Pool, tr.Cost, tr.Cfg.Low, tr.Cfg.High, Targets(tr.Cfg.Low, tr.Cfg.High, tr.Cfg.EvalStep), tr.Cfg.HCScale, tr.priorKey)
		top1 := math.Inf(-1)
		if !tr.Cfg.SkipTop1 {
			if top1, err = tr.Top1(ctx, g, tr.Val, (tr.Cfg.Low+tr.Cfg.High)/2, tr.Cfg.MaxEvalBatches); err != nil {
				return fmt.Errorf("generator epoch %d evaluation: %w", tr.Epoch, err)
			}
			es.Top1 = &top1
		}
		if es.HCTotal < tr.BestHC {
			tr.BestHC, es.Best = es.HCTotal, true
		}
		if es.HCTotal < tr.Cfg.HCThreshold && (top1 > tr.BestTop1 || (tr.Cfg.SkipTop1 && es.Best)) {
			tr.BestTop1, es.BestAvg = top1, true
		}
		es.Seconds = time.Since(start).Seconds()
		if err := tr.save(es); err != nil {
			return err
		}
		if tr.Log != nil {
			t1 := "-"
			if es.Top1 != nil {
				t1 = fmt.Sprintf("%.4f", *es.Top1)
			}
			fmt.Fprintf(tr.Log, "epoch %d/%d  tau %.3f  ce %.4f  hc %.4f  |F-T| %.2f  top1 %s  hard L_hc %.4f  kendall %.3f  %.1fs\n",
				es.Epoch+1, tr.Cfg.Epochs, es.Tau, es.CE, es.HC, es.CostErr, t1, es.HCTotal, es.Kendall, es.Seconds)
		}
	}
	if tr.OutDir != "" {
		return tr.saveModel(filepath.Join(tr.OutDir, FinalFile), tr.Epoch)
	}
	return nil
}

func (tr *Trainer) saveModel(path string, epoch int) error {
	return SavePTH(path, []PTHEntry{
		{Key: "model", Tensors: tr.Net.StateDict(), Order: tensorOrder()},
		{Key: "meta", Scalars: map[string]float64{"epoch": float64(epoch), "low": tr.Cfg.Low, "high": tr.Cfg.High}},
	})
}

// save writes best/best_avg (when improved), last.pth and the log line.
func (tr *Trainer) save(es EpochStats) error {
	if tr.OutDir == "" {
		return nil
	}
	next := es.Epoch + 1
	if es.Best {
		if err := tr.saveModel(filepath.Join(tr.OutDir, BestFile), next); err != nil {
			return err
		}
	}
	if es.BestAvg {
		if err := tr.saveModel(filepath.Join(tr.OutDir, BestAvgFile), next); err != nil {
			return err
		}
	}
	opt := weights.StateDict(tr.Adam.State())
	err := SavePTH(filepath.Join(tr.OutDir, LastFile), []PTHEntry{
		{Key: "model", Tensors: tr.Net.StateDict(), Order: tensorOrder()},
		{Key: "optimzier", Tensors: opt},
		{Key: "meta", Scalars: map[string]float64{
			"epoch": float64(next), "best_hc": hi32(tr.BestHC), "best_hc_lo": lo32(tr.BestHC),
			"best_top1": hi32(tr.BestTop1), "best_top1_lo": lo32(tr.BestTop1),
			"seed": float64(tr.Cfg.Seed), "low": tr.Cfg.Low, "high": tr.Cfg.High,
		}},
	})
	if err != nil {
		return err
	}
	// log.jsonl: rewrite atomically with the new line appended.
	logPath := filepath.Join(tr.OutDir, LogFile)
	old, err := os.ReadFile(logPath)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	line, err := json.Marshal(es)
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(logPath, append(append(old, line...), '\n'), 0o644)
}

// Resume restores the generator, Adam state, epoch counter and best values
// from OutDir/last.pth. It reports false (and changes nothing) when there is
// no last.pth.
func (tr *Trainer) Resume() (bool, error) {
	path := filepath.Join(tr.OutDir, LastFile)
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return false, nil
	}
	sd, err := weights.LoadPTH(path)
	if err != nil {
		return false, err
	}
	if err := tr.load(sd); err != nil {
		return false, fmt.Errorf("resume %s: %w", path, err)
	}
	ck, err := weights.LoadPTHWith(path, weights.LoadOptions{Key: "optimzier"})
	if err != nil {
		return false, err
	}
	if err := tr.Adam.LoadState(ck.Tensors); err != nil {
		return false, fmt.Errorf("resume %s: %w", path, err)
	}
	meta, err := readMeta(path)
	if err != nil {
		return false, err
	}
	if lo, hi := meta["low"], meta["high"]; float32(lo) != float32(tr.Cfg.Low) || float32(hi) != float32(tr.Cfg.High) {
		return false, fmt.Errorf("resume %s: trained for range [%g, %g), now [%g, %g)", path, lo, hi, tr.Cfg.Low, tr.Cfg.High)
	}
	tr.Epoch = int(meta["epoch"])
	tr.BestHC = meta["best_hc"] + meta["best_hc_lo"]
	tr.BestTop1 = meta["best_top1"] + meta["best_top1_lo"]
	return true, nil
}

func (tr *Trainer) load(sd weights.StateDict) error {
	if err := weights.Match(sd, gen.TensorNames(), false); err != nil {
		return err
	}
	for _, p := range tr.Net.Params() {
		copy(p.Value.Data, sd[p.Name].Data)
	}
	return nil
}

// hi32 and lo32 split a float64 into a float32 part and the remainder, so
// that checkpoint scalars (read back as float32 by weights.LoadPTH) keep
// float64 precision: v = hi32(v) + lo32(v) to about 1e-14 relative.
func hi32(v float64) float64 { return float64(float32(v)) }

func lo32(v float64) float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return 0
	}
	return v - hi32(v)
}
