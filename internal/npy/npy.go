// Package npy reads and writes NumPy .npy files holding little-endian float32
// arrays in C order, the tensor exchange format of sgnas infer and export.
package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/sgnas/sgnas/internal/fsutil"

	"github.com/sgnas/sgnas/tensor"
)

// Array is the project's host tensor (package tensor), as read and written.
type Array = tensor.Tensor

// New returns a zero-filled array of the given shape.
func New(shape ...int) *Array { return tensor.New(shape...) }

// FormatShape formats a shape as "2x3x224x224" ("scalar" for rank 0);
// negative (dynamic) dims are written as "?".
func FormatShape[D ~int | ~int64](shape []D) string {
	if len(shape) == 0 {
		return "scalar"
	}
	parts := make([]string, len(shape))
	for i, d := range shape {
		if d < 0 {
			parts[i] = "?"
		} else {
			parts[i] = strconv.FormatInt(int64(d), 10)
		}
	}
	return strings.Join(parts, "x")
}

var magic = []byte("\x93NUMPY")

var (
	reDescr    = regexp.MustCompile(`['"]descr['"]\s*:\s*['"]([^'"]*)['"]`)
	reDescrAny = regexp.MustCompile(`['"]descr['"]\s*:\s*([^,]*)`)
	reFortran  = regexp.MustCompile(`['"]fortran_order['"]\s*:\s*(True|False)`)
	reShape    = regexp.MustCompile(`['"]shape['"]\s*:\s*\(([^)]*)\)`)
)

// Limits on what a .npy header may claim. NumPy itself refuses headers over
// 10000 bytes by default; MaxElements (2^31 floats, 8 GiB) is far beyond any
// tensor sgnas exchanges.
const (
	maxHeader   = 1 << 20
	maxRank     = 64
	MaxElements = 1 << 31
)

// clip shortens text quoted from a header for an error message.
func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// readN reads exactly n bytes from r, allocating only as data arrives.
func readN(r io.Reader, n int64) ([]byte, error) {
	var buf bytes.Buffer
	if n <= 1<<20 {
		buf.Grow(int(n))
	}
	got, err := io.CopyN(&buf, r, n)
	if got < n && err == nil {
		err = io.ErrUnexpectedEOF
	}
	return buf.Bytes(), err
}

// Decode reads one .npy array from r. Only little-endian float32 ('<f4') in C
// order is accepted; anything else is refused with the dtype/order found.
// When r is a *bytes.Reader, *strings.Reader or *os.File, the size the header
// claims is checked against the bytes left before any data is read; for other
// readers memory grows only with the data actually read.
func Decode(r io.Reader) (*Array, error) {
	size := int64(-1) // bytes left in r, when known
	switch v := r.(type) {
	case *bytes.Reader:
		size = int64(v.Len())
	case *strings.Reader:
		size = int64(v.Len())
	case *os.File:
		if st, err := v.Stat(); err == nil && st.Mode().IsRegular() {
			if off, err := v.Seek(0, io.SeekCurrent); err == nil {
				size = st.Size() - off
			}
		}
	}
	br := bufio.NewReader(r)
	var pos int64 // bytes of r the magic, version and header take
	pre := make([]byte, 8)
	if _, err := io.ReadFull(br, pre); err != nil {
		return nil, errors.New("not a .npy file: too short for the magic string")
	}
	if !bytes.Equal(pre[:6], magic) {
		return nil, fmt.Errorf("not a .npy file: bad magic %q (want \"\\x93NUMPY\")", pre[:6])
	}
	major := pre[6]
	var hlen int
	switch major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, errors.New("truncated .npy header")
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, errors.New("truncated .npy header")
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
		if hlen > maxHeader {
			return nil, fmt.Errorf("implausible .npy header length %d (at most %d)", hlen, maxHeader)
		}
	default:
		return nil, fmt.Errorf("unsupported .npy format version %d.%d (want 1.x, 2.x or 3.x)", major, pre[7])
	}
	hdr, err := readN(br, int64(hlen))
	if err != nil {
		return nil, fmt.Errorf("truncated .npy header: %d of %d bytes", len(hdr), hlen)
	}
	pos = int64(len(pre)) + int64(hlen) + 2
	if major != 1 {
		pos += 2
	}
	h := string(hdr)
	m := reDescr.FindStringSubmatch(h)
	if m == nil {
		if a := reDescrAny.FindStringSubmatch(h); a != nil {
			return nil, fmt.Errorf("unsupported dtype %s (structured); want '<f4' (little-endian float32)", strings.TrimSpace(a[1]))
		}
		return nil, fmt.Errorf("bad .npy header (no descr): %q", strings.TrimSpace(h))
	}
	if descr := m[1]; descr != "<f4" {
		return nil, fmt.Errorf("unsupported dtype '%s'%s; want '<f4' (little-endian float32; convert with a.astype('<f4'))", descr, dtypeHint(descr))
	}
	m = reFortran.FindStringSubmatch(h)
	if m == nil {
		return nil, fmt.Errorf("bad .npy header (no fortran_order): %q", strings.TrimSpace(h))
	}
	if m[1] == "True" {
		return nil, errors.New("unsupported memory order: fortran_order is True; want C order (save np.ascontiguousarray(a))")
	}
	m = reShape.FindStringSubmatch(h)
	if m == nil {
		return nil, fmt.Errorf("bad .npy header (no shape): %q", strings.TrimSpace(h))
	}
	shape := []int64{}
	n := int64(1)
	for _, f := range strings.Split(m[1], ",") {
		f = strings.TrimSuffix(strings.TrimSpace(f), "L")
		if f == "" {
			continue
		}
		d, err := strconv.ParseInt(f, 10, 64)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("bad .npy shape (%s): dimension %q is not a non-negative integer", clip(m[1]), clip(f))
		}
		if len(shape) == maxRank {
			return nil, fmt.Errorf("bad .npy shape (%s): more than %d dimensions", clip(m[1]), maxRank)
		}
		shape = append(shape, d)
		if d != 0 && n > MaxElements/d {
			return nil, fmt.Errorf("array shape (%s) too large: more than %d elements", clip(m[1]), int64(MaxElements))
		}
		n *= d
	}
	if n > MaxElements {
		return nil, fmt.Errorf("array shape %s too large: %d elements (at most %d)", FormatShape(shape), n, int64(MaxElements))
	}
	if size >= 0 && 4*n > size-pos {
		return nil, fmt.Errorf("truncated data: %d of %d bytes for shape %s (checked before reading)", max(size-pos, 0), 4*n, FormatShape(shape))
	}
	// Read what is there, growing the buffer with the data actually read:
	// a header claiming gigabytes over a tiny stream never allocates them.
	raw, err := readN(br, 4*n)
	if err != nil {
		return nil, fmt.Errorf("truncated data: %d of %d bytes for shape %s", len(raw), 4*n, FormatShape(shape))
	}
	dims := make([]int, len(shape))
	for i, d := range shape {
		dims[i] = int(d)
	}
	a := &Array{Shape: dims, Data: make([]float32, n)}
	for i := range a.Data {
		a.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return a, nil
}

