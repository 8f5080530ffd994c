package export

import (
	"context"
	"fmt"
	"github.com/sgnas/sgnas/internal/testutil"
	"math"
	"math/rand"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/internal/npy"
	"github.com/sgnas/sgnas/internal/orttest"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/onnx"
	"github.com/sgnas/sgnas/tensor"
	"github.com/sgnas/sgnas/weights"
)

// optLevels are the ORT graph-optimisation levels every export must load
// and run at.
var optLevels = []int{0, 1, 2, 99}

func sharedDir(t *testing.T) string { return testutil.Shared(t) }

// needORT initialises ONNX Runtime or skips when SGNAS_SKIP_ORT=1.
func needORT(t *testing.T) {
	t.Helper()
	orttest.Need(t)
}

// runORT runs the model at path on in at the given optimisation level.
func runORT(t *testing.T, path string, level int, in *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	s, err := infer.NewSession(path, infer.SessionOptions{IntraOpThreads: 1, OptLevel: level})
	if err != nil {
		t.Fatalf("load %s at opt level %d: %v", filepath.Base(path), level, err)
	}
	defer s.Close()
	outs, err := s.Run(context.Background(), in)
	if err != nil {
		t.Fatalf("run %s at opt level %d: %v", filepath.Base(path), level, err)
	}
	if len(outs) != 1 {
		t.Fatalf("%s: %d outputs, want 1", path, len(outs))
	}
	return outs[0]
}

// runAllLevels runs the model at every optimisation level, checks the levels
// agree with each other and returns the level-0 output.
func runAllLevels(t *testing.T, path string, in *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	var ref *tensor.Tensor
	for _, lvl := range optLevels {
		out := runORT(t, path, lvl, in)
		if ref == nil {
			ref = out
			continue
		}
		if d := maxAbsDiff(t, ref, out); d > 1e-4*math.Max(1, maxAbs(ref.Data)) {
			t.Errorf("%s: opt level %d differs from level 0 by %g", filepath.Base(path), lvl, d)
		}
	}
	return ref
}

func maxAbsDiff(t *testing.T, a, b *tensor.Tensor) float64 {
	t.Helper()
	d, err := infer.MaxAbsDiff(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func maxAbs(v []float32) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(float64(x)))
	}
	return m
}

func randomInput(seed int64, n, size int) *tensor.Tensor {
	rng := rand.New(rand.NewSource(seed))
	a := &tensor.Tensor{Shape: []int{n, 3, size, size}}
	a.Data = make([]float32, n*3*size*size)
	for i := range a.Data {
		a.Data[i] = float32(rng.NormFloat64())
	}
	return a
}

// pythonCheck runs onnx.checker.check_model(full_check=True) on path with
// /usr/bin/python3 when it has the onnx module.
func pythonCheck(t *testing.T, path string) {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import onnx").Run(); err != nil {
		t.Logf("skipping onnx.checker: %s cannot import onnx (%v)", py, err)
		return
	}
	out, err := exec.Command(py, "-c",
		"import onnx,sys; m=onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); print('ok')", path).CombinedOutput()
	if err != nil {
		t.Errorf("onnx.checker rejects %s: %v\n%s", filepath.Base(path), err, out)
	}
}

