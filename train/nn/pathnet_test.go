package nn

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// benchLayers is the CIFAR layer table of reference §1.2: in, out, stride.
var benchLayers = [19][3]int{
	{16, 32, 1}, {32, 32, 1}, {32, 40, 2}, {40, 40, 1}, {40, 40, 1}, {40, 40, 1},
	{40, 80, 2}, {80, 80, 1}, {80, 80, 1}, {80, 80, 1}, {80, 96, 1}, {96, 96, 1},
	{96, 96, 1}, {96, 96, 1}, {96, 192, 2}, {192, 192, 1}, {192, 192, 1}, {192, 192, 1},
	{192, 320, 1},
}

// benchKernels returns the per-group kernels of layer l of the benchmark
// path (expansion 3, 3/5 mix); scripts/bench-train.sh mirrors this.
func benchKernels(l int) []int {
	k := make([]int, 3)
	for g := range k {
		if (l+g)%2 == 0 {
			k[g] = 3
		} else {
			k[g] = 5
		}
	}
	return k
}

type irLayer struct {
	in, out, stride, hidden int
	expand                  *Conv
	expandBN                *BatchNorm
	dw                      []*Conv
	dwBN                    *BatchNorm
	project                 *Conv
	projectBN               *BatchNorm
}

// pathNet is a MobileNetV2-style CIFAR network (one supernet path, as a
// standalone model): stem, first_mb, 19 inverted residual layers, head,
// GAP, linear.
type pathNet struct {
	stem               *Conv
	stemBN             *BatchNorm
	fmDW               *Conv
	fmBN1              *BatchNorm
	fmPW               *Conv
	fmBN2              *BatchNorm
	layers             []*irLayer
	head               *Conv
	headBN             *BatchNorm
	fc                 *Linear
	classes, numLayers int
}

func newPathNet(s *Store, rng *rand.Rand, classes, numLayers int) *pathNet {
	m := 0.1
	p := &pathNet{classes: classes, numLayers: numLayers}
	p.stem = NewConv(s, "stem.conv.weight", ConvGeom{Cin: 3, Cout: 32, K: 3, Stride: 1, Pad: 1, Groups: 1}, rng)
	p.stemBN = NewBatchNorm(s, "stem.bn", 32, m)
	p.fmDW = NewConv(s, "first_mb.depthwise.conv.weight", ConvGeom{Cin: 32, Cout: 32, K: 3, Stride: 1, Pad: 1, Groups: 32}, rng)
	p.fmBN1 = NewBatchNorm(s, "first_mb.depthwise.bn", 32, m)
	p.fmPW = NewConv(s, "first_mb.point_wise_1.conv.weight", ConvGeom{Cin: 32, Cout: 16, K: 1, Stride: 1, Groups: 1}, rng)
	p.fmBN2 = NewBatchNorm(s, "first_mb.point_wise_1.bn", 16, m)
	last := 16
	for l := 0; l < numLayers; l++ {
		in, out, st := benchLayers[l][0], benchLayers[l][1], benchLayers[l][2]
		ks := benchKernels(l)
		L := &irLayer{in: in, out: out, stride: st, hidden: in * len(ks)}
		pre := fmt.Sprintf("stages.%d", l)
		L.expand = NewConv(s, pre+".point_wise.conv.weight", ConvGeom{Cin: in, Cout: L.hidden, K: 1, Stride: 1, Groups: 1}, rng)
		L.expandBN = NewBatchNorm(s, pre+".point_wise.bn", L.hidden, m)
		for g, k := range ks {
			L.dw = append(L.dw, NewConv(s, fmt.Sprintf("%s.depthwise.%d.weight", pre, g), ConvGeom{Cin: in, Cout: in, K: k, Stride: st, Pad: k / 2, Groups: in}, rng))
		}
		L.dwBN = NewBatchNorm(s, pre+".depthwise.bn", L.hidden, m)
		L.project = NewConv(s, pre+".point_wise_1.conv.weight", ConvGeom{Cin: L.hidden, Cout: out, K: 1, Stride: 1, Groups: 1}, rng)
		L.projectBN = NewBatchNorm(s, pre+".point_wise_1.bn", out, m)
		p.layers = append(p.layers, L)
		last = out
	}
	p.head = NewConv(s, "conv_last.conv.weight", ConvGeom{Cin: last, Cout: 1280, K: 1, Stride: 1, Groups: 1}, rng)
	p.headBN = NewBatchNorm(s, "conv_last.bn", 1280, m)
	p.fc = NewLinear(s, "classifier", 1280, classes, rng)
	return p
}

