// Package convert converts weights between the formats sgnas reads: PyTorch
// checkpoints (.pth, read only), safetensors files (read and written) and
// sgnas supernet checkpoints (SGNASCKP, read and written). A supernet state
// dict saved by the authors' PyTorch code (DDP "module." prefixes and all)
// becomes a supernet checkpoint that `sgnas search generator` and `sgnas
// export --supernet` accept, and a supernet checkpoint becomes a
// safetensors file other tools read. It links no training code.
package convert

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/supernetckpt"
	"github.com/sgnas/sgnas/weights"
)

// Formats.
const (
	PTH         = weights.FormatPTH
	Safetensors = weights.FormatSafetensors
	Supernet    = "sgnasckp" // sgnas supernet checkpoint
)

// Formats lists the format names Options.To accepts.
var Formats = []string{Safetensors, Supernet, PTH}

// FormatOf returns the output format an extension stands for: .safetensors
// (or .st), .ckpt (or .sgnasckp) for a supernet checkpoint, .pth (or .pt).
func FormatOf(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".safetensors", ".st":
		return Safetensors, nil
	case ".ckpt", ".sgnasckp":
		return Supernet, nil
	case ".pth", ".pt":
		return PTH, nil
	}
	return "", fmt.Errorf("output %s: cannot tell the format from the extension %q (want .safetensors, .ckpt or .pth, or give --to %s)", path, filepath.Ext(path), strings.Join(Formats, "|"))
}

// Options configures Convert.
type Options struct {
	// To is the output format (Formats); "" takes it from out's extension.
	To string
	// Space is the search space of a supernet written as a supernet
	// checkpoint; "" takes it from the input's metadata (a safetensors file
	// written by sgnas) and is an error when that has none.
	Space string
	// Dataset and Data are recorded in a supernet checkpoint's config (the
	// dataset a generator search trains on; optional).
	Dataset, Data string
	// Network, when set, describes the standalone network the input's
	// tensors are the weights of: they are checked against it (every
	// tensor, nothing else) and a safetensors output records its
	// architecture and options.
	Network *models.Network
	// Producer is recorded in a safetensors file's metadata (e.g. "sgnas 0.1.0").
	Producer string
}

// Result says what Convert did.
type Result struct {
	From, To string // formats
	Kind     string // weights.MetaKindSupernet, weights.MetaKindNetwork or "state dict"
	Tensors  int    // tensors written
	Params   int64  // float values written
	Dropped  []string
}

// isSupernetCheckpoint reports whether path starts with the SGNASCKP magic.
func isSupernetCheckpoint(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("convert: %w", err)
	}
	defer f.Close()
	head := make([]byte, 8)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("convert: read %s: %w", path, err)
	}
	return bytes.Equal(head[:n], []byte("SGNASCKP")), nil
}

