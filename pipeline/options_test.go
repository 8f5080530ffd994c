package pipeline

import (
	"testing"

	"github.com/sgnas/sgnas/models"
)

// TestOptionsOnePlace: generated models and architecture files without
// recorded options get the same per-space defaults; the file's values and
// then the flags override them.
func TestOptionsOnePlace(t *testing.T) {
	gen, err := GeneratedOptions(NetChoice{})
	if err != nil {
		t.Fatal(err)
	}
	a := &models.Arch{Space: "imagenet", Layers: make([]models.Layer, models.NumLayers)}
	for l := range a.Layers {
		a.Layers[l].Kernels = []int{3, 5}
	}
	_, file, err := ArchOptions(&models.ArchFile{Arch: a}, NetChoice{})
	if err != nil {
		t.Fatal(err)
	}
	want := models.DefaultOptions(models.MustSpace("imagenet"))
	for _, o := range []models.Options{gen, file} {
		if o.Space.Name != "imagenet" || o.SE != want.SE || o.Act != want.Act || o.NumClasses() != want.NumClasses() {
			t.Errorf("options %+v, want the imagenet defaults %+v", o, want)
		}
	}
	off := false
	_, o, err := ArchOptions(&models.ArchFile{Arch: a, SE: &off, Activation: "relu6", Classes: 7}, NetChoice{Act: models.HSwish})
	if err != nil {
		t.Fatal(err)
	}
	if o.SE || o.Act != models.HSwish || o.NumClasses() != 7 {
		t.Errorf("file + flag: %+v, want SE off (file), hswish (flag), 7 classes (file)", o)
	}
	// --space other than the file's drops the file's classes.
	_, o, err = ArchOptions(&models.ArchFile{Arch: a, Classes: 7}, NetChoice{Space: "cifar10"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Space.Name != "cifar10" || o.NumClasses() != 10 || o.SE {
		t.Errorf("--space cifar10: %+v", o)
	}
	if _, err := GeneratedOptions(NetChoice{Space: "mnist"}); err == nil {
		t.Error("unknown space accepted")
	}
}
