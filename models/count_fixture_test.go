package models

import (
	"github.com/sgnas/sgnas/internal/testutil"
	"math"
	"path/filepath"
	"testing"
)

func sharedDir(t *testing.T) string { return testutil.Shared(t) }

func TestFixtureCounts(t *testing.T) {
	f, err := LoadArchFile(filepath.Join(sharedDir(t), "fixtures", "sgnas_c", "sgnas_c_arch.json"))
	if err != nil {
		t.Fatal(err)
	}
	if f.SE == nil || !*f.SE || f.Activation != "hswish" || f.Classes != 1000 {
		t.Fatalf("fixture options not read: se=%v act=%q classes=%d", f.SE, f.Activation, f.Classes)
	}
	space := MustSpace("imagenet")
	with, err := Count(f.Arch, Options{Space: space, SE: true, Act: HSwish, Classes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	without, err := Count(f.Arch, Options{Space: space, Classes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, got, want, tol float64) {
		if math.Abs(got-want) > tol {
			t.Errorf("%s = %.4f, want %.4f", name, got, want)
		}
	}
	check("LUT MFLOPs", with.LUTMFLOPs, 279.32, 0.005)
	check("full MFLOPs with SE", with.MFLOPs, 280.56, 0.005)
	check("full MFLOPs without SE", without.MFLOPs, 279.32, 0.005)
	if with.Params != 4652252 {
		t.Errorf("params with SE = %d, want 4652252", with.Params)
	}
	if without.Params != 3403000 {
		t.Errorf("params without SE = %d, want 3403000", without.Params)
	}
	t.Logf("arch %s: %+v / %+v", f.Arch, with, without)
}
