package npy

import (
	"bytes"
	"encoding/binary"
	"github.com/sgnas/sgnas/internal/testutil"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func sharedDir(t *testing.T) string { return testutil.Shared(t) }

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, shape := range [][]int{{}, {5}, {2, 3}, {2, 0, 4}, {1, 3, 4, 4}} {
		a := New(shape...)
		for i := range a.Data {
			a.Data[i] = float32(i)*0.25 - 3
		}
		if len(a.Data) > 1 {
			a.Data[1] = float32(math.Inf(-1))
		}
		p := filepath.Join(dir, FormatShape(shape)+".npy")
		if err := Write(p, a); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(p)
		hl := int(binary.LittleEndian.Uint16(raw[8:10]))
		if (10+hl)%64 != 0 || raw[10+hl-1] != '\n' {
			t.Fatalf("%v: header not 64-byte aligned or not newline-terminated", shape)
		}
		b, err := Read(p)
		if err != nil {
			t.Fatal(err)
		}
		if FormatShape(b.Shape) != FormatShape(shape) || len(b.Shape) != len(shape) {
			t.Fatalf("shape %v -> %v", shape, b.Shape)
		}
		for i := range a.Data {
			if math.Float32bits(a.Data[i]) != math.Float32bits(b.Data[i]) {
				t.Fatalf("%v: element %d: %v != %v", shape, i, a.Data[i], b.Data[i])
			}
		}
	}
}

func header(descr, fortran, shape string, major byte) []byte {
	h := "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY")
	b.WriteByte(major)
	b.WriteByte(0)
	if major == 1 {
		binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	} else {
		binary.Write(&b, binary.LittleEndian, uint32(len(h)))
	}
	b.WriteString(h)
	return b.Bytes()
}

func TestVersion2And3(t *testing.T) {
	for _, v := range []byte{2, 3} {
		b := header("<f4", "False", "(2,)", v)
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(1.5))
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(-2))
		a, err := Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if len(a.Shape) != 1 || a.Shape[0] != 2 || a.Data[0] != 1.5 || a.Data[1] != -2 {
			t.Fatalf("v%d: got %+v", v, a)
		}
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	f64 := header("<f8", "False", "(2,)", 1)
	f64 = append(f64, make([]byte, 16)...)
	fort := header("<f4", "True", "(2, 2)", 1)
	fort = append(fort, make([]byte, 16)...)
	trunc := header("<f4", "False", "(2, 3)", 1)
	trunc = append(trunc, make([]byte, 10)...)
	cases := []struct {
		name string
		data []byte
		want []string
	}{
		{"f64.npy", f64, []string{"'<f8'", "float64", "'<f4'"}},
		{"big.npy", header(">f4", "False", "(1,)", 1), []string{"'>f4'", "big-endian"}},
		{"fortran.npy", fort, []string{"fortran_order is True", "C order"}},
		{"trunc.npy", trunc, []string{"truncated data", "10 of 24 bytes", "2x3"}},
		{"magic.npy", []byte("PK\x03\x04 this is a zip file"), []string{"bad magic"}},
		{"short.npy", []byte("\x93NU"), []string{"too short"}},
		{"struct.npy", []byte("\x93NUMPY\x01\x00\x40\x00{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }      \n"), []string{"structured"}},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name)
		os.WriteFile(p, c.data, 0o644)
		_, err := Read(p)
		if err == nil {
			t.Fatalf("%s: no error", c.name)
		}
		msg := err.Error()
		if !strings.Contains(msg, p) {
			t.Errorf("%s: error does not name the file: %v", c.name, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q does not contain %q", c.name, msg, w)
			}
		}
	}
	if _, err := Read(filepath.Join(dir, "nope.npy")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing file: %v", err)
	}
	if err := Write(filepath.Join(dir, "bad.npy"), &Array{Shape: []int{3}, Data: []float32{1}}); err == nil {
		t.Error("Write accepted data that does not match the shape")
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.npy")); err == nil {
		t.Error("failed Write left a file behind")
	}
}

func TestSharedFixtures(t *testing.T) {
	d := filepath.Join(sharedDir(t), "fixtures", "sgnas_c")
	in, err := Read(filepath.Join(d, "sgnas_c_input.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if FormatShape(in.Shape) != "2x3x224x224" || len(in.Data) != 2*3*224*224 {
		t.Fatalf("input shape %v", in.Shape)
	}
	lg, err := Read(filepath.Join(d, "sgnas_c_logits.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if FormatShape(lg.Shape) != "2x1000" {
		t.Fatalf("logits shape %v", lg.Shape)
	}
	for _, v := range lg.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatal("non-finite logit")
		}
	}
}

// TestNumpyCrossCheck reads a file written by numpy and lets numpy read one
// written here. Skipped when /usr/bin/python3 has no numpy.
func TestNumpyCrossCheck(t *testing.T) {
	py := testutil.Python
	testutil.RequirePython(t, "numpy")
	dir := t.TempDir()
	fromPy := filepath.Join(dir, "py.npy")
	script := `import sys, numpy as np
a = (np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.5 - 1).astype('<f4')
np.save(sys.argv[1], a)
`
	if out, err := exec.Command(py, "-c", script, fromPy).CombinedOutput(); err != nil {
		t.Fatalf("numpy save: %v\n%s", err, out)
	}
	a, err := Read(fromPy)
	if err != nil {
		t.Fatal(err)
	}
	if FormatShape(a.Shape) != "2x3x4" || a.Data[0] != -1 || a.Data[23] != 23*0.5-1 {
		t.Fatalf("got %v %v", a.Shape, a.Data)
	}
	fromGo := filepath.Join(dir, "go.npy")
	a.Data[5] = 1e-30
	if err := Write(fromGo, a); err != nil {
		t.Fatal(err)
	}
	check := `import sys, numpy as np
a = np.load(sys.argv[1])
assert a.dtype == np.dtype('<f4') and a.shape == (2, 3, 4) and a.flags['C_CONTIGUOUS'], (a.dtype, a.shape)
b = (np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 0.5 - 1).astype('<f4')
b.flat[5] = np.float32(1e-30)
assert (a == b).all()
print("ok")
`
	if out, err := exec.Command(py, "-c", check, fromGo).CombinedOutput(); err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("numpy load: %v\n%s", err, out)
	}
}
