package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randTensor(rng *rand.Rand, scale float64, shape ...int) *Tensor {
	t := NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64() * scale)
	}
	return t
}

// gradCheck compares the tape's gradients of L = Σ r·f(inputs) with central
// finite differences for up to 40 elements of every input.
func gradCheck(t *testing.T, name string, inputs []*Tensor, f func(tp *Tape, vs []*Var) *Var) {
	t.Helper()
	gradCheckEps(t, name, 1e-2, inputs, f)
}

// gradCheckEps is gradCheck with step eps (smaller steps for functions
// with kinks, where a larger step may cross one).
func gradCheckEps(t *testing.T, name string, eps float64, inputs []*Tensor, f func(tp *Tape, vs []*Var) *Var) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 9))
	tp := NewTape(nil)
	vs := make([]*Var, len(inputs))
	for i, x := range inputs {
		vs[i] = tp.Leaf(x)
	}
	y := f(tp, vs)
	r := make([]float32, y.Value.Numel())
	for i := range r {
		r[i] = float32(rng.NormFloat64())
	}
	copy(tp.grad(y), r)
	for i := len(tp.ops) - 1; i >= 0; i-- {
		tp.ops[i]()
	}
	ana := make([][]float32, len(inputs))
	for i, v := range vs {
		if v.Grad == nil {
			t.Fatalf("%s: no gradient reached input %d", name, i)
		}
		ana[i] = append([]float32(nil), v.Grad.Data...)
	}
	tp.Reset()
	loss := func() float64 {
		tp := NewTape(nil)
		vs := make([]*Var, len(inputs))
		for i, x := range inputs {
			vs[i] = tp.Const(x)
		}
		y := f(tp, vs)
		var s float64
		for i, v := range y.Value.Data {
			s += float64(v) * float64(r[i])
		}
		return s
	}
	for i, x := range inputs {
		idx := rng.Perm(len(x.Data))
		if len(idx) > 40 {
			idx = idx[:40]
		}
		scale := 0.0
		for _, g := range ana[i] {
			scale = math.Max(scale, math.Abs(float64(g)))
		}
		for _, j := range idx {
			old := x.Data[j]
			x.Data[j] = old + float32(eps)
			lp := loss()
			x.Data[j] = old - float32(eps)
			lm := loss()
			x.Data[j] = old
			num := (lp - lm) / (2 * float64(float32(eps)))
			a := float64(ana[i][j])
			if d := math.Abs(num - a); d > 1e-2*math.Abs(a)+5e-3*scale+1e-4 {
				t.Errorf("%s: input %d elem %d: analytic %.6g numeric %.6g (scale %.3g)", name, i, j, a, num, scale)
			}
		}
	}
}

func TestConvDenseGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, g := range []ConvGeom{
		{Cin: 3, Cout: 4, K: 3, Stride: 1, Pad: 1, Groups: 1},
		{Cin: 3, Cout: 5, K: 3, Stride: 2, Pad: 1, Groups: 1},
		{Cin: 4, Cout: 6, K: 1, Stride: 1, Pad: 0, Groups: 1},
		{Cin: 4, Cout: 3, K: 1, Stride: 2, Pad: 0, Groups: 1},
		{Cin: 2, Cout: 3, K: 5, Stride: 2, Pad: 2, Groups: 1},
	} {
		for _, h := range []int{7, 8} {
			x := randTensor(rng, 1, g.Cin, 2, h, h)
			w := randTensor(rng, 0.5, g.WeightShape()...)
			gradCheck(t, "conv", []*Tensor{x, w}, func(tp *Tape, v []*Var) *Var { return tp.Conv2d(v[0], v[1], g) })
		}
	}
}

func TestDepthwiseGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{3, 5, 7} {
		for _, s := range []int{1, 2} {
			for _, h := range []int{4, 7, 8} {
				g := ConvGeom{Cin: 3, Cout: 3, K: k, Stride: s, Pad: k / 2, Groups: 3}
				x := randTensor(rng, 1, 3, 2, h, h)
				w := randTensor(rng, 0.5, g.WeightShape()...)
				gradCheck(t, "depthwise", []*Tensor{x, w}, func(tp *Tape, v []*Var) *Var { return tp.Conv2d(v[0], v[1], g) })
			}
		}
	}
}

