package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v3"
	"golang.org/x/term"

	"github.com/sgnas/sgnas/data"
	gen "github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/profiles"
	"github.com/sgnas/sgnas/train/generator"
	"github.com/sgnas/sgnas/train/nn"
	"github.com/sgnas/sgnas/train/supernet"
)

// searchGeneratorCommand returns `sgnas search generator` (a fresh command:
// flags keep state between runs).
func searchGeneratorCommand() *cli.Command {
	return &cli.Command{
		Name:  "generator",
		Usage: "train the architecture generator against a trained supernet (reference §5.2)",
		Description: "Trains the generator on the search-validation split of the supernet run's dataset\n" +
			"with the frozen supernet: per step a target T from range(low, high, 5) + U[-0.5, 0.5),\n" +
			"Gumbel-softmax architecture, loss CE + L_hc(LUT FLOPs, T). After every epoch it tracks\n" +
			"FLOPs on range(low, high, 10) (total hard L_hc, Kendall tau) and the supernet's top-1 at\n" +
			"the mid target. Writes OUT/generator/{best,best_avg,final,last}.pth (PyTorch format, read by\n" +
			"`sgnas generate` and torch.load), log.jsonl and prior_pool.json.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "supernet", Usage: "supernet checkpoint (RUN/supernet.ckpt)", Required: true},
			&cli.StringFlag{Name: "data", Usage: "dataset directory, 'synthetic' or 'fashion-mnist' (default: the supernet run's)"},
			&cli.StringFlag{Name: "dataset", Usage: "cifar10|cifar100|fashion-mnist|folder|synthetic (default: the supernet run's)"},
			&cli.StringFlag{Name: "out", Usage: "run directory; results go to OUT/generator/", Required: true},
			&cli.IntFlag{Name: "epochs", Value: 50, Usage: "generator epochs"},
			&cli.IntFlag{Name: "batch", Value: 64, Usage: "images per step"},
			&cli.FloatFlag{Name: "lr", Value: 0.001, Usage: "Adam learning rate (betas 0.5, 0.999)"},
			&cli.IntFlag{Name: "seed", Value: 42, Usage: "seed of the generator init, targets, Gumbel noise and data order"},
			&cli.StringFlag{Name: "prior", Usage: "prior pool JSON; built (size 1) and written there when missing (default OUT/generator/prior_pool.json)"},
			&cli.FloatFlag{Name: "low", Usage: "lower end of the constraint range (default: the space's, 80 cifar / 270 imagenet)"},
			&cli.FloatFlag{Name: "high", Usage: "upper end of the constraint range (default: the space's, 120 cifar / 450 imagenet)"},
			&cli.FloatFlag{Name: "hc-threshold", Value: 0.4, Usage: "best_avg.pth needs total hard L_hc below this"},
			&cli.FloatFlag{Name: "tau0", Value: 5, Usage: "initial Gumbel-softmax temperature (x0.95 per epoch)"},
			&cli.FloatFlag{Name: "eval-step", Value: 10, Usage: "spacing of the FLOPs-tracking targets"},
			&cli.FloatFlag{Name: "train-portion", Usage: "the generator trains on indices [portion·n, n) of the dataset (default: the supernet run's, 0.8)"},
			&cli.IntFlag{Name: "samples", Usage: "synthetic dataset size (default: the supernet run's)"},
			&cli.IntFlag{Name: "threads", Usage: "compute threads (default: all cores)"},
			&cli.IntFlag{Name: "max-train-batches", Usage: "cap on training steps per epoch (0: the whole split)"},
			&cli.IntFlag{Name: "max-eval-batches", Usage: "cap on top-1 evaluation batches per epoch (0: the whole split)"},
			&cli.BoolFlag{Name: "resume", Usage: "continue from OUT/generator/last.pth (weights, Adam state, epoch)"},
			&cli.StringFlag{Name: "profile", Usage: "train against the latency cost model of this device profile (targets, --low/--high/--eval-step in ms) instead of LUT FLOPs; the profile must be for the supernet's options (its space and classes, no SE, relu6)"},
			&cli.BoolFlag{Name: "force", Usage: "use a --profile measured on another device or setting (prints one warning line)"},
		},
		Action: runSearchGenerator,
	}
}

func init() {
	searchCmd.Commands = append(searchCmd.Commands, searchGeneratorCommand())
}

