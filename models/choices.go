package models

// Choices is a hard architecture in the authors' block form: for each layer
// and channel group the candidate index (0: k3, 1: k5, 2: k7, 3: skip). The
// generator's decoded output and the supernet's sampled paths are Choices.
type Choices [NumLayers][NumGroups]int

// Expansion is the number of non-skip groups of layer l.
func (c *Choices) Expansion(l int) int {
	e := 0
	for _, j := range c[l] {
		if j != SkipCandidate {
			e++
		}
	}
	return e
}

// Kernels lists the kernels of layer l's non-skip groups in group order.
func (c *Choices) Kernels(l int) []int {
	ks := make([]int, 0, NumGroups)
	for _, j := range c[l] {
		if j != SkipCandidate {
			ks = append(ks, KernelSizes[j])
		}
	}
	return ks
}

// Arch is the standalone architecture: per layer the kernels of the non-skip
// groups in group order (skipped groups dropped).
func (c *Choices) Arch(space string) *Arch {
	a := &Arch{Space: space, Layers: make([]Layer, NumLayers)}
	for l := range c {
		a.Layers[l].Kernels = c.Kernels(l)
	}
	return a
}

// Encoding is the one-hot 19×24 matrix of the choices.
func (c *Choices) Encoding() *Encoding {
	var e Encoding
	for l := range c {
		for b, j := range c[l] {
			e[l][NumCandidates*b+j] = 1
		}
	}
	return &e
}
