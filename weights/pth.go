package weights

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// LoadOptions selects which state dict of a checkpoint LoadPTHWith returns.
type LoadOptions struct {
	// Key names the top-level entry holding the state dict ("model",
	// "state_dict", "state_dict_ema", ...). Empty: automatic — the top level
	// itself when it holds tensors, otherwise the first present of
	// "state_dict_ema", "state_dict", "model".
	Key string
	// NoEMA makes the automatic choice skip "state_dict_ema".
	NoEMA bool
}

// Checkpoint is the result of importing a .pth file.
type Checkpoint struct {
	Path string
	// Key is the top-level entry the state dict came from ("" = top level).
	Key string
	// Tensors holds every floating-point tensor, converted to float32, with
	// "module." prefixes stripped.
	Tensors StateDict
	// Ints holds integer and boolean tensors (e.g. "*.num_batches_tracked").
	Ints map[string]*IntTensor
	// TopKeys lists the string keys of the top-level dict, in file order.
	TopKeys []string
	// Format is the file's format: FormatPTH or FormatSafetensors.
	Format string
	// Metadata holds a safetensors file's "__metadata__" (nil for .pth).
	Metadata map[string]string
}

// autoKeys is the preference order of state-dict entries in a checkpoint dict.
var autoKeys = []string{"state_dict_ema", "state_dict", "model"}

// LoadPTH reads the floating-point tensors of a PyTorch checkpoint saved with
// torch.save (zip format of torch ≥ 1.6 or the legacy format), choosing the
// state dict automatically (see LoadOptions). Pickles are decoded with
// github.com/nlpodyssey/gopickle; the container formats are read by this
// package so that truncated storages are detected (gopickle ignores short
// reads in the legacy format).
func LoadPTH(path string) (StateDict, error) {
	ck, err := LoadPTHWith(path, LoadOptions{})
	if err != nil {
		return nil, err
	}
	return ck.Tensors, nil
}

// LoadPTHWith is LoadPTH with options, returning integer tensors too.
func LoadPTHWith(path string, opts LoadOptions) (*Checkpoint, error) {
	obj, err := unpicklePTH(path)
	if err != nil {
		return nil, oneLine(err)
	}
	ck, err := checkpointFrom(path, obj, opts)
	return ck, oneLine(err)
}

// checkpointFrom picks the state dict of a decoded checkpoint and converts
// its tensors.
func checkpointFrom(path string, obj interface{}, opts LoadOptions) (*Checkpoint, error) {
	ck := &Checkpoint{Path: path, Format: FormatPTH, Tensors: StateDict{}, Ints: map[string]*IntTensor{}}
	entries, err := dictEntries(obj)
	if err != nil {
		return nil, fmt.Errorf("load %s: top level: %w", path, err)
	}
	for _, e := range entries {
		ck.TopKeys = append(ck.TopKeys, e.key)
	}
	sd := entries
	switch {
	case opts.Key != "":
		v, ok := lookup(entries, opts.Key)
		if !ok {
			return nil, fmt.Errorf("load %s: no top-level entry %q (have %s)", path, opts.Key, clipText(strings.Join(ck.TopKeys, ", ")))
		}
		if sd, err = dictEntries(v); err != nil {
			return nil, fmt.Errorf("load %s: entry %q: %w", path, opts.Key, err)
		}
		ck.Key = opts.Key
	case !hasTensor(entries):
		found := false
		for _, k := range autoKeys {
			if k == "state_dict_ema" && opts.NoEMA {
				continue
			}
			if v, ok := lookup(entries, k); ok {
				if sd, err = dictEntries(v); err != nil {
					return nil, fmt.Errorf("load %s: entry %q: %w", path, k, err)
				}
				ck.Key = k
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("load %s: no tensors at top level and none of the entries %s (have %s)",
				path, strings.Join(autoKeys, ", "), clipText(strings.Join(ck.TopKeys, ", ")))
		}
	}
	// Views may share a storage (tied weights), but the copies made here
	// must stay within a small multiple of the storages read from the file:
	// a pickle repeating a view of one big storage must not multiply it.
	seen := map[pytorch.StorageInterface]bool{}
	var stored, copied int64
	for _, e := range sd {
		name := strings.TrimPrefix(e.key, "module.")
		t, ok := e.value.(*pytorch.Tensor)
		if !ok {
			continue // non-tensor metadata (e.g. _metadata) is ignored
		}
		if !seen[t.Source] {
			seen[t.Source] = true
			stored += int64(storageLen(t.Source))
		}
		if err := convert(ck, name, t); err != nil {
			return nil, fmt.Errorf("load %s: tensor %s: %w", path, clipText(name), err)
		}
		if ts, ok := ck.Tensors[name]; ok {
			copied += int64(len(ts.Data))
		} else if it, ok := ck.Ints[name]; ok {
			copied += int64(len(it.Data))
		}
		if copied > 4*stored+1<<20 {
			return nil, fmt.Errorf("load %s: tensors up to %s hold %d elements, more than 4× the %d elements of their storages (repeated views; corrupt checkpoint)", path, clipText(name), copied, stored)
		}
	}
	if len(ck.Tensors) == 0 {
		return nil, fmt.Errorf("load %s: state dict %q holds no floating-point tensors", path, ck.Key)
	}
	return ck, nil
}

// unpicklePTH decodes the checkpoint at path (zip or legacy format). Refused
// globals are reported as such; gopickle panics, which the pre-scan should
// make impossible, become one error line ("internal error").
func unpicklePTH(path string) (obj interface{}, err error) {
	f, st, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if bytes.HasPrefix(head, []byte("PK\x03\x04")) {
		return decodePTH(path, f, st.Size(), nil)
	}
	// A legacy checkpoint starts with a pickle (PROTO 2..5) of the magic
	// number; anything else is refused before the whole file is read.
	if len(head) < 2 || head[0] != 0x80 || head[1] < 2 || head[1] > 5 {
		if st.Size() == 0 {
			return nil, fmt.Errorf("load %s: empty file, not a PyTorch checkpoint", path)
		}
		return nil, fmt.Errorf("load %s: not a PyTorch checkpoint (neither a zip archive nor a legacy pickle; starts with %q)", path, head)
	}
	data, err := io.ReadAll(io.NewSectionReader(f, 0, st.Size()))
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return decodePTH(path, nil, 0, data)
}

// decodePTH decodes a zip checkpoint from ra (size bytes) or, when ra is nil,
// a legacy checkpoint held in data. name is the file named in errors.
func decodePTH(name string, ra io.ReaderAt, size int64, data []byte) (obj interface{}, err error) {
	isZip := ra != nil
	if !isZip && len(data) == 0 {
		return nil, fmt.Errorf("load %s: empty file, not a PyTorch checkpoint", name)
	}
	if !isZip && bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		isZip, ra, size = true, bytes.NewReader(data), int64(len(data))
	}
	defer func() {
		if r := recover(); r != nil {
			obj, err = nil, fmt.Errorf("load %s: internal error decoding the checkpoint (please report): %v", name, r)
		}
	}()
	if isZip {
		obj, err = loadZip(ra, size)
	} else {
		obj, err = loadLegacy(data)
	}
	if err != nil {
		var refused *RefusedError
		if errors.As(err, &refused) {
			return nil, fmt.Errorf("load %s: refusing to load: %s", name, refused.Reason)
		}
		kind := "legacy-format"
		if isZip {
			kind = "zip-format"
		}
		if isZip || len(data) < 2 || data[0] == 0x80 {
			return nil, fmt.Errorf("load %s: truncated or corrupt %s PyTorch checkpoint: %w", name, kind, err)
		}
		return nil, fmt.Errorf("load %s: not a PyTorch checkpoint: %w", name, err)
	}
	return obj, nil
}

