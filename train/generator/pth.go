package generator

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"

	gen "github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/internal/fsutil"
	"github.com/sgnas/sgnas/weights"
)

// PTHEntry is one top-level entry of a checkpoint written by SavePTH.
// Exactly one field is used: Tensors (saved as an OrderedDict of float32
// tensors, names in sorted order unless Order is given), Scalars (an
// OrderedDict of 0-d float64 tensors, read back as float32 by
// weights.LoadPTH) or Float (a Python float).
type PTHEntry struct {
	Key     string
	Tensors weights.StateDict
	Order   []string
	Scalars map[string]float64
	Float   *float64
}

// SavePTH writes a checkpoint that torch.load reads (PyTorch's zip format:
// "archive/data.pkl", a protocol-2 pickle of a dict, with every tensor's
// storage in "archive/data/<key>", stored uncompressed) and that
// weights.LoadPTH reads. The write is atomic.
//
// A generator checkpoint is {"model": state_dict, "optimzier": Adam state,
// "meta": {...}} like the authors' best_avg.pth (whose optimiser key is
// spelled "optimzier"), so generator.Load, `sgnas generate` and torch all accept it.
func SavePTH(path string, entries []PTHEntry) error {
	return fsutil.WriteAtomic(path, 0o644, func(w io.Writer) error {
		return writePTH(w, entries)
	})
}

type pickler struct {
	buf      bytes.Buffer
	storages [][]byte
}

func (p *pickler) op(b ...byte) { p.buf.Write(b) }

func (p *pickler) str(s string) {
	p.op('X')
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(s)))
	p.buf.Write(n[:])
	p.buf.WriteString(s)
}

func (p *pickler) int(v int64) {
	if v >= math.MinInt32 && v <= math.MaxInt32 {
		p.op('J')
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], uint32(int32(v)))
		p.buf.Write(n[:])
		return
	}
	// LONG1: little-endian two's complement of 8 bytes.
	p.op(0x8a, 8)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(v))
	p.buf.Write(n[:])
}

func (p *pickler) float(v float64) {
	p.op('G')
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], math.Float64bits(v))
	p.buf.Write(n[:])
}

func (p *pickler) global(module, name string) {
	p.op('c')
	p.buf.WriteString(module + "\n" + name + "\n")
}

func (p *pickler) tuple(vals []int) {
	p.op('(')
	for _, v := range vals {
		p.int(int64(v))
	}
	p.op('t')
}

func (p *pickler) orderedDict() {
	p.global("collections", "OrderedDict")
	p.op(')', 'R')
}

// tensor pickles torch._utils._rebuild_tensor_v2(storage, 0, shape,
// contiguous strides, False, OrderedDict()) with a new storage record.
func (p *pickler) tensor(class string, shape []int, data []byte, numel int) {
	key := strconv.Itoa(len(p.storages))
	p.storages = append(p.storages, data)
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op('(')
	p.op('(')
	p.str("storage")
	p.global("torch", class)
	p.str(key)
	p.str("cpu")
	p.int(int64(numel))
	p.op('t', 'Q')
	p.int(0)
	p.tuple(shape)
	stride := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		stride[i] = s
		s *= shape[i]
	}
	p.tuple(stride)
	p.op(0x89) // NEWFALSE: requires_grad
	p.orderedDict()
	p.op('t', 'R')
}

func writePTH(w io.Writer, entries []PTHEntry) error {
	p := &pickler{}
	p.op(0x80, 2, '}')
	p.op('(')
	for _, e := range entries {
		p.str(e.Key)
		switch {
		case e.Tensors != nil:
			names := e.Order
			if names == nil {
				names = e.Tensors.Names()
			}
			p.orderedDict()
			p.op('(')
			for _, n := range names {
				t, ok := e.Tensors[n]
				if !ok {
					return fmt.Errorf("save checkpoint: entry %q: tensor %s missing", e.Key, n)
				}
				p.str(n)
				b := make([]byte, 4*len(t.Data))
				for i, v := range t.Data {
					binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
				}
				p.tensor("FloatStorage", t.Shape, b, len(t.Data))
			}
			p.op('u')
		case e.Scalars != nil:
			names := make([]string, 0, len(e.Scalars))
			for n := range e.Scalars {
				names = append(names, n)
			}
			sort.Strings(names)
			p.orderedDict()
			p.op('(')
			for _, n := range names {
				p.str(n)
				b := make([]byte, 8)
				binary.LittleEndian.PutUint64(b, math.Float64bits(e.Scalars[n]))
				p.tensor("DoubleStorage", nil, b, 1)
			}
			p.op('u')
		case e.Float != nil:
			p.float(*e.Float)
		default:
			return fmt.Errorf("save checkpoint: entry %q is empty", e.Key)
		}
	}
	p.op('u', '.')

	zw := zip.NewWriter(w)
	put := func(name string, data []byte) error {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: "archive/" + name, Method: zip.Store})
		if err != nil {
			return err
		}
		_, err = f.Write(data)
		return err
	}
	if err := put("data.pkl", p.buf.Bytes()); err != nil {
		return err
	}
	for i, s := range p.storages {
		if err := put("data/"+strconv.Itoa(i), s); err != nil {
			return err
		}
	}
	if err := put("version", []byte("3\n")); err != nil {
		return err
	}
	if err := put("byteorder", []byte("little")); err != nil {
		return err
	}
	return zw.Close()
}

// tensorOrder is the generator's tensor names in module order (the order of
// the authors' state dict).
func tensorOrder() []string {
	var names []string
	for _, s := range gen.TensorNames() {
		names = append(names, s.Name)
	}
	return names
}

// readMeta reads the scalars of a checkpoint's "meta" entry (as float32).
func readMeta(path string) (map[string]float64, error) {
	ck, err := weights.LoadPTHWith(path, weights.LoadOptions{Key: "meta"})
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for n, t := range ck.Tensors {
		if len(t.Data) != 1 {
			return nil, fmt.Errorf("read %s: meta.%s has %d values, want 1", path, n, len(t.Data))
		}
		out[n] = float64(t.Data[0])
	}
	return out, nil
}
