// Package pipeline is the deployment path both CLIs call: network options
// (per-space defaults, architecture-file values, flags), the choice of
// weights (seeded init, an imported .pth or safetensors state dict, or a
// slice of a trained supernet), ONNX export, the --check parity run in ONNX
// Runtime, timing, and for sgnas-export the whole run from budgets to a
// published set of models with its manifest (staged, locked and swapped in atomically; see Run). The
// CLIs only parse flags and print. It does not link the training engine.
package pipeline

import (
	"fmt"

	"github.com/sgnas/sgnas/models"
)

// NetChoice is what the user asked of the network options explicitly; zero
// fields were not given and fall back to the architecture file (if any),
// then to models.DefaultOptions of the space.
type NetChoice struct {
	Space   string
	SE      *bool
	Act     models.Activation
	Classes int
}

// GeneratedOptions are the options of generated models: the space's
// defaults (models.DefaultOptions; imagenet when no space is chosen) with the
// choice on top.
func GeneratedOptions(c NetChoice) (models.Options, error) {
	name := c.Space
	if name == "" {
		name = "imagenet"
	}
	space, err := models.SpaceByName(name)
	if err != nil {
		return models.Options{}, fmt.Errorf("--space: %w", err)
	}
	opts := models.DefaultOptions(space)
	return c.apply(opts)
}

// ArchOptions resolves the architecture of an architecture file and its
// network options: the choice over what the file records over
// models.DefaultOptions of the space. A --space different from the file's
// drops the class count the file records (it belongs to its own space).
func ArchOptions(f *models.ArchFile, c NetChoice) (*models.Arch, models.Options, error) {
	a := f.Arch
	classes := f.Classes
	if c.Space != "" && c.Space != a.Space {
		a.Space, classes = c.Space, 0
	}
	space, err := models.SpaceByName(a.Space)
	if err != nil {
		return nil, models.Options{}, err
	}
	a.Space = space.Name // canonical spelling ("CIFAR10" → "cifar10")
	opts := models.DefaultOptions(space)
	if classes < 0 {
		return nil, opts, fmt.Errorf("classes %d: want a positive number", classes)
	}
	if classes > 0 {
		opts.Classes = classes
	}
	if f.SE != nil {
		opts.SE = *f.SE
	}
	if f.Activation != "" {
		if opts.Act, err = models.ParseActivation(f.Activation); err != nil {
			return nil, opts, err
		}
	}
	opts, err = c.apply(opts)
	return a, opts, err
}

func (c NetChoice) apply(opts models.Options) (models.Options, error) {
	if c.SE != nil {
		opts.SE = *c.SE
	}
	if c.Act != "" {
		act, err := models.ParseActivation(string(c.Act))
		if err != nil {
			return opts, fmt.Errorf("--act: %w", err)
		}
		opts.Act = act
	}
	if c.Classes < 0 {
		return opts, fmt.Errorf("--classes %d: want a positive number", c.Classes)
	}
	if c.Classes > 0 {
		opts.Classes = c.Classes
	}
	return opts, nil
}
