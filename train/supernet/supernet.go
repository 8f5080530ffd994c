// Package supernet is SGNAS's unified supernet (reference §2) on the
// train/nn engine: a shared stem, a fixed expansion-1 first block, 19
// searchable inverted-residual layers whose 6 channel groups each choose a
// depthwise kernel (3, 5, 7) or are skipped, a shared head and a classifier.
//
// Two forward modes exist: a sampled single path (ForwardPath, supernet
// training and validation) and architecture-parameter mode (ForwardArch, the
// generator's training: Σ_j P[j]·op_j(x) per group, gradient w.r.t. P through
// the multipliers). Tensor names are the authors' supernet state-dict names.
// Train runs supernet training per reference §5.1 with resumable,
// atomically written checkpoints; Standalone slices the supernet into the
// weights of a standalone network.
package supernet

import (
	"fmt"
	"math"
	"sync"

	"github.com/sgnas/sgnas/data"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/supernetckpt"
	"github.com/sgnas/sgnas/train/nn"
	"github.com/sgnas/sgnas/weights"
)

// Skip is the candidate index of a skipped channel group in a Path.
const Skip = models.SkipCandidate

// ProbCut is the authors' threshold: in architecture-parameter mode
// candidates with P <= ProbCut are not evaluated (reference §2.2).
const ProbCut = 0.01

// BNMomentum is the PyTorch momentum of every supernet BatchNorm (default 0.1).
const BNMomentum = 0.1

// Path is a sampled single path: for each layer and channel group the
// candidate index 0:k3 1:k5 2:k7 3:skip. The authors' sampler picks the e
// active blocks at random, so block 0 may be skipped in a sampled path
// (unlike in generated encodings). A layer with no active group outputs
// zero (plus its residual).
type Path = models.Choices

// PathFromArch maps an architecture onto supernet blocks the way the
// authors' encoding does: group g of a layer uses block g (kernels first,
// skips last).
func PathFromArch(a *models.Arch) (*Path, error) {
	return supernetckpt.PathFromArch(a)
}

// PathFromEncoding decodes a hard one-hot matrix into a path (any block may
// be active; kernels keep their blocks).
func PathFromEncoding(e *models.Encoding) (*Path, error) {
	var p Path
	for l := range p {
		for b := range p[l] {
			choice := -1
			for j := 0; j < models.NumCandidates; j++ {
				switch v := e[l][models.NumCandidates*b+j]; v {
				case 0:
				case 1:
					if choice >= 0 {
						return nil, fmt.Errorf("one-hot layer %d group %d: more than one candidate set", l, b)
					}
					choice = j
				default:
					return nil, fmt.Errorf("one-hot layer %d column %d: value %g, want 0 or 1", l, models.NumCandidates*b+j, v)
				}
			}
			if choice < 0 {
				return nil, fmt.Errorf("one-hot layer %d group %d: no candidate set", l, b)
			}
			p[l][b] = choice
		}
	}
	return &p, nil
}

type layer struct {
	spec     models.LayerSpec
	name     string
	expand   *nn.Conv      // [6C, C, 1, 1]
	expandBN *nn.BatchNorm // 6C
	dw       [models.NumGroups][3]*nn.Conv
	dwBN     [models.NumGroups][3]*nn.BatchNorm
	project  *nn.Conv // [Cout, 6C, 1, 1]
	sbn      [models.NumGroups]*nn.BatchNorm
}

