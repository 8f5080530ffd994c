package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMulChannelsGrad checks the channel-wise gate multiply alone and a
// whole squeeze-and-excitation block (GAP → linear → ReLU → linear →
// h-sigmoid → multiply, weights viewed from 1×1 conv shapes with ParamAs)
// against finite differences.
func TestMulChannelsGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	x := randTensor(rng, 1, 6, 3, 4, 4)
	g := randTensor(rng, 1, 3, 6)
	gradCheck(t, "mulchannels", []*Tensor{x, g}, func(tp *Tape, v []*Var) *Var { return tp.MulChannels(v[0], v[1]) })

	w1 := randTensor(rng, 0.5, 2, 6)
	b1 := randTensor(rng, 0.5, 2)
	w2 := randTensor(rng, 0.5, 6, 2)
	b2 := randTensor(rng, 0.5, 6)
	se := func(tp *Tape, v []*Var) *Var {
		h := tp.Act(tp.Linear(tp.GlobalAvgPool(v[0]), v[1], v[2]), ActReLU)
		h = tp.Act(tp.Linear(h, v[3], v[4]), ActHSigmoid)
		return tp.MulChannels(v[0], h)
	}
	// keep the ReLU and h-sigmoid inputs away from their kinks
	for try := 0; ; try++ {
		tp := NewTape(nil)
		h := tp.Linear(tp.GlobalAvgPool(tp.Const(x)), tp.Const(w1), tp.Const(b1))
		ok := true
		for _, z := range h.Value.Data {
			ok = ok && math.Abs(float64(z)) > 0.05
		}
		h2 := tp.Linear(tp.Act(h, ActReLU), tp.Const(w2), tp.Const(b2))
		for _, z := range h2.Value.Data {
			ok = ok && math.Abs(float64(z)-3) > 0.05 && math.Abs(float64(z)+3) > 0.05
		}
		if ok {
			break
		}
		if try == 50 {
			t.Fatal("no kink-free draw")
		}
		b1 = randTensor(rng, 0.5, 2)
	}
	gradCheckEps(t, "se block", 1e-3, []*Tensor{x, w1, b1, w2, b2}, se)
}

// TestParamAs checks that a reshaped parameter view accumulates into the
// parameter's own gradient.
func TestParamAs(t *testing.T) {
	s := NewStore()
	p := s.Param("w", []int{2, 3, 1, 1}, InitConst(1))
	tp := NewTape(nil)
	x := tp.Const(FromData([]float32{1, 2, 3}, 1, 3))
	y := tp.Linear(x, tp.ParamAs(p, 2, 3), nil)
	tp.BackwardFrom(y, []float32{1, 2})
	want := []float32{1, 2, 3, 2, 4, 6}
	for i, w := range want {
		if p.Grad.Data[i] != w {
			t.Fatalf("grad %v, want %v", p.Grad.Data, want)
		}
	}
}

func TestDropout(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := randTensor(rng, 1, 8, 50)
	// the same mask in every evaluation: a fresh generator of the same seed
	gradCheck(t, "dropout", []*Tensor{x}, func(tp *Tape, v []*Var) *Var {
		return tp.Dropout(v[0], 0.3, rand.New(rand.NewPCG(5, 6)))
	})
	tp := NewTape(nil)
	y := tp.Dropout(tp.Const(x), 0.3, rand.New(rand.NewPCG(5, 6)))
	zeros := 0
	for i, v := range y.Value.Data {
		switch {
		case v == 0:
			zeros++
		case math.Abs(float64(v)-float64(x.Data[i])/0.7) > 1e-6:
			t.Fatalf("kept element %d is %g, want %g", i, v, x.Data[i]/0.7)
		}
	}
	if frac := float64(zeros) / 400; frac < 0.2 || frac > 0.4 {
		t.Fatalf("dropped fraction %g, want about 0.3", frac)
	}
}

