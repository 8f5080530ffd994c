package supernet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sgnas/sgnas/data"
	"github.com/sgnas/sgnas/internal/fsutil"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/train/nn"
	"github.com/sgnas/sgnas/weights"
)

// Config is the configuration of a supernet training run (stored in the
// checkpoint; a resumed run uses the stored one).
type Config struct {
	Space   string `json:"space"`   // search space: cifar10, cifar100, imagenet
	Dataset string `json:"dataset"` // data.Open kind: cifar10, cifar100, fashion-mnist, folder, synthetic
	Data    string `json:"data"`    // dataset directory ("" for synthetic)
	// Size is the image size of folder/synthetic datasets (0: the space's
	// input size).
	Size int `json:"size"`
	// Classes of a synthetic dataset (0: the space's); other datasets
	// define their own.
	Classes int `json:"classes"`
	// Samples of a synthetic dataset (0: data package default, 10000).
	Samples int `json:"samples"`

	Epochs int `json:"epochs"`
	Batch  int `json:"batch"`
	// LR is the base learning rate (cosine-annealed per iteration to 0);
	// 0 selects 0.064·Batch/512, the authors' 0.064 at batch 512 scaled
	// linearly.
	LR             float64 `json:"lr"`
	Momentum       float64 `json:"momentum"`
	WeightDecay    float64 `json:"weight_decay"`
	LabelSmoothing float64 `json:"label_smoothing"`
	TrainPortion   float64 `json:"train_portion"`
	Seed           int64   `json:"seed"`
	Paths          int     `json:"paths"` // sampled paths per batch (4)
	// MaxTrainBatches / MaxValBatches cap the batches per epoch (0: all),
	// for smoke runs. The cosine schedule uses the capped count.
	MaxTrainBatches int `json:"max_train_batches"`
	MaxValBatches   int `json:"max_val_batches"`
	// Workers is the number of data-loading goroutines (0: GOMAXPROCS).
	Workers int `json:"workers"`

	// Stabilisers for short runs (all off in the authors' recipe; see
	// SmokeConfig).
	// Warmup is the number of iterations of linear learning-rate warm-up
	// (0: none, the authors' recipe): iteration i < Warmup uses
	// cos(Warmup)·(i+1)/Warmup, where cos is the cosine schedule, which
	// takes over from iteration Warmup.
	Warmup int `json:"warmup,omitempty"`
	// ZeroInitResidual initialises γ of the SBNs of residual layers to 0
	// (every residual layer starts as the identity; not the authors' init).
	ZeroInitResidual bool `json:"zero_init_residual,omitempty"`
	// BalancedBatches orders every training epoch so that each batch holds
	// (nearly) the same number of samples of every class (BalancedOrder)
	// instead of a uniform shuffle (the authors'). With small batches the
	// label frequencies of a shuffled batch are noisy, and the supernet's
	// classifier chases that noise (see docs/supernet.md).
	BalancedBatches bool `json:"balanced_batches,omitempty"`
}

// DefaultConfig returns the authors' settings (reference §5.1) for the
// CIFAR-10 space on the synthetic dataset.
func DefaultConfig() Config {
	return Config{
		Space: "cifar10", Dataset: "synthetic", Epochs: 200, Batch: 512,
		Momentum: 0.9, WeightDecay: 4e-4, LabelSmoothing: 0.1, TrainPortion: 0.8,
		Seed: 42, Paths: 4,
	}
}

// SmokeConfig returns the smoke-test recipe for the CIFAR-10 space on the
// synthetic dataset: about 3 minutes on 2 idle cores (500 steps), after
// which random paths reach 35–40 % validation accuracy (chance 10 %; see
// docs/supernet.md, where the authors' recipe at this budget stays at
// chance). It differs from the authors' recipe (DefaultConfig) in the
// budget (16×16 images, 2000 samples, 10 epochs of batch 32, lr 0.01) and
// in two stabilisers: ZeroInitResidual and a 20-step LR warm-up.
func SmokeConfig() Config {
	c := DefaultConfig()
	c.Size, c.Samples, c.Epochs, c.Batch = 16, 2000, 10, 32
	c.LR, c.Warmup, c.ZeroInitResidual = 0.01, 20, true
	c.MaxValBatches = 8
	return c
}