// naiveConv is an independent float64 reference on NCHW-free CNHW data.
func naiveConv(g ConvGeom, x []float32, n, h, w int, wt []float32) []float64 {
	ho, wo := g.OutSize(h), g.OutSize(w)
	cpg := g.Cin / g.Groups
	opg := g.Cout / g.Groups
	y := make([]float64, g.Cout*n*ho*wo)
	for co := 0; co < g.Cout; co++ {
		grp := co / opg
		for b := 0; b < n; b++ {
			for oh := 0; oh < ho; oh++ {
				for ow := 0; ow < wo; ow++ {
					var s float64
					for cl := 0; cl < cpg; cl++ {
						ci := grp*cpg + cl
						for kh := 0; kh < g.K; kh++ {
							for kw := 0; kw < g.K; kw++ {
								ih, iw := oh*g.Stride-g.Pad+kh, ow*g.Stride-g.Pad+kw
								if ih < 0 || iw < 0 || ih >= h || iw >= w {
									continue
								}
								s += float64(x[((ci*n+b)*h+ih)*w+iw]) * float64(wt[((co*cpg+cl)*g.K+kh)*g.K+kw])
							}
						}
					}
					y[((co*n+b)*ho+oh)*wo+ow] = s
				}
			}
		}
	}
	return y
}

func TestConvForwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	SetThreads(2)
	defer SetThreads(0)
	for _, g := range []ConvGeom{
		{Cin: 3, Cout: 8, K: 3, Stride: 1, Pad: 1, Groups: 1},
		{Cin: 16, Cout: 24, K: 1, Stride: 1, Pad: 0, Groups: 1},
		{Cin: 8, Cout: 8, K: 3, Stride: 2, Pad: 1, Groups: 8},
		{Cin: 8, Cout: 8, K: 5, Stride: 1, Pad: 2, Groups: 8},
		{Cin: 8, Cout: 8, K: 7, Stride: 2, Pad: 3, Groups: 8},
	} {
		x := randTensor(rng, 1, g.Cin, 5, 9, 9)
		w := randTensor(rng, 1, g.WeightShape()...)
		tp := NewTape(nil)
		y := tp.Conv2d(tp.Const(x), tp.Const(w), g)
		ref := naiveConv(g, x.Data, 5, 9, 9, w.Data)
		for i, v := range y.Value.Data {
			if math.Abs(float64(v)-ref[i]) > 1e-4*(1+math.Abs(ref[i])) {
				t.Fatalf("%+v: y[%d]=%g want %g", g, i, v, ref[i])
			}
		}
	}
}

func TestBatchNormGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for _, training := range []bool{true, false} {
		for _, act := range []Activation{ActNone, ActReLU6, ActHSwish} {
			var x, gm, bt, rm, rv *Tensor
			for try := 0; ; try++ { // draw until no pre-activation sits near a kink
				x = randTensor(rng, 2, 3, 4, 3, 3)
				gm = randTensor(rng, 1, 3)
				bt = randTensor(rng, 1, 3)
				rm = randTensor(rng, 0.3, 3)
				rv = NewTensor(3)
				for i := range rv.Data {
					rv.Data[i] = 0.5 + rng.Float32()
				}
				tp := NewTape(nil)
				st := BNState{RunningMean: rm.Clone(), RunningVar: rv.Clone(), Momentum: 0.1, Eps: 1e-5}
				z := tp.BatchNorm(tp.Const(x), tp.Const(gm), tp.Const(bt), st, training, ActNone)
				near := false
				for _, v := range z.Value.Data {
					for _, k := range []float32{-3, 0, 3, 6} {
						near = near || (v-k > -0.03 && v-k < 0.03)
					}
				}
				if !near || try > 50 {
					break
				}
			}
			gradCheckEps(t, "bn "+act.String(), 2e-3, []*Tensor{x, gm, bt}, func(tp *Tape, v []*Var) *Var {
				st := BNState{RunningMean: rm.Clone(), RunningVar: rv.Clone(), Momentum: 0.1, Eps: 1e-5}
				return tp.BatchNorm(v[0], v[1], v[2], st, training, act)
			})
		}
	}
}

