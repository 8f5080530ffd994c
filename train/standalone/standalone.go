// Package standalone runs the standalone network of an architecture
// (models.Build: stem, first_mb, 19 inverted-residual layers with any
// expansion 1..6, optional squeeze-and-excitation, ReLU6 or h-swish, head
// and classifier) on the train/nn engine from a weights.StateDict with the
// authors' tensor names. It is the engine-side reference that the ONNX
// export and the supernet slices are checked against.
//
// Every part trains, squeeze-and-excitation included (Tape.MulChannels).
// Train (train.go) trains a network from scratch or from weights inherited
// from a supernet, with the authors' CIFAR and ImageNet recipes.
package standalone

import (
	"fmt"
	"math/rand/v2"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/train/nn"
	"github.com/sgnas/sgnas/weights"
)

// Network is a standalone network bound to its tensors.
type Network struct {
	Net   *models.Network
	Store *nn.Store
	// BNMomentum is the PyTorch momentum of the running-statistics update
	// in training mode (default 0.1).
	BNMomentum float64
	act        nn.Activation
}

// New binds net to the tensors of sd (copied into a Store). Every tensor of
// net.Tensors() must be present with its shape; extra names are ignored.
func New(net *models.Network, sd weights.StateDict) (*Network, error) {
	if err := weights.Match(sd, net.Tensors(), true); err != nil {
		return nil, fmt.Errorf("standalone network: %w", err)
	}
	st := nn.NewStore()
	for _, ts := range net.Tensors() {
		src := sd[ts.Name]
		var p *nn.Param
		if ts.Trainable() {
			p = st.Param(ts.Name, ts.Shape, nil)
		} else {
			p = st.Buffer(ts.Name, ts.Shape, 0)
		}
		copy(p.Value.Data, src.Data)
	}
	a := nn.ActReLU6
	if net.Opts.Activation() == models.HSwish {
		a = nn.ActHSwish
	}
	return &Network{Net: net, Store: st, act: a, BNMomentum: 0.1}, nil
}

func (n *Network) p(t *nn.Tape, name string) *nn.Var { return t.Param(n.Store.Get(name)) }

func (n *Network) conv(t *nn.Tape, x *nn.Var, c models.Conv) *nn.Var {
	g := nn.ConvGeom{Cin: c.In, Cout: c.Out, K: c.Kernel, Stride: c.Stride, Pad: c.Kernel / 2, Groups: c.Groups}
	return t.Conv2d(x, n.p(t, c.Weight), g)
}

func (n *Network) bn(t *nn.Tape, x *nn.Var, b models.BN, training bool, act nn.Activation) *nn.Var {
	st := nn.BNState{
		RunningMean: n.Store.Get(b.RunningMean()).Value,
		RunningVar:  n.Store.Get(b.RunningVar()).Value,
		Momentum:    n.BNMomentum, Eps: models.BNEps,
	}
	return t.BatchNorm(x, n.p(t, b.Weight()), n.p(t, b.Bias()), st, training, act)
}

// Forward returns the logits [N, classes] of x (CNHW [3,N,H,W]). training
// selects batch statistics for BatchNorm (and updates the running ones);
// the classifier dropout of the authors' model is not applied (see
// TrainForward). The error is always nil (kept for callers of the
// eval-only SE era).
func (n *Network) Forward(t *nn.Tape, x *nn.Var, training bool) (*nn.Var, error) {
	return n.forward(t, x, training, 0, nil), nil
}

// TrainForward is Forward in training mode with dropout p before the
// classifier (the authors' Dropout(0.2) of the ImageNet model), its mask
// drawn from rng.
func (n *Network) TrainForward(t *nn.Tape, x *nn.Var, p float64, rng *rand.Rand) *nn.Var {
	return n.forward(t, x, true, p, rng)
}

func (n *Network) forward(t *nn.Tape, x *nn.Var, training bool, drop float64, rng *rand.Rand) *nn.Var {
	net := n.Net
	y := n.bn(t, n.conv(t, x, net.Stem), net.StemBN, training, n.act)
	for i := range net.Blocks {
		y = n.block(t, y, &net.Blocks[i], training)
	}
	y = n.bn(t, n.conv(t, y, net.Head), net.HeadBN, training, n.act)
	c := net.Classifier
	f := t.GlobalAvgPool(y)
	if training && drop > 0 {
		f = t.Dropout(f, drop, rng)
	}
	return t.Linear(f, n.p(t, c.Weight), n.p(t, c.Bias))
}

// CalibrateBN replaces every BN's running statistics by the statistics of
// the batch x (NCHW), layer by layer in one training-mode forward (the
// authors' bn_calibration idea). It needs no gradients, so it works with SE.
func (n *Network) CalibrateBN(x *nn.Tensor) {
	m := n.BNMomentum
	n.BNMomentum = 1
	defer func() { n.BNMomentum = m }()
	t := nn.NewTape(nil)
	n.forward(t, t.Const(nn.ToCNHW(x)), true, 0, nil)
}

func (n *Network) block(t *nn.Tape, x *nn.Var, b *models.Block, training bool) *nn.Var {
	h := x
	if b.Expand != nil {
		h = n.bn(t, n.conv(t, h, *b.Expand), *b.ExpandBN, training, n.act)
	}
	parts := make([]*nn.Var, len(b.Depthwise))
	for g, c := range b.Depthwise {
		hg := h
		if len(b.Depthwise) > 1 {
			hg = t.SliceChannels(h, b.GroupOffset(g), b.GroupOffset(g)+b.GroupSize)
		}
		parts[g] = n.conv(t, hg, c)
	}
	d := parts[0]
	if len(parts) > 1 {
		d = t.Concat(parts...)
	}
	h = n.bn(t, d, b.DepthwiseBN, training, n.act)
	if b.SE != nil {
		h = n.se(t, h, b.SE)
	}
	h = n.bn(t, n.conv(t, h, b.Project), b.ProjectBN, training, nn.ActNone)
	if b.Residual {
		h = t.Add(h, x)
	}
	return h
}

// se applies squeeze-and-excitation: GAP → 1×1 conv with bias (as a
// linear layer) → ReLU → 1×1 conv with bias → h-sigmoid → per-sample,
// per-channel multiply, all differentiable.
func (n *Network) se(t *nn.Tape, x *nn.Var, se *models.SE) *nn.Var {
	lin := func(v *nn.Var, c models.Conv) *nn.Var {
		return t.Linear(v, t.ParamAs(n.Store.Get(c.Weight), c.Out, c.In), n.p(t, c.Bias))
	}
	g := t.Act(lin(t.GlobalAvgPool(x), se.Squeeze), nn.ActReLU)
	g = t.Act(lin(g, se.Excite), nn.ActHSigmoid)
	return t.MulChannels(x, g)
}

// Predict runs the network in eval mode on an NCHW batch and returns the
// logits [N, classes] (row-major).
func (n *Network) Predict(x *nn.Tensor) (*nn.Tensor, error) {
	if len(x.Shape) != 4 || x.Shape[1] != 3 {
		return nil, fmt.Errorf("standalone predict: input shape %v, want [N,3,H,W]", x.Shape)
	}
	t := nn.NewTape(nil)
	out, err := n.Forward(t, t.Const(nn.ToCNHW(x)), false)
	if err != nil {
		return nil, err
	}
	return out.Value.Clone(), nil
}
