package models

import (
	"encoding/json"
	"math"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"
)

func uniformArch(space string, e, k int) *Arch { return uniformKernels(space, e, k) }

func TestLUTConstants(t *testing.T) {
	im := MustSpace("imagenet").LUT()
	if math.Abs(im.Basic-40.943616) > 1e-9 {
		t.Errorf("imagenet basic = %.9f, want 40.943616", im.Basic)
	}
	for _, name := range []string{"cifar10", "cifar100"} {
		if b := MustSpace(name).LUT().Basic; math.Abs(b-8.257536) > 1e-9 {
			t.Errorf("%s basic = %.9f, want 8.257536", name, b)
		}
	}
	// Reference §6.2 example: layer 0, ImageNet.
	want := []float64{0.451584, 1.2544, 2.458624, 19.267584, 9.633792}
	got := []float64{im.DW[0][0], im.DW[0][1], im.DW[0][2], im.PW1[0], im.PW2[0]}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Errorf("layer 0 entry %d = %.6f, want %.6f", i, got[i], want[i])
		}
	}
	// Reference §1.4 measured range.
	for _, c := range []struct {
		e, k int
		want float64
	}{{1, 3, 75.13}, {2, 3, 177.55}, {6, 7, 556.13}} {
		if f := im.ArchMFLOPs(uniformArch("imagenet", c.e, c.k)); math.Abs(f-c.want) > 0.005 {
			t.Errorf("all e=%d k=%d: %.3f MFLOPs, want %.2f", c.e, c.k, f, c.want)
		}
	}
}

func TestSpaceShapes(t *testing.T) {
	im, cf := MustSpace("imagenet"), MustSpace("cifar100")
	if im.FinalSize() != 7 || cf.FinalSize() != 4 {
		t.Fatalf("final sizes %d, %d; want 7, 4", im.FinalSize(), cf.FinalSize())
	}
	if im.Layers[0].HIn != 112 || im.Layers[0].HOut != 56 || cf.Layers[0].HOut != 32 || cf.Layers[2].HOut != 16 {
		t.Fatalf("layer sizes wrong: %+v %+v", im.Layers[0], cf.Layers[2])
	}
	residual := 0
	for _, l := range im.Layers {
		if l.Residual() {
			residual++
		}
	}
	if residual != 13 {
		t.Fatalf("%d residual layers, want 13", residual)
	}
	if cf.Classes != 100 || MustSpace("cifar10").Classes != 10 {
		t.Fatal("cifar class counts")
	}
	if _, err := SpaceByName("mnist"); err == nil || !strings.Contains(err.Error(), "mnist") {
		t.Fatalf("unknown space error: %v", err)
	}
}

func TestPriorPoolLUT(t *testing.T) {
	pool, err := LoadPriorPool(filepath.Join(sharedDir(t), "pretrained", "imagenet", "prior_pool.json"), "imagenet")
	if err != nil {
		t.Fatal(err)
	}
	key, a := pool.Nearest(275)
	if key != 360 {
		t.Fatalf("nearest key %d, want 360", key)
	}
	if f := MustSpace("imagenet").LUT().ArchMFLOPs(a); math.Abs(f-359.818) > 0.001 {
		t.Fatalf("prior LUT %.4f, want 359.818", f)
	}
	if got := a.Layers[0].Kernels; len(got) != 4 || got[0] != 7 || got[3] != 5 {
		t.Fatalf("prior layer 0 = %v, want [7 3 3 5]", got)
	}
	// Round trip through Save.
	p := filepath.Join(t.TempDir(), "pool.json")
	if err := pool.Save(p); err != nil {
		t.Fatal(err)
	}
	back, err := LoadPriorPool(p, "imagenet")
	if err != nil || !back[360].Equal(a) {
		t.Fatalf("prior pool round trip: %v", err)
	}
}

func TestSoftFLOPsMatchesHardAndGradient(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, space := range SpaceNames {
		lut := MustSpace(space).LUT()
		for i := 0; i < 50; i++ {
			a := RandomArch(space, rng, 1, 6)
			if h, s := lut.ArchMFLOPs(a), lut.SoftMFLOPs(a.Encoding()); math.Abs(h-s) > 1e-4 {
				t.Fatalf("%s: hard %.6f soft %.6f for %s", space, h, s, a)
			}
		}
	}
	// Finite differences on a random probability matrix well inside the
	// smooth region (all probabilities > 0.01, skip fraction < 5/6).
	lut := MustSpace("imagenet").LUT()
	var p Encoding
	for l := range p {
		for b := 0; b < NumGroups; b++ {
			sum := 0.0
			for j := 0; j < NumCandidates; j++ {
				v := 0.05 + rng.Float64()
				p[l][4*b+j] = v
				sum += v
			}
			for j := 0; j < NumCandidates; j++ {
				p[l][4*b+j] /= sum
			}
		}
	}
	g := lut.Grad(&p)
	const h = 1e-3
	for l := 0; l < NumLayers; l += 6 {
		for c := 0; c < RowLen; c += 5 {
			q := p
			q[l][c] += h
			up := lut.SoftMFLOPs(&q)
			q[l][c] -= 2 * h
			down := lut.SoftMFLOPs(&q)
			fd := (up - down) / (2 * h)
			if math.Abs(fd-g[l][c]) > 1e-3*math.Max(1, math.Abs(fd)) {
				t.Errorf("grad[%d][%d] = %.6f, finite difference %.6f", l, c, g[l][c], fd)
			}
		}
	}
	var _ CostModel = lut
}