// BaseLR is the effective base learning rate of c.
func (c Config) BaseLR() float64 {
	if c.LR > 0 {
		return c.LR
	}
	return 0.064 * float64(c.Batch) / 512
}

func (c Config) validate() error {
	switch {
	case c.Epochs < 1:
		return fmt.Errorf("epochs %d: want at least 1", c.Epochs)
	case c.Batch < 1:
		return fmt.Errorf("batch %d: want at least 1", c.Batch)
	case c.Paths < 1:
		return fmt.Errorf("paths %d: want at least 1", c.Paths)
	case c.TrainPortion <= 0 || c.TrainPortion >= 1:
		return fmt.Errorf("train portion %g: want a value in (0,1)", c.TrainPortion)
	case c.Warmup < 0:
		return fmt.Errorf("warmup %d: want a non-negative number of iterations", c.Warmup)
	case c.LR < 0 || c.WeightDecay < 0 || c.Momentum < 0:
		return fmt.Errorf("lr %g, weight decay %g, momentum %g: want non-negative values", c.LR, c.WeightDecay, c.Momentum)
	case c.LabelSmoothing < 0 || c.LabelSmoothing >= 1:
		return fmt.Errorf("label smoothing %g: want a value in [0,1)", c.LabelSmoothing)
	}
	return nil
}

// BatchInfo is reported after every optimizer step.
type BatchInfo struct {
	Epoch, Batch, Batches int // Batch counts from 1
	Iteration             int
	Loss, Acc             float64 // running means of the epoch so far
	LR                    float64
	ImagesPerSec          float64 // training images per second (each seen by Paths paths)
	ETA                   time.Duration
}

// TrainOptions are the run-time options of Train (not stored).
type TrainOptions struct {
	// Resume continues from RUN_DIR/supernet.ckpt when it exists.
	Resume bool
	// OnBatch, OnEpoch and Log receive progress (may be nil).
	OnBatch func(BatchInfo)
	OnEpoch func(EpochMetrics)
	Log     func(format string, args ...any)
}

// Result is what a finished (or interrupted) run leaves.
type Result struct {
	Supernet   *Supernet
	Checkpoint *Checkpoint
}

// Stream tags of the sampler seeds.
const (
	streamTrainPaths uint64 = 0x5452504154 // "TRPAT"
	streamValPaths   uint64 = 0x56414c50   // "VALP"
)

func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// TrainSampler returns the sampler of batch k of epoch e: its state is a
// pure function of (seed, epoch, batch), so a resumed run samples the same
// paths as an uninterrupted one. It is already Reset (the first path).
func TrainSampler(seed int64, epoch, batch int) *Sampler {
	s := mix(mix(uint64(seed)^streamTrainPaths) ^ uint64(epoch))
	return NewSampler(s, mix(s^uint64(batch)))
}

// ValSampler returns the sampler validation starts from (reset at the
// start of every validation, advanced once per batch): the same paths are
// validated after every epoch, so the curves are comparable.
func ValSampler(seed int64) *Sampler {
	return NewSampler(mix(uint64(seed)^streamValPaths), streamValPaths)
}

// ErrInterrupted is returned (wrapped with the context's error) when
// training stopped because the context was cancelled; the checkpoint of the
// last completed optimizer step has been written.
var ErrInterrupted = errors.New("supernet training interrupted")