// Supernet is the unified supernet. Its parameters and BN running
// statistics live in Store under the authors' supernet state-dict names:
//
//	first.conv.weight, first.bn.*                      stem (3→32, 3×3)
//	first_mb.depthwise.blocks.0.weight, first_mb.depthwise.bn.*,
//	first_mb.point_wise_1.conv.weight, first_mb.point_wise_1.bn.*
//	stages.{l}.point_wise.conv.weight (6C,C,1,1), stages.{l}.point_wise.bn.*
//	stages.{l}.depthwise.blocks.{b}.blocks.{j}.conv.weight (C,1,k,k), ….bn.*
//	stages.{l}.point_wise_1.conv.weight (C',6C,1,1)  (no BN, no activation)
//	stages.{l}.sbn.{s}.*                                (s = skipped groups)
//	last_stage.0.weight, last_stage.1.*, classifier.weight, classifier.bias
//
// The authors' skip candidates (stages.{l}.depthwise.blocks.{b}.blocks.3.weight,
// a 1×1 conv whose output is multiplied by 0) are not allocated: they never
// influence the output or any gradient. Loading an authors' state dict
// therefore reports them as unexpected names, which LoadStateDict ignores.
type Supernet struct {
	Space   *models.Space
	Classes int
	Store   *nn.Store

	stem    *nn.Conv
	stemBN  *nn.BatchNorm
	fmDW    *nn.Conv
	fmDWBN  *nn.BatchNorm
	fmPW    *nn.Conv
	fmPWBN  *nn.BatchNorm
	layers  [models.NumLayers]*layer
	head    *nn.Conv
	headBN  *nn.BatchNorm
	fc      *nn.Linear
	frozen  bool
	mu      sync.Mutex
	pending map[*nn.Tape][]gather
}

// gather is a compact copy of selected columns of a 1×1 weight used by one
// forward; after Backward its gradient is scattered into the parameter.
type gather struct {
	p      *nn.Param
	leaf   *nn.Var
	rows   int // Cout
	full   int // 6C (columns of the parameter)
	c      int // group size
	blocks []int
}

// New builds a supernet for space with the authors' init (reference §2.1).
// Every tensor draws from its own generator weights.Stream(seed, name), so
// the init does not depend on creation order.
func New(space *models.Space, classes int, seed int64) *Supernet {
	if classes <= 0 {
		classes = space.Classes
	}
	s := &Supernet{Space: space, Classes: classes, Store: nn.NewStore(), pending: map[*nn.Tape][]gather{}}
	st := s.Store
	conv := func(name string, g nn.ConvGeom) *nn.Conv { return nn.NewConv(st, name, g, weights.Stream(seed, name)) }
	bn := func(prefix string, c int) *nn.BatchNorm { return nn.NewBatchNorm(st, prefix, c, BNMomentum) }
	sc := space.StemChannels
	s.stem = conv("first.conv.weight", nn.ConvGeom{Cin: 3, Cout: sc, K: 3, Stride: space.StemStride, Pad: 1, Groups: 1})
	s.stemBN = bn("first.bn", sc)
	s.fmDW = conv("first_mb.depthwise.blocks.0.weight", nn.ConvGeom{Cin: sc, Cout: sc, K: 3, Stride: 1, Pad: 1, Groups: sc})
	s.fmDWBN = bn("first_mb.depthwise.bn", sc)
	s.fmPW = conv("first_mb.point_wise_1.conv.weight", nn.ConvGeom{Cin: sc, Cout: space.FirstOut, K: 1, Stride: 1, Groups: 1})
	s.fmPWBN = bn("first_mb.point_wise_1.bn", space.FirstOut)
	for l, spec := range space.Layers {
		c := spec.In
		L := &layer{spec: spec, name: fmt.Sprintf("stages.%d", l)}
		L.expand = conv(L.name+".point_wise.conv.weight", nn.ConvGeom{Cin: c, Cout: models.NumGroups * c, K: 1, Stride: 1, Groups: 1})
		L.expandBN = bn(L.name+".point_wise.bn", models.NumGroups*c)
		for b := 0; b < models.NumGroups; b++ {
			for j, k := range models.KernelSizes {
				pre := fmt.Sprintf("%s.depthwise.blocks.%d.blocks.%d", L.name, b, j)
				L.dw[b][j] = conv(pre+".conv.weight", nn.ConvGeom{Cin: c, Cout: c, K: k, Stride: spec.Stride, Pad: k / 2, Groups: c})
				L.dwBN[b][j] = bn(pre+".bn", c)
			}
		}
		L.project = conv(L.name+".point_wise_1.conv.weight", nn.ConvGeom{Cin: models.NumGroups * c, Cout: spec.Out, K: 1, Stride: 1, Groups: 1})
		for i := range L.sbn {
			L.sbn[i] = bn(fmt.Sprintf("%s.sbn.%d", L.name, i), spec.Out)
		}
		s.layers[l] = L
	}
	last := space.Layers[models.NumLayers-1].Out
	s.head = conv("last_stage.0.weight", nn.ConvGeom{Cin: last, Cout: space.HeadChannels, K: 1, Stride: 1, Groups: 1})
	s.headBN = bn("last_stage.1", space.HeadChannels)
	s.fc = nn.NewLinear(st, "classifier", space.HeadChannels, classes, weights.Stream(seed, "classifier.weight"))
	return s
}

