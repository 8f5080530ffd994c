package supernet

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"sort"

	"github.com/sgnas/sgnas/internal/fsutil"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/weights"
)

// Checkpoint file format (version 1), all integers little-endian:
//
//	"SGNASCKP"        8-byte magic
//	version           uint32 (1)
//	header length     uint64
//	header            JSON (checkpointHeader): config, counters, metrics,
//	                  and the tensor table (name, group, shape, offset)
//	tensor data       float32 values of every tensor, in table order
//	CRC-32 (IEEE)     uint32 over everything above
//
// A truncated or corrupted file fails with an error naming the file and
// what is wrong (bad magic, unsupported version, truncation, CRC mismatch).
const (
	checkpointMagic   = "SGNASCKP"
	CheckpointVersion = 1
	maxHeaderLen      = 64 << 20
)

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

type tensorEntry struct {
	Name   string `json:"name"`
	Group  string `json:"group"` // "model" or "optim"
	Shape  []int  `json:"shape"`
	Offset int64  `json:"offset"` // in float32 values from the start of the data
}

type checkpointHeader struct {
	Format  string        `json:"format"`
	State   *Checkpoint   `json:"state"`
	Tensors []tensorEntry `json:"tensors"`
}

// SaveCheckpoint writes ck to path atomically.
func SaveCheckpoint(path string, ck *Checkpoint) error {
	h := checkpointHeader{Format: "sgnas-supernet-checkpoint", State: ck}
	var off int64
	add := func(group string, sd weights.StateDict) {
		for _, n := range sd.Names() {
			t := sd[n]
			if len(t.Data) != t.Numel() {
				panic(fmt.Sprintf("checkpoint tensor %s: %d values for shape %v", n, len(t.Data), t.Shape))
			}
			h.Tensors = append(h.Tensors, tensorEntry{Name: n, Group: group, Shape: t.Shape, Offset: off})
			off += int64(len(t.Data))
		}
	}
	add("model", ck.Model)
	add("optim", ck.Optim)
	hdr, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	err = fsutil.WriteAtomic(path, 0o644, func(w io.Writer) error {
		crc := crc32.NewIEEE()
		mw := io.MultiWriter(w, crc)
		var pre [8 + 4 + 8]byte
		copy(pre[:], checkpointMagic)
		binary.LittleEndian.PutUint32(pre[8:], CheckpointVersion)
		binary.LittleEndian.PutUint64(pre[12:], uint64(len(hdr)))
		if _, err := mw.Write(pre[:]); err != nil {
			return err
		}
		if _, err := mw.Write(hdr); err != nil {
			return err
		}
		buf := make([]byte, 0, 1<<16)
		for _, te := range h.Tensors {
			sd := ck.Model
			if te.Group == "optim" {
				sd = ck.Optim
			}
			for _, v := range sd[te.Name].Data {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
				if len(buf) == cap(buf) {
					if _, err := mw.Write(buf); err != nil {
						return err
					}
					buf = buf[:0]
				}
			}
		}
		if _, err := mw.Write(buf); err != nil {
			return err
		}
		var tail [4]byte
		binary.LittleEndian.PutUint32(tail[:], crc.Sum32())
		_, err := w.Write(tail[:])
		return err
	})
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	return nil
}

// ErrCorrupt is wrapped by every error about a malformed checkpoint file.
var ErrCorrupt = errors.New("corrupt checkpoint")

// ReadCheckpoint reads a checkpoint written by SaveCheckpoint.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("read checkpoint %s: %w: %s", path, ErrCorrupt, fmt.Sprintf(format, a...))
	}
	if len(raw) < 20 || string(raw[:8]) != checkpointMagic {
		if len(raw) >= 8 && string(raw[:8]) != checkpointMagic {
			return nil, bad("not an sgnas supernet checkpoint (bad magic %q)", raw[:8])
		}
		return nil, bad("truncated: %d bytes", len(raw))
	}
	if v := binary.LittleEndian.Uint32(raw[8:]); v != CheckpointVersion {
		return nil, fmt.Errorf("read checkpoint %s: format version %d, this sgnas reads version %d", path, v, CheckpointVersion)
	}
	hl := binary.LittleEndian.Uint64(raw[12:])
	if hl > maxHeaderLen || 20+hl+4 > uint64(len(raw)) {
		return nil, bad("truncated: header of %d bytes does not fit in %d bytes", hl, len(raw))
	}
	var h checkpointHeader
	if err := json.Unmarshal(raw[20:20+hl], &h); err != nil {
		return nil, bad("header: %v", err)
	}
	if h.State == nil {
		return nil, bad("header has no state")
	}
	var total int64
	for _, te := range h.Tensors {
		n := int64(1)
		for _, d := range te.Shape {
			if d < 0 {
				return nil, bad("tensor %s has shape %v", te.Name, te.Shape)
			}
			n *= int64(d)
		}
		if te.Offset != total {
			return nil, bad("tensor %s at offset %d, expected %d", te.Name, te.Offset, total)
		}
		total += n
	}
	data := raw[20+hl:]
	if want := total*4 + 4; int64(len(data)) != want {
		if int64(len(data)) < want {
			return nil, bad("truncated: %d data bytes, expected %d", len(data), want)
		}
		return nil, bad("%d trailing bytes", int64(len(data))-want)
	}
	if got, want := crc32.ChecksumIEEE(raw[:len(raw)-4]), binary.LittleEndian.Uint32(raw[len(raw)-4:]); got != want {
		return nil, bad("CRC mismatch (stored %08x, computed %08x): the file is damaged", want, got)
	}
	ck := h.State
	ck.Model, ck.Optim = weights.StateDict{}, weights.StateDict{}
	for _, te := range h.Tensors {
		t := weights.NewTensor(te.Shape...)
		b := data[te.Offset*4:]
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		switch te.Group {
		case "model":
			ck.Model[te.Name] = t
		case "optim":
			ck.Optim[te.Name] = t
		default:
			return nil, bad("tensor %s in unknown group %q", te.Name, te.Group)
		}
	}
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

// historyJSONL renders the history as JSON lines.
func historyJSONL(h []EpochMetrics) []byte {
	var b bytes.Buffer
	for _, m := range h {
		line, _ := json.Marshal(m)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}
