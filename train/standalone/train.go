package standalone

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
	"strings"
	"time"

	"github.com/sgnas/sgnas/data"
	"github.com/sgnas/sgnas/internal/fsutil"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/supernetckpt"
	"github.com/sgnas/sgnas/train/nn"
	"github.com/sgnas/sgnas/weights"
)

// Files of a run directory.
const (
	LastCheckpoint = "last.ckpt"   // state after the last completed epoch
	BestCheckpoint = "best.ckpt"   // state after the epoch of the best validation top-1
	LogFile        = "log.jsonl"   // one JSON object per completed epoch
	ArchFile       = "arch.json"   // architecture and network options (sgnas export --arch)
	ConfigFile     = "config.json" // the run's configuration
	// BestWeights holds the weights of best.ckpt that a deployment uses
	// (the EMA weights when EMA is on), as safetensors with the authors'
	// tensor names and the network in the metadata: `sgnas export
	// RUN/arch.json --weights RUN/best.safetensors`.
	BestWeights = "best.safetensors"
)

// Config is the configuration of a standalone training run (stored in the
// checkpoint; a resumed run uses the stored one).
type Config struct {
	// Recipe is the name of the defaults the config started from (cifar or
	// imagenet; see Recipe).
	Recipe string `json:"recipe"`

	// Arch is the architecture; SE, Act and Classes the network options
	// (Classes 0: the dataset's). The space is Arch.Space.
	Arch    *models.Arch      `json:"arch"`
	SE      bool              `json:"se"`
	Act     models.Activation `json:"act"`
	Classes int               `json:"classes,omitempty"`

	Dataset string `json:"dataset"` // data.Open kind
	Data    string `json:"data"`    // dataset directory ("" for synthetic / Debian's Fashion-MNIST)
	// ValData is the directory of the validation set of a folder dataset
	// (TrainPortion 1); other kinds use their test split.
	ValData string `json:"val_data,omitempty"`
	// TrainPortion 1 (the authors' CIFAR setting) trains on the whole
	// training split and validates on the test split; a value in (0,1)
	// validates on the rest of the training split instead.
	TrainPortion float64 `json:"train_portion"`
	// TrainSamples / ValSamples keep only the first N samples of each split
	// (0: all), for short runs.
	TrainSamples int `json:"train_samples,omitempty"`
	ValSamples   int `json:"val_samples,omitempty"`
	// Samples of a synthetic dataset (0: the data package's default).
	Samples int `json:"samples,omitempty"`

	Epochs int `json:"epochs"`
	Batch  int `json:"batch"`
	// LR is the base learning rate; 0 selects the recipe's, scaled
	// linearly with the batch (BaseLR).
	LR   float64 `json:"lr"`
	Seed int64   `json:"seed"`

	Optimizer   string  `json:"optimizer"` // sgd | rmsprop (TensorFlow-style)
	Momentum    float64 `json:"momentum"`
	WeightDecay float64 `json:"weight_decay"`
	// RMSAlpha and RMSEps are RMSpropTF's decay and epsilon (inside the root).
	RMSAlpha float64 `json:"rms_alpha,omitempty"`
	RMSEps   float64 `json:"rms_eps,omitempty"`

	Schedule string `json:"schedule"` // cosine (per iteration, to 0) | step (per epoch)
	// Step schedule: WarmupEpochs of linear warm-up from WarmupLR, then
	// ×DecayRate every DecayEpochs (absolute epochs).
	WarmupEpochs int     `json:"warmup_epochs,omitempty"`
	WarmupLR     float64 `json:"warmup_lr,omitempty"`
	DecayRate    float64 `json:"decay_rate,omitempty"`
	DecayEpochs  int     `json:"decay_epochs,omitempty"`

	LabelSmoothing float64 `json:"label_smoothing"`
	// EMADecay > 0 keeps an EMA of weights and BN buffers, validated and
	// used to choose the best checkpoint.
	EMADecay float64 `json:"ema_decay"`
	Dropout  float64 `json:"dropout"` // before the classifier
	// Jitter adds colour jitter 0.4 (brightness, contrast, saturation) to
	// the training transform.
	Jitter bool `json:"jitter"`
	// BNMomentum is the PyTorch momentum of the BN running statistics.
	BNMomentum float64 `json:"bn_momentum"`

	// MaxTrainBatches / MaxValBatches cap the batches per epoch (0: all).
	MaxTrainBatches int `json:"max_train_batches,omitempty"`
	MaxValBatches   int `json:"max_val_batches,omitempty"`
	// Workers is the number of data-loading goroutines (0: GOMAXPROCS; not
	// part of the result).
	Workers int `json:"-"`

	// InitFrom is the supernet checkpoint the weights were inherited from
	// ("" : seeded init); InitChoices the generator's block choices used to
	// slice it (nil: group g → block g).
	InitFrom    string          `json:"init_from,omitempty"`
	InitChoices *models.Choices `json:"init_choices,omitempty"`
}

