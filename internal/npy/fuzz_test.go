package npy

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// rawHeader builds a version-1 .npy preamble with the given dict text.
func rawHeader(dict string) []byte {
	b := append([]byte("\x93NUMPY\x01\x00"), 0, 0)
	binary.LittleEndian.PutUint16(b[8:], uint16(len(dict)))
	return append(b, dict...)
}

// onlyReader hides the concrete type of a reader (no size known up front).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestHostileNPY: each reported hostile header gives one clear error, in
// bounded memory, whatever kind of reader it comes through.
func TestHostileNPY(t *testing.T) {
	cases := []struct{ name, dict, want string }{
		{"shape product overflows", "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }\n", "too large"},
		{"8.6e9 floats from a tiny file", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4300000000), }\n", "too large"},
		{"1e9 floats from a tiny file", "{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 1000, 1000), }\n", "truncated data: 8 of 4000000000 bytes for shape 1000x1000x1000"},
		{"negative dim", "{'descr': '<f4', 'fortran_order': False, 'shape': (3, -1), }\n", `dimension "-1"`},
		{"huge dim", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n", "not a non-negative integer"},
	}
	for _, c := range cases {
		b := append(rawHeader(c.dict), 1, 2, 3, 4, 5, 6, 7, 8)
		_, err := Decode(bytes.NewReader(b))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
		// Through a reader of unknown length: a truncation error, no big allocation.
		var before, after runtimeMem
		before.read()
		_, err = Decode(onlyReader{bytes.NewReader(b)})
		after.read()
		if err == nil {
			t.Errorf("%s (plain reader): accepted", c.name)
		}
		if d := after.total - before.total; d > 64<<20 {
			t.Errorf("%s (plain reader): allocated %d MB", c.name, d>>20)
		}
		p := filepath.Join(t.TempDir(), "x.npy")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(p); err == nil || !strings.HasPrefix(err.Error(), "read npy "+p+": ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: file error %v should be one line naming the file", c.name, err)
		}
	}
	big := rawHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 1000, 1000), }\n")
	_, err := Decode(onlyReader{bytes.NewReader(big)})
	if err == nil || !strings.Contains(err.Error(), "truncated data: 0 of 4000000000 bytes") {
		t.Errorf("plain reader: %v", err)
	}
}

// FuzzDecode: Decode never panics; what it accepts re-encodes and decodes to
// the same shape and bits.
func FuzzDecode(f *testing.F) {
	for _, a := range []*Array{New(), New(0), New(3), New(2, 3), New(1, 2, 1, 2)} {
		for i := range a.Data {
			a.Data[i] = float32(i) - 1.5
		}
		var b bytes.Buffer
		if err := Encode(&b, a); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Add(rawHeader("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }\n"))
	f.Add(rawHeader("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }\n"))
	f.Add(rawHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }\n"))
	f.Add([]byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Decode(bytes.NewReader(data))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if len(a.Data) != a.Numel() {
			t.Fatalf("%d values for shape %v", len(a.Data), a.Shape)
		}
		var b bytes.Buffer
		if err := Encode(&b, a); err != nil {
			t.Fatal(err)
		}
		c, err := Decode(&b)
		if err != nil {
			t.Fatalf("re-encoded array does not decode: %v", err)
		}
		if FormatShape(c.Shape) != FormatShape(a.Shape) || len(c.Data) != len(a.Data) {
			t.Fatalf("shape %v became %v", a.Shape, c.Shape)
		}
		for i := range a.Data {
			if math.Float32bits(a.Data[i]) != math.Float32bits(c.Data[i]) {
				t.Fatalf("value %d changed", i)
			}
		}
	})
}

type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	m.total = s.TotalAlloc
}
