package supernetckpt

import (
	"encoding/json"
	"fmt"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/weights"
)

// Supernet is a trained unified supernet's weights under the supernet's
// tensor names (parameters and BN running statistics): enough to slice the
// standalone network of any architecture out of it.
type Supernet struct {
	Space   *models.Space
	Classes int
	Weights weights.StateDict
}

// Load reads a supernet checkpoint (RUN/supernet.ckpt written by `sgnas
// search supernet`): its space and classes from the stored config, and its
// model tensors.
func Load(path string) (*Supernet, error) {
	f, err := Read(path)
	if err != nil {
		return nil, err
	}
	var st struct {
		Config struct {
			Space string `json:"space"`
		} `json:"config"`
		Classes int `json:"classes"`
	}
	if err := json.Unmarshal(f.State, &st); err != nil {
		return nil, fmt.Errorf("checkpoint %s: state: %w", path, err)
	}
	space, err := models.SpaceByName(st.Config.Space)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: config.space: %w", path, err)
	}
	if err := models.ValidateClasses(st.Classes); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if b := f.Model["classifier.bias"]; st.Classes <= 0 || b == nil || len(b.Data) != st.Classes {
		return nil, fmt.Errorf("checkpoint %s: classes %d does not match its classifier", path, st.Classes)
	}
	return &Supernet{Space: space, Classes: st.Classes, Weights: f.Model}, nil
}

// PathFromArch maps an architecture onto supernet blocks the way the
// authors' encoding does: group g of a layer uses block g (kernels first,
// skips last).
func PathFromArch(a *models.Arch) (*models.Choices, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	var p models.Choices
	for l, layer := range a.Layers {
		for b := range p[l] {
			p[l][b] = models.SkipCandidate
		}
		for g, k := range layer.Kernels {
			j := -1
			for i, ks := range models.KernelSizes {
				if ks == k {
					j = i
				}
			}
			p[l][g] = j
		}
	}
	return &p, nil
}

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
// train/supernet's ForwardPath computes for p (BN running statistics are the supernet's).
// A layer with a single active group cannot be sliced: the standalone
// layer of expansion 1 has no expand conv, while the supernet always
// applies one.
func (s *Supernet) StandalonePath(p *models.Choices) (*models.Arch, weights.StateDict, error) {
	for l := range p {
		if e := p.Expansion(l); e < 2 {
			return nil, nil, fmt.Errorf("supernet slice: layer %d has expansion %d: only expansions 2..6 map onto the supernet (an expansion-1 standalone layer has no expand conv)", l, e)
		}
	}
	arch, sd, _, err := s.slice(p)
	return arch, sd, err
}

// StandalonePartial is StandalonePath for paths with expansion-1 layers: it
// slices every tensor it can and leaves out the tensors of the layers that
// have a single active group (stages.L.*), whose standalone form has no
// expand conv and so computes something the supernet never did. skipped
// lists those layers; the caller initialises their tensors otherwise.
func (s *Supernet) StandalonePartial(p *models.Choices) (arch *models.Arch, sd weights.StateDict, skipped []int, err error) {
	return s.slice(p)
}

