package supernet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/data"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/train/nn"
	"github.com/sgnas/sgnas/weights"
)

func TestSampler(t *testing.T) {
	a, b := NewSampler(1, 2), NewSampler(1, 2)
	for i := 0; i < 10; i++ {
		if *a.Path() != *b.Path() {
			t.Fatal("same seed, different paths")
		}
		a.Next()
		b.Next()
	}
	var kernels [3]int
	block0Skipped, n := 0, 0
	for batch := 0; batch < 200; batch++ {
		s := TrainSampler(42, 0, batch)
		// the 5 paths after a reset use each expansion 2..6 once per layer
		var seen [models.NumLayers][7]bool
		for i := 0; i < 5; i++ {
			if i > 0 {
				s.Next()
			}
			p := s.Path()
			for l := range p {
				e := p.Expansion(l)
				if e < MinExpansion || e > MaxExpansion {
					t.Fatalf("layer %d expansion %d", l, e)
				}
				if seen[l][e] {
					t.Fatalf("batch %d path %d layer %d: expansion %d repeated within a cycle", batch, i, l, e)
				}
				seen[l][e] = true
				for _, j := range p[l] {
					if j != Skip {
						kernels[j]++
						n++
					}
				}
				if p[l][0] == Skip {
					block0Skipped++
				}
			}
		}
	}
	for j, c := range kernels {
		if f := float64(c) / float64(n); f < 0.3 || f > 0.37 {
			t.Errorf("kernel %d chosen with frequency %.3f, want ~1/3", models.KernelSizes[j], f)
		}
	}
	if block0Skipped == 0 {
		t.Error("block 0 never skipped: the authors' sampler picks the active blocks at random")
	}
	if *TrainSampler(42, 0, 1).Path() == *TrainSampler(42, 0, 2).Path() || *TrainSampler(42, 0, 1).Path() == *TrainSampler(42, 1, 1).Path() {
		t.Error("different batches/epochs got the same path")
	}
	first, again := TrainSampler(42, 3, 7).Path(), TrainSampler(42, 3, 7).Path()
	if *first != *again {
		t.Error("TrainSampler is not a function of (seed, epoch, batch)")
	}
}

func TestCheckpointRoundTripAndCorruption(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, CheckpointFile)
	ck := &Checkpoint{
		Config: DefaultConfig(), Epoch: 3, BatchInEpoch: 2, Iteration: 17, Classes: 10,
		Partial: Accum{LossSum: 1.0 / 3, Correct: 5, Seen: 64, Paths: 8},
		History: []EpochMetrics{{Epoch: 0, TrainLoss: 2.25, ValAcc: 0.125}},
		Model:   weights.StateDict{"a.weight": {Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}}, "b": {Shape: []int{1}, Data: []float32{-7}}},
		Optim:   weights.StateDict{"a.weight.momentum_buffer": {Shape: []int{2, 3}, Data: []float32{0.5, 0, 0, 0, 0, 1e-30}}},
	}
	if err := SaveCheckpoint(p, ck); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCheckpoint(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Epoch != 3 || got.BatchInEpoch != 2 || got.Iteration != 17 || got.Partial != ck.Partial || got.Config != ck.Config || len(got.History) != 1 || got.History[0] != ck.History[0] {
		t.Fatalf("round trip changed the state: %+v", got)
	}
	for _, pair := range [][2]weights.StateDict{{ck.Model, got.Model}, {ck.Optim, got.Optim}} {
		for n, w := range pair[0] {
			g := pair[1][n]
			if g == nil || len(g.Data) != len(w.Data) {
				t.Fatalf("tensor %s lost", n)
			}
			for i := range w.Data {
				if g.Data[i] != w.Data[i] {
					t.Fatalf("tensor %s[%d]: %g, want %g", n, i, g.Data[i], w.Data[i])
				}
			}
		}
	}
	raw, _ := os.ReadFile(p)
	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		{"truncated", "truncated", raw[:len(raw)-9]},
		{"tiny", "truncated", raw[:5]},
		{"flipped", "CRC mismatch", func() []byte { b := append([]byte(nil), raw...); b[len(b)-10] ^= 1; return b }()},
		{"magic", "bad magic", append([]byte("NOTACKPT"), raw[8:]...)},
	} {
		q := filepath.Join(dir, tc.name)
		os.WriteFile(q, tc.data, 0o644)
		_, err := ReadCheckpoint(q)
		if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), q) {
			t.Errorf("%s: error %v, want ErrCorrupt mentioning %q and the file", tc.name, err, tc.want)
		}
	}
	v := append([]byte(nil), raw...)
	v[8] = 9
	os.WriteFile(filepath.Join(dir, "v"), v, 0o644)
	if _, err := ReadCheckpoint(filepath.Join(dir, "v")); err == nil || !strings.Contains(err.Error(), "version 9") {
		t.Errorf("future version: %v", err)
	}
}

