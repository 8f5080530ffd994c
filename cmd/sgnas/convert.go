package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/convert"
	"github.com/sgnas/sgnas/internal/netflags"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/weights"
)

func init() { register(convertCommand()) }

// convertCommand returns a fresh "convert" command.
func convertCommand() *cli.Command {
	return &cli.Command{
		Name:      "convert",
		Usage:     "convert weights between .pth (read), safetensors and the sgnas supernet checkpoint",
		ArgsUsage: "IN OUT",
		Description: "IN's format is detected from its content: a PyTorch checkpoint (.pth), a safetensors file\n" +
			"or a supernet checkpoint (SGNASCKP). OUT's comes from --to or its extension: .safetensors,\n" +
			".ckpt (supernet checkpoint). A supernet state dict (e.g. trained by the authors' PyTorch\n" +
			"code, DDP module. prefixes stripped) becomes a supernet checkpoint for `sgnas search generator`\n" +
			"and `sgnas export --supernet` (--space names its search space unless IN's metadata does).\n" +
			"With --arch, IN holds the weights of that architecture: they are checked against it and\n" +
			"the safetensors metadata records it (sgnas export --weights then refuses another one).",
		Flags: append(netflags.Flags(),
			&cli.StringFlag{Name: "to", Usage: "output format: " + strings.Join(convert.Formats[:2], " or ") + " (default: from OUT's extension)"},
			&cli.StringFlag{Name: "arch", Usage: "architecture file whose standalone network IN holds the weights of (network flags as for export)"},
			&cli.StringFlag{Name: "dataset", Usage: "dataset kind recorded in a supernet checkpoint (what `sgnas search generator` trains on)"},
			&cli.StringFlag{Name: "data", Usage: "dataset directory recorded in a supernet checkpoint"},
		),
		Action: convertAction,
	}
}

func convertAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() != 2 {
		return errors.New("convert: want IN and OUT arguments")
	}
	in, out := cmd.Args().Get(0), cmd.Args().Get(1)
	opts := convert.Options{To: cmd.String("to"), Dataset: cmd.String("dataset"), Data: cmd.String("data"),
		Producer: "sgnas " + version}
	if p := cmd.String("arch"); p != "" {
		a, mopts, _, err := loadArchWithOptions(cmd, p)
		if err != nil {
			return fmt.Errorf("convert: --arch: %w", err)
		}
		net, err := models.Build(a, mopts)
		if err != nil {
			return fmt.Errorf("convert: --arch: %w", err)
		}
		opts.Network = net
	} else {
		if cmd.IsSet("se") || cmd.IsSet("act") || cmd.IsSet("classes") {
			return errors.New("convert: --se, --act and --classes describe an architecture's network: give --arch too")
		}
		opts.Space = cmd.String("space")
	}
	res, err := convert.Convert(in, out, opts)
	if err != nil {
		return err
	}
	w := cmd.Root().Writer
	if w == nil {
		w = os.Stdout
	}
	fmt.Fprintf(w, "wrote %s (%s, from %s %s): %d tensors, %d values\n", out, res.To, res.Kind, res.From, res.Tensors, res.Params)
	if len(res.Dropped) > 0 {
		fmt.Fprintf(w, "  dropped %d tensors the supernet does not use (skip candidates, num_batches_tracked)\n", len(res.Dropped))
	}
	if res.Kind == weights.MetaKindSupernet && res.To == convert.Supernet && opts.Dataset == "" {
		fmt.Fprintln(w, "  no dataset recorded: `sgnas search generator` needs --dataset/--data")
	}
	return nil
}
