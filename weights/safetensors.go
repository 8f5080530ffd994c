package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/sgnas/sgnas/internal/fsutil"
)

// Safetensors file format (https://github.com/huggingface/safetensors), as
// read and written here:
//
//	header length  uint64, little-endian
//	header         JSON object: "name": {"dtype": "F32", "shape": [..],
//	               "data_offsets": [begin, end]} per tensor, and optionally
//	               "__metadata__": {"key": "value", ...} (strings only)
//	data           the tensors' little-endian bytes; offsets are relative to
//	               the start of the data, tensors are contiguous, do not
//	               overlap and cover the data completely
//
// Reading checks all of that before allocating: the header length against
// the file size and MaxSafetensorsHeader, every shape's element count
// against its byte range (overflow-safe), and the offsets for gaps,
// overlaps and the end of the file. F32, F16, BF16 and F64 tensors become
// float32 state-dict tensors; I64, I32, I16, I8, U8 and BOOL tensors (e.g.
// BN num_batches_tracked) become integer tensors; other dtypes are refused.
// Writing produces F32 (and I64 for integer tensors) in sorted name order,
// the header padded with spaces to a multiple of 8 bytes.

// MaxSafetensorsHeader bounds the JSON header a safetensors file may have
// (the reference implementation's limit).
const MaxSafetensorsHeader = 100_000_000

// FormatPTH and FormatSafetensors name the formats LoadFile detects.
const (
	FormatPTH         = "pth"
	FormatSafetensors = "safetensors"
)

// dtypeSize maps the safetensors dtypes sgnas reads to their element size.
var dtypeSize = map[string]int{
	"F64": 8, "F32": 4, "F16": 2, "BF16": 2,
	"I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
}

// stEntry is one tensor of a safetensors header.
type stEntry struct {
	name   string
	dtype  string
	shape  []int
	begin  int64
	end    int64
	numel  int64
	isInts bool
}

// IsSafetensors reports whether head (the first bytes of a file, at least
// 9) looks like a safetensors file: a plausible header length followed by
// the header's opening brace.
func IsSafetensors(head []byte) bool {
	if len(head) < 9 {
		return false
	}
	n := binary.LittleEndian.Uint64(head)
	return n >= 2 && n <= MaxSafetensorsHeader && head[8] == '{'
}

// LoadSafetensors reads a safetensors file (see the format above) into a
// Checkpoint (Format "safetensors", Metadata from "__metadata__"; "module."
// prefixes stripped as for .pth files). It does not check for NaN or
// infinities: callers that use the weights call CheckFinite.
func LoadSafetensors(path string) (*Checkpoint, error) {
	f, st, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return decodeSafetensors(path, f, st.Size())
}

// decodeSafetensors reads a safetensors file of size bytes from r; name
// names it in errors.
func decodeSafetensors(name string, r io.ReaderAt, size int64) (*Checkpoint, error) {
	bad := func(format string, a ...any) error {
		msg := fmt.Sprintf(format, a...)
		if len(msg) > 300 { // names and shapes come from the file
			msg = msg[:300] + "..."
		}
		return fmt.Errorf("load %s: safetensors: %s", name, strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(msg))
	}
	var pre [8]byte
	if size < 8 {
		return nil, bad("truncated: %d bytes, shorter than the 8-byte header length", size)
	}
	if _, err := r.ReadAt(pre[:], 0); err != nil {
		return nil, bad("read header length: %v", err)
	}
	hl := binary.LittleEndian.Uint64(pre[:])
	if hl > MaxSafetensorsHeader {
		return nil, bad("header length %d exceeds the limit of %d bytes", hl, MaxSafetensorsHeader)
	}
	if hl > uint64(size-8) {
		return nil, bad("truncated: header of %d bytes does not fit in the %d-byte file", hl, size)
	}
	hdr := make([]byte, hl)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, bad("read header: %v", err)
	}
	dataSize := size - 8 - int64(hl)
	entries, meta, err := parseSafetensorsHeader(hdr, dataSize)
	if err != nil {
		return nil, bad("%v", err)
	}
	ck := &Checkpoint{Path: name, Format: FormatSafetensors, Metadata: meta,
		Tensors: StateDict{}, Ints: map[string]*IntTensor{}}
	var buf []byte
	for _, e := range entries {
		n := e.end - e.begin
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		b := buf[:n]
		if _, err := r.ReadAt(b, 8+int64(hl)+e.begin); err != nil {
			return nil, bad("tensor %s: read data: %v", e.name, err)
		}
		key := strings.TrimPrefix(e.name, "module.")
		if _, dup := ck.Tensors[key]; dup {
			return nil, bad("tensor %s appears twice (with and without the module. prefix)", key)
		}
		if _, dup := ck.Ints[key]; dup {
			return nil, bad("tensor %s appears twice (with and without the module. prefix)", key)
		}
		if e.isInts {
			ck.Ints[key] = &IntTensor{Shape: e.shape, Data: decodeInts(e.dtype, b, int(e.numel))}
		} else {
			t := &Tensor{Shape: e.shape, Data: make([]float32, e.numel)}
			decodeFloats(e.dtype, b, t.Data)
			ck.Tensors[key] = t
		}
	}
	if len(ck.Tensors) == 0 {
		return nil, bad("no floating-point tensors")
	}
	return ck, nil
}