// ZeroInitResidual sets γ of every SBN of the residual layers to 0, so that
// each residual layer starts as the identity (Goyal et al. 2017's
// zero-γ init; the authors initialise every γ to 1). The network then
// starts as its 6 non-residual layers plus stem and head, which trains
// stably from the first step; the residual branches grow from there.
func (s *Supernet) ZeroInitResidual() {
	for _, L := range s.layers {
		if !L.spec.Residual() {
			continue
		}
		for _, b := range L.sbn {
			clear(b.Weight.Value.Data)
		}
	}
}

// SetFrozen freezes (true) or unfreezes the supernet. A frozen supernet
// runs every BatchNorm in eval mode (running statistics, no updates)
// whatever the training flag says, and no gradient reaches its parameters;
// gradients still flow through it to the input and to the architecture
// parameters of ForwardArch (generator training, reference §5.2).
func (s *Supernet) SetFrozen(f bool) { s.frozen = f }

// Frozen reports whether the supernet is frozen.
func (s *Supernet) Frozen() bool { return s.frozen }

// StateDict returns copies of all parameters and BN running statistics by
// name.
func (s *Supernet) StateDict() weights.StateDict {
	sd := weights.StateDict{}
	for n, t := range s.Store.StateDict() {
		sd[n] = t.Clone()
	}
	return sd
}

// LoadStateDict copies sd into the supernet. Every supernet tensor must be
// present with its shape; names the supernet does not have (e.g. the
// authors' dead skip convs or num_batches_tracked) are returned, not an error.
func (s *Supernet) LoadStateDict(sd weights.StateDict) (extra []string, err error) {
	m := map[string]*nn.Tensor(sd)
	for _, n := range s.Store.Names() {
		p := s.Store.Get(n)
		if t, ok := m[n]; ok && !nn.SameShape(t.Shape, p.Value.Shape) {
			return nil, fmt.Errorf("supernet tensor %s: shape %v, expected %v", n, t.Shape, p.Value.Shape)
		}
	}
	return s.Store.Load(m, false)
}

// InputVar converts a data.Batch (NCHW) into the engine's CNHW layout as a
// constant on t.
func InputVar(t *nn.Tape, b *data.Batch) *nn.Var {
	return t.Const(nn.ToCNHW(nn.FromData(b.X, b.N, b.C, b.H, b.W)))
}

func (s *Supernet) pv(t *nn.Tape, p *nn.Param) *nn.Var {
	if s.frozen {
		return t.Const(p.Value)
	}
	return t.Param(p)
}

func (s *Supernet) conv(t *nn.Tape, x *nn.Var, c *nn.Conv) *nn.Var {
	return t.Conv2d(x, s.pv(t, c.W), c.Geom)
}