// Recipes lists the recipe names Recipe accepts.
var Recipes = []string{"cifar", "imagenet"}

// Recipe returns the authors' from-scratch recipe (reference §7.2, §7.3)
// as a Config without architecture or dataset:
//
//   - cifar: SGD lr 0.064 at batch 512 (momentum 0.9, weight decay 4e-4 on
//     every tensor), cosine per iteration over 200 epochs, label smoothing
//     0.1, dropout 0.2, no EMA, BN momentum 0.1; the training transform is
//     the dataset's (random crop with padding 4 + flip); validation on the
//     test split.
//   - imagenet: RMSpropTF (alpha 0.9, eps 1e-3, momentum 0.9) lr 0.016 at
//     batch 256, weight decay 1e-5 on tensors of more than one dimension that
//     are not biases; 5 warm-up epochs from 1e-4, then ×0.963 every 3
//     epochs; 500 epochs; label smoothing 0.1; dropout 0.2; EMA 0.99995 over
//     weights and BN buffers; colour jitter 0.4; BN momentum 0.001; the
//     folder dataset's RandomResizedCrop (scale 0.08–1) + flip.
func Recipe(name string) (Config, error) {
	switch strings.ToLower(name) {
	case "cifar":
		return Config{
			Recipe: "cifar", TrainPortion: 1, Epochs: 200, Batch: 512, Seed: 42,
			Optimizer: "sgd", Momentum: 0.9, WeightDecay: 4e-4, Schedule: "cosine",
			LabelSmoothing: 0.1, Dropout: 0.2, BNMomentum: 0.1,
		}, nil
	case "imagenet":
		return Config{
			Recipe: "imagenet", TrainPortion: 1, Epochs: 500, Batch: 256, Seed: 42,
			Optimizer: "rmsprop", Momentum: 0.9, WeightDecay: 1e-5, RMSAlpha: 0.9, RMSEps: 1e-3,
			Schedule: "step", WarmupEpochs: 5, WarmupLR: 1e-4, DecayRate: 0.963, DecayEpochs: 3,
			LabelSmoothing: 0.1, EMADecay: 0.99995, Dropout: 0.2, Jitter: true, BNMomentum: 0.001,
		}, nil
	}
	return Config{}, fmt.Errorf("recipe %q: want one of %s", name, strings.Join(Recipes, ", "))
}

// BaseLR is the effective base learning rate: LR, or the recipe's scaled
// linearly with the batch (0.064·batch/512 for SGD, 0.016·batch/256 for
// RMSpropTF).
func (c Config) BaseLR() float64 {
	if c.LR > 0 {
		return c.LR
	}
	if c.Optimizer == "rmsprop" {
		return 0.016 * float64(c.Batch) / 256
	}
	return 0.064 * float64(c.Batch) / 512
}

