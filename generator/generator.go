// Package generator is SGNAS architecture generator inference (reference
// §3–§5.2): the authors' SinGenerator network evaluated in pure Go, decoding
// of its scores into architectures, the prior pool, budget metrics, and a
// repair step that makes every emitted architecture fit the requested
// budget. It depends only on models and weights, so deployment tools link it
// without the training engine; training lives in train/generator.
package generator

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/weights"
)

// Plane geometry of the generator: the 19×24 architecture matrix.
const (
	H      = models.NumLayers // 19
	W      = models.RowLen    // 24
	HW     = H * W
	Hidden = 32 // hidden channels of every conv
	HCDim  = 10 // channels of the constant constraint plane
)

// Scores are the generator's raw output for one target: per layer, 6 groups
// × [k3, k5, k7, skip] unnormalised scores.
type Scores = models.Encoding

// conv3 is a 3×3, stride-1, zero-pad-1 convolution without bias, weights
// [Out][In][3][3] in float64.
type conv3 struct {
	name    string
	in, out int
	w       []float64
}

// Generator holds the weights of the authors' SinGenerator(hc_dim=10,
// input_dim=1, layer_nums=5, hidden_dim=32). Weights are read as float32 and
// evaluated in float64.
type Generator struct {
	hcHead [3]conv3 // constant plane → 32, then 32 → 32 (conv + ReLU)
	bbHead [2]conv3 // prior 1 → 32, then 32 → 32 (conv + ReLU)
	head   conv3    // 32 → 32 (conv + ReLU)
	body   [3]conv3 // 32 → 32 (conv + ReLU)
	tail   conv3    // 32 → 1, plus bias, no activation
	bias   float64
}

// TensorNames lists the state-dict tensors of the generator and their shapes
// in module order (67,969 parameters).
func TensorNames() []models.TensorSpec {
	spec := func(name string, out, in int) models.TensorSpec {
		return models.TensorSpec{Name: name, Shape: []int{out, in, 3, 3}, Kind: models.ConvWeight, FanOut: 9 * out}
	}
	return []models.TensorSpec{
		spec("hc_head.0.conv.weight", Hidden, HCDim),
		spec("hc_head.1.conv.weight", Hidden, Hidden),
		spec("hc_head.2.conv.weight", Hidden, Hidden),
		spec("bb_head.0.conv.weight", Hidden, 1),
		spec("bb_head.1.conv.weight", Hidden, Hidden),
		spec("head.conv.weight", Hidden, Hidden),
		spec("body.block1.conv.weight", Hidden, Hidden),
		spec("body.block2.conv.weight", Hidden, Hidden),
		spec("body.block3.conv.weight", Hidden, Hidden),
		spec("tail.0.weight", 1, Hidden),
		{Name: "tail.0.bias", Shape: []int{1}, Kind: models.ConvBias},
	}
}

// FromStateDict builds a generator from its state dict (the authors' names).
// Extra or missing tensors and wrong shapes are errors.
func FromStateDict(sd weights.StateDict) (*Generator, error) {
	specs := TensorNames()
	if err := weights.Match(sd, specs, false); err != nil {
		return nil, fmt.Errorf("generator weights: %w", err)
	}
	if err := sd.CheckFinite(); err != nil {
		return nil, fmt.Errorf("generator weights: %w", err)
	}
	mk := func(s models.TensorSpec) conv3 {
		t := sd[s.Name]
		c := conv3{name: s.Name, out: s.Shape[0], in: s.Shape[1], w: make([]float64, len(t.Data))}
		for i, v := range t.Data {
			c.w[i] = float64(v)
		}
		return c
	}
	g := &Generator{}
	for i := 0; i < 3; i++ {
		g.hcHead[i] = mk(specs[i])
	}
	g.bbHead[0], g.bbHead[1] = mk(specs[3]), mk(specs[4])
	g.head = mk(specs[5])
	for i := 0; i < 3; i++ {
		g.body[i] = mk(specs[6+i])
	}
	g.tail = mk(specs[9])
	g.bias = float64(sd["tail.0.bias"].Data[0])
	return g, nil
}

// Load reads a generator checkpoint: the authors' {"model": state_dict, ...}
// (e.g. best_avg.pth) or a bare state dict.
func Load(path string) (*Generator, error) {
	sd, err := weights.LoadPTH(path)
	if err != nil {
		return nil, err
	}
	g, err := FromStateDict(sd)
	if err != nil {
		return nil, fmt.Errorf("load generator %s: %w", path, err)
	}
	return g, nil
}

