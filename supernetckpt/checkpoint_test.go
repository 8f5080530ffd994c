package supernetckpt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/weights"
)

func TestWriteReadRoundTripAndCorruption(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "supernet.ckpt")
	model := weights.StateDict{"a.weight": {Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}}, "classifier.bias": {Shape: []int{2}, Data: []float32{-7, 8}}}
	optim := weights.StateDict{"a.weight.momentum_buffer": {Shape: []int{2, 3}, Data: []float32{0.5, 0, 0, 0, 0, 1e-30}}}
	state := map[string]any{"config": map[string]any{"space": "cifar10"}, "classes": 2}
	if err := Write(p, state, model, optim); err != nil {
		t.Fatal(err)
	}
	f, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(f.State), `"classes":2`) {
		t.Errorf("state %s", f.State)
	}
	for _, pair := range [][2]weights.StateDict{{model, f.Model}, {optim, f.Optim}} {
		for n, w := range pair[0] {
			g := pair[1][n]
			if g == nil || g.ShapeString() != w.ShapeString() {
				t.Fatalf("tensor %s: %v", n, g)
			}
			for i := range w.Data {
				if g.Data[i] != w.Data[i] {
					t.Fatalf("tensor %s[%d]: %g, want %g", n, i, g.Data[i], w.Data[i])
				}
			}
		}
	}
	// Load reads space and classes; slicing this toy file fails with an error
	// naming the first missing tensor.
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Space.Name != "cifar10" || s.Classes != 2 {
		t.Errorf("loaded %s with %d classes", s.Space.Name, s.Classes)
	}
	raw, _ := os.ReadFile(p)
	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		{"truncated", "truncated", raw[:len(raw)-9]},
		{"tiny", "truncated", raw[:5]},
		{"flipped", "CRC mismatch", func() []byte { b := append([]byte(nil), raw...); b[len(b)-10] ^= 1; return b }()},
		{"magic", "bad magic", append([]byte("NOTACKPT"), raw[8:]...)},
	} {
		q := filepath.Join(dir, tc.name)
		os.WriteFile(q, tc.data, 0o644)
		_, err := Read(q)
		if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), q) {
			t.Errorf("%s: error %v, want ErrCorrupt mentioning %q and the file", tc.name, err, tc.want)
		}
	}
	// classes that do not match the classifier are refused by Load.
	state["classes"] = 1000000000000
	if err := Write(p, state, model, optim); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "classes") {
		t.Errorf("bad classes: %v", err)
	}
}

// TestHostileHeader: sizes a header claims are bounded by the file before
// anything is allocated.
func TestHostileHeader(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.ckpt")
	model := weights.StateDict{"w": {Shape: []int{2}, Data: []float32{1, 2}}}
	if err := Write(p, map[string]any{"classes": 2}, model, nil); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to, want string }{
		{`"shape":[2]`, `"shape":[4294967296,4294967296]`, "holds more values than the"},
		{`"shape":[2]`, `"shape":[9223372036854775807,9223372036854775807]`, "holds more values than the"},
		{`"shape":[2]`, `"shape":[-2]`, "has shape [-2]"},
	} {
		bad := []byte(strings.Replace(string(raw), c.from, c.to, 1))
		// keep the header length field consistent with the edited header
		binaryPutHeaderLen(bad, len(bad)-len(raw))
		_, err := decode("s.ckpt", bad)
		if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.to, err, c.want)
		}
	}
}

// binaryPutHeaderLen adds delta to the header length stored at bytes 12..20.
func binaryPutHeaderLen(b []byte, delta int) {
	var hl uint64
	for i := 0; i < 8; i++ {
		hl |= uint64(b[12+i]) << (8 * i)
	}
	hl += uint64(delta)
	for i := 0; i < 8; i++ {
		b[12+i] = byte(hl >> (8 * i))
	}
}

func FuzzReadCheckpoint(f *testing.F) {
	p := filepath.Join(f.TempDir(), "s.ckpt")
	model := weights.StateDict{"w": {Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}}, "classifier.bias": {Shape: []int{2}, Data: []float32{-7, 8}}}
	optim := weights.StateDict{"w.momentum_buffer": {Shape: []int{2, 3}, Data: make([]float32, 6)}}
	if err := Write(p, map[string]any{"config": map[string]any{"space": "cifar10"}, "classes": 2}, model, optim); err != nil {
		f.Fatal(err)
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(raw[:40])
	f.Add([]byte("SGNASCKP\x01\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\x7f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ck, err := decode("fuzz.ckpt", b)
		if err != nil {
			if msg := err.Error(); msg == "" || strings.Contains(msg, "\n") || !strings.Contains(msg, "fuzz.ckpt") {
				t.Fatalf("error %q: want one line naming the file", msg)
			}
			return
		}
		var n int
		for _, sd := range []weights.StateDict{ck.Model, ck.Optim} {
			for _, t := range sd {
				n += len(t.Data)
			}
		}
		if 4*n > len(b) {
			t.Fatalf("%d values decoded from %d bytes", n, len(b))
		}
	})
}