func dtypeHint(d string) string {
	switch strings.TrimLeft(d, "<>|=") {
	case "f8":
		return " (float64)"
	case "f2":
		return " (float16)"
	case "i8":
		return " (int64)"
	case "i4":
		return " (int32)"
	case "u1":
		return " (uint8)"
	case "f4":
		if strings.HasPrefix(d, ">") {
			return " (big-endian float32)"
		}
	}
	return ""
}

// Encode writes a as a version 1.0 .npy file (2.0 if the header needs it).
func Encode(w io.Writer, a *Array) error {
	if len(a.Data) != a.Numel() {
		return fmt.Errorf("npy: %d values for shape %s (want %d)", len(a.Data), FormatShape(a.Shape), a.Numel())
	}
	var sb strings.Builder
	sb.WriteString("{'descr': '<f4', 'fortran_order': False, 'shape': (")
	for i, d := range a.Shape {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(d))
	}
	if len(a.Shape) == 1 {
		sb.WriteString(",")
	}
	sb.WriteString("), }")
	h := sb.String()
	major, pre := byte(1), 10
	if len(h)+1+pre > 65535 {
		major, pre = 2, 12
	}
	// Pad with spaces so data starts on a 64-byte boundary; end with '\n'.
	total := pre + len(h) + 1
	pad := (64 - total%64) % 64
	h += strings.Repeat(" ", pad) + "\n"
	buf := make([]byte, 0, pre+len(h)+4*len(a.Data))
	buf = append(buf, magic...)
	buf = append(buf, major, 0)
	if major == 1 {
		buf = binary.LittleEndian.AppendUint16(buf, uint16(len(h)))
	} else {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(h)))
	}
	buf = append(buf, h...)
	for _, v := range a.Data {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
	}
	_, err := w.Write(buf)
	return err
}

// Read reads a .npy file; errors name the file.
func Read(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("read npy %s: file does not exist", path)
		}
		return nil, fmt.Errorf("read npy %s: %w", path, err)
	}
	defer f.Close()
	a, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("read npy %s: %w", path, err)
	}
	return a, nil
}

// Write writes a to path atomically.
func Write(path string, a *Array) error {
	if err := fsutil.WriteAtomic(path, 0o644, func(w io.Writer) error { return Encode(w, a) }); err != nil {
		return fmt.Errorf("write npy: %w", err)
	}
	return nil
}
