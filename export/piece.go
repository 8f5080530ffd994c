package export

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/onnx"
	"github.com/sgnas/sgnas/weights"
)

// PieceKind names a part of the network that is exported on its own, for
// latency profiling (package profiles).
type PieceKind string

// Piece kinds: the fixed stem (stem conv + activation + the fixed first
// block), one searchable layer, and the fixed head (1×1 conv + activation +
// global pooling + classifier).
const (
	PieceStem  PieceKind = "stem"
	PieceLayer PieceKind = "layer"
	PieceHead  PieceKind = "head"
)

// Piece is a sub-network: the stem, searchable layer Layer with the depthwise
// kernel list Kernels (in group order; expansion = its length), or the head.
type Piece struct {
	Kind    PieceKind
	Layer   int
	Kernels []int
}

// String is "stem", "head" or "layer 3 [5 3 7]".
func (p Piece) String() string {
	if p.Kind == PieceLayer {
		return fmt.Sprintf("layer %d %v", p.Layer, p.Kernels)
	}
	return string(p.Kind)
}

// PieceOutput is the output name of a piece's graph (its input is InputName).
const PieceOutput = "output"

// PieceNetwork returns the network description a piece is cut from: layer
// p.Layer has p.Kernels, every other searchable layer the smallest
// configuration [3] (it is not exported).
func PieceNetwork(p Piece, opts models.Options) (*models.Network, error) {
	if opts.Space == nil {
		return nil, errors.New("export piece: no search space in the network options")
	}
	a := &models.Arch{Space: opts.Space.Name, Layers: make([]models.Layer, models.NumLayers)}
	for l := range a.Layers {
		a.Layers[l].Kernels = []int{3}
	}
	switch p.Kind {
	case PieceStem, PieceHead:
	case PieceLayer:
		if p.Layer < 0 || p.Layer >= models.NumLayers {
			return nil, fmt.Errorf("export piece: layer %d out of range 0..%d", p.Layer, models.NumLayers-1)
		}
		a.Layers[p.Layer].Kernels = append([]int(nil), p.Kernels...)
	default:
		return nil, fmt.Errorf("export piece: unknown kind %q (want stem, layer or head)", p.Kind)
	}
	return models.Build(a, opts)
}

// pieceTensors lists the state-dict tensors a piece uses.
func pieceTensors(net *models.Network, p Piece) []models.TensorSpec {
	var prefixes []string
	switch p.Kind {
	case PieceStem:
		prefixes = []string{"first.", "first_mb."}
	case PieceLayer:
		prefixes = []string{fmt.Sprintf("stages.%d.", p.Layer)}
	case PieceHead:
		prefixes = []string{"last_stage.", "classifier."}
	}
	var out []models.TensorSpec
	for _, t := range net.Tensors() {
		for _, pre := range prefixes {
			if strings.HasPrefix(t.Name, pre) {
				out = append(out, t)
				break
			}
		}
	}
	return out
}

// InitPieceWeights returns seeded weights (weights.Init, the authors' scheme)
// for just the tensors the piece uses.
func InitPieceWeights(net *models.Network, p Piece, seed int64) weights.StateDict {
	return weights.Init(pieceTensors(net, p), seed)
}

// BuildPiece writes the ONNX model of one piece of the network the options
// describe, at its real input shape within the whole network and with a
// dynamic batch: the stem takes the image [N,3,H,W]; layer l takes
// [N, In_l, HIn_l, HIn_l]; the head takes the last layer's output. The graph
// is built by the same code as Build, so a piece is exactly the nodes the
// whole model has for it (BN folding and group merging when opts.Optimize,
// SE and the activation per the network options). Weights are seeded
// (InitPieceWeights) when sd is nil. The output is PieceOutput.
func BuildPiece(p Piece, netOpts models.Options, sd weights.StateDict, seed int64, opts Options) (*onnx.ModelProto, error) {
	opset, err := opts.opset()
	if err != nil {
		return nil, err
	}
	net, err := PieceNetwork(p, netOpts)
	if err != nil {
		return nil, fmt.Errorf("export piece %s: %w", p, err)
	}
	if sd == nil {
		sd = InitPieceWeights(net, p, seed)
	}
	if err := opts.checkForms(); err != nil {
		return nil, fmt.Errorf("export piece %s: %w", p, err)
	}
	b := newBuilder("sgnas_piece_"+strings.ReplaceAll(p.String(), " ", "_"), net, sd, opts)
	s := net.Space
	var x string
	var outShape []any
	switch p.Kind {
	case PieceStem:
		b.g.AddInput(InputName, BatchDim, 3, s.InputSize, s.InputSize)
		x = b.convBN(InputName, "first", net.Stem, net.StemBN)
		x = b.activation(x, "first", net.Stem.Out)
		blk := &net.Blocks[0]
		x = b.block(x, blk)
		outShape = []any{BatchDim, blk.Out, blk.HOut, blk.HOut}
	case PieceLayer:
		blk := &net.Blocks[1+p.Layer]
		b.g.AddInput(InputName, BatchDim, blk.In, blk.HIn, blk.HIn)
		x = b.block(InputName, blk)
		outShape = []any{BatchDim, blk.Out, blk.HOut, blk.HOut}
	case PieceHead:
		last := s.Layers[models.NumLayers-1]
		b.g.AddInput(InputName, BatchDim, last.Out, last.HOut, last.HOut)
		x = b.value("logits")
		b.head(InputName, net, x)
		outShape = []any{BatchDim, net.Classifier.Out}
	}
	// Rename the last value to the piece's output with an Identity-free
	// rewrite: the node producing x gets PieceOutput as its output.
	g := b.g.Graph()
	if n := len(g.Node); n > 0 {
		last := g.Node[n-1]
		for i, o := range last.Output {
			if o == x {
				last.Output[i] = PieceOutput
			}
		}
	}
	b.g.AddOutput(PieceOutput, outShape...)
	if b.err != nil {
		return nil, fmt.Errorf("export piece %s: %w", p, b.err)
	}
	md := map[string]string{
		"space": s.Name, "piece": p.String(), "se": fmt.Sprint(netOpts.SE), "activation": string(net.Opts.Activation()),
		"classes": fmt.Sprint(net.Opts.NumClasses()), "optimized": fmt.Sprint(opts.Optimize),
	}
	if opts.Version != "" {
		md["sgnas_version"] = opts.Version
	}
	return onnx.NewModel(b.g.Graph(), int64(opset), Producer, opts.Version, md), nil
}

// WritePiece builds a piece (seeded weights) and writes it atomically.
func WritePiece(path string, p Piece, netOpts models.Options, seed int64, opts Options) error {
	m, err := BuildPiece(p, netOpts, nil, seed, opts)
	if err != nil {
		return err
	}
	if err := onnx.WriteFile(path, m); err != nil {
		return fmt.Errorf("export piece: %w", err)
	}
	return nil
}
