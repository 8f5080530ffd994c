// Package evaluate measures the accuracy of an ONNX model in ONNX Runtime
// on a dataset of package data: top-1 and top-5 over the dataset's
// evaluation transform (the deterministic preprocessing the training path
// uses for validation), so a model trained by sgnas evaluates as it was
// validated. It imports data and infer, not the training engine.
package evaluate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/sgnas/sgnas/data"
	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/tensor"
)

// DefaultBatch is the batch size when Config.Batch is 0.
const DefaultBatch = 50

// MaxBatch bounds Config.Batch, and MaxBatchElements the values of one
// input batch (256 MB; the loader holds a few batches ahead).
const (
	MaxBatch         = 4096
	MaxBatchElements = 1 << 26
)

// Config is one evaluation.
type Config struct {
	Model string // .onnx file
	// Dataset is a data.Open kind (cifar10, cifar100, fashion-mnist,
	// folder, synthetic) and Data its directory.
	Dataset, Data string
	// Split is the split of cifar/fashion-mnist/synthetic datasets
	// (default "test"); folder datasets use Data as given.
	Split string
	// Batch is the number of images per ONNX Runtime run (default
	// DefaultBatch); a model with a fixed batch dimension uses its own.
	Batch int
	// Limit evaluates the first Limit images only (0: all).
	Limit int
	// Threads is ONNX Runtime's intra-op thread count (0: its default).
	Threads int
	// EP, DeviceID and OptLevel select the execution provider and graph
	// optimisation level (infer.SessionOptions; OptLevel 0 means 99, all,
	// and -1 means none).
	EP       string
	DeviceID int
	OptLevel int
	// Workers prepare images in the background (0: GOMAXPROCS).
	Workers int
	// KeepPredictions fills Result.Predictions.
	KeepPredictions bool
	// Progress, when set, is called after every batch with the images done
	// and the total.
	Progress func(done, total int)
}

// Result is the accuracy of a model on a dataset.
type Result struct {
	Model   string `json:"model"`
	Dataset string `json:"dataset"`
	Data    string `json:"data,omitempty"`
	Split   string `json:"split,omitempty"`
	// Images evaluated; Correct1/Correct5 of them had the label first /
	// among the five largest outputs (among all when fewer than 5 classes).
	Images   int     `json:"images"`
	Correct1 int     `json:"correct_top1"`
	Correct5 int     `json:"correct_top5"`
	Top1     float64 `json:"top1"` // fraction in [0, 1]
	Top5     float64 `json:"top5"`
	Classes  int     `json:"classes"` // model outputs
	Input    []int   `json:"input"`   // C, H, W
	Batch    int     `json:"batch"`
	Threads  int     `json:"threads"`
	EP       string  `json:"ep"`
	// Seconds is the wall time of the evaluation loop (preprocessing runs
	// concurrently with inference); ImagesPerSec = Images / Seconds.
	// InferSeconds is the time spent in ONNX Runtime runs.
	Seconds      float64      `json:"seconds"`
	ImagesPerSec float64      `json:"images_per_s"`
	InferSeconds float64      `json:"infer_seconds"`
	Predictions  []Prediction `json:"predictions,omitempty"`
}

// Prediction is one image's outcome.
type Prediction struct {
	Index int  `json:"index"` // dataset index
	Label int  `json:"label"`
	Top1  int  `json:"top1"` // the class with the largest output
	InTop bool `json:"in_top5"`
}

