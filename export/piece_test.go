package export

import (
	"context"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/internal/orttest"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/onnx"
	"github.com/sgnas/sgnas/tensor"
)

// Pieces chained stem → layer 0 … layer 18 → head compute the whole model.
func TestPiecesComposeToWholeModel(t *testing.T) {
	for _, tc := range []struct {
		space string
		se    bool
		act   models.Activation
		opt   bool
		ort   bool // also run in ORT (slow: 22 sessions)
	}{{"cifar10", true, models.HSwish, true, true}, {"cifar100", false, models.ReLU6, true, false}, {"cifar10", true, models.ReLU6, false, false}, {"imagenet", true, models.HSwish, true, false}} {
		a := models.RandomArch(tc.space, rand.New(rand.NewSource(5)), 1, 6)
		nopts := models.Options{Space: models.MustSpace(tc.space), SE: tc.se, Act: tc.act}
		net, err := models.Build(a, nopts)
		if err != nil {
			t.Fatal(err)
		}
		sd := InitWeights(net, 3)
		opts := DefaultOptions()
		opts.Optimize = tc.opt
		full, err := Build(net, sd, opts)
		if err != nil {
			t.Fatal(err)
		}
		pieces := []Piece{{Kind: PieceStem}}
		for l := range a.Layers {
			pieces = append(pieces, Piece{Kind: PieceLayer, Layer: l, Kernels: a.Layers[l].Kernels})
		}
		pieces = append(pieces, Piece{Kind: PieceHead})
		nodes := 0
		var models_ []*onnx.ModelProto
		for _, p := range pieces {
			m, err := BuildPiece(p, nopts, sd, 0, opts)
			if err != nil {
				t.Fatal(err)
			}
			nodes += len(m.GetGraph().GetNode())
			models_ = append(models_, m)
		}
		if want := len(full.GetGraph().GetNode()); nodes != want {
			t.Fatalf("%s: pieces have %d nodes, the whole model %d", tc.space, nodes, want)
		}
		if !tc.ort {
			continue // node counts checked
		}
		orttest.Need(t)
		dir := t.TempDir()
		run := func(m *onnx.ModelProto, name string, x *tensor.Tensor) *tensor.Tensor {
			path := filepath.Join(dir, name+".onnx")
			if err := onnx.WriteFile(path, m); err != nil {
				t.Fatal(err)
			}
			s, err := infer.NewSession(path, infer.DefaultSessionOptions())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			out, err := s.Run(context.Background(), x)
			if err != nil {
				t.Fatal(err)
			}
			return out[0]
		}
		x := tensor.New(2, 3, net.Space.InputSize, net.Space.InputSize)
		rng := rand.New(rand.NewSource(1))
		for i := range x.Data {
			x.Data[i] = float32(rng.NormFloat64())
		}
		want := run(full, "full", x)
		h := x
		for i, m := range models_ {
			h = run(m, pieces[i].String(), h)
		}
		d, err := infer.MaxAbsDiff(h, want)
		if err != nil || d > 1e-4 {
			t.Fatalf("%s: chained pieces differ from the whole model by %g (%v)", tc.space, d, err)
		}
	}
}

func TestPieceErrors(t *testing.T) {
	nopts := models.Options{Space: models.MustSpace("cifar10")}
	for _, p := range []Piece{{Kind: "tail"}, {Kind: PieceLayer, Layer: 19, Kernels: []int{3}}, {Kind: PieceLayer, Layer: 0, Kernels: []int{4}}, {Kind: PieceLayer, Layer: 0}} {
		if _, err := BuildPiece(p, nopts, nil, 0, DefaultOptions()); err == nil {
			t.Errorf("%v: no error", p)
		}
	}
	if _, err := BuildPiece(Piece{Kind: PieceStem}, models.Options{}, nil, 0, DefaultOptions()); err == nil {
		t.Error("no space: no error")
	}
}
