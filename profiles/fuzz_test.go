package profiles

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteTestdata regenerates testdata/valid_cifar10.json (the fuzzer's
// valid seed) when SGNAS_UPDATE_TESTDATA=1.
func TestWriteTestdata(t *testing.T) {
	if os.Getenv("SGNAS_UPDATE_TESTDATA") != "1" {
		t.Skip("set SGNAS_UPDATE_TESTDATA=1 to regenerate testdata/")
	}
	f := newFake("cifar10", 0)
	p := buildFake(t, f, true)
	if err := p.Save(filepath.Join("testdata", "valid_cifar10.json")); err != nil {
		t.Fatal(err)
	}
}

// FuzzReadProfile feeds arbitrary bytes to the profile reader: it must never
// panic, and whatever it accepts must give a working predictor and survive a
// write/read round trip. Seeds: testdata/*.json.
func FuzzReadProfile(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"schema":"sgnas-profile/1"}`))
	f.Add([]byte(`{"schema":"sgnas-profile/1","complete":true,"layers":[{"layer":0,"entries":[{"kernels":"3","us":1}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, partial := range []bool{false, true} {
			p, err := Parse(data, partial)
			if err != nil {
				continue
			}
			b, err := p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(b, partial); err != nil {
				t.Fatalf("round trip: %v", err)
			}
			if partial {
				continue
			}
			pr, err := NewPredictor(p)
			if err != nil {
				t.Fatalf("valid profile, no predictor: %v", err)
			}
			lo, hi := pr.Range(1)
			if !(lo <= hi) {
				t.Fatalf("range %v–%v", lo, hi)
			}
		}
	})
}
