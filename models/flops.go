package models

import "fmt"

// LUT is the authors' FLOPs lookup table of a space (reference §6.2), in
// MMACs: per-layer depthwise cost of one group for each kernel, the
// full-width expand (PW1) and project (PW2) costs, and the fixed part (stem,
// first block, head; classifier excluded).
type LUT struct {
	Space *Space
	Basic float64
	DW    [NumLayers][3]float64
	PW1   [NumLayers]float64
	PW2   [NumLayers]float64
}

// LUT builds the space's lookup table.
func (s *Space) LUT() *LUT {
	t := &LUT{Space: s}
	h := float64(s.StemOutSize())
	stem := h * h * 9 * 3 * float64(s.StemChannels)
	firstDW := h * h * 9 * float64(s.StemChannels)
	firstPW := h * h * float64(s.StemChannels) * float64(s.FirstOut)
	last := s.Layers[NumLayers-1]
	head := float64(last.HOut*last.HOut) * float64(last.Out) * float64(s.HeadChannels)
	t.Basic = (stem + firstDW + firstPW + head) / 1e6
	for l, sp := range s.Layers {
		hin, hout, c := float64(sp.HIn), float64(sp.HOut), float64(sp.In)
		for j, k := range KernelSizes {
			t.DW[l][j] = hout * hout * float64(k*k) * c / 1e6
		}
		t.PW1[l] = hin * hin * c * NumGroups * c / 1e6
		t.PW2[l] = hout * hout * NumGroups * c * float64(sp.Out) / 1e6
	}
	return t
}

// LayerMFLOPs is the LUT cost of one layer with the given kernel list.
func (t *LUT) LayerMFLOPs(l int, kernels []int) float64 {
	f := 0.0
	for _, k := range kernels {
		f += t.DW[l][kernelIndex(k)]
	}
	e := float64(len(kernels))
	if len(kernels) > 1 {
		f += e / NumGroups * t.PW1[l]
	}
	return f + e/NumGroups*t.PW2[l]
}

// ArchMFLOPs is the LUT count of a hard architecture (no SE): what the
// generator is trained against. It equals the full count without SE.
func (t *LUT) ArchMFLOPs(a *Arch) float64 {
	f := t.Basic
	for l, layer := range a.Layers {
		f += t.LayerMFLOPs(l, layer.Kernels)
	}
	return f
}

const dwThreshold = 0.01 // probabilities at or below it are not evaluated

// skipFraction is Σ_b P[l,4b+3]/6 accumulated in float32, and whether the
// expand term is kept (fraction < 5/6), exactly as the authors compute it.
func skipFraction(row *[RowLen]float64) (float64, bool) {
	var s float32
	for b := 0; b < NumGroups; b++ {
		s += float32(row[NumCandidates*b+SkipCandidate]) / NumGroups
	}
	return float64(s), s < float32(5.0/6.0)
}

// SoftMFLOPs is the authors' soft FLOPs of a probability matrix (reference
// §6.2); for a one-hot matrix it equals ArchMFLOPs.
func (t *LUT) SoftMFLOPs(p *Encoding) float64 {
	f := t.Basic
	for l := 0; l < NumLayers; l++ {
		row := &p[l]
		for b := 0; b < NumGroups; b++ {
			for j := 0; j < 3; j++ {
				if v := row[NumCandidates*b+j]; v > dwThreshold {
					f += v * t.DW[l][j]
				}
			}
		}
		s, keepPW1 := skipFraction(row)
		if keepPW1 {
			f += (1 - s) * t.PW1[l]
		}
		f += (1 - s) * t.PW2[l]
	}
	return f
}

// Grad is ∂SoftMFLOPs/∂P: per layer, group and candidate, the coefficient the
// generator's FLOPs loss back-propagates through. Kernel candidates at or
// below the 0.01 cut get 0, as in the authors' formula.
func (t *LUT) Grad(p *Encoding) *Encoding {
	var g Encoding
	for l := 0; l < NumLayers; l++ {
		row := &p[l]
		_, keepPW1 := skipFraction(row)
		skip := -t.PW2[l] / NumGroups
		if keepPW1 {
			skip -= t.PW1[l] / NumGroups
		}
		for b := 0; b < NumGroups; b++ {
			for j := 0; j < 3; j++ {
				if row[NumCandidates*b+j] > dwThreshold {
					g[l][NumCandidates*b+j] = t.DW[l][j]
				}
			}
			g[l][NumCandidates*b+SkipCandidate] = skip
		}
	}
	return &g
}

// Cost implements CostModel with SoftMFLOPs.
func (t *LUT) Cost(p *Encoding) float64 { return t.SoftMFLOPs(p) }

// Unit implements CostModel.
func (t *LUT) Unit() string { return "MFLOPs" }

// CostModel is a differentiable hardware cost of a (soft or hard)
// architecture matrix: the generator trains against it. The FLOPs LUT is one;
// a latency model from a device profile is another.
type CostModel interface {
	// Cost of the architecture matrix (probabilities or one-hot).
	Cost(p *Encoding) float64
	// Grad is ∂Cost/∂P: per-layer, per-group, per-candidate coefficients.
	Grad(p *Encoding) *Encoding
	// Unit names the cost's unit, e.g. "MFLOPs" or "ms".
	Unit() string
}

// SEMACs is the MAC count of an SE unit on a hidden width m: two 1×1 convs
// on a 1×1 map, m→m/4 and m/4→m.
func SEMACs(m int) int64 { return 2 * int64(m) * int64(m/4) }

// Counts are the FLOPs and parameter counts of an architecture under options.
type Counts struct {
	LUTMFLOPs float64 // lookup-table count (no SE): what the generator targets
	MFLOPs    float64 // full count of the model as exported (SE convs when on)
	Params    int64   // trainable parameters, classifier included
}

// Count computes the LUT count, the full count and the parameter count. The
// full count is computed twice — from the LUT plus SE terms and by walking
// the network description — and an error is returned if they disagree.
func Count(a *Arch, opts Options) (Counts, error) {
	n, err := Build(a, opts)
	if err != nil {
		return Counts{}, err
	}
	lut := n.Space.LUT()
	c := Counts{LUTMFLOPs: lut.ArchMFLOPs(a), MFLOPs: n.MFLOPs(), Params: n.Params()}
	formula := c.LUTMFLOPs
	if opts.SE {
		formula += float64(SEMACs(n.Space.StemChannels)) / 1e6
		for i, sp := range n.Space.Layers {
			formula += float64(SEMACs(a.Layers[i].Expansion()*sp.In)) / 1e6
		}
	}
	if d := formula - c.MFLOPs; d > 1e-6 || d < -1e-6 {
		return c, fmt.Errorf("internal error: FLOPs by lookup table %.6f and by network walk %.6f disagree", formula, c.MFLOPs)
	}
	return c, nil
}
