// Package netflags declares and reads the network-option flags (--space,
// --se, --act, --classes) that the commands of both CLIs share. The
// defaults themselves are models.DefaultOptions, applied by package pipeline.
package netflags

import (
	"fmt"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/pipeline"
)

// Flags returns fresh network-option flags (flags hold parse state).
func Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "space", Usage: "search space: imagenet, cifar10, cifar100 (default: the architecture file's, else imagenet)"},
		&cli.BoolFlag{Name: "se", Usage: "squeeze-and-excitation in every block (default: the architecture file's, else on for imagenet, off for cifar)"},
		&cli.StringFlag{Name: "act", Usage: "activation relu6|hswish (default: the architecture file's, else hswish for imagenet, relu6 for cifar)"},
		&cli.IntFlag{Name: "classes", Usage: "number of classes (default: the architecture file's, else 1000 for imagenet, the space's for cifar)"},
	}
}

// Choice returns the network options the flags set explicitly.
func Choice(cmd *cli.Command) (pipeline.NetChoice, error) {
	var c pipeline.NetChoice
	if cmd.IsSet("space") {
		c.Space = cmd.String("space")
		if _, err := models.SpaceByName(c.Space); err != nil {
			return c, fmt.Errorf("--space: %w", err)
		}
	}
	if cmd.IsSet("se") {
		se := cmd.Bool("se")
		c.SE = &se
	}
	if cmd.IsSet("act") {
		act, err := models.ParseActivation(cmd.String("act"))
		if err != nil {
			return c, fmt.Errorf("--act: %w", err)
		}
		c.Act = act
	}
	if cmd.IsSet("classes") {
		if c.Classes = int(cmd.Int("classes")); c.Classes <= 0 {
			return c, fmt.Errorf("--classes %d: want a positive number", c.Classes)
		}
	}
	return c, nil
}

// Generated returns the network options of generated models: the space's
// defaults with whatever the flags set on top.
func Generated(cmd *cli.Command) (models.Options, error) {
	c, err := Choice(cmd)
	if err != nil {
		return models.Options{}, err
	}
	return pipeline.GeneratedOptions(c)
}