func TestBatchNormRunningStats(t *testing.T) {
	x := FromData([]float32{1, 2, 3, 4, 10, 20, 30, 40}, 2, 2, 1, 2) // 2 channels, 4 values each
	st := BNState{RunningMean: NewTensor(2), RunningVar: FromData([]float32{1, 1}, 2), Momentum: 0.1, Eps: 1e-5}
	tp := NewTape(nil)
	y := tp.BatchNorm(tp.Const(x), tp.Const(FromData([]float32{1, 1}, 2)), tp.Const(NewTensor(2)), st, true, ActNone)
	// channel 0: mean 2.5, biased var 1.25, unbiased 5/3
	if d := math.Abs(float64(st.RunningMean.Data[0]) - 0.25); d > 1e-6 {
		t.Errorf("running mean %g want 0.25", st.RunningMean.Data[0])
	}
	if d := math.Abs(float64(st.RunningVar.Data[0]) - (0.9 + 0.1*5.0/3)); d > 1e-6 {
		t.Errorf("running var %g want %g", st.RunningVar.Data[0], 0.9+0.1*5.0/3)
	}
	want := (1 - 2.5) / math.Sqrt(1.25+1e-5)
	if d := math.Abs(float64(y.Value.Data[0]) - want); d > 1e-5 {
		t.Errorf("y[0]=%g want %g", y.Value.Data[0], want)
	}
	// eval mode uses the running statistics and leaves them unchanged
	rm0 := st.RunningMean.Data[1]
	y2 := tp.BatchNorm(tp.Const(x), tp.Const(FromData([]float32{2, 2}, 2)), tp.Const(FromData([]float32{1, 1}, 2)), st, false, ActNone)
	want2 := 2*(10-float64(st.RunningMean.Data[1]))/math.Sqrt(float64(st.RunningVar.Data[1])+1e-5) + 1
	if math.Abs(float64(y2.Value.Data[4])-want2) > 1e-4 || st.RunningMean.Data[1] != rm0 {
		t.Errorf("eval y=%g want %g", y2.Value.Data[4], want2)
	}
}

func TestActGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	for _, a := range []Activation{ActReLU6, ActHSwish, ActHSigmoid, ActReLU} {
		x := randTensor(rng, 4, 2, 3, 4, 4)
		// keep away from the kinks
		for i, v := range x.Data {
			for _, k := range []float32{-3, 0, 3, 6} {
				if d := v - k; d > -0.05 && d < 0.05 {
					x.Data[i] = k + 0.1
				}
			}
		}
		gradCheck(t, a.String(), []*Tensor{x}, func(tp *Tape, v []*Var) *Var { return tp.Act(v[0], a) })
	}
	// values
	x := FromData([]float32{-4, -1, 0.5, 4, 7}, 5)
	tp := NewTape(nil)
	hs := tp.Act(tp.Const(x), ActHSwish).Value.Data
	hg := tp.Act(tp.Const(x), ActHSigmoid).Value.Data
	r6 := tp.Act(tp.Const(x), ActReLU6).Value.Data
	for i, v := range x.Data {
		r := math.Min(math.Max(float64(v)+3, 0), 6)
		if math.Abs(float64(hs[i])-float64(v)*r/6) > 1e-6 || math.Abs(float64(hg[i])-r/6) > 1e-6 ||
			math.Abs(float64(r6[i])-math.Min(math.Max(float64(v), 0), 6)) > 1e-6 {
			t.Errorf("activation values wrong at x=%g: %g %g %g", v, hs[i], hg[i], r6[i])
		}
	}
}