// TestRMSpropTF checks two steps against a hand computation of timm's
// RMSpropTF (mean square starting at 1, eps inside the root, lr in the
// momentum buffer) and the weight-decay exclusion of BN/bias tensors.
func TestRMSpropTF(t *testing.T) {
	s := NewStore()
	w := s.Param("conv.weight", []int{1, 1, 1, 1}, InitConst(2))
	b := s.Param("conv.bias", []int{1}, InitConst(2))
	r := NewRMSpropTF(s.Trainable(), 0.9, 1e-3, 0.9, 0.1)
	lr := 0.01
	// independent float64 computation
	wv, bv := 2.0, 2.0
	sqw, sqb, bufw, bufb := 1.0, 1.0, 0.0, 0.0
	for step, g := range []float64{0.5, -1.5} {
		w.Grad.Data[0], b.Grad.Data[0] = float32(g), float32(g)
		r.Step(lr)
		dw := g + 0.1*wv // decayed
		db := g          // bias: no decay
		sqw += 0.1 * (dw*dw - sqw)
		sqb += 0.1 * (db*db - sqb)
		bufw = 0.9*bufw + lr*dw/math.Sqrt(sqw+1e-3)
		bufb = 0.9*bufb + lr*db/math.Sqrt(sqb+1e-3)
		wv -= bufw
		bv -= bufb
		if math.Abs(float64(w.Value.Data[0])-wv) > 1e-6 || math.Abs(float64(b.Value.Data[0])-bv) > 1e-6 {
			t.Fatalf("step %d: w %.7f b %.7f, want %.7f %.7f", step, w.Value.Data[0], b.Value.Data[0], wv, bv)
		}
	}
	st := r.State()
	if math.Abs(float64(st["conv.weight.square_avg"].Data[0])-sqw) > 1e-6 || math.Abs(float64(st["conv.bias.momentum_buffer"].Data[0])-bufb) > 1e-6 {
		t.Fatalf("state %v", st)
	}
	r2 := NewRMSpropTF(s.Trainable(), 0.9, 1e-3, 0.9, 0.1)
	if err := r2.LoadState(st); err != nil {
		t.Fatal(err)
	}
	for n, v := range r2.State() {
		if v.Data[0] != st[n].Data[0] {
			t.Fatalf("LoadState: %s = %g, want %g", n, v.Data[0], st[n].Data[0])
		}
	}
	delete(st, "conv.bias.square_avg")
	if err := r2.LoadState(st); err == nil {
		t.Fatal("LoadState accepted a state without conv.bias.square_avg")
	}
}

func TestStepLR(t *testing.T) {
	s := StepLR{Base: 0.016, DecayRate: 0.963, DecayEpochs: 3, WarmupEpochs: 5, WarmupInit: 1e-4}
	for _, c := range []struct {
		e    int
		want float64
	}{
		{0, 1e-4}, {1, 1e-4 + (0.016-1e-4)/5}, {4, 1e-4 + 4*(0.016-1e-4)/5},
		{5, 0.016 * 0.963}, {6, 0.016 * 0.963 * 0.963}, {8, 0.016 * 0.963 * 0.963}, {9, 0.016 * math.Pow(0.963, 3)},
	} {
		if got := s.At(c.e); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("epoch %d: lr %g, want %g", c.e, got, c.want)
		}
	}
}

// TestEMA checks the average over parameters and buffers.
func TestEMA(t *testing.T) {
	s := NewStore()
	p := s.Param("w", []int{1}, InitConst(1))
	b := s.Buffer("bn.running_mean", []int{1}, 4)
	e := NewEMA(s, 0.9)
	p.Value.Data[0], b.Value.Data[0] = 3, 0
	e.Update()
	p.Value.Data[0] = 5
	e.Update()
	wantW := 0.9*(0.9*1+0.1*3) + 0.1*5
	wantB := 0.9 * 0.9 * 4
	sd := e.StateDict()
	if math.Abs(float64(sd["w"].Data[0])-wantW) > 1e-6 || math.Abs(float64(sd["bn.running_mean"].Data[0])-wantB) > 1e-6 {
		t.Fatalf("ema w %g bn %g, want %g %g", sd["w"].Data[0], sd["bn.running_mean"].Data[0], wantW, wantB)
	}
	if e.Store().Get("w").Trainable() {
		t.Fatal("EMA store tensors must be buffers")
	}
}