func runSearchGenerator(ctx context.Context, cmd *cli.Command) error {
	if n := cmd.Int("threads"); n > 0 {
		nn.SetThreads(n)
	}
	sn, ck, err := supernet.LoadCheckpoint(cmd.String("supernet"))
	if err != nil {
		return err
	}
	space := sn.Space
	outDir := filepath.Join(cmd.String("out"), "generator")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}

	// Data: the supernet run's dataset (overridable); the generator trains
	// on its validation split (reference §5.2).
	dcfg := ck.Config
	if cmd.IsSet("data") {
		dcfg.Data = cmd.String("data")
		if dcfg.Data == "synthetic" || dcfg.Data == "fashion-mnist" {
			dcfg.Dataset, dcfg.Data = dcfg.Data, ""
		}
	}
	if cmd.IsSet("dataset") {
		dcfg.Dataset = cmd.String("dataset")
	}
	if cmd.IsSet("samples") {
		dcfg.Samples = cmd.Int("samples")
	}
	if cmd.IsSet("train-portion") {
		dcfg.TrainPortion = cmd.Float("train-portion")
	}
	ds, _, idx, err := supernet.OpenData(dcfg, space)
	if err != nil {
		return fmt.Errorf("--data: %w", err)
	}
	if ds.Classes() != sn.Classes {
		return fmt.Errorf("--data: dataset has %d classes, the supernet %s was trained for %d", ds.Classes(), cmd.String("supernet"), sn.Classes)
	}
	seed := uint64(cmd.Int("seed"))
	train, err := data.NewLoader(ds, idx, data.LoaderOptions{BatchSize: cmd.Int("batch"), Seed: seed, Shuffle: true, Train: true})
	if err != nil {
		return err
	}
	val, err := data.NewLoader(ds, idx, data.LoaderOptions{BatchSize: cmd.Int("batch"), Seed: seed})
	if err != nil {
		return err
	}

	// Prior pool: load, or build once and save (reference §4).
	priorPath := cmd.String("prior")
	if priorPath == "" {
		priorPath = filepath.Join(outDir, "prior_pool.json")
	}
	var pool models.PriorPool
	if _, err := os.Stat(priorPath); err == nil {
		if pool, err = models.LoadPriorPool(priorPath, space.Name); err != nil {
			return fmt.Errorf("--prior: %w", err)
		}
	} else {
		if pool, err = gen.BuildPriorPool(ctx, space, 1, int64(cmd.Int("seed"))); err != nil {
			return err
		}
		if err := pool.Save(priorPath); err != nil {
			return fmt.Errorf("save prior pool: %w", err)
		}
		fmt.Fprintf(os.Stderr, "built prior pool %s\n", priorPath)
	}

	cfg := generator.Config{
		Space: space, Low: cmd.Float("low"), High: cmd.Float("high"), EvalStep: cmd.Float("eval-step"), Tau0: cmd.Float("tau0"),
		Epochs: cmd.Int("epochs"), LR: cmd.Float("lr"), HCThreshold: cmd.Float("hc-threshold"),
		Seed: int64(cmd.Int("seed")), MaxTrainBatches: cmd.Int("max-train-batches"), MaxEvalBatches: cmd.Int("max-eval-batches"),
	}
	var cost models.CostModel = space.LUT()
	if prof := cmd.String("profile"); prof != "" {
		if cost, err = latencyCost(cmd, prof, space, sn.Classes, &cfg); err != nil {
			return err
		}
	}
	tr, err := generator.NewTrainer(cfg, sn, cost, pool, train, val)
	if err != nil {
		return err
	}
	tr.OutDir = outDir
	tr.Log = os.Stderr
	if cmd.Bool("resume") {
		ok, err := tr.Resume()
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("--resume: no checkpoint at %s; start the run without --resume", filepath.Join(outDir, generator.LastFile))
		}
		fmt.Fprintf(os.Stderr, "resuming at epoch %d\n", tr.Epoch+1)
	}
	if term.IsTerminal(int(os.Stderr.Fd())) {
		var bar *progressbar.ProgressBar
		tr.OnStep = func(epoch, step, steps int, s generator.StepStats) {
			if step == 0 {
				bar = progressbar.NewOptions(steps, progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionSetDescription(fmt.Sprintf("generator epoch %d/%d", epoch+1, cfg.Epochs)),
					progressbar.OptionClearOnFinish(), progressbar.OptionShowCount(), progressbar.OptionThrottle(100_000_000))
			}
			_ = bar.Add(1)
		}
	}
	if err := tr.Run(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "generator written to %s (best lowest-L_hc: %s, best_avg: %s, final: %s)\n", outDir,
		generator.BestFile, generator.BestAvgFile, generator.FinalFile)
	return nil
}

// latencyCost loads the profile for the supernet's network options (its
// space and classes, no SE, ReLU6) and returns its cost model (ms); it sets
// cfg's target range (default: 10 %..90 % of the profile's predicted range),
// target steps (span/36 and span/18 unless --eval-step is given: the
// authors' 5 and 10 on 180 MFLOPs), L_hc's scale (so the range weighs like
// the authors' 180 MFLOPs) and the prior choice by position.
func latencyCost(cmd *cli.Command, prof string, space *models.Space, classes int, cfg *generator.Config) (models.CostModel, error) {
	opts := models.Options{Space: space, SE: false, Act: models.ReLU6, Classes: classes}
	pr, warn, err := profiles.LoadPredictorWarn(prof, opts, "", cmd.Bool("force"))
	if err != nil {
		return nil, fmt.Errorf("--profile: %w", err)
	}
	if warn != "" {
		fmt.Fprintln(os.Stderr, warn)
	}
	lo, hi := pr.Range(1)
	if !cmd.IsSet("low") {
		cfg.Low = lo + 0.1*(hi-lo)
	}
	if !cmd.IsSet("high") {
		cfg.High = lo + 0.9*(hi-lo)
	}
	if !(cfg.High > cfg.Low) || cfg.Low < lo || cfg.High > hi {
		return nil, fmt.Errorf("--low/--high %g..%g ms: want a range inside the profile's %.3f..%.3f ms", cfg.Low, cfg.High, lo, hi)
	}
	span := cfg.High - cfg.Low
	cfg.TrainStep = span / 36
	if !cmd.IsSet("eval-step") {
		cfg.EvalStep = span / 18
	}
	cfg.HCScale = (space.HighFLOPs - space.LowFLOPs) / span
	cfg.PriorByPosition = true
	cm := profiles.NewCostModel(pr)
	fmt.Fprintf(os.Stderr, "latency cost model of %s: targets %.3f..%.3f ms (cost model vs predictor: mean %.2f%%, max %.2f%% over %d random architectures)\n",
		prof, cfg.Low, cfg.High, cm.Fit.ModelMeanAbsPct, cm.Fit.ModelMaxAbsPct, cm.Fit.Models)
	return cm, nil
}
