package pipeline

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/weights"
)

// TestWeightsSafetensors: the weight source both CLIs share reads a
// safetensors file like a .pth, and refuses one whose metadata names
// another architecture.
func TestWeightsSafetensors(t *testing.T) {
	dir := t.TempDir()
	space := models.MustSpace("cifar100")
	build := func(k int) *models.Network {
		a := &models.Arch{Space: "cifar100", Layers: make([]models.Layer, models.NumLayers)}
		for l := range a.Layers {
			a.Layers[l].Kernels = []int{3, 5, 7, 5}[:1+(l+k)%4]
		}
		net, err := models.Build(a, models.DefaultOptions(space))
		if err != nil {
			t.Fatal(err)
		}
		return net
	}
	net, other := build(0), build(1)
	sd := weights.Init(net.Tensors(), 4)
	path := filepath.Join(dir, "w.pth") // safetensors content under a .pth name
	if err := weights.WriteSafetensors(path, sd, nil, weights.NetworkMetadata(net, "test")); err != nil {
		t.Fatal(err)
	}
	w, err := OpenWeights(WeightSource{Weights: path})
	if err != nil {
		t.Fatal(err)
	}
	got, src, err := w.For(net)
	if err != nil {
		t.Fatal(err)
	}
	if src != path || len(got) != len(sd) {
		t.Fatalf("source %q, %d tensors", src, len(got))
	}
	for n, want := range sd {
		for i := range want.Data {
			if got[n].Data[i] != want.Data[i] {
				t.Fatalf("%s[%d] = %v, want %v", n, i, got[n].Data[i], want.Data[i])
			}
		}
	}
	if _, _, err := w.For(other); err == nil || !strings.Contains(err.Error(), "metadata sgnas.arch") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("another architecture: %v", err)
	}
	// A NaN is refused, naming the tensor.
	sd["classifier.1.bias"].Data[3] = float32(math.NaN())
	weights.WriteSafetensors(path, sd, nil, nil)
	if _, _, err := w.For(net); err == nil || !strings.Contains(err.Error(), "classifier.1.bias") || !strings.Contains(err.Error(), "not finite") {
		t.Fatalf("NaN weight: %v", err)
	}
}
