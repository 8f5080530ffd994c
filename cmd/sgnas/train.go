package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/internal/netflags"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/pipeline"
	"github.com/sgnas/sgnas/train/nn"
	"github.com/sgnas/sgnas/train/standalone"
)

func init() { register(trainCommand()) }

// trainCommand returns a fresh `sgnas train` (flags keep parse state).
func trainCommand() *cli.Command {
	var netFlags []cli.Flag
	for _, f := range netflags.Flags() {
		if f.Names()[0] != "classes" { // the dataset defines the classes
			netFlags = append(netFlags, f)
		}
	}
	flags := append(netFlags, dataFlags()...)
	flags = append(flags,
		&cli.StringFlag{Name: "arch", Usage: "architecture JSON (this, or --flops with --generator)"},
		&cli.FloatFlag{Name: "flops", Usage: "generate the architecture for this MFLOPs target with --generator"},
		&cli.StringFlag{Name: "generator", Usage: "generator checkpoint (.pth) for --flops"},
		&cli.StringFlag{Name: "prior", Usage: "prior pool JSON for --flops (default: prior_pool.json beside the generator)"},
		&cli.StringFlag{Name: "out", Usage: "run directory (RUN_DIR)", Required: true},
		&cli.StringFlag{Name: "recipe", Usage: "cifar or imagenet (default: imagenet for the imagenet space, else cifar)"},
		&cli.IntFlag{Name: "epochs", Usage: "epochs (default: the recipe's, 200 cifar / 500 imagenet)"},
		&cli.IntFlag{Name: "batch", Usage: "images per batch (default: the recipe's, 512 cifar / 256 imagenet)"},
		&cli.FloatFlag{Name: "lr", Usage: "base learning rate (default: the recipe's scaled with the batch: 0.064·batch/512 cifar, 0.016·batch/256 imagenet)"},
		&cli.IntFlag{Name: "seed", Value: 42, Usage: "seed of init, data order, augmentation and dropout"},
		&cli.StringFlag{Name: "init-from-supernet", Usage: "inherit the initial weights from this supernet checkpoint (RUN/supernet.ckpt)"},
		&cli.BoolFlag{Name: "resume", Usage: "continue from RUN_DIR/last.ckpt (its stored configuration is used)"},
		&cli.IntFlag{Name: "threads", Usage: "compute threads (default: all cores)"},
		&cli.IntFlag{Name: "workers", Usage: "data-loading goroutines (default: all cores)"},
		&cli.FloatFlag{Name: "train-portion", Value: 1, Usage: "1: train on the training split, validate on the test split; below 1: validate on the rest of the training split"},
		&cli.StringFlag{Name: "val-data", Usage: "validation folder of a folder dataset (with --train-portion 1)"},
		&cli.IntFlag{Name: "train-samples", Usage: "keep only the first N training samples (0: all)"},
		&cli.IntFlag{Name: "val-samples", Usage: "keep only the first N validation samples (0: all)"},
		&cli.IntFlag{Name: "max-train-batches", Usage: "cap on training steps per epoch, for smoke runs (0: all)"},
		&cli.IntFlag{Name: "max-val-batches", Usage: "cap on validation batches per epoch (0: all)"},
		&cli.FloatFlag{Name: "ema", Value: -1, Usage: "weight EMA decay (0: off; default: the recipe's, off cifar / 0.99995 imagenet)"},
		&cli.IntFlag{Name: "log-every", Value: 10, Usage: "log a progress line every N batches when stderr is not a terminal"},
	)
	return &cli.Command{
		Name:  "train",
		Usage: "train a generated architecture standalone, from scratch or from inherited supernet weights",
		Description: "The architecture comes from --arch or from a generator (--flops T --generator G). The recipe\n" +
			"(reference §7.2/§7.3) sets optimizer, schedule, augmentation, label smoothing, dropout and EMA:\n" +
			"cifar: SGD + cosine per iteration; imagenet: RMSprop-TF + warm-up and step decay, EMA 0.99995,\n" +
			"colour jitter. After every epoch RUN_DIR/last.ckpt, best.ckpt (best validation top-1, EMA weights\n" +
			"when on) and log.jsonl are written atomically; arch.json and config.json at the start. Ctrl-C keeps\n" +
			"the last completed epoch; --resume continues bit for bit.",
		Flags:  flags,
		Action: runTrain,
	}
}