// parseSafetensorsHeader decodes and checks a header against the size of
// the data that follows it; entries come back in offset order.
func parseSafetensorsHeader(hdr []byte, dataSize int64) ([]stEntry, map[string]string, error) {
	if t := bytes.TrimLeft(hdr, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, nil, errors.New("header is not a JSON object")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		return nil, nil, fmt.Errorf("header: %v", err)
	}
	var meta map[string]string
	entries := make([]stEntry, 0, len(raw))
	for name, v := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				return nil, nil, fmt.Errorf("__metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		if name == "" {
			return nil, nil, errors.New("tensor with an empty name")
		}
		var ti struct {
			DType   *string  `json:"dtype"`
			Shape   *[]int64 `json:"shape"`
			Offsets *[]int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(v, &ti); err != nil {
			return nil, nil, fmt.Errorf("tensor %s: %v", name, err)
		}
		if ti.DType == nil || ti.Shape == nil || ti.Offsets == nil {
			return nil, nil, fmt.Errorf("tensor %s: want dtype, shape and data_offsets", name)
		}
		es, ok := dtypeSize[*ti.DType]
		if !ok {
			return nil, nil, fmt.Errorf("tensor %s: dtype %s is not supported (sgnas reads F32, F16, BF16, F64 and integer tensors)", name, *ti.DType)
		}
		if len(*ti.Offsets) != 2 {
			return nil, nil, fmt.Errorf("tensor %s: data_offsets %v: want [begin, end]", name, *ti.Offsets)
		}
		e := stEntry{name: name, dtype: *ti.DType, begin: (*ti.Offsets)[0], end: (*ti.Offsets)[1],
			isInts: *ti.DType != "F64" && *ti.DType != "F32" && *ti.DType != "F16" && *ti.DType != "BF16"}
		if e.begin < 0 || e.end < e.begin || e.end > dataSize {
			return nil, nil, fmt.Errorf("tensor %s: data_offsets [%d, %d] outside the %d data bytes", name, e.begin, e.end, dataSize)
		}
		// The element count may not exceed what the byte range holds; every
		// partial product is checked before it can overflow.
		limit := (e.end - e.begin) / int64(es)
		e.numel = 1
		for _, d := range *ti.Shape {
			if d < 0 || d > math.MaxInt32 {
				return nil, nil, fmt.Errorf("tensor %s: shape %v has an invalid dimension", name, *ti.Shape)
			}
			if d != 0 && e.numel > limit/d {
				return nil, nil, fmt.Errorf("tensor %s: shape %v holds more values than its %d bytes", name, *ti.Shape, e.end-e.begin)
			}
			e.numel *= d
			e.shape = append(e.shape, int(d))
		}
		if e.shape == nil {
			e.shape = []int{}
		}
		if e.numel*int64(es) != e.end-e.begin {
			return nil, nil, fmt.Errorf("tensor %s: shape %v of %s needs %d bytes, data_offsets give %d", name, e.shape, e.dtype, e.numel*int64(es), e.end-e.begin)
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].begin != entries[j].begin {
			return entries[i].begin < entries[j].begin
		}
		return entries[i].end < entries[j].end
	})
	var at int64
	for _, e := range entries {
		if e.begin != at {
			if e.begin < at {
				return nil, nil, fmt.Errorf("tensor %s: data_offsets [%d, %d] overlap another tensor", e.name, e.begin, e.end)
			}
			return nil, nil, fmt.Errorf("tensor %s: data_offsets [%d, %d] leave a gap after byte %d", e.name, e.begin, e.end, at)
		}
		at = e.end
	}
	if at != dataSize {
		return nil, nil, fmt.Errorf("tensors cover %d of the %d data bytes", at, dataSize)
	}
	return entries, meta, nil
}

