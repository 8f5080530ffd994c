package gorgoniaop

import (
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/sgnas/sgnas/train/nn"
)

// TestGorgoniaTapeMachine runs a small network built from the engine's
// gorgonia ops on a gorgonia TapeMachine, differentiated with gorgonia.Grad,
// and checks the loss and gradients against the eager Tape and against
// finite differences through the TapeMachine itself.
func TestGorgoniaTapeMachine(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const n, h = 2, 6
	xT := randTensor(rng, 1, n, 3, h, h) // NCHW
	g1 := nn.ConvGeom{Cin: 3, Cout: 4, K: 3, Stride: 1, Pad: 1, Groups: 1}
	g2 := nn.ConvGeom{Cin: 4, Cout: 4, K: 3, Stride: 2, Pad: 1, Groups: 4}
	w1 := randTensor(rng, 0.5, g1.WeightShape()...)
	w2 := randTensor(rng, 0.5, g2.WeightShape()...)
	gam := randTensor(rng, 1, 4)
	bet := randTensor(rng, 1, 4)
	lw := randTensor(rng, 0.5, 5, 4)
	lb := randTensor(rng, 0.5, 5)
	labels := []int{1, 4}
	newBN := func() *nn.BNState {
		return &nn.BNState{RunningMean: nn.NewTensor(4), RunningVar: nn.FromData([]float32{1, 1, 1, 1}, 4), Momentum: 0.1, Eps: 1e-5}
	}

	dense := func(tt *nn.Tensor) *tensor.Dense {
		return tensor.New(tensor.WithShape(tt.Shape...), tensor.WithBacking(append([]float32(nil), tt.Data...)))
	}
	type graph struct {
		vm     G.VM
		cost   *G.Node
		params []*G.Node
		grads  G.Nodes
		st     *nn.BNState
	}
	build := func(withGrad bool) graph {
		gr := G.NewGraph()
		x := G.NewTensor(gr, G.Float32, 4, G.WithShape(xT.Shape...), G.WithName("x"), G.WithValue(dense(xT)))
		nw1 := G.NewTensor(gr, G.Float32, 4, G.WithShape(w1.Shape...), G.WithName("w1"), G.WithValue(dense(w1)))
		nw2 := G.NewTensor(gr, G.Float32, 4, G.WithShape(w2.Shape...), G.WithName("w2"), G.WithValue(dense(w2)))
		ng := G.NewTensor(gr, G.Float32, 1, G.WithShape(4), G.WithName("gamma"), G.WithValue(dense(gam)))
		nb := G.NewTensor(gr, G.Float32, 1, G.WithShape(4), G.WithName("beta"), G.WithValue(dense(bet)))
		nlw := G.NewTensor(gr, G.Float32, 2, G.WithShape(5, 4), G.WithName("lw"), G.WithValue(dense(lw)))
		nlb := G.NewTensor(gr, G.Float32, 1, G.WithShape(5), G.WithName("lb"), G.WithValue(dense(lb)))
		lab := G.NewTensor(gr, G.Float32, 1, G.WithShape(n), G.WithName("labels"),
			G.WithValue(tensor.New(tensor.WithShape(n), tensor.WithBacking([]float32{float32(labels[0]), float32(labels[1])}))))
		c1op, err := NewConv2dOp(g1)
		if err != nil {
			t.Fatal(err)
		}
		c2op, _ := NewConv2dOp(g2)
		st := newBN()
		y := G.Must(G.ApplyOp(c1op, x, nw1))
		y = G.Must(G.ApplyOp(NewBatchNormOp(st, true, nn.ActReLU6), y, ng, nb))
		y = G.Must(G.ApplyOp(c2op, y, nw2))
		y = G.Must(G.ApplyOp(NewActOp(nn.ActHSwish, 4), y))
		y = G.Must(G.ApplyOp(NewGlobalAvgPoolOp(), y))
		y = G.Must(G.ApplyOp(NewLinearOp(), y, nlw, nlb))
		cost := G.Must(G.ApplyOp(NewCrossEntropyOp(0.1), y, lab))
		params := []*G.Node{nw1, nw2, ng, nb, nlw, nlb}
		var grads G.Nodes
		if withGrad {
			if grads, err = G.Grad(cost, params...); err != nil {
				t.Fatal(err)
			}
		}
		return graph{vm: G.NewTapeMachine(gr), cost: cost, params: params, grads: grads, st: st}
	}
	gg := build(true)
	defer gg.vm.Close()
	if err := gg.vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	gLoss := float64(*(gg.cost.Value().(*G.F32)))

	// eager reference
	store := nn.NewStore()
	tp := nn.NewTape(nil)
	ps := []*nn.Param{}
	for i, tt := range []*nn.Tensor{w1, w2, gam, bet, lw, lb} {
		p := store.Param(string(rune('a'+i)), tt.Shape, nil)
		copy(p.Value.Data, tt.Data)
		ps = append(ps, p)
	}
	st := newBN()
	y := tp.Conv2d(tp.Const(nn.ToCNHW(xT)), tp.Param(ps[0]), g1)
	y = tp.BatchNorm(y, tp.Param(ps[2]), tp.Param(ps[3]), *st, true, nn.ActReLU6)
	y = tp.Conv2d(y, tp.Param(ps[1]), g2)
	y = tp.Act(y, nn.ActHSwish)
	y = tp.Linear(tp.GlobalAvgPool(y), tp.Param(ps[4]), tp.Param(ps[5]))
	loss, err := tp.CrossEntropy(y, labels, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	tp.Backward(loss)
	if d := math.Abs(gLoss - float64(loss.Value.Data[0])); d > 1e-5 {
		t.Fatalf("gorgonia loss %g, tape loss %g", gLoss, loss.Value.Data[0])
	}
	if nn.MaxAbsDiff(gg.st.RunningVar.Data, st.RunningVar.Data) > 1e-6 {
		t.Errorf("running stats differ: %v vs %v", gg.st.RunningVar.Data, st.RunningVar.Data)
	}
	order := []int{0, 1, 2, 3, 4, 5}
	for k, gi := range order {
		gv, ok := gg.grads[k].Value().(*tensor.Dense)
		if !ok {
			t.Fatalf("grad %d: value %T", k, gg.grads[k].Value())
		}
		got := gv.Data().([]float32)
		if d := nn.MaxAbsDiff(got, ps[gi].Grad.Data); d > 1e-5 {
			t.Errorf("param %d: gorgonia vs tape gradient differ by %g", k, d)
		}
	}

	// finite differences through the TapeMachine (forward only graph)
	fg := build(false)
	defer fg.vm.Close()
	lossAt := func() float64 {
		fg.vm.Reset()
		if err := fg.vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		return float64(*(fg.cost.Value().(*G.F32)))
	}
	const eps = 1e-2
	for k, node := range fg.params {
		d := node.Value().(*tensor.Dense).Data().([]float32)
		ga := gg.grads[k].Value().(*tensor.Dense).Data().([]float32)
		for _, j := range []int{0, len(d) / 2, len(d) - 1} {
			old := d[j]
			d[j] = old + eps
			lp := lossAt()
			d[j] = old - eps
			lm := lossAt()
			d[j] = old
			num := (lp - lm) / (2 * eps)
			if math.Abs(num-float64(ga[j])) > 2e-2*math.Abs(num)+2e-3 {
				t.Errorf("param %d elem %d: TapeMachine grad %g, finite difference %g", k, j, ga[j], num)
			}
		}
	}
}

func randTensor(rng *rand.Rand, scale float64, shape ...int) *nn.Tensor {
	t := nn.NewTensor(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64() * scale)
	}
	return t
}
