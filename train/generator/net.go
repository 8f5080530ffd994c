package generator

import (
	"fmt"

	gen "github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/train/nn"
	"github.com/sgnas/sgnas/weights"
)

// Net is the generator on the training engine (train/nn): the same
// SinGenerator as generator.Generator (reference §3), in float32 with a backward pass,
// for a batch of targets. Parameters live in Store under the authors'
// state-dict names (generator.TensorNames), so a trained Net saves as a state dict that
// generator.FromStateDict / generator.Load read for inference.
//
// On the tape every activation is CNHW, [C, N, 19, 24], where N is the number
// of targets. hc_head is evaluated on the constant plane itself (no
// homogeneity shortcut), so its weights receive gradients.
type Net struct {
	Store *nn.Store
	convs [10]*nn.Param // generator.TensorNames order: hc_head.0-2, bb_head.0-1, head, body.block1-3, tail
	bias  *nn.Param     // tail.0.bias
}

// NewNet returns a generator with the authors' init (conv weights
// N(0, sqrt(2/(3·3·out))), tail bias 0), drawn with weights.Init from seed.
func NewNet(seed int64) *Net {
	n, err := NetFromStateDict(weights.Init(gen.TensorNames(), seed))
	if err != nil {
		panic("generator.NewNet: " + err.Error()) // cannot happen: Init follows generator.TensorNames
	}
	return n
}

// NetFromStateDict builds a trainable generator from a state dict with the
// authors' names (e.g. read with weights.LoadPTH from best_avg.pth).
func NetFromStateDict(sd weights.StateDict) (*Net, error) {
	specs := gen.TensorNames()
	if err := weights.Match(sd, specs, false); err != nil {
		return nil, fmt.Errorf("generator weights: %w", err)
	}
	n := &Net{Store: nn.NewStore()}
	for i, s := range specs {
		src := sd[s.Name]
		p := n.Store.Param(s.Name, s.Shape, func(t *nn.Tensor) { copy(t.Data, src.Data) })
		if i < len(n.convs) {
			n.convs[i] = p
		} else {
			n.bias = p
		}
	}
	return n, nil
}

// StateDict returns a copy of the generator's tensors by name.
func (n *Net) StateDict() weights.StateDict {
	sd := weights.StateDict{}
	for _, p := range n.Store.Trainable() {
		sd[p.Name] = &weights.Tensor{Shape: append([]int(nil), p.Value.Shape...), Data: append([]float32(nil), p.Value.Data...)}
	}
	return sd
}

// Inference returns the float64 inference generator holding the current
// weights (what `sgnas generate` would load from a saved checkpoint).
func (n *Net) Inference() *gen.Generator {
	g, err := gen.FromStateDict(n.StateDict())
	if err != nil {
		panic("generator.Net.Inference: " + err.Error()) // cannot happen
	}
	return g
}

// Params returns the trainable parameters (for the optimizer).
func (n *Net) Params() []*nn.Param { return n.Store.Trainable() }

// Output is the result of Net.Forward: raw scores per target, and what
// Backward needs.
type Output struct {
	Scores []gen.Scores
	t      *nn.Tape
	z      *nn.Var // tail conv output without bias, [1, N, 19, 24]
	net    *Net
}

var geom3 = func(in, out int) nn.ConvGeom {
	return nn.ConvGeom{Cin: in, Cout: out, K: 3, Stride: 1, Pad: 1, Groups: 1}
}

// Forward evaluates the generator on tape t for one prior per target and
// constraint values cs (see generator.Constraint); len(priors) == len(cs). The tape
// must be used for this forward only (Backward runs all of its operations);
// call t.Reset after Backward.
func (n *Net) Forward(t *nn.Tape, priors []*models.Encoding, cs []float64) *Output {
	if len(priors) != len(cs) || len(cs) == 0 {
		panic(fmt.Sprintf("generator.Net.Forward: %d priors for %d constraints", len(priors), len(cs)))
	}
	nb := len(cs)
	prior := nn.NewTensor(1, nb, gen.H, gen.W)
	plane := nn.NewTensor(gen.HCDim, nb, gen.H, gen.W)
	for b := range cs {
		for y := 0; y < gen.H; y++ {
			for x := 0; x < gen.W; x++ {
				prior.Data[b*gen.HW+y*gen.W+x] = float32(priors[b][y][x])
			}
		}
		for ch := 0; ch < gen.HCDim; ch++ {
			row := plane.Data[(ch*nb+b)*gen.HW : (ch*nb+b+1)*gen.HW]
			for i := range row {
				row[i] = float32(cs[b])
			}
		}
	}
	conv := func(x *nn.Var, i int) *nn.Var {
		p := n.convs[i]
		return t.Conv2d(x, t.Param(p), geom3(p.Value.Shape[1], p.Value.Shape[0]))
	}
	convRelu := func(x *nn.Var, i int) *nn.Var { return t.Act(conv(x, i), nn.ActReLU) }

	h := t.Const(plane)
	for i := 0; i < 3; i++ {
		h = convRelu(h, i)
	}
	b := convRelu(convRelu(t.Const(prior), 3), 4)
	p := t.Add(b, h)
	y := convRelu(p, 5)
	for i := 6; i < 9; i++ {
		y = convRelu(y, i)
	}
	z := conv(t.Add(y, p), 9)
	out := &Output{Scores: make([]gen.Scores, nb), t: t, z: z, net: n}
	bias := n.bias.Value.Data[0]
	for bi := range out.Scores {
		for s := 0; s < gen.HW; s++ {
			out.Scores[bi][s/gen.W][s%gen.W] = float64(z.Value.Data[bi*gen.HW+s] + bias)
		}
	}
	return out
}

// Backward accumulates into the parameters' gradients the gradient of a loss
// whose derivative with respect to the scores is dScores (one per target).
// It runs the tape's recorded operations once.
func (o *Output) Backward(dScores []gen.Scores) {
	if len(dScores) != len(o.Scores) {
		panic(fmt.Sprintf("generator.Output.Backward: %d gradients for %d targets", len(dScores), len(o.Scores)))
	}
	g := nn.NewTensor(o.z.Value.Shape...)
	var db float64
	for bi := range dScores {
		for s := 0; s < gen.HW; s++ {
			v := dScores[bi][s/gen.W][s%gen.W]
			g.Data[bi*gen.HW+s] = float32(v)
			db += v
		}
	}
	o.net.bias.Grad.Data[0] += float32(db)
	// The tape's Backward starts from a one-element loss; the scores'
	// gradient is seeded directly on the tail output instead, and a dummy
	// one-element loss starts the reverse sweep (every recorded op runs and
	// propagates whatever gradient reached its output).
	o.z.Grad = g
	o.t.Backward(o.t.Leaf(nn.NewTensor(1)))
}