func (c Config) validate() error {
	switch {
	case c.Arch == nil:
		return errors.New("no architecture")
	case c.Epochs < 1:
		return fmt.Errorf("epochs %d: want at least 1", c.Epochs)
	case c.Batch < 1:
		return fmt.Errorf("batch %d: want at least 1", c.Batch)
	case !(c.LR >= 0) || c.LR > 10:
		return fmt.Errorf("lr %g: want a value in [0,10]", c.LR)
	case c.Optimizer != "sgd" && c.Optimizer != "rmsprop":
		return fmt.Errorf("optimizer %q: want sgd or rmsprop", c.Optimizer)
	case c.Schedule != "cosine" && c.Schedule != "step":
		return fmt.Errorf("schedule %q: want cosine or step", c.Schedule)
	case c.Schedule == "step" && (c.DecayEpochs < 1 || c.DecayRate <= 0 || c.WarmupEpochs < 0):
		return fmt.Errorf("step schedule: decay every %d epochs by %g after %d warm-up epochs: want positive values", c.DecayEpochs, c.DecayRate, c.WarmupEpochs)
	case c.Momentum < 0 || c.WeightDecay < 0:
		return fmt.Errorf("momentum %g, weight decay %g: want non-negative values", c.Momentum, c.WeightDecay)
	case c.LabelSmoothing < 0 || c.LabelSmoothing >= 1:
		return fmt.Errorf("label smoothing %g: want a value in [0,1)", c.LabelSmoothing)
	case c.EMADecay < 0 || c.EMADecay >= 1:
		return fmt.Errorf("EMA decay %g: want 0 (off) or a value in (0,1)", c.EMADecay)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("dropout %g: want a value in [0,1)", c.Dropout)
	case c.BNMomentum <= 0 || c.BNMomentum > 1:
		return fmt.Errorf("BN momentum %g: want a value in (0,1]", c.BNMomentum)
	case c.TrainPortion <= 0 || c.TrainPortion > 1:
		return fmt.Errorf("train portion %g: want a value in (0,1]", c.TrainPortion)
	case c.TrainSamples < 0 || c.ValSamples < 0 || c.MaxTrainBatches < 0 || c.MaxValBatches < 0:
		return errors.New("sample and batch limits must be non-negative")
	}
	return c.Arch.Validate()
}

// NetOptions returns the network options of c for a dataset of classes.
func (c Config) NetOptions(classes int) (models.Options, error) {
	space, err := models.SpaceByName(c.Arch.Space)
	if err != nil {
		return models.Options{}, err
	}
	if c.Classes != 0 && c.Classes != classes {
		return models.Options{}, fmt.Errorf("the network has %d classes but dataset %s has %d", c.Classes, c.Dataset, classes)
	}
	return models.Options{Space: space, Classes: classes, SE: c.SE, Act: c.Act}, nil
}