// OpenData opens the dataset of c and splits it into the training and
// validation index lists (first TrainPortion of the indices for training).
// The images must have the space's input size, or Config.Size when it is
// set: the supernet is fully convolutional, so a smoke run may train on
// smaller images; the space (and with it the FLOPs of architectures) stays
// the search space's.
func OpenData(c Config, space *models.Space) (data.Dataset, []int, []int, error) {
	size := c.Size
	if size == 0 {
		size = space.InputSize
	}
	classes := c.Classes
	if classes == 0 {
		classes = space.Classes
	}
	ds, err := data.Open(c.Dataset, c.Data, data.Options{Size: size, Classes: classes, Samples: c.Samples, Seed: uint64(c.Seed), ScaleMin: 0.2})
	if err != nil {
		return nil, nil, nil, err
	}
	if _, h, w := ds.Shape(); h != size || w != size {
		if c.Size != 0 {
			return nil, nil, nil, fmt.Errorf("dataset %s: images are %d×%d but size is %d (size applies to folder and synthetic datasets)", c.Dataset, h, w, size)
		}
		return nil, nil, nil, fmt.Errorf("dataset %s: images are %d×%d but space %s expects %d×%d", c.Dataset, h, w, space.Name, space.InputSize, space.InputSize)
	}
	// CIFAR and synthetic data: the authors' index split. Folder datasets list
	// their samples class by class, so they are split within each class.
	split := func() ([]int, []int, error) { return data.Split(ds.Len(), c.TrainPortion) }
	if strings.EqualFold(c.Dataset, "folder") {
		split = func() ([]int, []int, error) { return data.SplitByClass(ds, c.TrainPortion) }
	}
	tr, va, err := split()
	if err != nil {
		return nil, nil, nil, err
	}
	if len(tr) == 0 || len(va) == 0 {
		return nil, nil, nil, fmt.Errorf("dataset %s: %d samples split %g gives %d training and %d validation samples", c.Dataset, ds.Len(), c.TrainPortion, len(tr), len(va))
	}
	return ds, tr, va, nil
}