func (p *pathNet) forward(t *Tape, x *Var, training bool) *Var {
	y := p.stemBN.Forward(t, p.stem.Forward(t, x), training, ActReLU6)
	y = p.fmBN1.Forward(t, p.fmDW.Forward(t, y), training, ActReLU6)
	y = p.fmBN2.Forward(t, p.fmPW.Forward(t, y), training, ActNone)
	for _, L := range p.layers {
		h := L.expandBN.Forward(t, L.expand.Forward(t, y), training, ActReLU6)
		parts := make([]*Var, len(L.dw))
		for g, c := range L.dw {
			parts[g] = c.Forward(t, t.SliceChannels(h, g*L.in, (g+1)*L.in))
		}
		h = L.dwBN.Forward(t, t.Concat(parts...), training, ActReLU6)
		h = L.projectBN.Forward(t, L.project.Forward(t, h), training, ActNone)
		if L.stride == 1 && L.in == L.out {
			h = t.Add(h, y)
		}
		y = h
	}
	y = p.headBN.Forward(t, p.head.Forward(t, y), training, ActReLU6)
	return p.fc.Forward(t, t.GlobalAvgPool(y))
}

func randomBatch(rng *rand.Rand, n, classes int) (*Tensor, []int) {
	x := randTensor(rng, 1, 3, n, 32, 32) // CNHW
	labels := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(classes)
	}
	return x, labels
}

// trainStep runs forward, backward and an SGD update; it returns the loss.
func trainStep(t *Tape, net *pathNet, s *Store, opt Optimizer, x *Tensor, labels []int, lr float64) float64 {
	s.ZeroGrad()
	logits := net.forward(t, t.Const(x), true)
	loss, err := t.CrossEntropy(logits, labels, 0.1)
	if err != nil {
		panic(err)
	}
	t.Backward(loss)
	l := float64(loss.Value.Data[0])
	t.Reset()
	opt.Step(lr)
	return l
}

// TestPathNetTrains overfits a small batch: the full network's forward,
// backward and SGD update must reduce the loss.
func TestPathNetTrains(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains a path network for many steps (long)")
	}
	rng := rand.New(rand.NewPCG(31, 32))
	s := NewStore()
	net := newPathNet(s, rng, 10, 6)
	x, labels := randomBatch(rng, 8, 10)
	opt := NewSGD(s.Trainable(), 0.9, 4e-4)
	tp := NewTape(nil)
	first := trainStep(tp, net, s, opt, x, labels, 0.05)
	var last float64
	for i := 0; i < 15; i++ {
		last = trainStep(tp, net, s, opt, x, labels, 0.05)
	}
	if !(last < 0.5*first) {
		t.Fatalf("loss did not drop: first %.4f last %.4f", first, last)
	}
	// eval mode runs with running statistics and gives finite logits
	logits := net.forward(tp, tp.Const(x), false)
	for _, v := range logits.Value.Data {
		if v != v {
			t.Fatal("NaN logits in eval mode")
		}
	}
}

// BenchmarkTrainStepPath measures forward+backward+SGD of the full
// 19-layer CIFAR path network at batch 64 (images/s reported).
func BenchmarkTrainStepPath(b *testing.B) {
	rng := rand.New(rand.NewPCG(41, 42))
	s := NewStore()
	net := newPathNet(s, rng, 10, 19)
	x, labels := randomBatch(rng, 64, 10)
	opt := NewSGD(s.Trainable(), 0.9, 4e-4)
	tp := NewTape(nil)
	trainStep(tp, net, s, opt, x, labels, 0.01) // warm the buffer pool
	var prof *Profile
	if os.Getenv("SGNAS_PROFILE") != "" {
		prof = NewProfile()
		tp.SetProfile(prof)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		trainStep(tp, net, s, opt, x, labels, 0.01)
	}
	el := time.Since(start)
	b.ReportMetric(float64(64*b.N)/el.Seconds(), "images/s")
	if prof != nil && b.N > 1 { // the 1-iteration calibration run prints nothing
		prof.Write(os.Stdout, b.N)
	}
}