func TestMiscGrads(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 13))
	x := randTensor(rng, 1, 4, 3, 3, 3)
	gradCheck(t, "gap", []*Tensor{x}, func(tp *Tape, v []*Var) *Var { return tp.GlobalAvgPool(v[0]) })
	xl := randTensor(rng, 1, 5, 7)
	w := randTensor(rng, 1, 3, 7)
	b := randTensor(rng, 1, 3)
	gradCheck(t, "linear", []*Tensor{xl, w, b}, func(tp *Tape, v []*Var) *Var { return tp.Linear(v[0], v[1], v[2]) })
	y := randTensor(rng, 1, 4, 3, 3, 3)
	s := FromData([]float32{0.7}, 1)
	gradCheck(t, "add+scale", []*Tensor{x, y, s}, func(tp *Tape, v []*Var) *Var { return tp.Add(tp.Scale(v[0], v[2]), v[1]) })
	gradCheck(t, "slice+concat", []*Tensor{x, y}, func(tp *Tape, v []*Var) *Var {
		a := tp.SliceChannels(v[0], 1, 3)
		bb := tp.SliceChannels(v[1], 0, 2)
		return tp.Concat(tp.Act(a, ActHSigmoid), tp.Zeros(1, 3, 3, 3), tp.Scale(bb, tp.Const(FromData([]float32{2}, 1))))
	})
	lg := randTensor(rng, 2, 6, 10)
	labels := []int{0, 3, 9, 2, 2, 7}
	gradCheck(t, "ce", []*Tensor{lg}, func(tp *Tape, v []*Var) *Var {
		l, err := tp.CrossEntropy(v[0], labels, 0.1)
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

func TestCrossEntropyValue(t *testing.T) {
	logits := FromData([]float32{1, 2, 3, 0, 0, 0}, 2, 3)
	tp := NewTape(nil)
	l, err := tp.CrossEntropy(tp.Const(logits), []int{2, 0}, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	// independent computation
	lse := math.Log(math.Exp(1) + math.Exp(2) + math.Exp(3))
	l0 := -(0.9+0.1/3)*(3-lse) - 0.1/3*(1-lse) - 0.1/3*(2-lse)
	l1 := math.Log(3)
	want := (l0 + l1) / 2
	if math.Abs(float64(l.Value.Data[0])-want) > 1e-6 {
		t.Fatalf("loss %g want %g", l.Value.Data[0], want)
	}
	if _, err := tp.CrossEntropy(tp.Const(logits), []int{3, 0}, 0.1); err == nil {
		t.Fatal("label out of range accepted")
	}
}

// TestDepthwiseFastMatchesDirect checks the padded/unrolled depthwise
// kernels against the direct-loop ones (forward and backward).
func TestDepthwiseFastMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 15))
	for _, k := range []int{3, 5, 7} {
		for _, s := range []int{1, 2} {
			g := ConvGeom{Cin: 4, Cout: 4, K: k, Stride: s, Pad: k / 2, Groups: 4}
			x := randTensor(rng, 1, 4, 3, 9, 9)
			w := randTensor(rng, 1, g.WeightShape()...)
			ho := g.OutSize(9)
			y1, y2 := make([]float32, 4*3*ho*ho), make([]float32, 4*3*ho*ho)
			dwForward(g, x.Data, 3, 9, 9, w.Data, y1)
			dwForwardFast(g, x.Data, 3, 9, 9, w.Data, y2)
			if d := MaxAbsDiff(y1, y2); d > 1e-5 {
				t.Fatalf("k%d s%d forward differs by %g", k, s, d)
			}
			dy := randTensor(rng, 1, 4, 3, ho, ho)
			dw1, dw2 := make([]float32, len(w.Data)), make([]float32, len(w.Data))
			dx1, dx2 := make([]float32, len(x.Data)), make([]float32, len(x.Data))
			dwBackward(g, x.Data, 3, 9, 9, w.Data, dy.Data, dw1, dx1)
			dwBackwardFast(g, x.Data, 3, 9, 9, w.Data, dy.Data, dw2, dx2)
			if d := MaxAbsDiff(dw1, dw2) + MaxAbsDiff(dx1, dx2); d > 1e-4 {
				t.Fatalf("k%d s%d backward differs by %g", k, s, d)
			}
		}
	}
}