// OpenData opens the training and validation data of c: the datasets (the
// training one with colour jitter when c.Jitter) and the index lists. The
// images must have the space's input size.
func OpenData(c Config, space *models.Space) (trainDS, valDS data.Dataset, trIdx, vaIdx []int, err error) {
	opts := data.Options{Size: space.InputSize, Classes: space.Classes, Samples: c.Samples, Seed: uint64(c.Seed)}
	trainDS, err = data.Open(c.Dataset, c.Data, opts)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if _, h, w := trainDS.Shape(); h != space.InputSize || w != space.InputSize {
		return nil, nil, nil, nil, fmt.Errorf("dataset %s: images are %d×%d but space %s expects %d×%d", c.Dataset, h, w, space.Name, space.InputSize, space.InputSize)
	}
	if c.TrainPortion >= 1 {
		dir := c.Data
		if strings.EqualFold(c.Dataset, "folder") {
			if c.ValData == "" {
				return nil, nil, nil, nil, errors.New("a folder dataset needs a validation folder (--val-data) or a train portion below 1")
			}
			dir = c.ValData
		}
		vo := opts
		vo.Split = "test"
		if valDS, err = data.Open(c.Dataset, dir, vo); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("validation data: %w", err)
		}
		if valDS.Classes() != trainDS.Classes() {
			return nil, nil, nil, nil, fmt.Errorf("validation data has %d classes, training data %d", valDS.Classes(), trainDS.Classes())
		}
		trIdx, _, _ = data.Split(trainDS.Len(), 1)
		vaIdx, _, _ = data.Split(valDS.Len(), 1)
	} else {
		valDS = trainDS
		split := func() ([]int, []int, error) { return data.Split(trainDS.Len(), c.TrainPortion) }
		if strings.EqualFold(c.Dataset, "folder") {
			split = func() ([]int, []int, error) { return data.SplitByClass(trainDS, c.TrainPortion) }
		}
		if trIdx, vaIdx, err = split(); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	if c.TrainSamples > 0 && c.TrainSamples < len(trIdx) {
		trIdx = trIdx[:c.TrainSamples]
	}
	if c.ValSamples > 0 && c.ValSamples < len(vaIdx) {
		vaIdx = vaIdx[:c.ValSamples]
	}
	if len(trIdx) == 0 || len(vaIdx) == 0 {
		return nil, nil, nil, nil, fmt.Errorf("dataset %s: %d training and %d validation samples; need at least one of each", c.Dataset, len(trIdx), len(vaIdx))
	}
	if c.Jitter {
		if trainDS, err = data.ColorJitter(trainDS, data.RecipeJitter); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	return trainDS, valDS, trIdx, vaIdx, nil
}

// EpochMetrics are the metrics of one completed epoch.
type EpochMetrics struct {
	Epoch     int     `json:"epoch"` // 0-based
	Iteration int     `json:"iteration"`
	LR        float64 `json:"lr"` // of the epoch's last step
	TrainLoss float64 `json:"train_loss"`
	TrainAcc  float64 `json:"train_acc"`
	ValLoss   float64 `json:"val_loss"` // plain cross-entropy
	ValTop1   float64 `json:"val_top1"`
	ValTop5   float64 `json:"val_top5"`
	EMA       bool    `json:"ema"` // validated with the EMA weights
	Seconds   float64 `json:"seconds"`
	ImagesSec float64 `json:"images_per_s"` // training images per second
	Best      bool    `json:"best"`
}

// Checkpoint is the resumable state of a run after a completed epoch. The
// random streams (data order, augmentation, dropout) are pure functions of
// (seed, epoch, iteration), so the counters are the whole random state.
type Checkpoint struct {
	Kind      string         `json:"kind"` // "standalone"
	Config    Config         `json:"config"`
	Classes   int            `json:"classes"`
	Epoch     int            `json:"epoch"` // completed epochs
	Iteration int            `json:"iteration"`
	BestTop1  float64        `json:"best_top1"`
	BestEpoch int            `json:"best_epoch"` // -1 before the first epoch
	History   []EpochMetrics `json:"history"`
	// Model holds the network's parameters and BN buffers; Optim the
	// optimizer state and, under "ema." names, the EMA tensors.
	Model weights.StateDict `json:"-"`
	Optim weights.StateDict `json:"-"`
}

const checkpointKind = "standalone"

// emaPrefix marks EMA tensors in a checkpoint's optimizer group.
const emaPrefix = "ema."

// EMAWeights returns the EMA tensors of the checkpoint (nil without EMA).
func (ck *Checkpoint) EMAWeights() weights.StateDict {
	var sd weights.StateDict
	for n, t := range ck.Optim {
		if rest, ok := strings.CutPrefix(n, emaPrefix); ok {
			if sd == nil {
				sd = weights.StateDict{}
			}
			sd[rest] = t
		}
	}
	return sd
}

// ReadCheckpoint reads a checkpoint written by Train.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	f, err := supernetckpt.Read(path)
	if err != nil {
		return nil, err
	}
	return checkpointOf(path, f)
}

// checkpointOf decodes and checks the training state of a checkpoint file.
func checkpointOf(path string, f *supernetckpt.File) (*Checkpoint, error) {
	ck := &Checkpoint{}
	if err := json.Unmarshal(f.State, ck); err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w: state: %v", path, supernetckpt.ErrCorrupt, err)
	}
	if ck.Kind != checkpointKind {
		return nil, fmt.Errorf("read checkpoint %s: not a standalone training checkpoint (a supernet checkpoint?)", path)
	}
	if ck.Config.Arch == nil {
		return nil, fmt.Errorf("read checkpoint %s: %w: no architecture", path, supernetckpt.ErrCorrupt)
	}
	if err := ck.Config.Arch.Validate(); err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w: %v", path, supernetckpt.ErrCorrupt, err)
	}
	if err := models.ValidateClasses(ck.Classes); err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w: %v", path, supernetckpt.ErrCorrupt, err)
	}
	if err := f.Model.CheckFinite(); err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w", path, err)
	}
	ck.Model, ck.Optim = f.Model, f.Optim
	return ck, nil
}

// BatchInfo is reported after every optimizer step.
type BatchInfo struct {
	Epoch, Epochs, Batch, Batches int // Epoch from 0, Batch from 1
	Loss, Acc                     float64
	LR                            float64
	ImagesPerSec                  float64
	ETA                           time.Duration // of the epoch
}

// TrainOptions are the run-time options of Train (not stored).
type TrainOptions struct {
	// Resume continues from RUN_DIR/last.ckpt (the stored config wins; a
	// Config.Arch given must equal the stored one).
	Resume bool
	// OnBatch and OnEpoch receive progress; Log receives notes (all may be nil).
	OnBatch func(BatchInfo)
	OnEpoch func(EpochMetrics)
	Log     func(format string, args ...any)
}

