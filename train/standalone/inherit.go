package standalone

import (
	"fmt"
	"strings"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/supernetckpt"
	"github.com/sgnas/sgnas/weights"
)

// InheritReport says what an inherited initialisation took from a supernet.
type InheritReport struct {
	// Mapping is how layers map onto supernet blocks: "generator choices"
	// (the generator's exact blocks) or "group g → block g".
	Mapping string
	// Inherited counts the tensors copied from the supernet slice.
	Inherited int
	// SeededLayers are the expansion-1 layers, seeded because their
	// standalone form (no expand conv) has no supernet counterpart.
	SeededLayers []int
	// Seeded are the names of every seeded tensor (those layers', SE).
	Seeded []string
}

// String is a one-line summary.
func (r *InheritReport) String() string {
	s := fmt.Sprintf("inherited %d tensors from the supernet (%s)", r.Inherited, r.Mapping)
	if len(r.SeededLayers) > 0 {
		s += fmt.Sprintf("; expansion-1 layers %v seeded", r.SeededLayers)
	}
	if se := countSE(r.Seeded); se > 0 {
		s += fmt.Sprintf("; %d squeeze-and-excitation tensors seeded (the supernet has none)", se)
	}
	return s
}

func countSE(names []string) int {
	k := 0
	for _, n := range names {
		if strings.Contains(n, ".se.") {
			k++
		}
	}
	return k
}

// Inherit returns initial weights for net from the supernet sn: every
// tensor the supernet slice provides, the authors' seeded init (seed) for
// the rest. choices are a generator's exact block choices (the slice
// computes the supernet's single path); nil maps channel group g of every
// layer onto supernet block g (supernetckpt.PathFromArch), which for a
// generated architecture may pick other blocks than the generator did.
//
// Expansion-1 layers cannot be sliced (the standalone layer has no expand
// conv while the supernet always applies one): their tensors are seeded,
// and so are squeeze-and-excitation tensors (the supernet has no SE). The
// activation is not checked: a supernet trains with ReLU6, and inheriting
// into an h-swish network is allowed (the weights are then only a start).
func Inherit(sn *supernetckpt.Supernet, net *models.Network, choices *models.Choices, seed int64) (weights.StateDict, *InheritReport, error) {
	if sn.Space.Name != net.Space.Name {
		return nil, nil, fmt.Errorf("architecture of space %s does not fit a supernet of space %s", net.Space.Name, sn.Space.Name)
	}
	if c := net.Opts.NumClasses(); c != sn.Classes {
		return nil, nil, fmt.Errorf("network has %d classes but the supernet %d", c, sn.Classes)
	}
	rep := &InheritReport{Mapping: "generator choices"}
	p := choices
	if p == nil {
		var err error
		if p, err = supernetckpt.PathFromArch(net.Arch); err != nil {
			return nil, nil, err
		}
		rep.Mapping = "group g → block g"
	}
	arch, sliced, skipped, err := sn.StandalonePartial(p)
	if err != nil {
		return nil, nil, err
	}
	if !arch.Equal(net.Arch) {
		return nil, nil, fmt.Errorf("the block choices give architecture %s, the network is %s", arch, net.Arch)
	}
	sd := weights.Init(net.Tensors(), seed)
	for _, ts := range net.Tensors() {
		src := sliced[ts.Name]
		dst := sd[ts.Name]
		if src == nil {
			rep.Seeded = append(rep.Seeded, ts.Name)
			continue
		}
		if len(src.Data) != len(dst.Data) {
			return nil, nil, fmt.Errorf("supernet tensor for %s has shape %v, the network wants %v", ts.Name, src.Shape, ts.Shape)
		}
		copy(dst.Data, src.Data)
		rep.Inherited++
	}
	rep.SeededLayers = skipped
	return sd, rep, nil
}
