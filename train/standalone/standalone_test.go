package standalone

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/internal/npy"
	"github.com/sgnas/sgnas/internal/orttest"
	"github.com/sgnas/sgnas/internal/testutil"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/tensor"
	"github.com/sgnas/sgnas/train/nn"
	"github.com/sgnas/sgnas/weights"
)

func fixtureDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join("..", "..", "..", "shared", "fixtures", "sgnas_c")
	_, err := os.Stat(d)
	testutil.Require(t, "shared fixtures "+d+" (../shared beside the checkout)", err)
	return d
}

func maxAbs(a []float32) float64 {
	m := 0.0
	for _, v := range a {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return m
}

// TestSGNASCFixture runs the authors' SGNAS-C (ImageNet, SE, h-swish) on the
// engine and compares with the logits PyTorch produced.
func TestSGNASCFixture(t *testing.T) {
	dir := fixtureDir(t)
	af, err := models.LoadArchFile(filepath.Join(dir, "sgnas_c_arch.json"))
	if err != nil {
		t.Fatal(err)
	}
	opts := models.Options{Classes: af.Classes, Act: models.Activation(af.Activation)}
	if af.SE != nil {
		opts.SE = *af.SE
	}
	net, err := models.Build(af.Arch, opts)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := weights.LoadPTH(filepath.Join(dir, "sgnas_c_state_dict.pth"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(net, sd)
	if err != nil {
		t.Fatal(err)
	}
	in, err := npy.Read(filepath.Join(dir, "sgnas_c_input.npy"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := npy.Read(filepath.Join(dir, "sgnas_c_logits.npy"))
	if err != nil {
		t.Fatal(err)
	}
	shape := make([]int, len(in.Shape))
	for i, d := range in.Shape {
		shape[i] = int(d)
	}
	got, err := n.Predict(nn.FromData(in.Data, shape...))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != len(want.Data) {
		t.Fatalf("logits have %d values, fixture %d", len(got.Data), len(want.Data))
	}
	d := nn.MaxAbsDiff(got.Data, want.Data)
	t.Logf("SGNAS-C engine vs PyTorch: max |Δlogit| = %.3g (max |logit| %.3g)", d, maxAbs(want.Data))
	if d > 1e-4*math.Max(1, maxAbs(want.Data)) {
		t.Fatalf("engine logits differ from the fixture by %g", d)
	}
}

// randomizeBN gives BN tensors non-trivial values so that a wrong BN
// mapping cannot go unnoticed.
func randomizeBN(sd weights.StateDict, net *models.Network, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 7))
	for _, ts := range net.Tensors() {
		d := sd[ts.Name].Data
		switch ts.Kind {
		case models.BNWeight:
			for i := range d {
				d[i] = float32(0.5 + r.Float64())
			}
		case models.LinearWeight:
			for i := range d {
				d[i] = float32(0.1 * r.NormFloat64())
			}
		case models.BNBias, models.BNMean, models.ConvBias:
			for i := range d {
				d[i] = float32(0.2 * r.NormFloat64())
			}
		case models.BNVar:
			for i := range d {
				d[i] = float32(0.5 + r.Float64())
			}
		}
	}
}

// maxSpread is the largest difference between the logits of two samples
// (rows of n values each).
func maxSpread(a []float32, rows int) float64 {
	n := len(a) / rows
	m := 0.0
	for r := 1; r < rows; r++ {
		for j := 0; j < n; j++ {
			m = math.Max(m, math.Abs(float64(a[r*n+j]-a[j])))
		}
	}
	return m
}

// TestEngineEqualsONNX checks the engine's forward against the ONNX export
// run in ONNX Runtime, for seeded random weights on CIFAR architectures
// (with and without SE / h-swish, expansions 1..6).
func TestEngineEqualsONNX(t *testing.T) {
	orttest.Need(t)
	space := models.MustSpace("cifar10")
	rng := rand.New(rand.NewPCG(3, 4))
	arch := &models.Arch{Space: "cifar10", Layers: make([]models.Layer, models.NumLayers)}
	for l := range arch.Layers {
		e := 1 + l%6
		for g := 0; g < e; g++ {
			arch.Layers[l].Kernels = append(arch.Layers[l].Kernels, models.KernelSizes[rng.IntN(3)])
		}
	}
	for _, tc := range []struct {
		name string
		opts models.Options
	}{
		{"relu6", models.Options{Space: space}},
		{"se-hswish", models.Options{Space: space, SE: true, Act: models.HSwish}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			net, err := models.Build(arch, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			sd := weights.Init(net.Tensors(), 11)
			randomizeBN(sd, net, 5)
			// realistic running statistics, so that the logits depend on the input
			cn, err := New(net, sd)
			if err != nil {
				t.Fatal(err)
			}
			cal := make([]float32, 16*3*32*32)
			for i := range cal {
				cal[i] = float32(rng.NormFloat64())
			}
			cn.CalibrateBN(nn.FromData(cal, 16, 3, 32, 32))
			for name, v := range cn.Store.StateDict() {
				copy(sd[name].Data, v.Data)
			}
			for _, opt := range []bool{false, true} {
				eo := export.DefaultOptions()
				eo.Optimize = opt
				path := filepath.Join(t.TempDir(), "m.onnx")
				if _, err := export.WriteFile(path, net, sd, eo); err != nil {
					t.Fatal(err)
				}
				x := tensor.New(3, 3, 32, 32)
				for i := range x.Data {
					x.Data[i] = float32(rng.NormFloat64())
				}
				s, err := infer.NewSession(path, infer.SessionOptions{IntraOpThreads: 1, OptLevel: 99})
				if err != nil {
					t.Fatal(err)
				}
				outs, err := s.Run(context.Background(), x)
				s.Close()
				if err != nil {
					t.Fatal(err)
				}
				n, err := New(net, sd)
				if err != nil {
					t.Fatal(err)
				}
				got, err := n.Predict(nn.FromData(x.Data, 3, 3, 32, 32))
				if err != nil {
					t.Fatal(err)
				}
				d := nn.MaxAbsDiff(got.Data, outs[0].Data)
				if spread := maxSpread(outs[0].Data, 3); spread < 0.1 {
					t.Fatalf("logits barely depend on the input (spread %g): the check would be vacuous", spread)
				}
				t.Logf("optimize=%v: engine vs ORT max |Δ| = %.3g (max |logit| %.3g)", opt, d, maxAbs(outs[0].Data))
				if d > 1e-4*math.Max(1, maxAbs(outs[0].Data)) {
					t.Fatalf("optimize=%v: engine differs from ONNX Runtime by %g", opt, d)
				}
			}
		})
	}
}
