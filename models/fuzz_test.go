package models

import (
	"encoding/json"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"
)

// oneHotJSON is the authors' 19×24 matrix of a as JSON.
func oneHotJSON(a *Arch) string {
	e := a.Encoding()
	rows := make([][]float64, NumLayers)
	for l := range rows {
		rows[l] = e[l][:]
	}
	b, _ := json.Marshal(rows)
	return string(b)
}

// archSeeds are small valid files of every accepted form plus a few broken ones.
func archSeeds() []string {
	a := RandomArch("imagenet", rand.New(rand.NewSource(1)), 1, 6)
	c := RandomArch("cifar10", rand.New(rand.NewSource(2)), 2, 4)
	oh := oneHotJSON(a)
	return []string{
		string(a.MarshalIndent()),
		string(c.MarshalIndent()),
		oh,
		`{"onehot": ` + oh + `, "space": "cifar100", "se": true, "activation": "hswish", "classes": 100}`,
		`{"360": ` + oh + `}`,
		`{"-5": ` + oh + `}`,
		`{"classes": 1e12, "onehot": ` + oh + `}`,
		`{"space": "imagenet", "layers": [{"kernels": [3]}]}`,
		`[[1, 0]]`,
		`{}`,
		``,
	}
}

// FuzzParseArchFile: every input either parses to a valid architecture whose
// JSON and one-hot forms round-trip, or gives a non-empty error; never a panic.
func FuzzParseArchFile(f *testing.F) {
	for _, s := range archSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		af, err := ParseArchFile(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		a := af.Arch
		if err := a.Validate(); err != nil {
			t.Fatalf("accepted an invalid architecture: %v", err)
		}
		if af.Classes != 0 && ValidateClasses(af.Classes) != nil {
			t.Fatalf("accepted classes %d", af.Classes)
		}
		b, err := ParseArch(a.MarshalIndent())
		if err != nil || !b.Equal(a) {
			t.Fatalf("JSON round trip: %v (%v vs %v)", err, b, a)
		}
		c, err := ArchFromEncoding(a.Space, a.Encoding())
		if err != nil || !c.Equal(a) {
			t.Fatalf("one-hot round trip: %v", err)
		}
		if _, err := Build(a, Options{Classes: af.Classes}); err != nil {
			t.Fatalf("a parsed architecture does not build: %v", err)
		}
	})
}

// FuzzParsePriorPool: a parsed pool has valid keys and architectures,
// re-encodes to an equal pool, and Nearest never returns a nil prior.
func FuzzParsePriorPool(f *testing.F) {
	a := RandomArch("imagenet", rand.New(rand.NewSource(3)), 2, 6)
	oh := oneHotJSON(a)
	for _, s := range []string{`{"360": ` + oh + `}`, `{"300": ` + oh + `, "400": ` + oh + `}`, `{"-1": ` + oh + `}`, `{"0": []}`, `[]`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pool, err := ParsePriorPool(data, "imagenet")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for k, a := range pool {
			if k < 1 || k > MaxPriorKey || a == nil || a.Validate() != nil {
				t.Fatalf("accepted key %d arch %v", k, a)
			}
		}
		if len(pool) > 0 {
			if _, prior := pool.Nearest(-1e18); prior == nil {
				t.Fatal("Nearest returned a nil prior")
			}
		}
		b, err := pool.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParsePriorPool(b, "imagenet")
		if err != nil || len(back) != len(pool) {
			t.Fatalf("round trip: %v", err)
		}
		for k, a := range pool {
			if !back[k].Equal(a) {
				t.Fatalf("round trip: key %d differs", k)
			}
		}
	})
}

// TestHostileArchFiles: each reported hostile input gives one clear error.
func TestHostileArchFiles(t *testing.T) {
	a := RandomArch("imagenet", rand.New(rand.NewSource(4)), 2, 6)
	oh := oneHotJSON(a)
	cases := []struct{ name, input, want string }{
		{"classes 1e12", `{"classes": 1000000000000, "onehot": ` + oh + `}`, `field "classes": 1000000000000: want 1 to 100000`},
		{"classes 0", `{"classes": 0, "onehot": ` + oh + `}`, `field "classes": 0: want 1 to 100000`},
		{"classes fraction", `{"classes": 2.5, "onehot": ` + oh + `}`, `field "classes": want an integer`},
		{"classes string", `{"classes": "10", "onehot": ` + oh + `}`, `field "classes": want an integer`},
		{"activation", `{"activation": "gelu", "onehot": ` + oh + `}`, `field "activation"`},
		{"negative pool key", `{"-5": ` + oh + `}`, "key -5: want a constraint"},
		{"huge pool key", `{"99999999999": ` + oh + `}`, "key 99999999999: want a constraint"},
	}
	for _, c := range cases {
		_, err := ParseArchFile([]byte(c.input))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line containing %q", c.name, err, c.want)
		}
	}
	p := filepath.Join(t.TempDir(), "pool.json")
	if err := (PriorPool{360: a}).Save(p); err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePriorPool([]byte(`{"-5": `+oh+`}`), "imagenet"); err == nil || !strings.Contains(err.Error(), "key -5") {
		t.Errorf("negative key: %v", err)
	}
	// A pool whose only key is negative used to make Nearest return nil.
	if k, prior := (PriorPool{-5: a}).Nearest(300); prior == nil || k != -5 {
		t.Errorf("Nearest on a negative key: %d %v", k, prior)
	}
	if _, prior := (PriorPool{}).Nearest(300); prior != nil {
		t.Error("Nearest on an empty pool returned a prior")
	}
	if _, err := Build(a, Options{Classes: 1_000_000_000_000}); err == nil || !strings.Contains(err.Error(), "want 1 to 100000") {
		t.Errorf("Build with 1e12 classes: %v", err)
	}
}

func TestEndlessArchFile(t *testing.T) {
	if _, err := LoadArch("/dev/zero"); err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") {
		t.Errorf("/dev/zero: %v", err)
	}
	if _, err := LoadPriorPool("/dev/zero", "imagenet"); err == nil || !strings.Contains(err.Error(), "larger than 16 MiB") {
		t.Errorf("/dev/zero: %v", err)
	}
}
