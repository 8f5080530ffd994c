package pipeline

import (
	"errors"
	"fmt"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/supernetckpt"
	"github.com/sgnas/sgnas/weights"
)

// WeightSource says where the weights of exported networks come from: an
// imported PyTorch state dict, the slice of a trained supernet, or (neither
// given) the authors' seeded init.
type WeightSource struct {
	Weights         string // state dict (.pth or safetensors, told apart by content) with the authors' tensor names
	AllowUnexpected bool   // accept tensors in Weights that the network does not use
	Supernet        string // supernet checkpoint (RUN/supernet.ckpt)
	Seed            int64  // seed of the init when neither file is given
}

// Weights hands out the weights of networks from one source.
type Weights struct {
	src WeightSource
	sn  *supernetckpt.Supernet
}

// OpenWeights checks the source and loads a supernet checkpoint.
func OpenWeights(src WeightSource) (*Weights, error) {
	w := &Weights{src: src}
	if src.Supernet != "" {
		if src.Weights != "" {
			return nil, errors.New("--supernet and --weights are exclusive")
		}
		sn, err := supernetckpt.Load(src.Supernet)
		if err != nil {
			return nil, err
		}
		w.sn = sn
	}
	return w, nil
}

// NetOptions returns the network options for this source. A supernet
// dictates them (its space and classes, no SE, ReLU6): an explicit choice
// that asks for something else is an error naming the flag, and archSpace
// (the space of an architecture file; "" for generated architectures) must
// be the supernet's. Other sources keep opts.
func (w *Weights) NetOptions(opts models.Options, c NetChoice, archSpace string) (models.Options, error) {
	if w.sn == nil {
		return opts, nil
	}
	so, path := w.sn.NetOptions(), w.src.Supernet
	if archSpace != "" && archSpace != so.Space.Name {
		return so, fmt.Errorf("architecture is for space %s, supernet %s is %s", archSpace, path, so.Space.Name)
	}
	if c.Space != "" {
		if s, err := models.SpaceByName(c.Space); err != nil || s.Name != so.Space.Name {
			return so, fmt.Errorf("--space %s: supernet %s is %s", c.Space, path, so.Space.Name)
		}
	}
	if c.SE != nil && *c.SE {
		return so, fmt.Errorf("--se: supernet %s has no SE weights", path)
	}
	if c.Act != "" {
		if act, err := models.ParseActivation(string(c.Act)); err != nil || act != models.ReLU6 {
			return so, fmt.Errorf("--act %s: supernet %s is trained with relu6", c.Act, path)
		}
	}
	if c.Classes != 0 && c.Classes != so.Classes {
		return so, fmt.Errorf("--classes %d: supernet %s has %d classes", c.Classes, path, so.Classes)
	}
	return so, nil
}

// MinExpansion is the smallest expansion a generated architecture may have
// for this source: 2 for a supernet (it has no expansion-1 layers to slice),
// otherwise 0 (no limit).
func (w *Weights) MinExpansion() int {
	if w.sn != nil {
		return 2
	}
	return 0
}

// For returns the weights of net and their source as recorded in a
// manifest: "supernet:PATH", the imported file, or "seed:N".
func (w *Weights) For(net *models.Network) (weights.StateDict, string, error) {
	switch {
	case w.sn != nil:
		sd, err := w.sn.Standalone(net.Arch)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", w.src.Supernet, err)
		}
		return sd, "supernet:" + w.src.Supernet, nil
	case w.src.Weights != "":
		sd, err := export.LoadWeights(w.src.Weights, net, w.src.AllowUnexpected)
		if err != nil {
			return nil, "", err
		}
		return sd, w.src.Weights, nil
	}
	return export.InitWeights(net, w.src.Seed), fmt.Sprintf("seed:%d", w.src.Seed), nil
}

// Describe says in words where the weights come from.
func (w *Weights) Describe() string {
	switch {
	case w.sn != nil:
		return "supernet slice of " + w.src.Supernet
	case w.src.Weights != "":
		return w.src.Weights
	}
	return fmt.Sprintf("seeded init (seed %d)", w.src.Seed)
}