func loadFixture(t *testing.T) (*models.Network, weights.StateDict, *tensor.Tensor, *tensor.Tensor) {
	t.Helper()
	dir := filepath.Join(sharedDir(t), "fixtures", "sgnas_c")
	af, err := models.LoadArchFile(filepath.Join(dir, "sgnas_c_arch.json"))
	if err != nil {
		t.Fatal(err)
	}
	if af.SE == nil || !*af.SE || af.Activation != "hswish" || af.Classes != 1000 {
		t.Fatalf("fixture options: se %v activation %q classes %d, want SE, hswish, 1000", af.SE, af.Activation, af.Classes)
	}
	net, err := models.Build(af.Arch, models.Options{SE: *af.SE, Act: models.Activation(af.Activation), Classes: af.Classes})
	if err != nil {
		t.Fatal(err)
	}
	sd, err := LoadWeights(filepath.Join(dir, "sgnas_c_state_dict.pth"), net, false)
	if err != nil {
		t.Fatal(err)
	}
	in, err := npy.Read(filepath.Join(dir, "sgnas_c_input.npy"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := npy.Read(filepath.Join(dir, "sgnas_c_logits.npy"))
	if err != nil {
		t.Fatal(err)
	}
	return net, sd, in, ref
}

// TestFixtureParity exports the SGNAS-C fixture (plain and optimised), runs
// the fixture input through ORT at every optimisation level and compares
// with PyTorch's logits.
func TestFixtureParity(t *testing.T) {
	net, sd, in, ref := loadFixture(t)
	dir := t.TempDir()
	wantArgmax := infer.ArgmaxRows(ref)
	for _, optimize := range []bool{false, true} {
		opts := DefaultOptions()
		opts.Optimize = optimize
		opts.Target = "flops:275"
		opts.Version = "test"
		opts.GeneratorDigest = "sha256:0123"
		opts.Metadata = map[string]string{"note": "fixture"}
		path := filepath.Join(dir, fmt.Sprintf("sgnas_c_opt_%v.onnx", optimize))
		m, err := WriteFile(path, net, sd, opts)
		if err != nil {
			t.Fatal(err)
		}
		checkStructure(t, m, net, optimize)
		pythonCheck(t, path)
		needORT(t)
		for _, lvl := range optLevels {
			out := runORT(t, path, lvl, in)
			d := maxAbsDiff(t, out, ref)
			t.Logf("optimize=%v level %d: max abs error vs PyTorch %.3g (max |logit| %.3g)", optimize, lvl, d, maxAbs(ref.Data))
			if d > 1e-4 {
				t.Errorf("optimize=%v level %d: max abs error %g > 1e-4", optimize, lvl, d)
			}
			if got := infer.ArgmaxRows(out); fmt.Sprint(got) != fmt.Sprint(wantArgmax) {
				t.Errorf("optimize=%v level %d: argmax %v, PyTorch %v", optimize, lvl, got, wantArgmax)
			}
		}
		md := onnx.Metadata(m)
		want := map[string]string{
			"space": "imagenet", "arch": net.Arch.String(), "target": "flops:275", "se": "true",
			"activation": "hswish", "classes": "1000", "sgnas_version": "test",
			"generator_digest": "sha256:0123", "note": "fixture", "input_size": "224",
			"params": fmt.Sprint(net.Params()), "optimized": fmt.Sprint(optimize), "opset": "17",
			"lut_mflops": fmt.Sprintf("%.3f", net.Space.LUT().ArchMFLOPs(net.Arch)),
			"mflops":     fmt.Sprintf("%.3f", net.MFLOPs()),
		}
		for k, v := range want {
			if md[k] != v {
				t.Errorf("metadata %s = %q, want %q", k, md[k], v)
			}
		}
	}
}

// checkStructure asserts graph properties: IR 8, input/output signature,
// topological order, every initializer used, no Identity/Dropout, and for
// the optimised graph no BatchNormalization, at most three depthwise convs
// per layer (exactly one per distinct kernel size) and no Split/Concat in
// single-kernel layers.
func checkStructure(t *testing.T, m *onnx.ModelProto, net *models.Network, optimized bool) {
	t.Helper()
	g := m.GetGraph()
	if m.GetIrVersion() != 8 {
		t.Errorf("IR version %d, want 8", m.GetIrVersion())
	}
	if len(g.GetInput()) != 1 || g.GetInput()[0].GetName() != InputName {
		t.Fatalf("graph inputs %v, want just %q", g.GetInput(), InputName)
	}
	dims := g.GetInput()[0].GetType().GetTensorType().GetShape().GetDim()
	if len(dims) != 4 || dims[0].GetDimParam() != BatchDim || dims[1].GetDimValue() != 3 || dims[2].GetDimValue() != int64(net.Space.InputSize) {
		t.Errorf("input dims %v, want [N,3,%d,%d]", dims, net.Space.InputSize, net.Space.InputSize)
	}
	if len(g.GetOutput()) != 1 || g.GetOutput()[0].GetName() != OutputName {
		t.Fatalf("graph outputs %v, want just %q", g.GetOutput(), OutputName)
	}
	od := g.GetOutput()[0].GetType().GetTensorType().GetShape().GetDim()
	if len(od) != 2 || od[0].GetDimParam() != BatchDim || od[1].GetDimValue() != int64(net.Classifier.Out) {
		t.Errorf("output dims %v, want [N,%d]", od, net.Classifier.Out)
	}
	known := map[string]bool{InputName: true}
	inits := map[string]bool{}
	for _, in := range g.GetInitializer() {
		if inits[in.GetName()] {
			t.Errorf("initializer %s twice", in.GetName())
		}
		inits[in.GetName()] = true
		known[in.GetName()] = true
	}
	used := map[string]bool{}
	for _, n := range g.GetNode() {
		switch n.GetOpType() {
		case "Identity", "Dropout", "Constant":
			t.Errorf("node %s of type %s", n.GetName(), n.GetOpType())
		case "BatchNormalization":
			if optimized {
				t.Errorf("optimised graph has BatchNormalization node %s", n.GetName())
			}
		}
		for _, in := range n.GetInput() {
			if !known[in] {
				t.Errorf("node %s reads %q before it is produced", n.GetName(), in)
			}
			used[in] = true
		}
		for _, out := range n.GetOutput() {
			if known[out] {
				t.Errorf("value %q produced twice", out)
			}
			known[out] = true
		}
	}
	for name := range inits {
		if !used[name] {
			t.Errorf("unused initializer %s", name)
		}
	}
	if !known[OutputName] {
		t.Errorf("no node produces %q", OutputName)
	}
	if !optimized {
		return
	}
	// Per block: depthwise convs (group > 1), Split and Concat nodes,
	// attributed through the block-name prefix of their outputs.
	dw := map[string]int{}
	splitConcat := map[string]int{}
	for _, n := range g.GetNode() {
		blk := blockOf(n.GetOutput()[0])
		switch n.GetOpType() {
		case "Conv":
			for _, a := range n.GetAttribute() {
				if a.GetName() == "group" && a.GetI() > 1 {
					dw[blk]++
				}
			}
		case "Split", "Concat":
			splitConcat[blk]++
		}
	}
	for i := range net.Blocks {
		b := &net.Blocks[i]
		distinct := map[int]bool{}
		for _, k := range b.Kernels {
			distinct[k] = true
		}
		if dw[b.Name] != len(distinct) || dw[b.Name] > 3 {
			t.Errorf("%s (kernels %v): %d depthwise convs, want %d", b.Name, b.Kernels, dw[b.Name], len(distinct))
		}
		wantSC := 0
		if len(distinct) > 1 {
			wantSC = 2
		}
		if splitConcat[b.Name] != wantSC {
			t.Errorf("%s (kernels %v): %d Split/Concat nodes, want %d", b.Name, b.Kernels, splitConcat[b.Name], wantSC)
		}
	}
}

// blockOf maps a value name such as "stages.3.depthwise.k5" to its block
// ("stages.3"; "first_mb"; "" for others).
func blockOf(v string) string {
	if strings.HasPrefix(v, "first_mb.") {
		return "first_mb"
	}
	if strings.HasPrefix(v, "stages.") {
		parts := strings.SplitN(v, ".", 3)
		return parts[0] + "." + parts[1]
	}
	return ""
}

// randomizeBN gives every BN non-trivial statistics and affine parameters
// and every conv bias non-zero values, so that folding is really exercised.
func randomizeBN(sd weights.StateDict, specs []models.TensorSpec, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	for _, s := range specs {
		t := sd[s.Name]
		for i := range t.Data {
			switch s.Kind {
			case models.BNWeight:
				t.Data[i] = float32(0.5 + rng.Float64())
			case models.BNBias, models.BNMean, models.ConvBias, models.LinearBias:
				t.Data[i] = float32(0.2 * rng.NormFloat64())
			case models.BNVar:
				t.Data[i] = float32(0.5 + 1.5*rng.Float64())
			}
		}
	}
}

// testArch draws a random architecture and forces a few layers to
// expansion 1 and a few to a single kernel size.
func testArch(space string, seed int64) *models.Arch {
	rng := rand.New(rand.NewSource(seed))
	a := models.RandomArch(space, rng, 1, 6)
	a.Layers[1].Kernels = []int{5}
	a.Layers[7].Kernels = []int{3}
	a.Layers[4].Kernels = []int{7, 7, 7, 7}
	a.Layers[12].Kernels = []int{3, 3}
	a.Layers[16].Kernels = []int{7, 3, 5, 3, 7, 5}
	return a
}

// TestOptimisedMatchesPlain checks, for random architectures of every space,
// both activations and SE on and off with seeded weights and randomised BN
// statistics, that the optimised and plain exports compute the same logits
// at every ORT optimisation level.
func TestOptimisedMatchesPlain(t *testing.T) {
	needORT(t)
	dir := t.TempDir()
	cases := []struct {
		space string
		act   models.Activation
		se    bool
	}{
		{"cifar10", models.ReLU6, false},
		{"cifar10", models.HSwish, true},
		{"cifar100", models.ReLU6, true},
		{"cifar100", models.HSwish, false},
		{"imagenet", models.ReLU6, true},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%s_%s_se%v", c.space, c.act, c.se), func(t *testing.T) {
			arch := testArch(c.space, int64(100+i))
			net, err := models.Build(arch, models.Options{SE: c.se, Act: c.act})
			if err != nil {
				t.Fatal(err)
			}
			sd := InitWeights(net, int64(i))
			randomizeBN(sd, net.Tensors(), int64(i))
			batch := 2
			if c.space == "imagenet" {
				batch = 1
			}
			in := randomInput(int64(i), batch, net.Space.InputSize)
			var outs [2]*tensor.Tensor
			for j, optimize := range []bool{false, true} {
				opts := DefaultOptions()
				opts.Optimize = optimize
				path := filepath.Join(dir, fmt.Sprintf("%d_%v.onnx", i, optimize))
				m, err := WriteFile(path, net, sd, opts)
				if err != nil {
					t.Fatal(err)
				}
				checkStructure(t, m, net, optimize)
				outs[j] = runAllLevels(t, path, in)
			}
			scale := maxAbs(outs[0].Data)
			if scale == 0 || math.IsNaN(scale) || math.IsInf(scale, 0) {
				t.Fatalf("degenerate plain logits (max |logit| %g)", scale)
			}
			d := maxAbsDiff(t, outs[0], outs[1])
			t.Logf("max |logit| %.3g, optimised vs plain max abs diff %.3g", scale, d)
			if d > 1e-4*math.Max(1, scale) {
				t.Errorf("optimised vs plain: max abs diff %g (max |logit| %g)", d, scale)
			}
			if fmt.Sprint(outs[1].Shape) != fmt.Sprint([]int64{int64(batch), int64(net.Classifier.Out)}) {
				t.Errorf("logits shape %v", outs[1].Shape)
			}
		})
	}
}