type entry struct {
	key   string
	value interface{}
}

// dictEntries lists the string-keyed entries of a pickled dict in order.
func dictEntries(v interface{}) ([]entry, error) {
	var out []entry
	switch d := v.(type) {
	case *types.OrderedDict:
		for el := d.List.Front(); el != nil; el = el.Next() {
			e := el.Value.(*types.OrderedDictEntry)
			if k, ok := e.Key.(string); ok {
				out = append(out, entry{k, e.Value})
			}
		}
	case *types.Dict:
		for _, e := range *d {
			if k, ok := e.Key.(string); ok {
				out = append(out, entry{k, e.Value})
			}
		}
	default:
		return nil, fmt.Errorf("expected a dict, got %T", v)
	}
	return out, nil
}

func lookup(es []entry, key string) (interface{}, bool) {
	for _, e := range es {
		if e.key == key {
			return e.value, true
		}
	}
	return nil, false
}

func hasTensor(es []entry) bool {
	for _, e := range es {
		if _, ok := e.value.(*pytorch.Tensor); ok {
			return true
		}
	}
	return false
}

// storageLen is the element count of a decoded storage.
func storageLen(s pytorch.StorageInterface) int {
	switch s := s.(type) {
	case *pytorch.FloatStorage:
		return len(s.Data)
	case *pytorch.DoubleStorage:
		return len(s.Data)
	case *pytorch.HalfStorage:
		return len(s.Data)
	case *pytorch.BFloat16Storage:
		return len(s.Data)
	case *pytorch.LongStorage:
		return len(s.Data)
	case *pytorch.IntStorage:
		return len(s.Data)
	case *pytorch.ShortStorage:
		return len(s.Data)
	case *pytorch.CharStorage:
		return len(s.Data)
	case *pytorch.ByteStorage:
		return len(s.Data)
	case *pytorch.BoolStorage:
		return len(s.Data)
	}
	return 0
}