// Convert reads in (format detected from its content) and writes out
// (format from opts.To or out's extension), atomically. .pth is not
// written: save with torch from a safetensors file if needed.
func Convert(in, out string, opts Options) (*Result, error) {
	to := opts.To
	if to == "" {
		var err error
		if to, err = FormatOf(out); err != nil {
			return nil, fmt.Errorf("convert: %w", err)
		}
	}
	switch to {
	case Safetensors, Supernet:
	case PTH:
		return nil, fmt.Errorf("convert: writing .pth is not supported (write safetensors; PyTorch loads it with a few lines, see docs/convert.md)")
	default:
		return nil, fmt.Errorf("convert: --to %q: want %s or %s", to, Safetensors, Supernet)
	}
	if abs(in) == abs(out) {
		return nil, fmt.Errorf("convert: input and output are the same file %s", in)
	}
	isCkpt, err := isSupernetCheckpoint(in)
	if err != nil {
		return nil, err
	}
	res := &Result{To: to}
	var sd weights.StateDict
	var ints map[string]*weights.IntTensor
	var meta map[string]string
	var sn *supernetckpt.Supernet
	if isCkpt {
		res.From = Supernet
		if sn, err = supernetckpt.Load(in); err != nil {
			return nil, fmt.Errorf("convert: %w", err)
		}
		if opts.Space != "" && !strings.EqualFold(opts.Space, sn.Space.Name) {
			return nil, fmt.Errorf("convert: --space %s: supernet checkpoint %s is %s", opts.Space, in, sn.Space.Name)
		}
		if opts.Network != nil {
			return nil, fmt.Errorf("convert: %s is a supernet checkpoint, not the weights of one architecture (drop the architecture)", in)
		}
		sd = sn.Weights
	} else {
		ck, err := weights.LoadFile(in)
		if err != nil {
			return nil, fmt.Errorf("convert: %w", err)
		}
		res.From, sd, ints, meta = ck.Format, ck.Tensors, ck.Ints, ck.Metadata
	}
	if err := sd.CheckFinite(); err != nil {
		return nil, fmt.Errorf("convert: %s: %w", in, err)
	}

	switch {
	case sn != nil:
		res.Kind = weights.MetaKindSupernet
	case opts.Network != nil:
		res.Kind = weights.MetaKindNetwork
		if err := weights.CheckNetworkMetadata(meta, opts.Network); err != nil {
			return nil, fmt.Errorf("convert: %s: %w", in, err)
		}
		if err := weights.Match(sd, opts.Network.Tensors(), false); err != nil {
			return nil, fmt.Errorf("convert: %s: %w", in, err)
		}
	case supernetckpt.LooksLikeSupernet(sd):
		res.Kind = weights.MetaKindSupernet
	default:
		res.Kind = "state dict"
	}

	if to == Supernet {
		if sn == nil {
			space, err := spaceFor(opts.Space, meta, in)
			if err != nil {
				return nil, err
			}
			model, dropped, err := supernetckpt.FromStateDict(sd, space)
			if err != nil {
				return nil, fmt.Errorf("convert: %s: %w", in, err)
			}
			sn = &supernetckpt.Supernet{Space: space, Classes: len(model["classifier.bias"].Data), Weights: model}
			for n := range ints { // integer tensors: BN num_batches_tracked
				dropped = append(dropped, n)
			}
			sort.Strings(dropped)
			res.Dropped = dropped
		}
		if err := supernetckpt.WriteConverted(out, sn.Weights, sn.Space, opts.Dataset, opts.Data, filepath.Base(in)); err != nil {
			return nil, fmt.Errorf("convert: %w", err)
		}
		res.Tensors, res.Params = len(sn.Weights), sn.Weights.NumParams()
		return res, nil
	}

	// safetensors
	newMeta := map[string]string{}
	for k, v := range meta {
		newMeta[k] = v
	}
	newMeta[weights.MetaFormat] = "pt"
	newMeta[weights.MetaProducer] = opts.Producer
	switch {
	case sn != nil:
		for k, v := range sn.Metadata(opts.Producer) {
			newMeta[k] = v
		}
	case opts.Network != nil:
		for k, v := range weights.NetworkMetadata(opts.Network, opts.Producer) {
			newMeta[k] = v
		}
	case res.Kind == weights.MetaKindSupernet:
		newMeta[weights.MetaKind] = weights.MetaKindSupernet
		if b := sd["classifier.bias"]; b != nil {
			newMeta[weights.MetaClasses] = fmt.Sprint(len(b.Data))
		}
		if opts.Space != "" {
			space, err := models.SpaceByName(opts.Space)
			if err != nil {
				return nil, fmt.Errorf("convert: --space: %w", err)
			}
			newMeta[weights.MetaSpace] = space.Name
		}
	}
	if err := weights.WriteSafetensors(out, sd, ints, newMeta); err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	res.Tensors, res.Params = len(sd)+len(ints), sd.NumParams()
	return res, nil
}

// spaceFor resolves the search space of a supernet written as a checkpoint.
func spaceFor(flag string, meta map[string]string, in string) (*models.Space, error) {
	name, from := flag, "--space"
	if name == "" {
		name, from = meta[weights.MetaSpace], "metadata "+weights.MetaSpace
	} else if m := meta[weights.MetaSpace]; m != "" && !strings.EqualFold(m, name) {
		return nil, fmt.Errorf("convert: --space %s: %s says its space is %s", name, in, m)
	}
	if name == "" {
		return nil, fmt.Errorf("convert: %s does not say its search space; give --space (%s)", in, strings.Join(models.SpaceNames, ", "))
	}
	s, err := models.SpaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("convert: %s: %w", from, err)
	}
	return s, nil
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