func tinyConfig() Config {
	c := DefaultConfig()
	c.Dataset, c.Samples, c.Epochs, c.Batch = "synthetic", 40, 2, 8
	c.MaxTrainBatches, c.MaxValBatches = 3, 1
	c.LR, c.Seed, c.Workers = 0.01, 7, 2
	return c
}

func sameMetrics(a, b []EpochMetrics) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Epoch != y.Epoch || x.Iteration != y.Iteration || x.LR != y.LR || x.TrainLoss != y.TrainLoss ||
			x.TrainAcc != y.TrainAcc || x.ValLoss != y.ValLoss || x.ValAcc != y.ValAcc {
			return false
		}
	}
	return true
}

func sameWeights(t *testing.T, a, b *Supernet) {
	t.Helper()
	sa, sb := a.StateDict(), b.StateDict()
	for n, w := range sa {
		for i, v := range w.Data {
			if sb[n].Data[i] != v {
				t.Fatalf("weights differ at %s[%d]: %g vs %g", n, i, v, sb[n].Data[i])
			}
		}
	}
}

// TestResumeIsExact: 2 epochs straight equal, bit for bit, an interrupted
// run resumed mid-epoch and one resumed at an epoch boundary.
func TestResumeIsExact(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three tiny runs (~30 s on 2 cores)")
	}
	ctx := context.Background()
	cfg := tinyConfig()
	ref, err := Train(ctx, cfg, t.TempDir(), TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := ref.Checkpoint.History
	t.Logf("reference: %+v", h)
	for _, stop := range []struct {
		name       string
		epoch, bat int // cancel after this step (bat 0: at the end of epoch)
	}{{"mid-epoch", 0, 2}, {"epoch-boundary", 0, 0}} {
		dir := t.TempDir()
		cctx, cancel := context.WithCancel(ctx)
		opts := TrainOptions{}
		if stop.bat > 0 {
			opts.OnBatch = func(b BatchInfo) {
				if b.Epoch == stop.epoch && b.Batch == stop.bat {
					cancel()
				}
			}
		} else {
			opts.OnEpoch = func(m EpochMetrics) {
				if m.Epoch == stop.epoch {
					cancel()
				}
			}
		}
		_, err := Train(cctx, cfg, dir, opts)
		cancel()
		if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: interrupted run returned %v", stop.name, err)
		}
		ck, err := ReadCheckpoint(filepath.Join(dir, CheckpointFile))
		if err != nil {
			t.Fatal(err)
		}
		wantBatch := stop.bat
		wantEpoch := stop.epoch
		if stop.bat == 0 {
			wantEpoch++
		}
		if ck.Epoch != wantEpoch || ck.BatchInEpoch != wantBatch {
			t.Fatalf("%s: checkpoint at epoch %d batch %d, want %d/%d", stop.name, ck.Epoch, ck.BatchInEpoch, wantEpoch, wantBatch)
		}
		other := tinyConfig()
		other.LR = 1 // ignored on resume: the stored config wins
		res, err := Train(ctx, other, dir, TrainOptions{Resume: true})
		if err != nil {
			t.Fatal(err)
		}
		if !sameMetrics(res.Checkpoint.History, h) {
			t.Fatalf("%s: resumed metrics %+v differ from the uninterrupted run %+v", stop.name, res.Checkpoint.History, h)
		}
		sameWeights(t, ref.Supernet, res.Supernet)
		s2, ck2, err := LoadCheckpoint(filepath.Join(dir, CheckpointFile))
		if err != nil {
			t.Fatal(err)
		}
		sameWeights(t, ref.Supernet, s2)
		if ck2.Epoch != 2 || ck2.Iteration != 6 {
			t.Fatalf("final checkpoint at epoch %d iteration %d", ck2.Epoch, ck2.Iteration)
		}
		log, _ := os.ReadFile(filepath.Join(dir, LogFile))
		if n := strings.Count(string(log), "\n"); n != 2 {
			t.Fatalf("log.jsonl has %d lines, want 2", n)
		}
	}
}