// Run evaluates cfg.Model on the dataset. Every problem — a missing file,
// a model whose input does not fit the dataset's images, a label the model
// has no output for, a non-finite output — is one error line naming it.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Batch < 1 || cfg.Batch > MaxBatch {
		return nil, fmt.Errorf("evaluate: batch %d: want 1..%d", cfg.Batch, MaxBatch)
	}
	if cfg.Limit < 0 {
		return nil, fmt.Errorf("evaluate: limit %d: want 0 (all) or a positive count", cfg.Limit)
	}
	if cfg.Threads < 0 {
		return nil, fmt.Errorf("evaluate: threads %d: want 0 (ONNX Runtime's default) or more", cfg.Threads)
	}
	if cfg.Split == "" {
		cfg.Split = "test"
	}
	switch cfg.OptLevel {
	case 0:
		cfg.OptLevel = 99
	case -1:
		cfg.OptLevel = 0
	}
	ep := strings.ToLower(cfg.EP)
	if ep == "" {
		ep = "cpu"
	}
	sess, err := infer.NewSession(cfg.Model, infer.SessionOptions{EP: ep, DeviceID: cfg.DeviceID,
		IntraOpThreads: cfg.Threads, OptLevel: cfg.OptLevel, NoSpin: true})
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	c, h, w, fixedBatch, classes, err := modelShape(sess)
	if err != nil {
		return nil, err
	}
	if fixedBatch > 0 {
		cfg.Batch = fixedBatch
	}
	if int64(cfg.Batch)*int64(c*h*w) > MaxBatchElements {
		return nil, fmt.Errorf("evaluate: batch %d of %d×%d×%d images is %d MB of input; use a smaller batch", cfg.Batch, c, h, w, int64(cfg.Batch)*int64(c*h*w)*4>>20)
	}
	// Folder and synthetic images are made at the model's size (the
	// evaluation transform of a folder resizes to size/0.875 and crops).
	ds, err := data.Open(cfg.Dataset, cfg.Data, data.Options{Split: cfg.Split, Size: h})
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	if dc, dh, dw := ds.Shape(); dc != c || dh != h || dw != w {
		return nil, fmt.Errorf("evaluate: model %s takes %d×%d×%d images, dataset %s gives %d×%d×%d (a model of another search space?)",
			cfg.Model, c, h, w, cfg.Dataset, dc, dh, dw)
	}
	if ds.Classes() > classes {
		return nil, fmt.Errorf("evaluate: dataset %s has %d classes, model %s outputs %d: labels %d..%d have no output",
			cfg.Dataset, ds.Classes(), cfg.Model, classes, classes, ds.Classes()-1)
	}
	n := ds.Len()
	if cfg.Limit > 0 && cfg.Limit < n {
		n = cfg.Limit
	}
	if n == 0 {
		return nil, fmt.Errorf("evaluate: dataset %s is empty", cfg.Dataset)
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	ld, err := data.NewLoader(ds, idx, data.LoaderOptions{BatchSize: cfg.Batch, Workers: cfg.Workers})
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	res := &Result{Model: cfg.Model, Dataset: cfg.Dataset, Data: cfg.Data, Classes: classes,
		Input: []int{c, h, w}, Batch: cfg.Batch, Threads: cfg.Threads, EP: ep}
	if !strings.EqualFold(cfg.Dataset, "folder") {
		res.Split = cfg.Split
	}
	k := min(5, classes)
	start := time.Now()
	var inferTime time.Duration
	it := ld.Epoch(ctx, 0, 0)
	defer it.Close()
	for {
		b, err := it.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		x := tensor.FromData(b.X, b.N, b.C, b.H, b.W)
		if fixedBatch > 0 && b.N < fixedBatch { // pad the last batch
			x = tensor.New(fixedBatch, b.C, b.H, b.W)
			copy(x.Data, b.X)
		}
		t0 := time.Now()
		out, err := sess.Run(ctx, x)
		inferTime += time.Since(t0)
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		logits := out[0]
		for j := 0; j < b.N; j++ {
			label := b.Y[j]
			if label < 0 || label >= classes {
				return nil, fmt.Errorf("evaluate: image %d of %s has label %d, model %s outputs classes 0..%d", b.Indices[j], cfg.Dataset, label, cfg.Model, classes-1)
			}
			row := logits.Data[j*classes : (j+1)*classes]
			top, rank, err := rankOf(row, label)
			if err != nil {
				return nil, fmt.Errorf("evaluate: model %s on image %d: %w", cfg.Model, b.Indices[j], err)
			}
			if rank == 0 {
				res.Correct1++
			}
			if rank < k {
				res.Correct5++
			}
			if cfg.KeepPredictions {
				res.Predictions = append(res.Predictions, Prediction{Index: b.Indices[j], Label: label, Top1: top, InTop: rank < k})
			}
		}
		res.Images += b.N
		if cfg.Progress != nil {
			cfg.Progress(res.Images, n)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	res.InferSeconds = inferTime.Seconds()
	res.ImagesPerSec = float64(res.Images) / res.Seconds
	res.Top1 = float64(res.Correct1) / float64(res.Images)
	res.Top5 = float64(res.Correct5) / float64(res.Images)
	return res, nil
}

// rankOf returns the index of the largest output and the rank of label's
// output: the number of outputs larger than it, plus those equal to it at
// a smaller index (the order of a stable descending sort). A non-finite
// output is an error.
func rankOf(row []float32, label int) (top, rank int, err error) {
	v := row[label]
	for i, x := range row {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return 0, 0, fmt.Errorf("output %d is %v (not finite)", i, x)
		}
		if x > row[top] {
			top = i
		}
		if x > v || (x == v && i < label) {
			rank++
		}
	}
	return top, rank, nil
}

// modelShape checks that the model takes one NCHW image batch and returns
// one [N, classes] output, and returns C, H, W, the fixed batch size (0 when
// the dimension is dynamic) and the class count.
func modelShape(s *infer.Session) (c, h, w, batch, classes int, err error) {
	in, out := s.Inputs(), s.Outputs()
	if len(in) != 1 || len(in[0].Shape) != 4 || in[0].Shape[1] <= 0 || in[0].Shape[2] <= 0 || in[0].Shape[3] <= 0 {
		return 0, 0, 0, 0, 0, fmt.Errorf("evaluate: model %s: want one input of shape [N, C, H, W] with fixed C, H, W, got %s", s.Path(), describe(in))
	}
	if len(out) < 1 || len(out[0].Shape) != 2 || out[0].Shape[1] <= 0 {
		return 0, 0, 0, 0, 0, fmt.Errorf("evaluate: model %s: want a first output of shape [N, classes], got %s", s.Path(), describe(out))
	}
	sh := in[0].Shape
	if sh[0] > 0 {
		batch = int(sh[0])
	}
	return int(sh[1]), int(sh[2]), int(sh[3]), batch, int(out[0].Shape[1]), nil
}

func describe(ts []infer.TensorInfo) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, fmt.Sprintf("%s %v", t.Name, t.Shape))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
