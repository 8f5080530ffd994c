package nn

// ToCNHW converts an NCHW tensor to the engine's channel-major CNHW layout.
func ToCNHW(x *Tensor) *Tensor {
	n, c, h, w := dims4(x.Shape)
	y := NewTensor(c, n, h, w)
	nchwToCNHW(x.Data, y.Data, n, c, h*w)
	return y
}

// ToNCHW converts a CNHW tensor back to NCHW.
func ToNCHW(x *Tensor) *Tensor {
	c, n, h, w := dims4(x.Shape)
	y := NewTensor(n, c, h, w)
	cnhwToNCHW(x.Data, y.Data, n, c, h*w)
	return y
}

func nchwToCNHW(src, dst []float32, n, c, hw int) {
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			copy(dst[(ch*n+b)*hw:(ch*n+b+1)*hw], src[(b*c+ch)*hw:(b*c+ch+1)*hw])
		}
	}
}

func cnhwToNCHW(src, dst []float32, n, c, hw int) {
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			copy(dst[(b*c+ch)*hw:(b*c+ch+1)*hw], src[(ch*n+b)*hw:(ch*n+b+1)*hw])
		}
	}
}
