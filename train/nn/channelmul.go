package nn

import (
	"fmt"
	"math/rand/v2"
)

// MulChannels returns x [C,N,H,W] scaled per sample and channel by gate
// [N,C] (the excitation step of squeeze-and-excitation), with gradients to
// both: ∂x = gate·∂y, ∂gate[n,c] = Σ_hw x·∂y.
func (t *Tape) MulChannels(x, gate *Var) *Var {
	defer t.fwdDone("mulch", t.now())
	c, nb := x.Value.Shape[0], x.Value.Shape[1]
	if len(x.Value.Shape) != 4 || len(gate.Value.Shape) != 2 || gate.Value.Shape[0] != nb || gate.Value.Shape[1] != c {
		panic(fmt.Sprintf("nn.Tape.MulChannels: input %v, gate %v (want [N,C])", x.Value.Shape, gate.Value.Shape))
	}
	hw := x.Value.Numel() / (c * nb)
	y := t.newVar(x.req || gate.req, x.Value.Shape...)
	xd, gd, yd := x.Value.Data, gate.Value.Data, y.Value.Data
	parallelFor(c, 2*nb*hw, func(_, lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			for b := 0; b < nb; b++ {
				s := gd[b*c+ch]
				off := (ch*nb + b) * hw
				for i := off; i < off+hw; i++ {
					yd[i] = xd[i] * s
				}
			}
		}
	})
	t.recordK("mulch", func() {
		if y.Grad == nil {
			return
		}
		dy := y.Grad.Data
		dx, dg := t.gradIf(x), t.gradIf(gate)
		parallelFor(c, 4*nb*hw, func(_, lo, hi int) {
			for ch := lo; ch < hi; ch++ {
				for b := 0; b < nb; b++ {
					s := gd[b*c+ch]
					off := (ch*nb + b) * hw
					if dx != nil {
						for i := off; i < off+hw; i++ {
							dx[i] += s * dy[i]
						}
					}
					if dg != nil {
						var acc float32
						for i := off; i < off+hw; i++ {
							acc += xd[i] * dy[i]
						}
						dg[b*c+ch] += acc
					}
				}
			}
		})
	})
	return y
}

// ParamAs wraps a store tensor like Param, viewed with another shape of the
// same element count (e.g. a 1×1 conv weight [Out,In,1,1] as a linear
// weight [Out,In]); gradients accumulate into p.Grad.
func (t *Tape) ParamAs(p *Param, shape ...int) *Var {
	if numel(shape) != p.Value.Numel() {
		panic(fmt.Sprintf("nn.Tape.ParamAs: %s has shape %v, cannot view as %v", p.Name, p.Value.Shape, shape))
	}
	v := &Var{Value: &Tensor{Shape: shape, Data: p.Value.Data}}
	if p.Grad != nil {
		v.Grad = &Tensor{Shape: shape, Data: p.Grad.Data}
		v.req = true
	}
	return v
}

// Dropout zeroes each element of x [N,F] with probability p and scales the
// rest by 1/(1−p) (inverted dropout, torch.nn.Dropout in training mode),
// drawing the mask from rng. p = 0 returns x.
func (t *Tape) Dropout(x *Var, p float64, rng *rand.Rand) *Var {
	if p <= 0 {
		return x
	}
	if p >= 1 {
		panic(fmt.Sprintf("nn.Tape.Dropout: p %g, want [0,1)", p))
	}
	defer t.fwdDone("dropout", t.now())
	y := t.newVar(x.req, x.Value.Shape...)
	mask := t.alloc(x.Value.Numel(), false)
	keep := float32(1 / (1 - p))
	for i, v := range x.Value.Data {
		if rng.Float64() < p {
			mask[i] = 0
		} else {
			mask[i] = keep
		}
		y.Value.Data[i] = v * mask[i]
	}
	t.recordK("dropout", func() {
		if y.Grad == nil || !x.req {
			return
		}
		dx := t.grad(x)
		for i, g := range y.Grad.Data {
			dx[i] += g * mask[i]
		}
	})
	return y
}