// convert copies t (respecting offset and strides) into ck.Tensors or ck.Ints.
func convert(ck *Checkpoint, name string, t *pytorch.Tensor) error {
	shape := append([]int{}, t.Size...)
	var f32 func(i int) float32
	var i64 func(i int) int64
	var storageLen int
	switch s := t.Source.(type) {
	case *pytorch.FloatStorage:
		storageLen, f32 = len(s.Data), func(i int) float32 { return s.Data[i] }
	case *pytorch.DoubleStorage:
		storageLen, f32 = len(s.Data), func(i int) float32 { return float32(s.Data[i]) }
	case *pytorch.HalfStorage:
		storageLen, f32 = len(s.Data), func(i int) float32 { return s.Data[i] }
	case *pytorch.BFloat16Storage:
		storageLen, f32 = len(s.Data), func(i int) float32 { return s.Data[i] }
	case *pytorch.LongStorage:
		storageLen, i64 = len(s.Data), func(i int) int64 { return s.Data[i] }
	case *pytorch.IntStorage:
		storageLen, i64 = len(s.Data), func(i int) int64 { return int64(s.Data[i]) }
	case *pytorch.ShortStorage:
		storageLen, i64 = len(s.Data), func(i int) int64 { return int64(s.Data[i]) }
	case *pytorch.CharStorage:
		storageLen, i64 = len(s.Data), func(i int) int64 { return int64(s.Data[i]) }
	case *pytorch.ByteStorage:
		storageLen, i64 = len(s.Data), func(i int) int64 { return int64(s.Data[i]) }
	case *pytorch.BoolStorage:
		storageLen, i64 = len(s.Data), func(i int) int64 {
			if s.Data[i] {
				return 1
			}
			return 0
		}
	default:
		return fmt.Errorf("unsupported storage type %T", t.Source)
	}
	if len(t.Stride) != len(shape) {
		return fmt.Errorf("stride %v does not match shape %v", clipInts(t.Stride), clipInts(shape))
	}
	// Element offsets in row-major order of the logical shape. A view never
	// has more elements than its storage (checked first), so memory stays
	// bounded by the bytes of the file.
	idx, err := offsets(shape, t.Stride, t.StorageOffset, storageLen)
	if err != nil {
		return err
	}
	n := len(idx)
	if f32 != nil {
		out := &Tensor{Shape: shape, Data: make([]float32, n)}
		for i, o := range idx {
			out.Data[i] = f32(o)
		}
		ck.Tensors[name] = out
		return nil
	}
	out := &IntTensor{Shape: shape, Data: make([]int64, n)}
	for i, o := range idx {
		out.Data[i] = i64(o)
	}
	ck.Ints[name] = out
	return nil
}

// offsets returns, for each element in row-major order of shape, its index
// into the storage, after checking the view: non-negative sizes, strides and
// offset, at most as many elements as the storage holds (checkpoints hold no
// broadcast views), and every index inside the storage.
func offsets(shape, stride []int, base, storageLen int) ([]int, error) {
	for d, s := range shape {
		if s < 0 {
			return nil, fmt.Errorf("negative size %d in shape %v", s, clipInts(shape))
		}
		if stride[d] < 0 {
			return nil, fmt.Errorf("negative stride %v", clipInts(stride))
		}
	}
	if hasZero(shape) {
		return []int{}, nil
	}
	n := 1
	for _, s := range shape {
		if n > storageLen/s {
			return nil, fmt.Errorf("view of shape %v has more elements than its storage of %d (broadcast or corrupt view)", clipInts(shape), storageLen)
		}
		n *= s
	}
	if base < 0 || base >= storageLen {
		return nil, fmt.Errorf("storage offset %d outside the storage of %d elements", base, storageLen)
	}
	maxOff := base
	for d, s := range shape {
		// s-1 < storageLen here; a stride ≥ storageLen over a dim of 2+ is out
		// of range on its own, and checking it first avoids overflow.
		if s > 1 && stride[d] >= storageLen {
			return nil, fmt.Errorf("view (offset %d, shape %v, stride %v) exceeds storage of %d elements", base, clipInts(shape), clipInts(stride), storageLen)
		}
		maxOff += (s - 1) * stride[d]
		if maxOff >= storageLen {
			return nil, fmt.Errorf("view (offset %d, shape %v, stride %v) exceeds storage of %d elements", base, clipInts(shape), clipInts(stride), storageLen)
		}
	}
	out := make([]int, n)
	pos := make([]int, len(shape))
	off := base
	for i := 0; i < n; i++ {
		out[i] = off
		for d := len(shape) - 1; d >= 0; d-- {
			pos[d]++
			off += stride[d]
			if pos[d] < shape[d] {
				break
			}
			off -= pos[d] * stride[d]
			pos[d] = 0
		}
	}
	return out, nil
}

func hasZero(shape []int) bool {
	for _, s := range shape {
		if s == 0 {
			return true
		}
	}
	return false
}

// clipInts formats a shape or stride for an error, eliding long ones.
func clipInts(v []int) string {
	if len(v) > 8 {
		return fmt.Sprintf("%v… (%d dims)", v[:8], len(v))
	}
	return fmt.Sprint(v)
}

// checkpointFromBytes is LoadPTHWith on a file's contents (tests, fuzzing).
func checkpointFromBytes(name string, data []byte, opts LoadOptions) (*Checkpoint, error) {
	obj, err := decodePTH(name, nil, 0, data)
	if err != nil {
		return nil, oneLine(err)
	}
	ck, err := checkpointFrom(name, obj, opts)
	return ck, oneLine(err)
}