// Train trains a supernet per reference §5.1 and writes RUN_DIR/supernet.ckpt
// (atomically, after every epoch, and after the last completed step when
// ctx is cancelled) and RUN_DIR/log.jsonl (one line per completed epoch).
// With opts.Resume and an existing checkpoint it continues the stored run
// exactly (the stored config wins; cfg is ignored).
func Train(ctx context.Context, cfg Config, runDir string, opts TrainOptions) (*Result, error) {
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	ckPath := filepath.Join(runDir, CheckpointFile)
	var ck *Checkpoint
	if opts.Resume {
		if _, err := os.Stat(ckPath); err == nil {
			c, err := ReadCheckpoint(ckPath)
			if err != nil {
				return nil, err
			}
			ck = c
			cfg = c.Config
			logf("resuming %s at epoch %d, batch %d (iteration %d)", ckPath, ck.Epoch, ck.BatchInEpoch, ck.Iteration)
		} else {
			return nil, noCheckpointError(ckPath)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("supernet training: %w", err)
	}
	space, err := models.SpaceByName(cfg.Space)
	if err != nil {
		return nil, fmt.Errorf("supernet training: %w", err)
	}
	ds, trIdx, vaIdx, err := OpenData(cfg, space)
	if err != nil {
		return nil, fmt.Errorf("supernet training: %w", err)
	}
	s := New(space, ds.Classes(), cfg.Seed)
	sgd := nn.NewSGD(s.Store.Trainable(), cfg.Momentum, cfg.WeightDecay)
	if ck == nil {
		ck = &Checkpoint{Config: cfg, Classes: ds.Classes()}
		if cfg.ZeroInitResidual {
			s.ZeroInitResidual()
		}
	} else {
		if ck.Classes != ds.Classes() {
			return nil, fmt.Errorf("resume %s: checkpoint has %d classes, dataset %d", ckPath, ck.Classes, ds.Classes())
		}
		if _, err := s.LoadStateDict(ck.Model); err != nil {
			return nil, fmt.Errorf("resume %s: %w", ckPath, err)
		}
		if err := sgd.LoadState(ck.Optim); err != nil {
			return nil, fmt.Errorf("resume %s: %w", ckPath, err)
		}
	}
	seed := uint64(cfg.Seed)
	trL, err := data.NewLoader(ds, trIdx, data.LoaderOptions{BatchSize: cfg.Batch, Seed: seed, Shuffle: true, Train: true, DropLast: len(trIdx) >= cfg.Batch, Workers: cfg.Workers})
	if err != nil {
		return nil, fmt.Errorf("supernet training: %w", err)
	}
	vaL, err := data.NewLoader(ds, vaIdx, data.LoaderOptions{BatchSize: cfg.Batch, Seed: seed, Workers: cfg.Workers})
	if err != nil {
		return nil, fmt.Errorf("supernet training: %w", err)
	}
	nb := trL.NumBatches()
	if cfg.MaxTrainBatches > 0 {
		nb = min(nb, cfg.MaxTrainBatches)
	}
	sched := schedule{cos: nn.CosineLR{Base: cfg.BaseLR(), TMax: nb * cfg.Epochs}, warmup: cfg.Warmup}
	save := func() error {
		ck.Config = cfg
		ck.Model = s.StateDict()
		ck.Optim = snapshot(sgd.State())
		if err := SaveCheckpoint(ckPath, ck); err != nil {
			return err
		}
		return fsutil.WriteJSONLines(filepath.Join(runDir, LogFile), ck.History)
	}
	tape := nn.NewTape(nil)
	res := &Result{Supernet: s, Checkpoint: ck}
	interrupted := func(cause error) (*Result, error) {
		if err := save(); err != nil {
			return res, fmt.Errorf("%w at epoch %d batch %d; saving the checkpoint failed: %v", ErrInterrupted, ck.Epoch, ck.BatchInEpoch, err)
		}
		logf("interrupted: checkpoint of epoch %d, batch %d (iteration %d) saved to %s", ck.Epoch, ck.BatchInEpoch, ck.Iteration, ckPath)
		return res, fmt.Errorf("%w at epoch %d batch %d (checkpoint saved): %w", ErrInterrupted, ck.Epoch, ck.BatchInEpoch, cause)
	}
	for ck.Epoch < cfg.Epochs {
		epoch := ck.Epoch
		if ck.BatchInEpoch < nb {
			if err := ctx.Err(); err != nil {
				return interrupted(err)
			}
			epL := trL
			if cfg.BalancedBatches {
				// The epoch's class-balanced order, a function of (seed, epoch).
				if epL, err = data.NewLoader(ds, BalancedOrder(ds, trIdx, seed, epoch), data.LoaderOptions{BatchSize: cfg.Batch, Seed: seed, Train: true, DropLast: len(trIdx) >= cfg.Batch, Workers: cfg.Workers}); err != nil {
					return res, fmt.Errorf("supernet training: %w", err)
				}
			}
			it := epL.Epoch(ctx, epoch, ck.BatchInEpoch)
			start := time.Now()
			startImages := ck.Partial.Images
			prevSeconds := ck.Partial.Seconds
			for ck.BatchInEpoch < nb {
				b, err := it.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					it.Close()
					if ctx.Err() != nil {
						return interrupted(ctx.Err())
					}
					return res, fmt.Errorf("supernet training: %w", err)
				}
				lr := sched.At(ck.Iteration)
				if err := s.trainStep(tape, sgd, b, cfg, epoch, ck.BatchInEpoch, lr, &ck.Partial); err != nil {
					it.Close()
					return res, fmt.Errorf("supernet training epoch %d batch %d: %w", epoch, ck.BatchInEpoch, err)
				}
				ck.BatchInEpoch++
				ck.Iteration++
				el := time.Since(start).Seconds()
				ck.Partial.Seconds = prevSeconds + el
				ck.Partial.Images += b.N
				if opts.OnBatch != nil {
					ips := float64(ck.Partial.Images-startImages) / math.Max(el, 1e-9)
					left := nb - ck.BatchInEpoch
					opts.OnBatch(BatchInfo{
						Epoch: epoch, Batch: ck.BatchInEpoch, Batches: nb, Iteration: ck.Iteration,
						Loss: ck.Partial.LossSum / float64(max(ck.Partial.Paths, 1)), Acc: float64(ck.Partial.Correct) / float64(max(ck.Partial.Seen, 1)),
						LR: lr, ImagesPerSec: ips, ETA: time.Duration(float64(left*cfg.Batch) / math.Max(ips, 1e-9) * float64(time.Second)),
					})
				}
				if ctx.Err() != nil {
					it.Close()
					return interrupted(ctx.Err())
				}
			}
			it.Close()
			if ck.BatchInEpoch < nb {
				nb = ck.BatchInEpoch // dataset shorter than expected: should not happen
			}
		}
		vstart := time.Now()
		vr, err := s.EvaluatePaths(ctx, vaL, cfg.Seed, cfg.MaxValBatches, cfg.LabelSmoothing)
		if err != nil {
			if ctx.Err() != nil {
				return interrupted(ctx.Err())
			}
			return res, fmt.Errorf("supernet validation epoch %d: %w", epoch, err)
		}
		p := ck.Partial
		m := EpochMetrics{
			Epoch: epoch, Iteration: ck.Iteration, LR: sched.At(ck.Iteration - 1),
			TrainLoss: p.LossSum / float64(max(p.Paths, 1)), TrainAcc: float64(p.Correct) / float64(max(p.Seen, 1)),
			ValLoss: vr.Loss, ValAcc: vr.Top1,
			Seconds:   p.Seconds + time.Since(vstart).Seconds(),
			ImagesSec: float64(p.Images) / math.Max(p.Seconds, 1e-9),
		}
		ck.History = append(ck.History, m)
		ck.Epoch++
		ck.BatchInEpoch = 0
		ck.Partial = Accum{}
		if err := save(); err != nil {
			return res, err
		}
		if opts.OnEpoch != nil {
			opts.OnEpoch(m)
		}
	}
	return res, nil
}

