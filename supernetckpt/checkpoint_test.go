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
