package main

import (
	"strings"

	"github.com/urfave/cli/v3"
)

// dataFlags returns fresh dataset flags shared by the training commands
// (flags hold parse state).
func dataFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "data", Value: "synthetic", Usage: "dataset directory, 'synthetic', or 'fashion-mnist' (Debian's dataset-fashion-mnist)"},
		&cli.StringFlag{Name: "dataset", Usage: "cifar10|cifar100|fashion-mnist|folder|synthetic (default: synthetic when --data synthetic, else the space's name)"},
		&cli.IntFlag{Name: "samples", Usage: "samples of the synthetic dataset (default 10000)"},
	}
}

// datasetChoice resolves --data and --dataset for a space into the
// data.Open kind and directory ("" for synthetic and Debian's Fashion-MNIST).
func datasetChoice(cmd *cli.Command, space string) (kind, dir string) {
	dir, kind = cmd.String("data"), cmd.String("dataset")
	if kind == "" {
		switch {
		case strings.EqualFold(dir, "synthetic"):
			kind = "synthetic"
		case strings.EqualFold(dir, "fashion-mnist"):
			kind, dir = "fashion-mnist", "" // Debian's install location
		case space == "imagenet":
			kind = "folder" // an ImageNet-style folder of class subfolders
		default:
			kind = space
		}
	}
	if kind == "synthetic" {
		dir = ""
	}
	return kind, dir
}