// decodeFloats converts little-endian values of a float dtype to float32.
func decodeFloats(dtype string, b []byte, dst []float32) {
	switch dtype {
	case "F32":
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case "F64":
		for i := range dst {
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	case "BF16":
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
	case "F16":
		for i := range dst {
			dst[i] = halfToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	}
}

// decodeInts converts little-endian values of an integer dtype to int64.
func decodeInts(dtype string, b []byte, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		switch dtype {
		case "I64":
			out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		case "I32":
			out[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		case "I16":
			out[i] = int64(int16(binary.LittleEndian.Uint16(b[2*i:])))
		case "I8":
			out[i] = int64(int8(b[i]))
		case "U8", "BOOL":
			out[i] = int64(b[i])
		}
	}
	return out
}

// halfToFloat32 converts an IEEE 754 binary16 value to float32 (exactly:
// every half value is a float32 value).
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
	case frac == 0: // zero
		return math.Float32frombits(sign)
	}
	// subnormal half: frac · 2^-24
	v := float32(frac) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

// WriteSafetensors writes sd (as F32) and ints (as I64, may be nil) to path
// atomically in the safetensors format, tensors in sorted name order, with
// meta (may be nil) as the header's "__metadata__".
func WriteSafetensors(path string, sd StateDict, ints map[string]*IntTensor, meta map[string]string) error {
	type item struct {
		name string
		f    *Tensor
		i    *IntTensor
	}
	var items []item
	for n, t := range sd {
		if len(t.Data) != t.Numel() {
			return fmt.Errorf("write %s: tensor %s has %d values for shape %v", path, n, len(t.Data), t.Shape)
		}
		items = append(items, item{name: n, f: t})
	}
	for n, t := range ints {
		if _, dup := sd[n]; dup {
			return fmt.Errorf("write %s: tensor %s is both a float and an integer tensor", path, n)
		}
		if len(t.Data) != numel(t.Shape) {
			return fmt.Errorf("write %s: tensor %s has %d values for shape %v", path, n, len(t.Data), t.Shape)
		}
		items = append(items, item{name: n, i: t})
	}
	sort.Slice(items, func(a, b int) bool { return items[a].name < items[b].name })

	var hdr bytes.Buffer
	hdr.WriteByte('{')
	if len(meta) > 0 {
		m, err := json.Marshal(meta) // keys sorted
		if err != nil {
			return fmt.Errorf("write %s: metadata: %w", path, err)
		}
		hdr.WriteString(`"__metadata__":`)
		hdr.Write(m)
	}
	var off int64
	for k, it := range items {
		if k > 0 || len(meta) > 0 {
			hdr.WriteByte(',')
		}
		name, _ := json.Marshal(it.name)
		dtype, shape, size := "F32", []int(nil), int64(0)
		if it.f != nil {
			shape, size = it.f.Shape, 4*int64(len(it.f.Data))
		} else {
			dtype, shape, size = "I64", it.i.Shape, 8*int64(len(it.i.Data))
		}
		if shape == nil {
			shape = []int{}
		}
		sh, _ := json.Marshal(shape)
		fmt.Fprintf(&hdr, `%s:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}`, name, dtype, sh, off, off+size)
		off += size
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	err := fsutil.WriteAtomic(path, 0o644, func(w io.Writer) error {
		var pre [8]byte
		binary.LittleEndian.PutUint64(pre[:], uint64(hdr.Len()))
		if _, err := w.Write(pre[:]); err != nil {
			return err
		}
		if _, err := w.Write(hdr.Bytes()); err != nil {
			return err
		}
		buf := make([]byte, 0, 1<<16)
		flush := func(force bool) error {
			if len(buf) > 0 && (force || len(buf) >= cap(buf)-8) {
				_, err := w.Write(buf)
				buf = buf[:0]
				return err
			}
			return nil
		}
		for _, it := range items {
			if it.f != nil {
				for _, v := range it.f.Data {
					buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
					if err := flush(false); err != nil {
						return err
					}
				}
			} else {
				for _, v := range it.i.Data {
					buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
					if err := flush(false); err != nil {
						return err
					}
				}
			}
		}
		return flush(true)
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