func TestOptimizers(t *testing.T) {
	s := NewStore()
	p := s.Param("w", []int{2}, InitConst(1))
	sgd := NewSGD(s.Trainable(), 0.9, 0.1)
	// PyTorch: d = g + wd·w; buf = d (first), then 0.9·buf + d; w -= lr·buf
	p.Grad.Data[0], p.Grad.Data[1] = 0.5, -1
	sgd.Step(0.1) // d0 = 0.6 → w0 = 1 − 0.06 = 0.94
	p.Grad.Data[0] = 0.5
	sgd.Step(0.1) // d = 0.5 + 0.094 = 0.594; buf = 0.54 + 0.594 = 1.134; w0 = 0.94 − 0.1134
	if math.Abs(float64(p.Value.Data[0])-(0.94-0.1134)) > 1e-6 {
		t.Fatalf("sgd w0 = %.7f want %.7f", p.Value.Data[0], 0.94-0.1134)
	}
	st := sgd.State()
	if b := st["w.momentum_buffer"]; b == nil || math.Abs(float64(b.Data[0])-1.134) > 1e-6 {
		t.Fatalf("momentum buffer %v", st)
	}
	sgd2 := NewSGD(s.Trainable(), 0.9, 0.1)
	if err := sgd2.LoadState(st); err != nil || sgd2.bufs[0].Data[0] != st["w.momentum_buffer"].Data[0] {
		t.Fatalf("load state: %v", err)
	}

	s2 := NewStore()
	q := s2.Param("g", []int{1}, InitConst(1))
	adam := NewAdam(s2.Trainable(), 0.5, 0.999, 1e-8, 0)
	q.Grad.Data[0] = 2
	adam.Step(0.01) // first step moves by lr·sign(g)
	if math.Abs(float64(q.Value.Data[0])-0.99) > 1e-6 {
		t.Fatalf("adam first step: %g", q.Value.Data[0])
	}
	q.Grad.Data[0] = -1
	adam.Step(0.01)
	// independent computation
	m := 0.5*(0.5*2) + 0.5*(-1)
	v := 0.999*(0.001*4) + 0.001*1
	want := 0.99 - 0.01*(m/(1-0.25))/(math.Sqrt(v/(1-0.999*0.999))+1e-8)
	if math.Abs(float64(q.Value.Data[0])-want) > 1e-6 {
		t.Fatalf("adam second step: %g want %g", q.Value.Data[0], want)
	}
	if adam.State()["step"].Data[0] != 2 {
		t.Fatal("adam step count not in state")
	}

	c := CosineLR{Base: 0.064, TMax: 100}
	if c.At(0) != 0.064 || math.Abs(c.At(50)-0.032) > 1e-12 || math.Abs(c.At(100)) > 1e-12 {
		t.Fatalf("cosine: %g %g %g", c.At(0), c.At(50), c.At(100))
	}
}

func TestDevice(t *testing.T) {
	d, err := ParseDevice("CUDA")
	if err != nil || d != CUDA {
		t.Fatal(d, err)
	}
	if err := d.Check(); err == nil {
		t.Fatal("cuda accepted")
	}
	if err := CPU.Check(); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseDevice("tpu"); err == nil {
		t.Fatal("tpu accepted")
	}
}

func TestStoreSharedByName(t *testing.T) {
	s := NewStore()
	rng := rand.New(rand.NewPCG(1, 1))
	a := NewConv(s, "stages.0.point_wise.conv.weight", ConvGeom{Cin: 2, Cout: 4, K: 1, Stride: 1, Groups: 1}, rng)
	b := NewConv(s, "stages.0.point_wise.conv.weight", ConvGeom{Cin: 2, Cout: 4, K: 1, Stride: 1, Groups: 1}, rng)
	if a.W != b.W || len(s.Names()) != 1 {
		t.Fatal("same name did not share the parameter")
	}
	// two paths' gradients sum into the shared parameter
	x := randTensor(rng, 1, 2, 1, 2, 2)
	for i := 0; i < 2; i++ {
		tp := NewTape(nil)
		y := a.Forward(tp, tp.Const(x))
		l := tp.GlobalAvgPool(y)
		tp.Backward(tp.Linear(l, tp.Const(FromData([]float32{1, 1, 1, 1}, 1, 4)), nil))
		tp.Reset()
	}
	// ∂/∂w[o][i] of Σ_o mean(y_o) = mean(x_i); twice
	for o := 0; o < 4; o++ {
		for i := 0; i < 2; i++ {
			want := 2 * float64(x.Data[i*4]+x.Data[i*4+1]+x.Data[i*4+2]+x.Data[i*4+3]) / 4
			if math.Abs(float64(a.W.Grad.Data[o*2+i])-want) > 1e-5 {
				t.Fatalf("grad[%d][%d]=%g want %g", o, i, a.W.Grad.Data[o*2+i], want)
			}
		}
	}
	st := s.StateDict()
	if _, err := s.Load(st, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(map[string]*Tensor{}, false); err == nil {
		t.Fatal("missing tensor accepted")
	}
}