func TestFullCountWalkAgreesWithFormula(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, space := range SpaceNames {
		for _, se := range []bool{false, true} {
			for i := 0; i < 20; i++ {
				a := RandomArch(space, rng, 1, 6)
				c, err := Count(a, Options{Space: MustSpace(space), SE: se, Act: HSwish})
				if err != nil {
					t.Fatal(err)
				}
				if !se && math.Abs(c.LUTMFLOPs-c.MFLOPs) > 1e-6 {
					t.Fatalf("without SE the LUT %.6f and full %.6f counts differ", c.LUTMFLOPs, c.MFLOPs)
				}
			}
		}
	}
}

func TestTensorsMatchFixtureNames(t *testing.T) {
	a := uniformArch("imagenet", 1, 3)
	a.Layers[3].Kernels = []int{3, 5, 7, 7, 5, 3}
	n, err := Build(a, Options{Space: MustSpace("imagenet"), SE: true})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string][]int{}
	var numel int64
	for _, ts := range n.Tensors() {
		if _, dup := names[ts.Name]; dup {
			t.Fatalf("duplicate tensor %s", ts.Name)
		}
		names[ts.Name] = ts.Shape
		if ts.Trainable() {
			numel += int64(ts.Numel())
		}
	}
	if numel != n.Params() {
		t.Fatalf("tensor numel %d != Params %d", numel, n.Params())
	}
	if _, ok := names["stages.0.point_wise.conv.weight"]; ok {
		t.Fatal("expansion-1 layer must have no expand conv")
	}
	for name, shape := range map[string][]int{
		"first.conv.weight":                  {32, 3, 3, 3},
		"first_mb.depthwise.blocks.0.weight": {32, 1, 3, 3},
		"first_mb.se.squeeze_conv.weight":    {8, 32, 1, 1},
		"stages.3.point_wise.conv.weight":    {240, 40, 1, 1},
		"stages.3.depthwise.blocks.2.weight": {40, 1, 7, 7},
		"stages.3.se.excite_conv.bias":       {240},
		"stages.3.point_wise_1.conv.weight":  {40, 240, 1, 1},
		"last_stage.0.weight":                {1280, 320, 1, 1},
		"last_stage.1.running_var":           {1280},
		"classifier.1.weight":                {1000, 1280},
	} {
		got, ok := names[name]
		if !ok || len(got) != len(shape) {
			t.Fatalf("tensor %s: got %v, want %v", name, got, shape)
		}
		for i := range shape {
			if got[i] != shape[i] {
				t.Fatalf("tensor %s: got %v, want %v", name, got, shape)
			}
		}
	}
}

func TestParseForms(t *testing.T) {
	a := RandomArch("imagenet", rand.New(rand.NewSource(3)), 1, 6)
	enc := a.Encoding()
	rows, _ := json.Marshal(enc)
	forms := map[string]string{
		"project": string(a.MarshalIndent()),
		"bare":    string(rows),
		"onehot":  `{"onehot": ` + string(rows) + `}`,
		"pool":    `{"360": ` + string(rows) + `}`,
	}
	for name, text := range forms {
		b, err := ParseArch([]byte(text))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !b.Equal(a) {
			t.Fatalf("%s: parsed %s, want %s", name, b, a)
		}
	}
	c, err := ParseCompact("imagenet", a.String())
	if err != nil || !c.Equal(a) {
		t.Fatalf("compact round trip: %v", err)
	}
	can := a.Canonical()
	for _, l := range can.Layers {
		for i := 1; i < len(l.Kernels); i++ {
			if l.Kernels[i-1] > l.Kernels[i] {
				t.Fatalf("canonical not sorted: %v", l.Kernels)
			}
		}
	}
	lut := MustSpace("imagenet").LUT()
	if lut.ArchMFLOPs(can) != lut.ArchMFLOPs(a) {
		t.Fatal("canonical form changed FLOPs")
	}
}

