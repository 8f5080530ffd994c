package supernet

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/supernetckpt"
	"github.com/sgnas/sgnas/weights"
)

// The checkpoint file format (SGNASCKP: header, tensor table, CRC) is
// package supernetckpt; this file holds the training state it carries.

// CheckpointVersion is the checkpoint file format version.
const CheckpointVersion = supernetckpt.Version

// ErrCorrupt is wrapped by every error about a malformed checkpoint file.
var ErrCorrupt = supernetckpt.ErrCorrupt

// CheckpointFile is the checkpoint's file name inside a run directory.
const CheckpointFile = "supernet.ckpt"

// LogFile is the per-epoch metrics file (one JSON object per line).
const LogFile = "log.jsonl"

// EpochMetrics are the metrics of one completed epoch.
type EpochMetrics struct {
	Epoch     int     `json:"epoch"`      // 0-based
	Iteration int     `json:"iteration"`  // optimizer steps taken after the epoch
	LR        float64 `json:"lr"`         // learning rate of the epoch's last step
	TrainLoss float64 `json:"train_loss"` // mean label-smoothed CE over batches and paths
	TrainAcc  float64 `json:"train_acc"`  // top-1 over batches and paths
	ValLoss   float64 `json:"val_loss"`   // random paths, eval-mode BN, plain label-smoothed CE
	ValAcc    float64 `json:"val_acc"`
	Seconds   float64 `json:"seconds"` // wall time of training + validation of the epoch
	ImagesSec float64 `json:"images_per_s"`
}

// Accum holds the running sums of an epoch in progress.
type Accum struct {
	LossSum float64 `json:"loss_sum"` // Σ over paths of the batch-mean loss
	Correct int     `json:"correct"`
	Seen    int     `json:"seen"` // samples × paths
	Paths   int     `json:"paths"`
	Seconds float64 `json:"seconds"`
	Images  int     `json:"images"`
}

// Checkpoint is the resumable state of a supernet training run.
type Checkpoint struct {
	Config Config `json:"config"`
	// Epoch is the epoch in progress (0-based); BatchInEpoch the optimizer
	// steps already taken in it (0 at an epoch boundary; equal to the
	// number of batches when training of the epoch finished but its
	// validation did not). Iteration counts all optimizer steps.
	Epoch        int            `json:"epoch"`
	BatchInEpoch int            `json:"batch_in_epoch"`
	Iteration    int            `json:"iteration"`
	Partial      Accum          `json:"partial"`
	History      []EpochMetrics `json:"history"`
	Classes      int            `json:"classes"`
	// Model holds the supernet's parameters and BN running statistics,
	// Optim the SGD momentum buffers ("<param>.momentum_buffer").
	Model weights.StateDict `json:"-"`
	Optim weights.StateDict `json:"-"`
}

// SaveCheckpoint writes ck to path atomically.
func SaveCheckpoint(path string, ck *Checkpoint) error {
	return supernetckpt.Write(path, ck, ck.Model, ck.Optim)
}

// ReadCheckpoint reads a checkpoint written by SaveCheckpoint.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	f, err := supernetckpt.Read(path)
	if err != nil {
		return nil, err
	}
	ck := &Checkpoint{}
	if err := json.Unmarshal(f.State, ck); err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w: state: %v", path, ErrCorrupt, err)
	}
	if err := models.ValidateClasses(ck.Classes); err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w: %v", path, ErrCorrupt, err)
	}
	if err := f.Model.CheckFinite(); err != nil {
		return nil, fmt.Errorf("read checkpoint %s: %w", path, err)
	}
	ck.Model, ck.Optim = f.Model, f.Optim
	return ck, nil
}

// LoadCheckpoint reads a supernet checkpoint (RUN/supernet.ckpt written by
// `sgnas search supernet`) and returns the supernet with its trained
// weights and BN statistics, and the checkpoint (config, counters,
// metrics, optimizer state).
func LoadCheckpoint(path string) (*Supernet, *Checkpoint, error) {
	ck, err := ReadCheckpoint(path)
	if err != nil {
		return nil, nil, err
	}
	space, err := models.SpaceByName(ck.Config.Space)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: config.space: %w", path, err)
	}
	s := New(space, ck.Classes, ck.Config.Seed)
	extra, err := s.LoadStateDict(ck.Model)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return nil, nil, fmt.Errorf("checkpoint %s: unexpected tensors %v", path, extra)
	}
	return s, ck, nil
}

// slicer returns the deployable view of the supernet's current weights
// (tensors shared, not copied) that slices standalone networks.
func (s *Supernet) slicer() *supernetckpt.Supernet {
	return &supernetckpt.Supernet{Space: s.Space, Classes: s.Classes, Weights: weights.StateDict(s.Store.StateDict())}
}

// Standalone returns the weights of the standalone network of arch (SE off,
// ReLU6, the supernet's classes) sliced from the supernet: see
// supernetckpt.Supernet.Standalone.
func (s *Supernet) Standalone(arch *models.Arch) (weights.StateDict, error) {
	return s.slicer().Standalone(arch)
}

// StandalonePath slices the path p out of the supernet (see
// supernetckpt.Supernet.StandalonePath): in eval mode the standalone network
// computes exactly what ForwardPath computes for p.
func (s *Supernet) StandalonePath(p *Path) (*models.Arch, weights.StateDict, error) {
	return s.slicer().StandalonePath(p)
}

// NetOptions are the network options of a supernet slice: no SE, ReLU6,
// the supernet's space and classes.
func (s *Supernet) NetOptions() models.Options {
	return (&supernetckpt.Supernet{Space: s.Space, Classes: s.Classes}).NetOptions()
}