// BalancedOrder returns idx reordered for epoch: the samples of each class
// are shuffled, then dealt out in rounds that take one sample of every class
// still left, in a freshly shuffled class order per round; so any window of
// k·C consecutive samples holds k of each class while all classes last. A
// pure function of (seed, epoch) and the labels.
func BalancedOrder(ds data.Dataset, idx []int, seed uint64, epoch int) []int {
	r := rand.New(rand.NewPCG(mix(seed^0x42414c), mix(uint64(epoch)))) // "BAL"
	byClass := make([][]int, ds.Classes())
	for _, i := range idx {
		c := ds.Label(i)
		byClass[c] = append(byClass[c], i)
	}
	var classes []int
	for c, l := range byClass {
		r.Shuffle(len(l), func(i, j int) { l[i], l[j] = l[j], l[i] })
		if len(l) > 0 {
			classes = append(classes, c)
		}
	}
	out := make([]int, 0, len(idx))
	for round := 0; len(out) < len(idx); round++ {
		r.Shuffle(len(classes), func(i, j int) { classes[i], classes[j] = classes[j], classes[i] })
		for _, c := range classes {
			if round < len(byClass[c]) {
				out = append(out, byClass[c][round])
			}
		}
	}
	return out
}

// schedule is the cosine schedule per iteration with an optional linear
// warm-up over its first iterations.
type schedule struct {
	cos    nn.CosineLR
	warmup int
}

// At returns the learning rate of iteration t (0-based).
func (s schedule) At(t int) float64 {
	if t < s.warmup {
		return s.cos.At(s.warmup) * float64(t+1) / float64(s.warmup)
	}
	return s.cos.At(t)
}

// trainStep is one optimizer step of reference §5.1: reset the sampler,
// Paths sampled paths with forward/backward each (gradients summed), one
// SGD step.
func (s *Supernet) trainStep(tape *nn.Tape, sgd *nn.SGD, b *data.Batch, cfg Config, epoch, batch int, lr float64, acc *Accum) error {
	x := nn.ToCNHW(nn.FromData(b.X, b.N, b.C, b.H, b.W))
	s.Store.ZeroGrad()
	smp := TrainSampler(cfg.Seed, epoch, batch)
	for i := 0; i < cfg.Paths; i++ {
		if i > 0 {
			smp.Next()
		}
		tape.Reset()
		logits := s.ForwardPath(tape, tape.Const(x), smp.Path(), true)
		loss, err := tape.CrossEntropy(logits, b.Y, cfg.LabelSmoothing)
		if err != nil {
			s.Discard(tape)
			return err
		}
		l := float64(loss.Value.Data[0])
		if math.IsNaN(l) || math.IsInf(l, 0) {
			s.Discard(tape)
			return fmt.Errorf("loss is %g (diverged; lower --lr)", l)
		}
		s.Backward(tape, loss)
		acc.LossSum += l
		acc.Paths++
		acc.Correct += correct(logits.Value, b.Y)
		acc.Seen += b.N
	}
	tape.Reset()
	sgd.Step(lr)
	return nil
}

func correct(logits *nn.Tensor, y []int) int {
	n, c := logits.Shape[0], logits.Shape[1]
	k := 0
	for i := 0; i < n; i++ {
		row := logits.Data[i*c : (i+1)*c]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best == y[i] {
			k++
		}
	}
	return k
}