// Result is what a finished run leaves.
type Result struct {
	Network    *Network
	Checkpoint *Checkpoint
	Inherit    *InheritReport // nil unless weights were inherited in this call
}

// ErrInterrupted is returned (wrapped with the context's error) when the
// context was cancelled: the checkpoints of the last completed epoch are
// intact and --resume restarts the interrupted epoch.
var ErrInterrupted = errors.New("standalone training interrupted")

// streamDropout tags the dropout random stream.
const streamDropout uint64 = 0x44524f50 // "DROP"

// Train trains the standalone network of cfg.Arch on cfg's data and writes
// RUN_DIR/{arch.json,config.json} at the start and, after every epoch,
// last.ckpt, best.ckpt (when the validation top-1 improved) and log.jsonl,
// each atomically. Validation uses the EMA weights when EMA is on. With
// opts.Resume it continues from last.ckpt exactly: k epochs + resume to N
// give bit for bit the weights of N epochs straight.
func Train(ctx context.Context, cfg Config, runDir string, opts TrainOptions) (*Result, error) {
	if opts.Log == nil {
		opts.Log = func(string, ...any) {}
	}
	r, res, err := newRun(cfg, runDir, opts)
	if err != nil {
		return nil, err
	}
	for r.ck.Epoch < r.cfg.Epochs {
		m, err := r.epoch(ctx, opts.OnBatch)
		if err != nil {
			return res, err
		}
		if err := r.save(m.Best); err != nil {
			return res, err
		}
		if opts.OnEpoch != nil {
			opts.OnEpoch(m)
		}
	}
	return res, nil
}

// run is a training run in progress.
type run struct {
	cfg              Config
	runDir, lastPath string
	ck               *Checkpoint
	n, evalNet       *Network
	opt              nn.Optimizer
	ema              *nn.EMA
	trL, vaL         *data.Loader
	nb               int // training batches per epoch
	tape             *nn.Tape
}

