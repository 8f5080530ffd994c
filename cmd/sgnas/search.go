package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/train/nn"
	"github.com/sgnas/sgnas/train/supernet"
)

// searchCmd is the parent of the search subcommands. It is a package-level
// pointer (initialised before any init function runs), so files of this
// package add their subcommands in init with
// searchCmd.Commands = append(searchCmd.Commands, …) in any file order.
var searchCmd = &cli.Command{
	Name:  "search",
	Usage: "the search phase: train the unified supernet, then the architecture generator",
}

var searchSupernetCmd = &cli.Command{
	Name:  "supernet",
	Usage: "train the unified supernet (reference §5.1): 4 sampled paths per batch, SGD, cosine LR",
	Description: "Per batch the path sampler is reset and 4 single paths are sampled (distinct expansions\n" +
		"2..6 per layer, random active groups and kernels); their gradients are summed and one SGD step\n" +
		"(momentum 0.9, weight decay on all parameters) is taken; the LR follows a cosine per iteration.\n" +
		"The first --train-portion of the dataset trains, the rest validates random paths after every\n" +
		"epoch. RUN_DIR/supernet.ckpt (weights, momentum, counters, config) and RUN_DIR/log.jsonl are\n" +
		"written after every epoch; Ctrl-C saves the last completed step and --resume continues exactly.",
	Flags: append(dataFlags(),
		&cli.StringFlag{Name: "space", Value: "cifar10", Usage: "search space: cifar10, cifar100, imagenet"},
		&cli.IntFlag{Name: "epochs", Value: 200, Usage: "epochs (cosine schedule length)"},
		&cli.IntFlag{Name: "batch", Value: 64, Usage: "images per batch"},
		&cli.StringFlag{Name: "out", Usage: "run directory (RUN_DIR)", Required: true},
		&cli.FloatFlag{Name: "lr", Usage: "base learning rate (default 0.064·batch/512: the authors' 0.064 at batch 512)"},
		&cli.FloatFlag{Name: "momentum", Value: 0.9, Usage: "SGD momentum"},
		&cli.FloatFlag{Name: "wd", Value: 4e-4, Usage: "weight decay (all parameters, BN included)"},
		&cli.FloatFlag{Name: "label-smoothing", Value: 0.1, Usage: "label smoothing of the cross-entropy"},
		&cli.FloatFlag{Name: "train-portion", Value: 0.8, Usage: "first portion of the dataset used for training; the rest validates"},
		&cli.IntFlag{Name: "seed", Value: 42, Usage: "seed of init, data order, augmentation and path sampling"},
		&cli.IntFlag{Name: "paths", Value: 4, Usage: "sampled paths per batch"},
		&cli.IntFlag{Name: "threads", Usage: "compute threads (default: all cores)"},
		&cli.IntFlag{Name: "workers", Usage: "data-loading goroutines (default: all cores)"},
		&cli.StringFlag{Name: "device", Value: "cpu", Usage: "cpu or cuda (training runs on the CPU only)"},
		&cli.BoolFlag{Name: "resume", Usage: "continue from RUN_DIR/supernet.ckpt (its stored config is used)"},
		&cli.IntFlag{Name: "max-train-batches", Usage: "cap on training steps per epoch, for smoke runs (0: all)"},
		&cli.IntFlag{Name: "max-val-batches", Usage: "cap on validation batches per epoch (0: all)"},
		&cli.IntFlag{Name: "size", Usage: "image size of folder/synthetic datasets (default: the space's input size)"},
		&cli.IntFlag{Name: "classes", Usage: "classes of the synthetic dataset (default: the space's)"},
		&cli.IntFlag{Name: "warmup", Usage: "iterations of linear LR warm-up (0: none, the authors' recipe)"},
		&cli.BoolFlag{Name: "zero-init-residual", Usage: "initialise the SBN γ of residual layers to 0 (smoke recipe; not the authors' init)"},
		&cli.BoolFlag{Name: "balanced-batches", Usage: "class-balanced training batches instead of a uniform shuffle"},
		&cli.IntFlag{Name: "log-every", Value: 10, Usage: "log a progress line every N batches when stderr is not a terminal"},
	),
	Action: runSearchSupernet,
}