// TestTrainingReducesLoss is the cheap learning check: ten steps of §5.1
// training (4 random paths per step) on one synthetic batch must lower the
// training-mode loss of that batch on paths the training never sampled.
// (The full acceptance run — validation accuracy of random paths above
// chance — takes minutes; see docs/supernet.md.)
func TestTrainingReducesLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("ten supernet training steps (~20-50 s on 2 cores)")
	}
	cfg := tinyConfig()
	space := models.MustSpace("cifar10")
	ds, tr, _, err := OpenData(cfg, space)
	if err != nil {
		t.Fatal(err)
	}
	l, err := data.NewLoader(ds, tr[:16], data.LoaderOptions{BatchSize: 16, Seed: 1, Train: false})
	if err != nil {
		t.Fatal(err)
	}
	it := l.Epoch(context.Background(), 0, 0)
	b, err := it.Next()
	it.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := New(space, ds.Classes(), 3)
	sgd := nn.NewSGD(s.Store.Trainable(), cfg.Momentum, cfg.WeightDecay)
	probe := func() float64 {
		smp := ValSampler(99)
		total := 0.0
		for i := 0; i < 4; i++ {
			if i > 0 {
				smp.Next()
			}
			tp := nn.NewTape(nil)
			lg := s.ForwardPath(tp, InputVar(tp, b), smp.Path(), true)
			s.Discard(tp)
			total += float64(ceLoss(tp, lg, b.Y).Value.Data[0]) / 4
		}
		return total
	}
	before := probe()
	tape := nn.NewTape(nil)
	var acc Accum
	for i := 0; i < 10; i++ {
		if err := s.trainStep(tape, sgd, b, cfg, 0, i, 0.02, &acc); err != nil {
			t.Fatal(err)
		}
	}
	after := probe()
	t.Logf("loss on unseen paths: %.4f before, %.4f after 10 steps", before, after)
	if after > before-0.05 {
		t.Fatalf("training did not reduce the loss: %.4f → %.4f", before, after)
	}
}

// TestResumeWithoutCheckpoint: --resume with nothing to resume is an error (a
// fresh run with default settings would silently replace the intended one),
// and it names the temporary file a run killed during its first write leaves.
func TestResumeWithoutCheckpoint(t *testing.T) {
	dir := t.TempDir()
	_, err := Train(context.Background(), tinyConfig(), dir, TrainOptions{Resume: true})
	if err == nil || !strings.Contains(err.Error(), "--resume: no checkpoint at") || !strings.Contains(err.Error(), "without --resume") {
		t.Fatalf("empty run folder: %v", err)
	}
	tmp := filepath.Join(dir, "."+CheckpointFile+".tmp-123")
	if err := os.WriteFile(tmp, []byte("SGNASCKP"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Train(context.Background(), tinyConfig(), dir, TrainOptions{Resume: true})
	if err == nil || !strings.Contains(err.Error(), tmp) || !strings.Contains(err.Error(), "incomplete first write") {
		t.Fatalf("only a temp file: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("the failed resume wrote into the run folder: %v", entries)
	}
}