// TestOpsetsAndDynamicBatch exports at every supported opset and runs
// batches of 1 and 3 through the same model.
func TestOpsetsAndDynamicBatch(t *testing.T) {
	needORT(t)
	dir := t.TempDir()
	net, err := models.Build(testArch("cifar10", 7), models.Options{SE: true, Act: models.HSwish})
	if err != nil {
		t.Fatal(err)
	}
	sd := InitWeights(net, 3)
	randomizeBN(sd, net.Tensors(), 3)
	in3 := randomInput(9, 3, 32)
	in1 := &tensor.Tensor{Shape: []int{1, 3, 32, 32}, Data: in3.Data[:3*32*32]}
	var first *tensor.Tensor
	for opset := MinOpset; opset <= MaxOpset; opset++ {
		opts := DefaultOptions()
		opts.Opset = opset
		path := filepath.Join(dir, fmt.Sprintf("opset%d.onnx", opset))
		m, err := WriteFile(path, net, sd, opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.GetOpsetImport()[0].GetVersion(); got != int64(opset) {
			t.Errorf("opset_import %d, want %d", got, opset)
		}
		if opset == MinOpset {
			pythonCheck(t, path)
		}
		out3 := runORT(t, path, 99, in3)
		out1 := runORT(t, path, 99, in1)
		if d := maxAbsDiff(t, out1, &tensor.Tensor{Shape: out1.Shape, Data: out3.Data[:len(out1.Data)]}); d > 1e-5*math.Max(1, maxAbs(out1.Data)) {
			t.Errorf("opset %d: batch-1 logits differ from row 0 of batch-3 by %g", opset, d)
		}
		if first == nil {
			first = out3
		} else if d := maxAbsDiff(t, first, out3); d > 1e-5*math.Max(1, maxAbs(first.Data)) {
			t.Errorf("opset %d differs from opset %d by %g", opset, MinOpset, d)
		}
	}
}

// TestCheckerPlainRelu6 checks relu6 exports (plain and optimised) structurally
// and with the ONNX checker.
func TestCheckerPlainRelu6(t *testing.T) {
	net, err := models.Build(testArch("cifar100", 11), models.Options{SE: true, Act: models.ReLU6})
	if err != nil {
		t.Fatal(err)
	}
	sd := InitWeights(net, 1)
	for _, optimize := range []bool{false, true} {
		opts := DefaultOptions()
		opts.Optimize = optimize
		path := filepath.Join(t.TempDir(), "m.onnx")
		m, err := WriteFile(path, net, sd, opts)
		if err != nil {
			t.Fatal(err)
		}
		checkStructure(t, m, net, optimize)
		counts := NodeCounts(m)
		if counts["Clip"] == 0 || counts["HardSwish"] != 0 {
			t.Errorf("relu6 export: node counts %v, want Clip and no HardSwish", counts)
		}
		pythonCheck(t, path)
	}
}

// TestSegments checks the channel bookkeeping of the optimised form without
// ORT: segments are sorted by kernel and cover every group once, and the
// row/column permutations move the right entries.
func TestSegments(t *testing.T) {
	blk := &models.Block{Kernels: []int{7, 3, 5, 3, 7, 5}, GroupSize: 4}
	segs := segments(blk)
	want := "[{3 [1 3]} {5 [2 5]} {7 [0 4]}]"
	if got := fmt.Sprint(segs); got != want {
		t.Errorf("segments %s, want %s", got, want)
	}
	w := []float32{0, 1, 2, 3, 4, 5} // 2 rows × 3 cols
	if got := fmt.Sprint(permuteCols(w, 2, 3, []int{2, 0, 1})); got != "[2 0 1 5 3 4]" {
		t.Errorf("permuteCols = %s", got)
	}
	if got := fmt.Sprint(permuteRows(w, 3, []int{2, 0, 1})); got != "[4 5 0 1 2 3]" {
		t.Errorf("permuteRows = %s", got)
	}
}

// TestFoldMatchesBN checks BN folding numerically on one channel.
func TestFoldMatchesBN(t *testing.T) {
	w := &weights.Tensor{Shape: []int{2, 1, 1, 1}, Data: []float32{2, -3}}
	scale := []float64{0.5, 2}
	shift := []float64{1, -1}
	nw, nb := fold(w, []float32{1, 1}, scale, shift)
	// y = scale*(w*x + b) + shift at x = 1
	for o := 0; o < 2; o++ {
		want := scale[o]*(float64(w.Data[o])+1) + shift[o]
		if got := float64(nw[o]) + float64(nb[o]); math.Abs(got-want) > 1e-6 {
			t.Errorf("channel %d: folded %g, want %g", o, got, want)
		}
	}
}

func TestErrors(t *testing.T) {
	net, err := models.Build(testArch("cifar10", 5), models.Options{SE: true})
	if err != nil {
		t.Fatal(err)
	}
	fresh := func() weights.StateDict { return InitWeights(net, 1) }

	sd := fresh()
	delete(sd, "stages.4.depthwise.blocks.2.weight")
	if _, err := Build(net, sd, DefaultOptions()); err == nil || !strings.Contains(err.Error(), "missing stages.4.depthwise.blocks.2.weight") {
		t.Errorf("missing tensor: err = %v", err)
	}

	sd = fresh()
	sd["stages.0.point_wise_1.bn.running_var"] = weights.NewTensor(3)
	if _, err := Build(net, sd, DefaultOptions()); err == nil || !strings.Contains(err.Error(), "stages.0.point_wise_1.bn.running_var: shape [3]") {
		t.Errorf("wrong shape: err = %v", err)
	}

	sd = fresh()
	sd["stages.0.extra.weight"] = weights.NewTensor(2)
	if err := CheckWeights(sd, net, false); err == nil || !strings.Contains(err.Error(), "unexpected stages.0.extra.weight") {
		t.Errorf("unexpected tensor: err = %v", err)
	}
	if err := CheckWeights(sd, net, true); err != nil {
		t.Errorf("unexpected tensor allowed: err = %v", err)
	}
	if _, err := Build(net, sd, DefaultOptions()); err != nil {
		t.Errorf("Build ignores extra tensors, err = %v", err)
	}

	for _, opset := range []int{13, 18, -1} {
		opts := DefaultOptions()
		opts.Opset = opset
		_, err := Build(net, fresh(), opts)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("opset %d", opset)) || !strings.Contains(err.Error(), "14..17") {
			t.Errorf("opset %d: err = %v", opset, err)
		}
	}

	if _, err := LoadWeights(filepath.Join(t.TempDir(), "nope.pth"), net, false); err == nil || !strings.Contains(err.Error(), "nope.pth") {
		t.Errorf("missing file: err = %v", err)
	}
}

