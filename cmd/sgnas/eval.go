package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v3"
	"golang.org/x/term"

	"github.com/sgnas/sgnas/data"
	"github.com/sgnas/sgnas/evaluate"
	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/infer"
)

func init() { register(evalCommand()) }

// evalCommand returns a fresh "eval" command.
func evalCommand() *cli.Command {
	return &cli.Command{
		Name:      "eval",
		Usage:     "top-1/top-5 accuracy of an ONNX model in ONNX Runtime on a dataset (its evaluation preprocessing)",
		ArgsUsage: "MODEL.onnx",
		Description: "Folder datasets (DIR/<class>/*.jpg; label i = the i-th class folder in sorted order) are resized\n" +
			"(shorter side to size/0.875, bicubic), centre-cropped to the model's input size and normalised\n" +
			"with the ImageNet mean/std; CIFAR and Fashion-MNIST use the normalisation of training.\n" +
			"When MODEL sits in an sgnas-export output with a manifest.json entry for it, the result is\n" +
			"recorded in that entry.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "dataset: fashion-mnist, synthetic, or a directory (see --dataset)", Required: true},
			&cli.StringFlag{Name: "dataset", Usage: "dataset kind: " + strings.Join(data.Kinds, ", ") + " (default: from --data: fashion-mnist/synthetic by name, cifar10 for a CIFAR-10 binary folder, cifar100 for CIFAR-100's, else folder)"},
			&cli.StringFlag{Name: "split", Value: "test", Usage: "split of cifar10/cifar100/fashion-mnist/synthetic"},
			&cli.IntFlag{Name: "batch", Value: evaluate.DefaultBatch, Usage: "images per ONNX Runtime run"},
			&cli.IntFlag{Name: "threads", Usage: "intra-op threads (0: ONNX Runtime's default)"},
			&cli.IntFlag{Name: "limit", Usage: "evaluate the first N images only (0: all)"},
			&cli.BoolFlag{Name: "no-manifest", Usage: "do not record the result in the manifest.json beside the model"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
		}, ortFlags()...),
		Action: evalAction,
	}
}

// datasetKind guesses the kind of --data when --dataset is not given.
func datasetKind(dir string) string {
	switch strings.ToLower(dir) {
	case "fashion-mnist", "synthetic":
		return strings.ToLower(dir)
	}
	for kind, file := range map[string]string{"cifar10": "test_batch.bin", "cifar100": "test.bin"} {
		for _, sub := range []string{"", "cifar-10-batches-bin", "cifar-100-binary"} {
			if st, err := os.Stat(dir + "/" + sub + "/" + file); err == nil && st.Mode().IsRegular() {
				return kind
			}
		}
	}
	return "folder"
}

func evalAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() != 1 {
		return errors.New("eval: want exactly one MODEL.onnx argument")
	}
	if err := initORT(cmd.String("ep"), cmd.String("ort-lib")); err != nil {
		return err
	}
	dir, kind := cmd.String("data"), cmd.String("dataset")
	if kind == "" {
		kind = datasetKind(dir)
	}
	if kind == "fashion-mnist" && dir == "fashion-mnist" || kind == "synthetic" {
		dir = ""
	}
	cfg := evaluate.Config{
		Model: cmd.Args().First(), Dataset: kind, Data: dir, Split: cmd.String("split"),
		Batch: int(cmd.Int("batch")), Limit: int(cmd.Int("limit")), Threads: int(cmd.Int("threads")),
		EP: cmd.String("ep"), DeviceID: int(cmd.Int("device-id")), OptLevel: int(cmd.Int("opt-level")),
	}
	if cfg.Batch < 1 {
		return fmt.Errorf("eval: --batch %d: want a positive batch size", cfg.Batch)
	}
	if cfg.OptLevel == 0 {
		cfg.OptLevel = -1 // flag 0 means none; Config 0 means all
	}
	if term.IsTerminal(int(os.Stderr.Fd())) && !cmd.Bool("json") {
		var bar *progressbar.ProgressBar
		cfg.Progress = func(done, total int) {
			if bar == nil {
				bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionSetDescription("eval"), progressbar.OptionClearOnFinish(),
					progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("img"),
					progressbar.OptionThrottle(100_000_000))
			}
			bar.Set(done)
			if done >= total {
				bar.Finish()
			}
		}
	}
	res, err := evaluate.Run(ctx, cfg)
	if err != nil {
		return err
	}
	var rec *evaluate.Record
	if !cmd.Bool("no-manifest") {
		rec, err = evaluate.RecordInManifest(cfg.Model, export.Evaluation{
			Dataset: res.Dataset, Data: res.Data, Split: res.Split, Images: res.Images, Limited: cfg.Limit > 0,
			Top1: res.Top1, Top5: res.Top5, EP: res.EP, ORT: infer.Version(),
			Date: time.Now().UTC().Format(time.RFC3339),
		})
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
	}
	w := cmd.Root().Writer
	if w == nil {
		w = os.Stdout
	}
	if cmd.Bool("json") {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	split := ""
	if res.Split != "" {
		split = " (" + res.Split + ")"
	}
	fmt.Fprintf(w, "%s on %s%s: %d images, %d classes, input %dx%dx%d\n", cfg.Model, res.Dataset, split, res.Images, res.Classes, res.Input[0], res.Input[1], res.Input[2])
	fmt.Fprintf(w, "  top-1  %.2f%% (%d)\n  top-5  %.2f%% (%d)\n", 100*res.Top1, res.Correct1, 100*res.Top5, res.Correct5)
	fmt.Fprintf(w, "  speed  %.1f images/s (batch %d, EP %s, %.2f s, of which ONNX Runtime %.2f s)\n", res.ImagesPerSec, res.Batch, res.EP, res.Seconds, res.InferSeconds)
	if rec != nil && rec.Updated {
		fmt.Fprintf(w, "  recorded in %s\n", rec.Manifest)
	} else if rec != nil && rec.Note != "" {
		fmt.Fprintf(w, "  %s\n", rec.Note)
	}
	return nil
}
