// Package supernetckpt is a trained supernet as a deployable artefact: the
// supernet checkpoint file (SGNASCKP: header, tensor table, CRC; written by
// `sgnas search supernet`) and the slicing of an architecture's standalone
// weights out of the supernet's state dict. It depends only on models and
// weights, so export tools read supernets without the training engine
// (train/supernet keeps the training state and uses this package for the file).
package supernetckpt

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"

	"github.com/sgnas/sgnas/internal/fsutil"
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
	checkpointMagic = "SGNASCKP"
	Version         = 1
	maxHeaderLen    = 64 << 20
)

// File is the content of a checkpoint file: the run's state (a JSON object:
// config, counters, metrics; decoded by its owner, e.g. train/supernet) and
// the tensors, in two groups.
type File struct {
	State json.RawMessage
	// Model holds the supernet's parameters and BN running statistics,
	// Optim the optimizer's buffers.
	Model weights.StateDict
	Optim weights.StateDict
}

type tensorEntry struct {
	Name   string `json:"name"`
	Group  string `json:"group"` // "model" or "optim"
	Shape  []int  `json:"shape"`
	Offset int64  `json:"offset"` // in float32 values from the start of the data
}

type checkpointHeader struct {
	Format  string          `json:"format"`
	State   json.RawMessage `json:"state"`
	Tensors []tensorEntry   `json:"tensors"`
}

// Write writes a checkpoint to path atomically: state (marshalled as JSON
// into the header) and the model and optimizer tensors.
func Write(path string, state any, model, optim weights.StateDict) error {
	st, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	h := checkpointHeader{Format: "sgnas-supernet-checkpoint", State: st}
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
	add("model", model)
	add("optim", optim)
	hdr, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", path, err)
	}
	err = fsutil.WriteAtomic(path, 0o644, func(w io.Writer) error {
		crc := crc32.NewIEEE()
		mw := io.MultiWriter(w, crc)
		var pre [8 + 4 + 8]byte
		copy(pre[:], checkpointMagic)
		binary.LittleEndian.PutUint32(pre[8:], Version)
		binary.LittleEndian.PutUint64(pre[12:], uint64(len(hdr)))
		if _, err := mw.Write(pre[:]); err != nil {
			return err
		}
		if _, err := mw.Write(hdr); err != nil {
			return err
		}
		buf := make([]byte, 0, 1<<16)
		for _, te := range h.Tensors {
			sd := model
			if te.Group == "optim" {
				sd = optim
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

// Read reads a checkpoint written by Write.
func Read(path string) (*File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	return decode(path, raw)
}

// decode parses the bytes of a checkpoint file; path names it in errors.
// Every size the header claims is checked against len(raw) before anything
// is allocated.
func decode(path string, raw []byte) (*File, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("read checkpoint %s: %w: %s", path, ErrCorrupt, fmt.Sprintf(format, a...))
	}
	if len(raw) < 20 || string(raw[:8]) != checkpointMagic {
		if len(raw) >= 8 && string(raw[:8]) != checkpointMagic {
			return nil, bad("not an sgnas supernet checkpoint (bad magic %q)", raw[:8])
		}
		return nil, bad("truncated: %d bytes", len(raw))
	}
	if v := binary.LittleEndian.Uint32(raw[8:]); v != Version {
		return nil, fmt.Errorf("read checkpoint %s: format version %d, this sgnas reads version %d", path, v, Version)
	}
	hl := binary.LittleEndian.Uint64(raw[12:])
	if hl > maxHeaderLen || 20+hl+4 > uint64(len(raw)) {
		return nil, bad("truncated: header of %d bytes does not fit in %d bytes", hl, len(raw))
	}
	var h checkpointHeader
	if err := json.Unmarshal(raw[20:20+hl], &h); err != nil {
		return nil, bad("header: %v", err)
	}
	if len(h.State) == 0 || string(h.State) == "null" {
		return nil, bad("header has no state")
	}
	var total int64
	limit := int64(len(raw)) / 4 // no tensor holds more values than the file has bytes for
	for _, te := range h.Tensors {
		n := int64(1)
		for _, d := range te.Shape {
			if d < 0 {
				return nil, bad("tensor %s has shape %v", te.Name, te.Shape)
			}
			if d != 0 && n > limit/int64(d) {
				return nil, bad("tensor %s of shape %v holds more values than the %d-byte file", te.Name, te.Shape, len(raw))
			}
			n *= int64(d)
		}
		if n > limit-total {
			return nil, bad("tensors up to %s hold more values than the %d-byte file", te.Name, len(raw))
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
	ck := &File{State: h.State, Model: weights.StateDict{}, Optim: weights.StateDict{}}
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