func (s *Supernet) slice(p *models.Choices) (*models.Arch, weights.StateDict, []int, error) {
	arch := p.Arch(s.Space.Name)
	net, err := models.Build(arch, s.NetOptions())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("supernet slice: %w", err)
	}
	var skipped []int
	// get returns a supernet tensor, which must hold n values; a missing or
	// misshapen tensor is recorded (the first one is the error) and zeros
	// stand in so slicing can go on.
	var bad error
	get := func(name string, n int) []float32 {
		t := s.Weights[name]
		if t == nil || len(t.Data) != n {
			if bad == nil {
				if t == nil {
					bad = fmt.Errorf("supernet slice: no supernet tensor %s", name)
				} else {
					bad = fmt.Errorf("supernet slice: supernet tensor %s has %d values, want %d", name, len(t.Data), n)
				}
			}
			return make([]float32, n)
		}
		return t.Data
	}
	sd := weights.StateDict{}
	put := func(name string, shape []int, data []float32) {
		sd[name] = &weights.Tensor{Shape: append([]int(nil), shape...), Data: data}
	}
	bnSuffixes := []string{".weight", ".bias", ".running_mean", ".running_var"}
	copyBN := func(dst, srcPrefix string, c int) {
		for _, suf := range bnSuffixes {
			put(dst+suf, []int{c}, append([]float32(nil), get(srcPrefix+suf, c)...))
		}
	}
	sp := s.Space
	put("first.conv.weight", []int{sp.StemChannels, 3, 3, 3}, append([]float32(nil), get("first.conv.weight", sp.StemChannels*27)...))
	copyBN("first.bn", "first.bn", sp.StemChannels)
	put("first_mb.depthwise.blocks.0.weight", []int{sp.StemChannels, 1, 3, 3}, append([]float32(nil), get("first_mb.depthwise.blocks.0.weight", sp.StemChannels*9)...))
	copyBN("first_mb.depthwise.bn", "first_mb.depthwise.bn", sp.StemChannels)
	put("first_mb.point_wise_1.conv.weight", []int{sp.FirstOut, sp.StemChannels, 1, 1}, append([]float32(nil), get("first_mb.point_wise_1.conv.weight", sp.FirstOut*sp.StemChannels)...))
	copyBN("first_mb.point_wise_1.bn", "first_mb.point_wise_1.bn", sp.FirstOut)
	for l, spec := range sp.Layers {
		c, out := spec.In, spec.Out
		var blocks []int
		for b, j := range p[l] {
			if j != models.SkipCandidate {
				blocks = append(blocks, b)
			}
		}
		e := len(blocks)
		if e < 2 {
			skipped = append(skipped, l)
			continue
		}
		pre := fmt.Sprintf("stages.%d", l)
		// expand rows + BN channels
		ew := get(pre+".point_wise.conv.weight", models.NumGroups*c*c)
		w := make([]float32, 0, e*c*c)
		for _, b := range blocks {
			w = append(w, ew[b*c*c:(b+1)*c*c]...)
		}
		put(pre+".point_wise.conv.weight", []int{e * c, c, 1, 1}, w)
		for _, suf := range bnSuffixes {
			v := get(pre+".point_wise.bn"+suf, models.NumGroups*c)
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
			put(fmt.Sprintf("%s.depthwise.blocks.%d.weight", pre, i), []int{c, 1, k, k}, append([]float32(nil), get(cp+".conv.weight", c*k*k)...))
			for si, suf := range bnSuffixes {
				bnCat[si] = append(bnCat[si], get(cp+".bn"+suf, c)...)
			}
		}
		for si, suf := range bnSuffixes {
			put(pre+".depthwise.bn"+suf, []int{e * c}, bnCat[si])
		}
		// project columns + SBN
		full := models.NumGroups * c
		pw := get(pre+".point_wise_1.conv.weight", out*full)
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
	put("last_stage.0.weight", []int{sp.HeadChannels, last, 1, 1}, append([]float32(nil), get("last_stage.0.weight", sp.HeadChannels*last)...))
	copyBN("last_stage.1", "last_stage.1", sp.HeadChannels)
	put(net.Classifier.Weight, []int{s.Classes, sp.HeadChannels}, append([]float32(nil), get("classifier.weight", s.Classes*sp.HeadChannels)...))
	put(net.Classifier.Bias, []int{s.Classes}, append([]float32(nil), get("classifier.bias", s.Classes)...))
	if bad != nil {
		return nil, nil, nil, bad
	}
	if len(skipped) == 0 {
		if err := weights.Match(sd, net.Tensors(), false); err != nil {
			return nil, nil, nil, fmt.Errorf("supernet slice: internal error: %w", err)
		}
	}
	return arch, sd, skipped, nil
}