func runTrain(ctx context.Context, cmd *cli.Command) error {
	if n := cmd.Int("threads"); n > 0 {
		nn.SetThreads(n)
	}
	logf := cmdLogf(cmd.Root().ErrWriter)
	out := cmd.String("out")
	resume := cmd.Bool("resume")
	arch, opts, choices, err := trainArch(ctx, cmd, resume)
	if err != nil {
		return err
	}
	var cfg standalone.Config
	if !resume {
		recipe := cmd.String("recipe")
		if recipe == "" {
			recipe = "cifar"
			if opts.Space.Name == "imagenet" {
				recipe = "imagenet"
			}
		}
		if cfg, err = standalone.Recipe(recipe); err != nil {
			return fmt.Errorf("--recipe: %w", err)
		}
		cfg.Arch, cfg.SE, cfg.Act = arch, opts.SE, opts.Act
		cfg.Dataset, cfg.Data = datasetChoice(cmd, opts.Space.Name)
		cfg.ValData = cmd.String("val-data")
		cfg.Samples = cmd.Int("samples")
		if cmd.IsSet("epochs") {
			cfg.Epochs = cmd.Int("epochs")
		}
		if cmd.IsSet("batch") {
			cfg.Batch = cmd.Int("batch")
		}
		if cmd.IsSet("lr") {
			cfg.LR = cmd.Float("lr")
			if cfg.LR <= 0 {
				return fmt.Errorf("--lr %g: want a positive value", cfg.LR)
			}
		}
		if cmd.IsSet("ema") {
			cfg.EMADecay = cmd.Float("ema")
		}
		cfg.Seed = int64(cmd.Int("seed"))
		cfg.TrainPortion = cmd.Float("train-portion")
		cfg.TrainSamples, cfg.ValSamples = cmd.Int("train-samples"), cmd.Int("val-samples")
		cfg.MaxTrainBatches, cfg.MaxValBatches = cmd.Int("max-train-batches"), cmd.Int("max-val-batches")
		if p := cmd.String("init-from-supernet"); p != "" {
			cfg.InitFrom, cfg.InitChoices = p, choices
		}
	} else {
		cfg.Arch = arch // checked against the stored one when given
		logf("--resume: the run's stored configuration is used; other flags (except --threads, --workers) are ignored")
	}
	cfg.Workers = cmd.Int("workers")

	prog := newEpochProgress(cmd.Int("log-every"), logf)
	topts := standalone.TrainOptions{Resume: resume, Log: logf}
	topts.OnBatch = func(b standalone.BatchInfo) {
		prog.update(b.Epoch+1, b.Batch, b.Batches,
			fmt.Sprintf("epoch %d/%d loss %.3f acc %.1f%% %.1f img/s ETA %s", b.Epoch+1, b.Epochs, b.Loss, 100*b.Acc, b.ImagesPerSec, b.ETA.Round(time.Second)),
			fmt.Sprintf("epoch %d/%d batch %d/%d  loss %.4f  acc %.2f%%  lr %.5f  %.1f img/s  epoch ETA %s",
				b.Epoch+1, b.Epochs, b.Batch, b.Batches, b.Loss, 100*b.Acc, b.LR, b.ImagesPerSec, b.ETA.Round(time.Second)))
	}
	topts.OnEpoch = func(m standalone.EpochMetrics) {
		w := ""
		if m.EMA {
			w = " (EMA)"
		}
		best := ""
		if m.Best {
			best = "  ← best"
		}
		logf("epoch %d done: train loss %.4f acc %.2f%% | val%s loss %.4f top-1 %.2f%% top-5 %.2f%% | %.0f s, %.1f img/s%s",
			m.Epoch+1, m.TrainLoss, 100*m.TrainAcc, w, m.ValLoss, 100*m.ValTop1, 100*m.ValTop5, m.Seconds, m.ImagesSec, best)
	}
	res, err := standalone.Train(ctx, cfg, out, topts)
	if err != nil {
		return err
	}
	w := cmd.Root().Writer
	if w == nil {
		w = io.Discard
	}
	ck := res.Checkpoint
	fmt.Fprintf(w, "trained %d epochs: best top-1 %.2f%% (epoch %d); checkpoint %s\n",
		ck.Epoch, 100*ck.BestTop1, ck.BestEpoch+1, filepath.Join(out, standalone.BestCheckpoint))
	return nil
}

// trainArch resolves the architecture and network options: --arch, or a
// generator at --flops (with its exact block choices for inheritance).
// With --resume both may be absent.
func trainArch(ctx context.Context, cmd *cli.Command, resume bool) (*models.Arch, models.Options, *models.Choices, error) {
	choice, err := netflags.Choice(cmd)
	if err != nil {
		return nil, models.Options{}, nil, err
	}
	hasArch, hasFlops := cmd.IsSet("arch"), cmd.IsSet("flops")
	switch {
	case hasArch && hasFlops:
		return nil, models.Options{}, nil, errors.New("give either --arch or --flops (with --generator), not both")
	case hasArch:
		f, err := models.LoadArchFile(cmd.String("arch"))
		if err != nil {
			return nil, models.Options{}, nil, err
		}
		a, opts, err := pipeline.ArchOptions(f, choice)
		return a, opts, nil, err
	case hasFlops:
		if !cmd.IsSet("generator") {
			return nil, models.Options{}, nil, errors.New("--flops needs --generator (a generator checkpoint)")
		}
		opts, err := pipeline.GeneratedOptions(choice)
		if err != nil {
			return nil, models.Options{}, nil, err
		}
		prior := cmd.String("prior")
		if prior == "" {
			prior = filepath.Join(filepath.Dir(cmd.String("generator")), "prior_pool.json")
		}
		g, err := generator.Load(cmd.String("generator"))
		if err != nil {
			return nil, models.Options{}, nil, err
		}
		pool, err := models.LoadPriorPool(prior, opts.Space.Name)
		if err != nil {
			return nil, models.Options{}, nil, fmt.Errorf("--prior: %w", err)
		}
		metric, err := generator.NewMetric("full", opts)
		if err != nil {
			return nil, models.Options{}, nil, err
		}
		rs, err := g.Generate(ctx, pool, []float64{cmd.Float("flops")}, generator.Request{Net: opts, Metric: metric, Window: generator.DefaultWindow})
		if err != nil {
			return nil, models.Options{}, nil, err
		}
		ch := rs[0].Choices
		return rs[0].Arch, opts, &ch, nil
	case resume:
		return nil, models.Options{}, nil, nil
	}
	return nil, models.Options{}, nil, errors.New("give the architecture with --arch, or --flops with --generator")
}