func (s *Supernet) bn(t *nn.Tape, x *nn.Var, b *nn.BatchNorm, training bool, act nn.Activation) *nn.Var {
	return t.BatchNorm(x, s.pv(t, b.Weight), s.pv(t, b.Bias), b.State(), training && !s.frozen, act)
}

// bnRange applies channels [lo,hi) of b (parameters and running statistics
// as views) to x.
func (s *Supernet) bnRange(t *nn.Tape, x *nn.Var, b *nn.BatchNorm, lo, hi int, training bool, act nn.Activation) *nn.Var {
	st := nn.BNState{
		RunningMean: &nn.Tensor{Shape: []int{hi - lo}, Data: b.RunningMean.Value.Data[lo:hi]},
		RunningVar:  &nn.Tensor{Shape: []int{hi - lo}, Data: b.RunningVar.Value.Data[lo:hi]},
		Momentum:    b.Momentum, Eps: b.Eps,
	}
	g := t.SliceChannels(s.pv(t, b.Weight), lo, hi)
	be := t.SliceChannels(s.pv(t, b.Bias), lo, hi)
	return t.BatchNorm(x, g, be, st, training && !s.frozen, act)
}

func (s *Supernet) stemForward(t *nn.Tape, x *nn.Var, training bool) *nn.Var {
	y := s.bn(t, s.conv(t, x, s.stem), s.stemBN, training, nn.ActReLU6)
	y = s.bn(t, s.conv(t, y, s.fmDW), s.fmDWBN, training, nn.ActReLU6)
	return s.bn(t, s.conv(t, y, s.fmPW), s.fmPWBN, training, nn.ActNone)
}

func (s *Supernet) headForward(t *nn.Tape, y *nn.Var, training bool) *nn.Var {
	y = s.bn(t, s.conv(t, y, s.head), s.headBN, training, nn.ActReLU6)
	return t.Linear(t.GlobalAvgPool(y), s.pv(t, s.fc.W), s.pv(t, s.fc.B))
}

// cand is one evaluated candidate of a group; scale nil means weight 1.
type cand struct {
	j     int
	scale *nn.Var
}

type group struct {
	b     int
	cands []cand
}

// ForwardPath runs the single path p on x (CNHW [3,N,H,W]) and returns the
// logits [N, Classes]. Only the active groups are computed: the expand conv
// uses the weight rows of the active groups, the project conv the weight
// columns of the active groups, so a path costs what its standalone network
// costs. The SBN of layer l is indexed by its number of skipped groups.
//
// After a forward that is to be differentiated, call s.Backward(t, loss)
// instead of t.Backward: it also adds the gradients of the gathered project
// weight columns to the Store. If no backward follows (validation), call
// s.Discard(t) before t.Reset().
func (s *Supernet) ForwardPath(t *nn.Tape, x *nn.Var, p *Path, training bool) *nn.Var {
	y := s.stemForward(t, x, training)
	for l, L := range s.layers {
		var gs []group
		for b, j := range p[l] {
			if j < 0 || j > Skip {
				panic(fmt.Sprintf("supernet.ForwardPath: layer %d group %d: candidate %d not in 0..3", l, b, j))
			}
			if j != Skip {
				gs = append(gs, group{b: b, cands: []cand{{j: j}}})
			}
		}
		y = s.layerForward(t, L, y, gs, models.NumGroups-len(gs), training)
	}
	return s.headForward(t, y, training)
}

