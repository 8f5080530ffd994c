// Package netflags resolves the network-option flags (--space, --se, --act,
// --classes) that the generating commands of both CLIs share.
package netflags

import (
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/models"
)

// Generated returns the network options of generated models: the space's
// defaults (models.DefaultOptions) with whatever the flags set on top.
func Generated(cmd *cli.Command) (models.Options, error) {
	space, err := models.SpaceByName(cmd.String("space"))
	if err != nil {
		return models.Options{}, fmt.Errorf("--space: %w", err)
	}
	opts := models.DefaultOptions(space)
	if cmd.IsSet("se") {
		opts.SE = cmd.Bool("se")
	}
	if cmd.IsSet("act") {
		if opts.Act, err = models.ParseActivation(cmd.String("act")); err != nil {
			return opts, fmt.Errorf("--act: %w", err)
		}
	}
	if cmd.IsSet("classes") {
		if opts.Classes = int(cmd.Int("classes")); opts.Classes <= 0 {
			return opts, fmt.Errorf("--classes %d: want a positive number", opts.Classes)
		}
	}
	return opts, nil
}
