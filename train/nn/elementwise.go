package nn

// Activation selects a pointwise non-linearity.
type Activation int

// Activations supported by the engine.
const (
	ActNone     Activation = iota
	ActReLU6               // min(max(x,0),6)
	ActHSwish              // x·relu6(x+3)/6
	ActHSigmoid            // relu6(x+3)/6
	ActReLU                // max(x,0) (inside SE)
)

func (a Activation) String() string {
	return [...]string{"none", "relu6", "hswish", "hsigmoid", "relu"}[a]
}

func actForward(a Activation, x, y []float32) {
	parallelFor(len(x), 1, func(_, lo, hi int) {
		xs, ys := x[lo:hi], y[lo:hi]
		switch a {
		case ActNone:
			copy(ys, xs)
		case ActReLU6:
			vecAffine(xs, ys, 1, 0, true) // x·1+0 is exact
		case ActReLU:
			for i, v := range xs {
				ys[i] = max(v, 0)
			}
		case ActHSwish:
			for i, v := range xs {
				ys[i] = v * min(max(v+3, 0), 6) * (1.0 / 6)
			}
		case ActHSigmoid:
			for i, v := range xs {
				ys[i] = min(max(v+3, 0), 6) * (1.0 / 6)
			}
		}
	})
}

// actBackward accumulates dx += f'(x)·dy. Derivatives at the kinks follow
// PyTorch: relu6 passes gradient for 0 < x < 6; hardswish uses x/3+1/2 on
// [-3,3]; hardsigmoid 1/6 on (-3,3).
func actBackward(a Activation, x, dy, dx []float32) {
	parallelFor(len(x), 1, func(_, lo, hi int) {
		xs, gs, ds := x[lo:hi], dy[lo:hi], dx[lo:hi]
		switch a {
		case ActNone:
			for i, g := range gs {
				ds[i] += g
			}
		case ActReLU6:
			for i, v := range xs {
				if v > 0 && v < 6 {
					ds[i] += gs[i]
				}
			}
		case ActReLU:
			for i, v := range xs {
				if v > 0 {
					ds[i] += gs[i]
				}
			}
		case ActHSwish:
			for i, v := range xs {
				switch {
				case v < -3:
				case v > 3:
					ds[i] += gs[i]
				default:
					ds[i] += gs[i] * (v/3 + 0.5)
				}
			}
		case ActHSigmoid:
			for i, v := range xs {
				if v > -3 && v < 3 {
					ds[i] += gs[i] * (1.0 / 6)
				}
			}
		}
	})
}

// actDeriv returns f'(z) with the same conventions as actBackward.
func actDeriv(a Activation, z float32) float32 {
	switch a {
	case ActNone:
		return 1
	case ActReLU6:
		if z > 0 && z < 6 {
			return 1
		}
	case ActReLU:
		if z > 0 {
			return 1
		}
	case ActHSwish:
		switch {
		case z < -3:
		case z > 3:
			return 1
		default:
			return z/3 + 0.5
		}
	case ActHSigmoid:
		if z > -3 && z < 3 {
			return 1.0 / 6
		}
	}
	return 0
}