// ForwardArch runs the supernet in architecture-parameter mode (reference
// §2.2) with the 19×24 matrix p (probabilities or one-hot): each group
// outputs Σ_j p[j]·op_j(x) over the kernel candidates with p[j] > 0.01 (the
// skip candidate contributes zero); the SBN index of a layer is
// round(Σ_b p_b[skip]) (half to even, as Python's round; no gradient).
// After t.Backward(loss) (or s.Backward), grad returns dLoss/dP: zero for
// entries that were not evaluated (P <= 0.01 and all skip entries). Read it
// before t.Reset().
func (s *Supernet) ForwardArch(t *nn.Tape, x *nn.Var, p *models.Encoding, training bool) (logits *nn.Var, grad func() *models.Encoding) {
	type leaf struct {
		l, col int
		v      *nn.Var
	}
	var leaves []leaf
	y := s.stemForward(t, x, training)
	for l, L := range s.layers {
		var gs []group
		skipSum := 0.0
		for b := 0; b < models.NumGroups; b++ {
			skipSum += p[l][models.NumCandidates*b+Skip]
			var cs []cand
			for j := 0; j < Skip; j++ {
				col := models.NumCandidates*b + j
				if v := p[l][col]; v > ProbCut {
					lv := t.Leaf(nn.FromData([]float32{float32(v)}, 1))
					leaves = append(leaves, leaf{l, col, lv})
					cs = append(cs, cand{j: j, scale: lv})
				}
			}
			if len(cs) > 0 {
				gs = append(gs, group{b: b, cands: cs})
			}
		}
		skipped := int(math.RoundToEven(skipSum))
		skipped = min(max(skipped, 0), models.NumGroups)
		y = s.layerForward(t, L, y, gs, skipped, training)
	}
	logits = s.headForward(t, y, training)
	grad = func() *models.Encoding {
		var g models.Encoding
		for _, lf := range leaves {
			if lf.v.Grad != nil {
				g[lf.l][lf.col] = float64(lf.v.Grad.Data[0])
			}
		}
		return &g
	}
	return logits, grad
}

// layerForward runs one searchable layer with the given evaluated groups
// (in block order) and SBN index skipped (no SBN when it is 6).
func (s *Supernet) layerForward(t *nn.Tape, L *layer, x *nn.Var, gs []group, skipped int, training bool) *nn.Var {
	c, spec := L.spec.In, L.spec
	e := len(gs)
	if e == 0 {
		// Spatial size from the input, not spec: the supernet may run on
		// images smaller than the space's input size (Config.Size).
		n, h, w := x.Value.Shape[1], x.Value.Shape[2], x.Value.Shape[3]
		z := t.Zeros(spec.Out, n, (h-1)/spec.Stride+1, (w-1)/spec.Stride+1)
		if spec.Residual() {
			return t.Add(z, x)
		}
		return z
	}
	// Runs of contiguous active blocks: their expand rows / BN channels are
	// contiguous in the parameters.
	type run struct{ lo, hi, pos int } // blocks [lo,hi), position in the compact hidden tensor
	var runs []run
	for i, g := range gs {
		if k := len(runs) - 1; k >= 0 && runs[k].hi == g.b {
			runs[k].hi++
			continue
		}
		runs = append(runs, run{lo: g.b, hi: g.b + 1, pos: i})
	}
	// Expand: rows of the active groups only.
	wv := s.pv(t, L.expand.W)
	var wsel *nn.Var
	if len(runs) == 1 {
		wsel = t.SliceChannels(wv, runs[0].lo*c, runs[0].hi*c)
	} else {
		parts := make([]*nn.Var, len(runs))
		for i, r := range runs {
			parts[i] = t.SliceChannels(wv, r.lo*c, r.hi*c)
		}
		wsel = t.Concat(parts...)
	}
	hid := t.Conv2d(x, wsel, nn.ConvGeom{Cin: c, Cout: e * c, K: 1, Stride: 1, Groups: 1})
	outs := make([]*nn.Var, 0, e)
	for _, r := range runs {
		n := r.hi - r.lo
		h := s.bnRange(t, t.SliceChannels(hid, r.pos*c, (r.pos+n)*c), L.expandBN, r.lo*c, r.hi*c, training, nn.ActReLU6)
		for k := 0; k < n; k++ {
			g := gs[r.pos+k]
			hg := h
			if n > 1 {
				hg = t.SliceChannels(h, k*c, (k+1)*c)
			}
			var o *nn.Var
			for _, cd := range g.cands {
				v := s.bn(t, s.conv(t, hg, L.dw[g.b][cd.j]), L.dwBN[g.b][cd.j], training, nn.ActReLU6)
				if cd.scale != nil {
					v = t.Scale(v, cd.scale)
				}
				if o == nil {
					o = v
				} else {
					o = t.Add(o, v)
				}
			}
			outs = append(outs, o)
		}
	}
	cat := outs[0]
	if e > 1 {
		cat = t.Concat(outs...)
	}
	// Project: columns of the active groups only.
	var wp *nn.Var
	if e == models.NumGroups {
		wp = s.pv(t, L.project.W)
	} else {
		blocks := make([]int, e)
		for i, g := range gs {
			blocks[i] = g.b
		}
		wp = s.gatherCols(t, L.project.W, spec.Out, c, blocks)
	}
	z := t.Conv2d(cat, wp, nn.ConvGeom{Cin: e * c, Cout: spec.Out, K: 1, Stride: 1, Groups: 1})
	if skipped < models.NumGroups {
		z = s.bn(t, z, L.sbn[skipped], training, nn.ActNone)
	}
	if spec.Residual() {
		z = t.Add(z, x)
	}
	return z
}