// TestFixtureWrongArchRejected imports the fixture weights into a different
// architecture: the error names the mismatching tensors.
func TestFixtureWrongArchRejected(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "fixtures", "sgnas_c")
	a := testArch("imagenet", 1)
	net, err := models.Build(a, models.Options{SE: true, Act: models.HSwish, Classes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	_, err = LoadWeights(filepath.Join(dir, "sgnas_c_state_dict.pth"), net, false)
	if err == nil || !strings.Contains(err.Error(), "sgnas_c_state_dict.pth") || !strings.Contains(err.Error(), "stages.") {
		t.Errorf("err = %v", err)
	}
}

// TestGraphForms checks the alternative graph forms against the plain graph
// on random architectures (several kernel sizes per layer, SE on/off, both
// activations, randomised BN): padded depthwise (one depthwise conv per
// layer, no Split/Concat) and the h-swish gate (no HardSwish node), at every
// ORT optimisation level.
func TestGraphForms(t *testing.T) {
	needORT(t)
	dir := t.TempDir()
	cases := []struct {
		space string
		act   models.Activation
		se    bool
	}{
		{"cifar10", models.HSwish, true},
		{"cifar100", models.ReLU6, false},
		{"imagenet", models.HSwish, true},
	}
	forms := [][2]string{{DepthwisePadded, HSwishOp}, {DepthwiseSplit, HSwishGate}, {DepthwisePadded, HSwishGate}}
	for i, c := range cases {
		arch := testArch(c.space, int64(200+i))
		net, err := models.Build(arch, models.Options{SE: c.se, Act: c.act})
		if err != nil {
			t.Fatal(err)
		}
		sd := InitWeights(net, int64(i))
		randomizeBN(sd, net.Tensors(), int64(i))
		in := randomInput(int64(i), 1, net.Space.InputSize)
		plainPath := filepath.Join(dir, fmt.Sprintf("%d_plain.onnx", i))
		if _, err := WriteFile(plainPath, net, sd, Options{Opset: DefaultOpset}); err != nil {
			t.Fatal(err)
		}
		want := runAllLevels(t, plainPath, in)
		scale := maxAbs(want.Data)
		for _, f := range forms {
			opts := DefaultOptions()
			opts.DepthwiseForm, opts.HSwishForm = f[0], f[1]
			path := filepath.Join(dir, fmt.Sprintf("%d_%s_%s.onnx", i, f[0], f[1]))
			m, err := WriteFile(path, net, sd, opts)
			if err != nil {
				t.Fatal(err)
			}
			counts := NodeCounts(m)
			dw := 0
			for _, n := range m.GetGraph().GetNode() {
				if n.GetOpType() == "Conv" && attrInt(n, "group", 1) > 1 && !strings.Contains(n.GetOutput()[0], ".gate") {
					dw++
				}
			}
			if f[0] == DepthwisePadded && (counts["Split"] != 0 || counts["Concat"] != 0 || dw != len(net.Blocks)) {
				t.Errorf("%s %v: %d depthwise convs for %d blocks, nodes %s", c.space, f, dw, len(net.Blocks), FormatNodeCounts(counts))
			}
			if f[1] == HSwishGate && counts["HardSwish"] != 0 {
				t.Errorf("%s %v: HardSwish left: %s", c.space, f, FormatNodeCounts(counts))
			}
			md := onnx.Metadata(m)
			if (f[0] == DepthwisePadded) != (md["depthwise_form"] == DepthwisePadded) || (f[1] == HSwishGate && c.act == models.HSwish) != (md["hswish_form"] == HSwishGate) {
				t.Errorf("%s %v: metadata depthwise_form %q hswish_form %q", c.space, f, md["depthwise_form"], md["hswish_form"])
			}
			got := runAllLevels(t, path, in)
			d := maxAbsDiff(t, want, got)
			t.Logf("%s %s/%s: max |logit| %.3g, vs plain max abs diff %.3g", c.space, f[0], f[1], scale, d)
			if d > 1e-4*math.Max(1, scale) {
				t.Errorf("%s %v vs plain: max abs diff %g (max |logit| %g)", c.space, f, d, scale)
			}
		}
	}
	net, _, _, _ := loadFixture(t)
	sd := InitWeights(net, 1)
	for _, o := range []Options{{Opset: 17, Optimize: true, DepthwiseForm: "pad"}, {Opset: 17, Optimize: true, HSwishForm: "x"}} {
		if _, err := Build(net, sd, o); err == nil || !strings.Contains(err.Error(), "form") {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

// TestPadKernels: a k×k kernel lands centred in the K×K one, zeros around.
func TestPadKernels(t *testing.T) {
	w := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}
	p := padKernels(w, 2, 3, 5)
	for c := 0; c < 2; c++ {
		for i := 0; i < 5; i++ {
			for j := 0; j < 5; j++ {
				v := p[c*25+i*5+j]
				var want float32
				if i >= 1 && i <= 3 && j >= 1 && j <= 3 {
					want = w[c*9+(i-1)*3+j-1]
				}
				if v != want {
					t.Fatalf("channel %d (%d,%d): %g, want %g", c, i, j, v, want)
				}
			}
		}
	}
}