// snapshot deep-copies tensors (the optimizer keeps updating its own).
func snapshot(m map[string]*nn.Tensor) weights.StateDict {
	sd := make(weights.StateDict, len(m))
	for n, t := range m {
		sd[n] = t.Clone()
	}
	return sd
}

// EvalResult is the outcome of an evaluation.
type EvalResult struct {
	Loss float64 // mean label-smoothed CE per batch
	Top1 float64
	N    int
}

// evaluate runs fwd on every batch (at most maxBatches when > 0) with the
// supernet temporarily frozen (eval-mode BN, no gradients).
func (s *Supernet) evaluate(ctx context.Context, loader *data.Loader, maxBatches int, eps float64, fwd func(t *nn.Tape, x *nn.Var, batch int) *nn.Var) (EvalResult, error) {
	was := s.frozen
	s.frozen = true
	defer func() { s.frozen = was }()
	it := loader.Epoch(ctx, 0, 0)
	defer it.Close()
	tape := nn.NewTape(nil)
	var r EvalResult
	var lossSum float64
	batches := 0
	for k := 0; maxBatches <= 0 || k < maxBatches; k++ {
		b, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return r, err
		}
		tape.Reset()
		logits := fwd(tape, InputVar(tape, b), k)
		loss, err := tape.CrossEntropy(logits, b.Y, eps)
		if err != nil {
			return r, err
		}
		lossSum += float64(loss.Value.Data[0])
		batches++
		r.Top1 += float64(correct(logits.Value, b.Y))
		r.N += b.N
	}
	if r.N > 0 {
		r.Top1 /= float64(r.N)
		r.Loss = lossSum / float64(batches)
	}
	return r, nil
}

// EvaluatePaths measures the supernet on random paths in eval mode (BN
// running statistics): the sampler ValSampler(seed) is reset at the start
// and advanced once per batch (reference §5.1), so every call with the
// same seed validates the same paths. eps is the label smoothing of the
// reported loss.
func (s *Supernet) EvaluatePaths(ctx context.Context, loader *data.Loader, seed int64, maxBatches int, eps float64) (EvalResult, error) {
	smp := ValSampler(seed)
	return s.evaluate(ctx, loader, maxBatches, eps, func(t *nn.Tape, x *nn.Var, k int) *nn.Var {
		if k > 0 {
			smp.Next()
		}
		return s.ForwardPath(t, x, smp.Path(), false)
	})
}

// EvaluateEncoding measures the supernet in architecture-parameter mode
// with the fixed matrix enc (eval-mode BN).
func (s *Supernet) EvaluateEncoding(ctx context.Context, loader *data.Loader, enc *models.Encoding, maxBatches int, eps float64) (EvalResult, error) {
	return s.evaluate(ctx, loader, maxBatches, eps, func(t *nn.Tape, x *nn.Var, _ int) *nn.Var {
		logits, _ := s.ForwardArch(t, x, enc, false)
		return logits
	})
}

// Evaluate returns the top-1 accuracy of the hard architecture a on the
// loader's data (architecture-parameter mode with a's one-hot encoding,
// eval-mode BN), as the authors validate a generated architecture.
func (s *Supernet) Evaluate(ctx context.Context, loader *data.Loader, a *models.Arch) (float64, error) {
	if err := a.Validate(); err != nil {
		return 0, err
	}
	r, err := s.EvaluateEncoding(ctx, loader, a.Encoding(), 0, 0)
	return r.Top1, err
}

// noCheckpointError is the error of --resume without a checkpoint: it says
// when a killed run left only the temporary file of its first write.
func noCheckpointError(ckPath string) error {
	temps, _ := filepath.Glob(filepath.Join(filepath.Dir(ckPath), "."+filepath.Base(ckPath)+".tmp-*"))
	if len(temps) > 0 {
		return fmt.Errorf("--resume: no checkpoint at %s, only %s, the incomplete first write of a run that was stopped; start again without --resume", ckPath, temps[0])
	}
	return fmt.Errorf("--resume: no checkpoint at %s; start the run without --resume", ckPath)
}