// gatherCols copies the column groups blocks (each c wide) of the 1×1
// weight p [rows, 6c, 1, 1] into a compact [rows, len(blocks)·c, 1, 1]
// tensor. Unless frozen, it is a gradient leaf whose gradient Backward
// scatters back into p.Grad.
func (s *Supernet) gatherCols(t *nn.Tape, p *nn.Param, rows, c int, blocks []int) *nn.Var {
	full := models.NumGroups * c
	e := len(blocks)
	var buf []float32
	if s.frozen {
		buf = make([]float32, rows*e*c)
	} else {
		buf = t.Pool().GetDirty(rows * e * c)
	}
	src := p.Value.Data
	for o := 0; o < rows; o++ {
		for i, b := range blocks {
			copy(buf[(o*e+i)*c:(o*e+i+1)*c], src[o*full+b*c:o*full+(b+1)*c])
		}
	}
	tn := nn.FromData(buf, rows, e*c, 1, 1)
	if s.frozen {
		return t.Const(tn)
	}
	v := t.Leaf(tn)
	s.mu.Lock()
	s.pending[t] = append(s.pending[t], gather{p: p, leaf: v, rows: rows, full: full, c: c, blocks: blocks})
	s.mu.Unlock()
	return v
}

// Backward runs t.Backward(loss) and adds the gradients of the project
// weight columns gathered by the forward passes recorded on t to the
// Store's gradients. Use it instead of t.Backward after ForwardPath or
// ForwardArch of an unfrozen supernet.
func (s *Supernet) Backward(t *nn.Tape, loss *nn.Var) {
	t.Backward(loss)
	s.flush(t, true)
}

// Discard forgets the gathered weights of forwards recorded on t that will
// not be differentiated (call before t.Reset()).
func (s *Supernet) Discard(t *nn.Tape) { s.flush(t, false) }

func (s *Supernet) flush(t *nn.Tape, scatter bool) {
	s.mu.Lock()
	gs := s.pending[t]
	delete(s.pending, t)
	s.mu.Unlock()
	for _, g := range gs {
		if scatter && g.leaf.Grad != nil && g.p.Grad != nil {
			e := len(g.blocks)
			dst, src := g.p.Grad.Data, g.leaf.Grad.Data
			for o := 0; o < g.rows; o++ {
				for i, b := range g.blocks {
					d := dst[o*g.full+b*g.c : o*g.full+(b+1)*g.c]
					sv := src[(o*e+i)*g.c : (o*e+i+1)*g.c]
					for k, v := range sv {
						d[k] += v
					}
				}
			}
		}
		t.Pool().Put(g.leaf.Value.Data)
	}
}