// Constraint is the generator's scalar input for target t on a space:
// c = (t − low)/(high − low).
func Constraint(s *models.Space, t float64) float64 {
	return (t - s.LowFLOPs) / (s.HighFLOPs - s.LowFLOPs)
}

// Forward evaluates the generator for one prior and a batch of constraint
// values cs (see Constraint), returning one score matrix per value. The prior
// branch is computed once and shared by the batch.
//
// Layout: activations are [channel][19][24][batch] float64 so that every
// 3×3 tap is one long multiply-add over a row segment of all batch items.
//
// The constraint branch uses that hc_head is bias-free conv + ReLU on a
// constant plane c: ReLU is positively homogeneous, so hc_head(c) =
// c·hc_head(1) for c ≥ 0 and |c|·hc_head(−1) for c < 0 — exact, and it leaves
// 5 of the 10 convolutions per target.
func (g *Generator) Forward(prior *models.Encoding, cs []float64) []Scores {
	n := len(cs)
	out := make([]Scores, n)
	if n == 0 {
		return out
	}
	// Shared branches (batch 1).
	pr := make([]float64, HW)
	for y := 0; y < H; y++ {
		copy(pr[y*W:(y+1)*W], prior[y][:])
	}
	b := g.bbHead[1].apply(relu(g.bbHead[0].apply(pr, 1, true)), 1, true)
	relu(b)
	var hPos, hNeg []float64
	for _, c := range cs {
		if c >= 0 && hPos == nil {
			hPos = g.hcBranch(1)
		}
		if c < 0 && hNeg == nil {
			hNeg = g.hcBranch(-1)
		}
	}
	// Targets are processed in chunks small enough that a chunk's
	// activations stay in cache; chunks run in parallel, or, when there are
	// fewer chunks than cores, the convolutions of a chunk split their output
	// channels across cores.
	workers := runtime.GOMAXPROCS(0)
	nChunks := (n + chunkSize - 1) / chunkSize
	parConv := nChunks < workers
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for c0 := 0; c0 < n; c0 += chunkSize {
		c1 := min(n, c0+chunkSize)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			g.forwardChunk(b, hPos, hNeg, cs[c0:c1], out[c0:c1], parConv)
		}()
	}
	wg.Wait()
	return out
}

// chunkSize is the number of targets evaluated together (cache blocking).
const chunkSize = 8

// forwardChunk runs head, body and tail for a chunk of constraint values
// given the shared prior branch b and the constraint branch at ±1.
func (g *Generator) forwardChunk(b, hPos, hNeg []float64, cs []float64, out []Scores, par bool) {
	if len(cs) < chunkSize && len(cs) >= chunkSize/2 {
		// Pad to a full chunk so the 8-wide kernel applies; extra rows are dropped.
		padded := make([]float64, chunkSize)
		copy(padded, cs)
		for i := len(cs); i < chunkSize; i++ {
			padded[i] = cs[len(cs)-1]
		}
		cs = padded
	}
	n := len(cs)
	// P = B + H(c), batch innermost.
	p := make([]float64, Hidden*HW*n)
	for i := 0; i < Hidden*HW; i++ {
		row := p[i*n : (i+1)*n]
		for t, c := range cs {
			if c >= 0 {
				row[t] = b[i] + c*hPos[i]
			} else {
				row[t] = b[i] - c*hNeg[i]
			}
		}
	}
	y := relu(g.head.apply(p, n, par))
	for i := range g.body {
		y = relu(g.body[i].apply(y, n, par))
	}
	for i := range y {
		y[i] += p[i]
	}
	z := g.tail.apply(y, n, par)
	for s := 0; s < HW; s++ {
		for t := range out {
			out[t][s/W][s%W] = z[s*n+t] + g.bias
		}
	}
}

// hcBranch is hc_head applied to the constant plane of value v (batch 1).
func (g *Generator) hcBranch(v float64) []float64 {
	x := make([]float64, HCDim*HW)
	for i := range x {
		x[i] = v
	}
	for i := range g.hcHead {
		x = relu(g.hcHead[i].apply(x, 1, true))
	}
	return x
}

func relu(x []float64) []float64 {
	for i, v := range x {
		if v < 0 {
			x[i] = 0
		}
	}
	return x
}

// apply computes the convolution of x ([in][H][W][n]) into a new
// [out][H][W][n] slice; with par, output channels are split across CPU cores.
func (c *conv3) apply(x []float64, n int, par bool) []float64 {
	y := make([]float64, c.out*HW*n)
	workers := 1
	if par {
		workers = min(runtime.GOMAXPROCS(0), c.out)
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for o := w; o < c.out; o += workers {
				if n == 8 {
					c.applyChannel8(x, y[o*HW*n:(o+1)*HW*n], o)
				} else {
					c.applyChannel(x, y[o*HW*n:(o+1)*HW*n], o, n)
				}
			}
		}(w)
	}
	wg.Wait()
	return y
}

