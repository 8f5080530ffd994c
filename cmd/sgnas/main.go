// Command sgnas is the SGNAS toolchain: architecture inspection, supernet and
// generator training, architecture generation, ONNX export, inference and
// latency benchmarking. Each subcommand lives in its own file and registers
// itself with register in an init function.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/urfave/cli/v3"
)

// version is the sgnas version string, written into ONNX metadata and
// manifests. Overridden at link time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

var commands []*cli.Command

// register adds a top-level subcommand. It is called from init functions of
// the files in this package so that subcommands do not share a file.
func register(c *cli.Command) { commands = append(commands, c) }

func main() {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	app := &cli.Command{
		Name:     "sgnas",
		Usage:    "hardware-aware NAS by generating: supernet, generator, ONNX export, ONNX Runtime",
		Version:  version,
		Commands: commands,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "sgnas:", err)
		os.Exit(1)
	}
}
