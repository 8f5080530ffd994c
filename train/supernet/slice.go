package supernet

import (
	"fmt"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/weights"
)

// Standalone returns the weights of the standalone network of arch (SE off,
// ReLU6, the supernet's classes; names = models.Build(arch, …).Tensors())
// sliced from the supernet, with group g of every layer taken from supernet
// block g (PathFromArch). See StandalonePath.
func (s *Supernet) Standalone(arch *models.Arch) (weights.StateDict, error) {
	p, err := PathFromArch(arch)
	if err != nil {
		return nil, err
	}
	_, sd, err := s.StandalonePath(p)
	return sd, err
}

// NetOptions are the network options of a supernet slice: no SE, ReLU6,
// the supernet's space and classes.
func (s *Supernet) NetOptions() models.Options {
	return models.Options{Space: s.Space, Classes: s.Classes, Act: models.ReLU6}
}

// StandalonePath slices the path p out of the supernet: it returns the
// standalone architecture (active groups in block order) and its weights:
//
//   - expand conv / BN: the rows / channels of the active blocks;
//   - depthwise.blocks.{i}: the kernel of the chosen (block, kernel)
//     candidate; depthwise.bn: that candidate's BN, concatenated over groups;
//   - point_wise_1 conv: the columns of the active blocks; point_wise_1.bn:
//     SBN[number of skipped blocks];
//   - stem, first_mb, head copied; classifier.weight/bias → classifier.1.*.
//
// In eval mode the standalone network then computes exactly what
// ForwardPath computes for p (BN running statistics are the supernet's).
// A layer with a single active group cannot be sliced: the standalone
// layer of expansion 1 has no expand conv, while the supernet always
// applies one.
func (s *Supernet) StandalonePath(p *Path) (*models.Arch, weights.StateDict, error) {
	arch := p.Arch(s.Space.Name)
	for l := range p {
		if e := p.Expansion(l); e < 2 {
			return nil, nil, fmt.Errorf("supernet slice: layer %d has expansion %d: only expansions 2..6 map onto the supernet (an expansion-1 standalone layer has no expand conv)", l, e)
		}
	}
	net, err := models.Build(arch, s.NetOptions())
	if err != nil {
		return nil, nil, fmt.Errorf("supernet slice: %w", err)
	}
	src := s.Store
	get := func(name string) []float32 {
		p := src.Get(name)
		if p == nil {
			panic("supernet slice: no supernet tensor " + name)
		}
		return p.Value.Data
	}
	sd := weights.StateDict{}
	put := func(name string, shape []int, data []float32) {
		sd[name] = &weights.Tensor{Shape: append([]int(nil), shape...), Data: data}
	}
	bnSuffixes := []string{".weight", ".bias", ".running_mean", ".running_var"}
	copyBN := func(dst, srcPrefix string, c int) {
		for _, suf := range bnSuffixes {
			put(dst+suf, []int{c}, append([]float32(nil), get(srcPrefix+suf)...))
		}
	}
	sp := s.Space
	put("first.conv.weight", []int{sp.StemChannels, 3, 3, 3}, append([]float32(nil), get("first.conv.weight")...))
	copyBN("first.bn", "first.bn", sp.StemChannels)
	put("first_mb.depthwise.blocks.0.weight", []int{sp.StemChannels, 1, 3, 3}, append([]float32(nil), get("first_mb.depthwise.blocks.0.weight")...))
	copyBN("first_mb.depthwise.bn", "first_mb.depthwise.bn", sp.StemChannels)
	put("first_mb.point_wise_1.conv.weight", []int{sp.FirstOut, sp.StemChannels, 1, 1}, append([]float32(nil), get("first_mb.point_wise_1.conv.weight")...))
	copyBN("first_mb.point_wise_1.bn", "first_mb.point_wise_1.bn", sp.FirstOut)
	for l, L := range s.layers {
		c, out := L.spec.In, L.spec.Out
		var blocks []int
		for b, j := range p[l] {
			if j != Skip {
				blocks = append(blocks, b)
			}
		}
		e := len(blocks)
		pre := L.name
		// expand rows + BN channels
		ew := get(pre + ".point_wise.conv.weight")
		w := make([]float32, 0, e*c*c)
		for _, b := range blocks {
			w = append(w, ew[b*c*c:(b+1)*c*c]...)
		}
		put(pre+".point_wise.conv.weight", []int{e * c, c, 1, 1}, w)
		for _, suf := range bnSuffixes {
			v := get(pre + ".point_wise.bn" + suf)
			d := make([]float32, 0, e*c)
			for _, b := range blocks {
				d = append(d, v[b*c:(b+1)*c]...)
			}
			put(pre+".point_wise.bn"+suf, []int{e * c}, d)
		}
		// depthwise kernels + concatenated BNs
		bnCat := make([][]float32, len(bnSuffixes))
		for i, b := range blocks {
			j := p[l][b]
			k := models.KernelSizes[j]
			cp := fmt.Sprintf("%s.depthwise.blocks.%d.blocks.%d", pre, b, j)
			put(fmt.Sprintf("%s.depthwise.blocks.%d.weight", pre, i), []int{c, 1, k, k}, append([]float32(nil), get(cp+".conv.weight")...))
			for si, suf := range bnSuffixes {
				bnCat[si] = append(bnCat[si], get(cp+".bn"+suf)...)
			}
		}
		for si, suf := range bnSuffixes {
			put(pre+".depthwise.bn"+suf, []int{e * c}, bnCat[si])
		}
		// project columns + SBN
		pw := get(pre + ".point_wise_1.conv.weight")
		full := models.NumGroups * c
		w = make([]float32, 0, out*e*c)
		for o := 0; o < out; o++ {
			for _, b := range blocks {
				w = append(w, pw[o*full+b*c:o*full+(b+1)*c]...)
			}
		}
		put(pre+".point_wise_1.conv.weight", []int{out, e * c, 1, 1}, w)
		copyBN(pre+".point_wise_1.bn", fmt.Sprintf("%s.sbn.%d", pre, models.NumGroups-e), out)
	}
	last := sp.Layers[models.NumLayers-1].Out
	put("last_stage.0.weight", []int{sp.HeadChannels, last, 1, 1}, append([]float32(nil), get("last_stage.0.weight")...))
	copyBN("last_stage.1", "last_stage.1", sp.HeadChannels)
	put(net.Classifier.Weight, []int{s.Classes, sp.HeadChannels}, append([]float32(nil), get("classifier.weight")...))
	put(net.Classifier.Bias, []int{s.Classes}, append([]float32(nil), get("classifier.bias")...))
	if err := weights.Match(sd, net.Tensors(), false); err != nil {
		return nil, nil, fmt.Errorf("supernet slice: internal error: %w", err)
	}
	return arch, sd, nil
}