// applyChannel accumulates output channel o into dst ([H][W][n]).
func (c *conv3) applyChannel(x, dst []float64, o, n int) {
	rowLen := W * n
	for i := 0; i < c.in; i++ {
		src := x[i*HW*n : (i+1)*HW*n]
		wk := c.w[(o*c.in+i)*9 : (o*c.in+i)*9+9]
		for ky := 0; ky < 3; ky++ {
			dy := ky - 1
			y0, y1 := max(0, -dy), min(H, H-dy)
			for kx := 0; kx < 3; kx++ {
				wv := wk[ky*3+kx]
				if wv == 0 {
					continue
				}
				dx := kx - 1
				x0, x1 := max(0, -dx), min(W, W-dx)
				seg := (x1 - x0) * n
				for yy := y0; yy < y1; yy++ {
					d := dst[yy*rowLen+x0*n : yy*rowLen+x0*n+seg]
					s := src[(yy+dy)*rowLen+(x0+dx)*n : (yy+dy)*rowLen+(x0+dx)*n+seg]
					axpy(d, s, wv)
				}
			}
		}
	}
}

// axpy computes d += a·s (len(s) == len(d)).
func axpy(d, s []float64, a float64) {
	s = s[:len(d)]
	i := 0
	for ; i+4 <= len(d); i += 4 {
		d[i] += a * s[i]
		d[i+1] += a * s[i+1]
		d[i+2] += a * s[i+2]
		d[i+3] += a * s[i+3]
	}
	for ; i < len(d); i++ {
		d[i] += a * s[i]
	}
}

// applyChannel8 is applyChannel for a batch of exactly 8, accumulating each
// output position of all 8 batch items in registers over every input channel
// and tap (one load per multiply-add, one store per output).
func (c *conv3) applyChannel8(x, dst []float64, o int) {
	const n = 8
	wo := c.w[o*c.in*9 : (o+1)*c.in*9]
	for yy := 0; yy < H; yy++ {
		ky0, ky1 := max(0, 1-yy), min(3, H+1-yy)
		for xx := 0; xx < W; xx++ {
			kx0, kx1 := max(0, 1-xx), min(3, W+1-xx)
			var a0, a1, a2, a3, a4, a5, a6, a7 float64
			if ky1-ky0 == 3 && kx1-kx0 == 3 {
				// Interior: all 9 taps, a row of 3 taps (24 values) at a time.
				for i := 0; i < c.in; i++ {
					wk := wo[i*9 : i*9+9 : i*9+9]
					row := i*HW*n + ((yy-1)*W+xx-1)*n
					for ky := 0; ky < 3; ky++ {
						s := x[row : row+3*n : row+3*n]
						w0, w1, w2 := wk[ky*3], wk[ky*3+1], wk[ky*3+2]
						a0 += w0*s[0] + w1*s[8] + w2*s[16]
						a1 += w0*s[1] + w1*s[9] + w2*s[17]
						a2 += w0*s[2] + w1*s[10] + w2*s[18]
						a3 += w0*s[3] + w1*s[11] + w2*s[19]
						a4 += w0*s[4] + w1*s[12] + w2*s[20]
						a5 += w0*s[5] + w1*s[13] + w2*s[21]
						a6 += w0*s[6] + w1*s[14] + w2*s[22]
						a7 += w0*s[7] + w1*s[15] + w2*s[23]
						row += W * n
					}
				}
				d := dst[(yy*W+xx)*n : (yy*W+xx)*n+n : (yy*W+xx)*n+n]
				d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = a0, a1, a2, a3, a4, a5, a6, a7
				continue
			}
			for i := 0; i < c.in; i++ {
				wk := wo[i*9 : i*9+9]
				base := i * HW * n
				for ky := ky0; ky < ky1; ky++ {
					row := base + ((yy+ky-1)*W+xx-1)*n
					for kx := kx0; kx < kx1; kx++ {
						w := wk[ky*3+kx]
						s := x[row+kx*n : row+kx*n+n : row+kx*n+n]
						a0 += w * s[0]
						a1 += w * s[1]
						a2 += w * s[2]
						a3 += w * s[3]
						a4 += w * s[4]
						a5 += w * s[5]
						a6 += w * s[6]
						a7 += w * s[7]
					}
				}
			}
			d := dst[(yy*W+xx)*n : (yy*W+xx)*n+n : (yy*W+xx)*n+n]
			d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = a0, a1, a2, a3, a4, a5, a6, a7
		}
	}
}