func TestValidationErrors(t *testing.T) {
	good := uniformArch("imagenet", 2, 3)
	rowsOf := func(a *Arch) [][]float64 {
		e := a.Encoding()
		rows := make([][]float64, NumLayers)
		for l := range rows {
			rows[l] = append([]float64(nil), e[l][:]...)
		}
		return rows
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }

	short := good.Clone()
	short.Layers = short.Layers[:18]
	empty := good.Clone()
	empty.Layers[4].Kernels = nil
	badK := good.Clone()
	badK.Layers[5].Kernels = []int{3, 9}
	tooMany := good.Clone()
	tooMany.Layers[6].Kernels = []int{3, 3, 3, 3, 3, 3, 3}

	skip0 := rowsOf(good)
	skip0[2][0], skip0[2][3] = 0, 1
	two := rowsOf(good)
	two[7][4*2+1] = 1 // group 2 was skip; now skip and k5
	none := rowsOf(good)
	none[8][4*5+3] = 0
	frac := rowsOf(good)
	frac[9][0] = 0.5
	shortRow := rowsOf(good)
	shortRow[10] = shortRow[10][:20]

	cases := []struct{ name, input, want string }{
		{"layer count", string(short.MarshalIndent()), "18 layers, want 19"},
		{"empty layer", string(empty.MarshalIndent()), "layer 4 is empty"},
		{"bad kernel", string(badK.MarshalIndent()), "layer 5 group 1: kernel 9 not in {3,5,7}"},
		{"too many groups", string(tooMany.MarshalIndent()), "layer 6 has 7 kernels"},
		{"group 0 skipped", js(skip0), "layer 2 group 0 is skip"},
		{"two candidates", js(two), "layer 7 group 2: more than one candidate"},
		{"no candidate", js(none), "layer 8 group 5: no candidate"},
		{"fractional", `{"onehot":` + js(frac) + `}`, "layer 9 group 0: value 0.5"},
		{"short row", js(shortRow), "layer 10 has 20 columns"},
		{"rows", js(rowsOf(good)[:3]), "3 rows, want 19"},
		{"space", `{"space":"mnist","layers":[]}`, "unknown search space"},
		{"garbage", `{"layers": 3}`, "architecture JSON"},
		{"empty", ``, "empty architecture file"},
		{"pool of two", `{"1":` + js(rowsOf(good)) + `,"2":` + js(rowsOf(good)) + `}`, "2 entries"},
	}
	for _, c := range cases {
		_, err := ParseArch([]byte(c.input))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
	if _, err := LoadArch(filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file error %v should name the file", err)
	}
}

func TestRandomArchNear(t *testing.T) {
	for _, c := range []struct {
		space  string
		target float64
	}{{"imagenet", 80}, {"imagenet", 275}, {"imagenet", 500}, {"cifar10", 100}} {
		s := MustSpace(c.space)
		a, err := RandomArchNear(s, rand.New(rand.NewSource(5)), c.target, 1)
		if err != nil {
			t.Fatalf("%s %.0f: %v", c.space, c.target, err)
		}
		if f := s.LUT().ArchMFLOPs(a); math.Abs(f-c.target) > 1 {
			t.Fatalf("%s: got %.2f for target %.0f", c.space, f, c.target)
		}
		b, _ := RandomArchNear(s, rand.New(rand.NewSource(5)), c.target, 1)
		if !a.Equal(b) {
			t.Fatal("not deterministic for a seed")
		}
	}
	if _, err := RandomArchNear(MustSpace("imagenet"), rand.New(rand.NewSource(1)), 1000, 1); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Fatalf("want out-of-range error, got %v", err)
	}
}

func TestSpaceNameCanonical(t *testing.T) {
	a := uniformArch("imagenet", 2, 3)
	text := strings.Replace(string(a.MarshalIndent()), `"imagenet"`, `"ImageNet"`, 1)
	b, err := ParseArch([]byte(text))
	if err != nil || b.Space != "imagenet" {
		t.Fatalf("space %q, err %v; want imagenet", b.Space, err)
	}
	if _, err := Build(b, Options{Space: MustSpace("imagenet")}); err != nil {
		t.Fatal(err)
	}
}

func TestChoicesRoundTrip(t *testing.T) {
	a := RandomArch("cifar10", rand.New(rand.NewSource(11)), 1, 6)
	var c Choices
	for l, layer := range a.Layers {
		for b := range c[l] {
			c[l][b] = SkipCandidate
			if b < len(layer.Kernels) {
				c[l][b] = kernelIndex(layer.Kernels[b])
			}
		}
		if c.Expansion(l) != layer.Expansion() {
			t.Fatalf("layer %d: expansion %d, want %d", l, c.Expansion(l), layer.Expansion())
		}
	}
	if !c.Arch("cifar10").Equal(a) || *c.Encoding() != *a.Encoding() {
		t.Fatal("Choices do not decode to the architecture they encode")
	}
}
