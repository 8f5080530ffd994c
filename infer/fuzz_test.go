package infer

import (
	"os"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/onnx"
)

// FuzzModelIO: whatever an .onnx file declares, reading its inputs and
// outputs and resolving a benchmark's input shapes gives values or one-line
// errors, never a panic or an allocation the file's size does not justify.
func FuzzModelIO(f *testing.F) {
	raw, err := os.ReadFile(writeTinyModel(f, f.TempDir()))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := onnx.Unmarshal(b)
		if err != nil {
			return
		}
		ins, _, err := ModelIO(m)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		for _, ti := range ins {
			for _, batch := range []int{0, 1, 64} {
				shape, err := inputShape("fuzz.onnx", ti, batch)
				if err != nil {
					continue
				}
				n := int64(1)
				for _, d := range shape {
					if d < 0 {
						t.Fatalf("negative dimension in resolved shape %v", shape)
					}
					n *= d
				}
				if n > MaxBenchInputElements {
					t.Fatalf("shape %v (%d elements) passed the bound", shape, n)
				}
			}
		}
	})
}
