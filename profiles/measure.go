package profiles

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/onnx"
)

// ORTMeasurer times items in ONNX Runtime: each item is exported (pieces with
// export.BuildPiece, whole models with export.Build, both in the optimised
// form with seeded weights) into a temporary directory, and all items of a
// chunk are timed by infer.Bench interleaved, rounds shuffled, spinning off.
// The result per item is its median (p50) in µs.
type ORTMeasurer struct {
	Net      models.Options
	EP       string
	DeviceID int
	Threads  int
	Batch    int
	OptLevel int // ORT's numbering (0 none … 99 all)
	Runs     int
	Warmup   int // < 0: none
	Seed     uint64
	Dir      string // where models are written ("" = os.TempDir())
	// Version is written into the exported models' metadata.
	Version string
	calls   uint64
}

// TrivialModel is the overhead model: input [N,8] → Relu → output.
func TrivialModel() *onnx.ModelProto {
	g := onnx.NewGraph("sgnas_overhead")
	g.AddInput(export.InputName, export.BatchDim, 8)
	g.AddNode("Relu", []string{export.InputName}, []string{export.PieceOutput})
	g.AddOutput(export.PieceOutput, export.BatchDim, 8)
	return onnx.NewModel(g.Graph(), export.DefaultOpset, export.Producer, "", map[string]string{"piece": "overhead"})
}

// Model returns the ONNX model of an item.
func (m *ORTMeasurer) Model(it Item) (*onnx.ModelProto, error) {
	opts := export.DefaultOptions()
	opts.Version = m.Version
	switch it.Kind {
	case ItemOverhead:
		return TrivialModel(), nil
	case ItemStem:
		return export.BuildPiece(export.Piece{Kind: export.PieceStem}, m.Net, nil, 1, opts)
	case ItemHead:
		return export.BuildPiece(export.Piece{Kind: export.PieceHead}, m.Net, nil, 1, opts)
	case ItemLayer:
		return export.BuildPiece(export.Piece{Kind: export.PieceLayer, Layer: it.Layer, Kernels: it.Kernels}, m.Net, nil, 1, opts)
	case ItemModel:
		net, err := models.Build(it.Arch, m.Net)
		if err != nil {
			return nil, err
		}
		return export.Build(net, export.InitWeights(net, 1), opts)
	}
	return nil, fmt.Errorf("unknown item kind %q", it.Kind)
}

// Measure implements Measurer.
func (m *ORTMeasurer) Measure(ctx context.Context, items []Item) ([]float64, error) {
	dir, err := os.MkdirTemp(m.Dir, "sgnas-profile-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	paths := make([]string, len(items))
	for i, it := range items {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		mp, err := m.Model(it)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", it, err)
		}
		paths[i] = filepath.Join(dir, fmt.Sprintf("%03d.onnx", i))
		if err := onnx.WriteFile(paths[i], mp); err != nil {
			return nil, err
		}
	}
	opt := m.OptLevel
	if opt == 0 {
		opt = -1 // BenchConfig: -1 disables, 0 means all
	}
	warm := m.Warmup
	if warm == 0 {
		warm = -1
	}
	m.calls++
	res, err := infer.Bench(ctx, paths, infer.BenchConfig{
		Runs: m.Runs, Warmup: warm, Batch: m.Batch, Threads: m.Threads, EP: m.EP, DeviceID: m.DeviceID,
		OptLevel: opt, Seed: m.Seed + m.calls, Shuffle: true,
	})
	if err != nil {
		// Name the item, not the temporary file.
		msg := err.Error()
		for i, p := range paths {
			msg = strings.ReplaceAll(msg, "model "+p, "piece "+items[i].String())
			msg = strings.ReplaceAll(msg, p, items[i].String())
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, err
		}
		return nil, errors.New(msg)
	}
	out := make([]float64, len(res))
	for i, r := range res {
		out[i] = r.P50MS * 1000
	}
	return out, nil
}