// newRun reads the checkpoint to resume (opts.Resume) or starts a run:
// data, network (seeded, inherited or restored), optimizer, EMA, loaders.
func newRun(cfg Config, runDir string, opts TrainOptions) (*run, *Result, error) {
	r := &run{runDir: runDir, lastPath: filepath.Join(runDir, LastCheckpoint)}
	if opts.Resume {
		if _, err := os.Stat(r.lastPath); err != nil {
			return nil, nil, fmt.Errorf("--resume: no checkpoint at %s; start the run without --resume", r.lastPath)
		}
		c, err := ReadCheckpoint(r.lastPath)
		if err != nil {
			return nil, nil, err
		}
		if cfg.Arch != nil && !cfg.Arch.Equal(c.Config.Arch) {
			return nil, nil, fmt.Errorf("--resume: %s trains architecture %s, not %s", r.lastPath, c.Config.Arch, cfg.Arch)
		}
		workers := cfg.Workers
		r.ck, cfg = c, c.Config
		cfg.Workers = workers
		opts.Log("resuming %s after epoch %d (iteration %d)", r.lastPath, r.ck.Epoch, r.ck.Iteration)
	} else if _, err := os.Stat(r.lastPath); err == nil {
		return nil, nil, fmt.Errorf("%s already holds a run (%s); continue it with --resume or choose another output folder", runDir, LastCheckpoint)
	}
	r.cfg = cfg
	fail := func(err error) (*run, *Result, error) { return nil, nil, fmt.Errorf("standalone training: %w", err) }
	if err := cfg.validate(); err != nil {
		return fail(err)
	}
	space, err := models.SpaceByName(cfg.Arch.Space)
	if err != nil {
		return fail(err)
	}
	trDS, vaDS, trIdx, vaIdx, err := OpenData(cfg, space)
	if err != nil {
		return fail(err)
	}
	nopts, err := cfg.NetOptions(trDS.Classes())
	if err != nil {
		return fail(err)
	}
	net, err := models.Build(cfg.Arch, nopts)
	if err != nil {
		return fail(err)
	}
	res := &Result{}
	var sd weights.StateDict
	switch {
	case r.ck != nil:
		if r.ck.Classes != trDS.Classes() {
			return nil, nil, fmt.Errorf("resume %s: checkpoint has %d classes, dataset %d", r.lastPath, r.ck.Classes, trDS.Classes())
		}
		sd = r.ck.Model
	case cfg.InitFrom != "":
		sn, err := supernetckpt.Load(cfg.InitFrom)
		if err != nil {
			return nil, nil, fmt.Errorf("--init-from-supernet: %w", err)
		}
		if sd, res.Inherit, err = Inherit(sn, net, cfg.InitChoices, cfg.Seed); err != nil {
			return nil, nil, fmt.Errorf("--init-from-supernet %s: %w", cfg.InitFrom, err)
		}
		opts.Log("%s", res.Inherit)
	default:
		sd = weights.Init(net.Tensors(), cfg.Seed)
	}
	if r.n, err = New(net, sd); err != nil {
		return fail(err)
	}
	r.n.BNMomentum = cfg.BNMomentum
	res.Network = r.n
	params := r.n.Store.Trainable()
	if cfg.Optimizer == "rmsprop" {
		r.opt = nn.NewRMSpropTF(params, cfg.RMSAlpha, cfg.RMSEps, cfg.Momentum, cfg.WeightDecay)
	} else {
		r.opt = nn.NewSGD(params, cfg.Momentum, cfg.WeightDecay)
	}
	r.evalNet = r.n
	if cfg.EMADecay > 0 {
		r.ema = nn.NewEMA(r.n.Store, cfg.EMADecay)
		r.evalNet = &Network{Net: net, Store: r.ema.Store(), act: r.n.act, BNMomentum: r.n.BNMomentum}
	}
	if r.ck != nil {
		if err := r.restoreState(); err != nil {
			return nil, nil, fmt.Errorf("resume %s: %w", r.lastPath, err)
		}
	} else {
		r.ck = &Checkpoint{Kind: checkpointKind, Config: cfg, Classes: trDS.Classes(), BestEpoch: -1}
		if err := os.MkdirAll(runDir, 0o755); err != nil {
			return fail(err)
		}
		if err := writeRunFiles(runDir, cfg, nopts); err != nil {
			return nil, nil, err
		}
	}
	res.Checkpoint = r.ck
	seed := uint64(cfg.Seed)
	if r.trL, err = data.NewLoader(trDS, trIdx, data.LoaderOptions{BatchSize: cfg.Batch, Seed: seed, Shuffle: true, Train: true, DropLast: len(trIdx) >= cfg.Batch, Workers: cfg.Workers}); err != nil {
		return fail(err)
	}
	if r.vaL, err = data.NewLoader(vaDS, vaIdx, data.LoaderOptions{BatchSize: cfg.Batch, Seed: seed, Workers: cfg.Workers}); err != nil {
		return fail(err)
	}
	r.nb = r.trL.NumBatches()
	if cfg.MaxTrainBatches > 0 {
		r.nb = min(r.nb, cfg.MaxTrainBatches)
	}
	r.tape = nn.NewTape(nil)
	return r, res, nil
}

// restoreState loads the optimizer state and the EMA tensors ("ema."
// names) of the checkpoint being resumed.
func (r *run) restoreState() error {
	optState := map[string]*nn.Tensor{}
	emaState := map[string]*nn.Tensor{}
	for name, t := range r.ck.Optim {
		if rest, ok := strings.CutPrefix(name, emaPrefix); ok {
			emaState[rest] = t
		} else {
			optState[name] = t
		}
	}
	if err := r.opt.LoadState(optState); err != nil {
		return err
	}
	if r.ema != nil {
		if _, err := r.ema.Store().Load(emaState, false); err != nil {
			return fmt.Errorf("EMA: %w", err)
		}
	}
	return nil
}

// lr is the learning rate of iteration iter in epoch.
func (r *run) lr(epoch, iter int) float64 {
	c := r.cfg
	if c.Schedule == "step" {
		return nn.StepLR{Base: c.BaseLR(), DecayRate: c.DecayRate, DecayEpochs: c.DecayEpochs, WarmupEpochs: c.WarmupEpochs, WarmupInit: c.WarmupLR}.At(epoch)
	}
	return nn.CosineLR{Base: c.BaseLR(), TMax: r.nb * c.Epochs}.At(iter)
}

