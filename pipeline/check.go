package pipeline

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/tensor"
	"github.com/sgnas/sgnas/weights"
)

// CheckResult is the outcome of a parity check: the written model against
// the plain graph of the same network and weights, in ONNX Runtime, on a
// seeded input.
type CheckResult struct {
	Runtime    string  // ONNX Runtime version
	Shape      []int   // input shape
	MaxAbsDiff float64 // max |written − plain| over the logits
	MaxLogit   float64 // max |plain logit|: the scale of the tolerance
	Agree, N   int     // rows whose argmax agrees, of N
}

// String is the one line the CLIs print.
func (r *CheckResult) String() string {
	return fmt.Sprintf("check: ONNX Runtime %s, seeded input %v: max abs diff vs plain graph %.3g (max |logit| %.3g, relative %.2g), argmax agrees %d/%d",
		r.Runtime, r.Shape, r.MaxAbsDiff, r.MaxLogit, r.MaxAbsDiff/math.Max(r.MaxLogit, math.SmallestNonzeroFloat64), r.Agree, r.N)
}

// Check runs the model at path and the plain graph of net with sd (written
// to a temporary folder) in ONNX Runtime on a seeded [2,3,H,W] input and
// compares them: the max abs difference must be within 1e-4 of the largest
// logit (seeded-init networks can have tiny logits) and every argmax must
// agree. The result is returned whenever both ran, also with the error.
func Check(ctx context.Context, ortLib, path string, net *models.Network, sd weights.StateDict, opts export.Options) (*CheckResult, error) {
	if err := infer.Init(ortLib); err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	dir, err := os.MkdirTemp("", "sgnas-check-")
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	defer os.RemoveAll(dir)
	plainOpts := opts
	plainOpts.Optimize = false
	plainPath := filepath.Join(dir, "plain.onnx")
	if _, err := export.WriteFile(plainPath, net, sd, plainOpts); err != nil {
		return nil, fmt.Errorf("check: plain graph: %w", err)
	}
	in := seededInput(1, 2, net.Space.InputSize)
	got, err := runOnce(ctx, path, in)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	want, err := runOnce(ctx, plainPath, in)
	if err != nil {
		return nil, fmt.Errorf("check: plain graph: %w", err)
	}
	d, err := infer.MaxAbsDiff(got, want)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	ga, wa := infer.ArgmaxRows(got), infer.ArgmaxRows(want)
	r := &CheckResult{Runtime: infer.Version(), Shape: in.Shape, MaxAbsDiff: d, N: len(ga)}
	for i := range ga {
		if ga[i] == wa[i] {
			r.Agree++
		}
	}
	for _, v := range want.Data {
		r.MaxLogit = math.Max(r.MaxLogit, math.Abs(float64(v)))
	}
	// !(d <= tol) also fails on NaN or infinite outputs.
	if tol := 1e-4 * r.MaxLogit; !(d <= tol) || math.IsNaN(r.MaxLogit) || r.Agree != r.N {
		return r, fmt.Errorf("check: %s differs from the plain graph: max abs diff %.3g (tolerance %.3g), argmax agrees %d/%d", path, d, tol, r.Agree, r.N)
	}
	return r, nil
}

func runOnce(ctx context.Context, path string, in *tensor.Tensor) (*tensor.Tensor, error) {
	s, err := infer.NewSession(path, infer.DefaultSessionOptions())
	if err != nil {
		return nil, err
	}
	defer s.Close()
	outs, err := s.Run(ctx, in)
	if err != nil {
		return nil, err
	}
	if len(outs) != 1 {
		return nil, fmt.Errorf("%s: %d outputs, want 1", path, len(outs))
	}
	return outs[0], nil
}

// seededInput is a standard-normal [n,3,size,size] input.
func seededInput(seed int64, n, size int) *tensor.Tensor {
	rng := rand.New(rand.NewSource(seed))
	a := tensor.New(n, 3, size, size)
	for i := range a.Data {
		a.Data[i] = float32(rng.NormFloat64())
	}
	return a
}