func init() {
	searchCmd.Commands = append(searchCmd.Commands, searchSupernetCmd)
	register(searchCmd)
}

func runSearchSupernet(ctx context.Context, cmd *cli.Command) error {
	dev, err := nn.ParseDevice(cmd.String("device"))
	if err != nil {
		return fmt.Errorf("--device: %w", err)
	}
	if err := dev.Check(); err != nil {
		return err
	}
	if n := cmd.Int("threads"); n > 0 {
		nn.SetThreads(n)
	}
	cfg := supernet.DefaultConfig()
	cfg.Space = cmd.String("space")
	cfg.Dataset, cfg.Data = datasetChoice(cmd, cfg.Space)
	cfg.Epochs = cmd.Int("epochs")
	cfg.Batch = cmd.Int("batch")
	cfg.LR = cmd.Float("lr")
	cfg.Momentum = cmd.Float("momentum")
	cfg.WeightDecay = cmd.Float("wd")
	cfg.LabelSmoothing = cmd.Float("label-smoothing")
	cfg.TrainPortion = cmd.Float("train-portion")
	cfg.Seed = int64(cmd.Int("seed"))
	cfg.Paths = cmd.Int("paths")
	cfg.Workers = cmd.Int("workers")
	cfg.MaxTrainBatches = cmd.Int("max-train-batches")
	cfg.MaxValBatches = cmd.Int("max-val-batches")
	cfg.Size = cmd.Int("size")
	cfg.Classes = cmd.Int("classes")
	cfg.Samples = cmd.Int("samples")
	cfg.Warmup = cmd.Int("warmup")
	cfg.ZeroInitResidual = cmd.Bool("zero-init-residual")
	cfg.BalancedBatches = cmd.Bool("balanced-batches")

	logf := cmdLogf(cmd.Root().ErrWriter)
	out := cmd.String("out")
	opts := supernet.TrainOptions{Resume: cmd.Bool("resume"), Log: logf}
	if cmd.Bool("resume") {
		logf("--resume: the run's stored configuration is used; other flags (except --threads, --workers) are ignored")
	}
	prog := newEpochProgress(cmd.Int("log-every"), logf)
	opts.OnBatch = func(b supernet.BatchInfo) {
		prog.update(b.Epoch+1, b.Batch, b.Batches,
			fmt.Sprintf("epoch %d loss %.3f acc %.1f%% %.1f img/s ETA %s", b.Epoch+1, b.Loss, 100*b.Acc, b.ImagesPerSec, b.ETA.Round(time.Second)),
			fmt.Sprintf("epoch %d batch %d/%d  loss %.4f  acc %.2f%%  lr %.5f  %.1f img/s  epoch ETA %s",
				b.Epoch+1, b.Batch, b.Batches, b.Loss, 100*b.Acc, b.LR, b.ImagesPerSec, b.ETA.Round(time.Second)))
	}
	opts.OnEpoch = func(m supernet.EpochMetrics) {
		logf("epoch %d done: train loss %.4f acc %.2f%% | val (random paths) loss %.4f acc %.2f%% | %.0f s, %.1f img/s",
			m.Epoch+1, m.TrainLoss, 100*m.TrainAcc, m.ValLoss, 100*m.ValAcc, m.Seconds, m.ImagesSec)
	}
	res, err := supernet.Train(ctx, cfg, out, opts)
	if err != nil {
		return err
	}
	w := cmd.Root().Writer
	if w == nil {
		w = io.Discard
	}
	h := res.Checkpoint.History
	if len(h) > 0 {
		fmt.Fprintf(w, "supernet trained: %d epochs, final val acc (random paths) %.2f%%; checkpoint %s\n",
			len(h), 100*h[len(h)-1].ValAcc, out+"/"+supernet.CheckpointFile)
	}
	return nil
}