// epoch trains epoch ck.Epoch and validates; on success the checkpoint
// state (counters, best, history) describes the completed epoch.
func (r *run) epoch(ctx context.Context, onBatch func(BatchInfo)) (EpochMetrics, error) {
	ck, cfg := r.ck, r.cfg
	epoch := ck.Epoch
	if err := ctx.Err(); err != nil {
		return EpochMetrics{}, interrupted(epoch, err)
	}
	it := r.trL.Epoch(ctx, epoch, 0)
	defer it.Close()
	start := time.Now()
	var lossSum, lr float64
	var correct, seen, batches int
	for batches < r.nb {
		b, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return EpochMetrics{}, interrupted(epoch, ctx.Err())
			}
			return EpochMetrics{}, fmt.Errorf("standalone training epoch %d: %w", epoch+1, err)
		}
		lr = r.lr(epoch, ck.Iteration)
		dropRNG := rand.New(rand.NewPCG(uint64(cfg.Seed)^streamDropout, uint64(ck.Iteration)))
		l, c, err := r.n.trainStep(r.tape, b, cfg, r.opt, lr, dropRNG)
		if err != nil {
			return EpochMetrics{}, fmt.Errorf("standalone training epoch %d batch %d: %w", epoch+1, batches+1, err)
		}
		if r.ema != nil {
			r.ema.Update()
		}
		ck.Iteration++
		batches++
		lossSum += l
		correct += c
		seen += b.N
		if onBatch != nil {
			ips := float64(seen) / math.Max(time.Since(start).Seconds(), 1e-9)
			onBatch(BatchInfo{
				Epoch: epoch, Epochs: cfg.Epochs, Batch: batches, Batches: r.nb,
				Loss: lossSum / float64(batches), Acc: float64(correct) / float64(seen), LR: lr, ImagesPerSec: ips,
				ETA: time.Duration(float64((r.nb-batches)*cfg.Batch) / math.Max(ips, 1e-9) * float64(time.Second)),
			})
		}
		if ctx.Err() != nil {
			return EpochMetrics{}, interrupted(epoch, ctx.Err())
		}
	}
	it.Close()
	trainSec := time.Since(start).Seconds()
	vr, err := r.evalNet.Evaluate(ctx, r.vaL, cfg.MaxValBatches)
	if err != nil {
		if ctx.Err() != nil {
			return EpochMetrics{}, interrupted(epoch, ctx.Err())
		}
		return EpochMetrics{}, fmt.Errorf("standalone validation epoch %d: %w", epoch+1, err)
	}
	m := EpochMetrics{
		Epoch: epoch, Iteration: ck.Iteration, LR: lr,
		TrainLoss: lossSum / float64(max(batches, 1)), TrainAcc: float64(correct) / float64(max(seen, 1)),
		ValLoss: vr.Loss, ValTop1: vr.Top1, ValTop5: vr.Top5, EMA: r.ema != nil,
		Seconds: time.Since(start).Seconds(), ImagesSec: float64(seen) / math.Max(trainSec, 1e-9),
	}
	m.Best = ck.BestEpoch < 0 || vr.Top1 > ck.BestTop1
	if m.Best {
		ck.BestTop1, ck.BestEpoch = vr.Top1, epoch
	}
	ck.History = append(ck.History, m)
	ck.Epoch++
	return m, nil
}

// save writes best.ckpt (when best), last.ckpt and log.jsonl.
func (r *run) save(best bool) error {
	ck := r.ck
	ck.Config = r.cfg
	ck.Model = snapshot(r.n.Store.StateDict(), "")
	ck.Optim = snapshot(r.opt.State(), "")
	if r.ema != nil {
		for k, v := range snapshot(r.ema.StateDict(), emaPrefix) {
			ck.Optim[k] = v
		}
	}
	if best {
		if err := supernetckpt.Write(filepath.Join(r.runDir, BestCheckpoint), ck, ck.Model, ck.Optim); err != nil {
			return err
		}
		deploy := ck.Model
		if ema := ck.EMAWeights(); ema != nil {
			deploy = ema
		}
		meta := weights.NetworkMetadata(r.n.Net, "sgnas train")
		if err := weights.WriteSafetensors(filepath.Join(r.runDir, BestWeights), deploy, nil, meta); err != nil {
			return err
		}
	}
	if err := supernetckpt.Write(r.lastPath, ck, ck.Model, ck.Optim); err != nil {
		return err
	}
	return fsutil.WriteJSONLines(filepath.Join(r.runDir, LogFile), ck.History)
}

func interrupted(epoch int, cause error) error {
	return fmt.Errorf("%w in epoch %d (the checkpoints of epoch %d are intact; --resume restarts epoch %d): %w", ErrInterrupted, epoch+1, epoch, epoch+1, cause)
}

// trainStep is one optimizer step on batch b; it returns the batch loss
// and the number of correct predictions.
func (n *Network) trainStep(tape *nn.Tape, b *data.Batch, cfg Config, opt nn.Optimizer, lr float64, rng *rand.Rand) (float64, int, error) {
	tape.Reset()
	n.Store.ZeroGrad()
	x := tape.Const(nn.ToCNHW(nn.FromData(b.X, b.N, b.C, b.H, b.W)))
	logits := n.TrainForward(tape, x, cfg.Dropout, rng)
	loss, err := tape.CrossEntropy(logits, b.Y, cfg.LabelSmoothing)
	if err != nil {
		return 0, 0, err
	}
	l := float64(loss.Value.Data[0])
	if math.IsNaN(l) || math.IsInf(l, 0) {
		return 0, 0, fmt.Errorf("loss is %g (diverged; lower --lr)", l)
	}
	tape.Backward(loss)
	c1, _ := topK(logits.Value, b.Y)
	tape.Reset()
	opt.Step(lr)
	return l, c1, nil
}

// EvalResult is the outcome of an evaluation.
type EvalResult struct {
	Loss       float64 // mean plain cross-entropy per batch
	Top1, Top5 float64
	N          int
}

// Evaluate runs the network in eval mode over the loader's data (at most
// maxBatches batches when > 0): top-1, top-5 and the plain cross-entropy.
func (n *Network) Evaluate(ctx context.Context, loader *data.Loader, maxBatches int) (EvalResult, error) {
	it := loader.Epoch(ctx, 0, 0)
	defer it.Close()
	tape := nn.NewTape(nil)
	var r EvalResult
	var lossSum float64
	var c1, c5, batches int
	for maxBatches <= 0 || batches < maxBatches {
		b, err := it.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return r, err
		}
		tape.Reset()
		logits := n.forward(tape, tape.Const(nn.ToCNHW(nn.FromData(b.X, b.N, b.C, b.H, b.W))), false, 0, nil)
		loss, err := tape.CrossEntropy(logits, b.Y, 0)
		if err != nil {
			return r, err
		}
		lossSum += float64(loss.Value.Data[0])
		a, b5 := topK(logits.Value, b.Y)
		c1 += a
		c5 += b5
		r.N += b.N
		batches++
	}
	if r.N > 0 {
		r.Top1, r.Top5 = float64(c1)/float64(r.N), float64(c5)/float64(r.N)
		r.Loss = lossSum / float64(batches)
	}
	return r, nil
}

// topK counts the samples whose label is the top-1 and among the top-5
// logits (ties count against the label).
func topK(logits *nn.Tensor, y []int) (top1, top5 int) {
	n, c := logits.Shape[0], logits.Shape[1]
	for i := 0; i < n; i++ {
		row := logits.Data[i*c : (i+1)*c]
		v := row[y[i]]
		above := 0
		for j, u := range row {
			if u > v || (u == v && j < y[i]) {
				above++
			}
		}
		if above == 0 {
			top1++
		}
		if above < 5 {
			top5++
		}
	}
	return top1, top5
}

// snapshot deep-copies tensors under prefix+name.
func snapshot(m map[string]*nn.Tensor, prefix string) weights.StateDict {
	sd := make(weights.StateDict, len(m))
	for k, t := range m {
		sd[prefix+k] = t.Clone()
	}
	return sd
}

// writeRunFiles writes arch.json (the architecture with its network
// options, readable by models.LoadArchFile and sgnas export --arch) and
// config.json.
func writeRunFiles(runDir string, cfg Config, o models.Options) error {
	af := struct {
		Space      string            `json:"space"`
		SE         bool              `json:"se"`
		Activation models.Activation `json:"activation"`
		Classes    int               `json:"classes"`
		Layers     []models.Layer    `json:"layers"`
	}{cfg.Arch.Space, o.SE, o.Activation(), o.NumClasses(), cfg.Arch.Layers}
	b, err := json.MarshalIndent(af, "", "  ")
	if err != nil {
		return err
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(runDir, ArchFile), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if b, err = json.MarshalIndent(cfg, "", "  "); err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(runDir, ConfigFile), append(b, '\n'), 0o644)
}
