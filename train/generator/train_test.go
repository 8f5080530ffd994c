package generator

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sgnas/sgnas/data"
	gen "github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/train/supernet"
)

func TestTargets(t *testing.T) {
	got := Targets(80, 120, 5)
	want := []float64{80, 85, 90, 95, 100, 105, 110, 115}
	if len(got) != len(want) {
		t.Fatalf("Targets(80,120,5) = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Targets(80,120,5) = %v", got)
		}
	}
	if n := len(Targets(270, 450, 10)); n != 18 {
		t.Errorf("ImageNet tracking targets: %d, want 18", n)
	}
}

// TestHardCostIsLUT: the cost of a one-hot matrix is the LUT FLOPs of its
// architecture (what tracking evaluates), up to the soft formula's float32
// arithmetic (the authors').
func TestHardCostIsLUT(t *testing.T) {
	space := models.MustSpace("cifar10")
	lut := space.LUT()
	for seed := uint64(1); seed < 6; seed++ {
		ch := gen.Argmax(randomScores(seed, 1))
		a := ch.Arch(space.Name)
		if c, f := lut.Cost(ch.Encoding()), lut.ArchMFLOPs(a); math.Abs(c-f) > 1e-5 {
			t.Errorf("soft cost of one-hot %g, LUT FLOPs %g", c, f)
		}
	}
}

type smallRun struct {
	space *models.Space
	sn    *supernet.Supernet
	pool  models.PriorPool
	train *data.Loader
	val   *data.Loader
}

// newSmallRun is a freshly initialised supernet with tiny synthetic data.
func newSmallRun(t *testing.T, size, samples, batch int) *smallRun {
	t.Helper()
	space := models.MustSpace("cifar10")
	ds, err := data.Open("synthetic", "", data.Options{Samples: samples, Seed: 1, Size: size})
	if err != nil {
		t.Fatal(err)
	}
	_, val, err := data.Split(ds.Len(), 0.5)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := data.NewLoader(ds, val, data.LoaderOptions{BatchSize: batch, Seed: 1, Shuffle: true, Train: true, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	vl, err := data.NewLoader(ds, val, data.LoaderOptions{BatchSize: 16, Seed: 1, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := gen.BuildPriorPool(context.Background(), space, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	return &smallRun{space: space, sn: supernet.New(space, 10, 1), pool: pool, train: tl, val: vl}
}

func (r *smallRun) trainer(t *testing.T, cfg Config, dir string) *Trainer {
	t.Helper()
	cfg.Space = r.space
	tr, err := NewTrainer(cfg, r.sn, r.space.LUT(), r.pool, r.train, r.val)
	if err != nil {
		t.Fatal(err)
	}
	tr.OutDir = dir
	return tr
}

// TestTrainResume: a run interrupted after epoch 1 and resumed gives the
// uninterrupted run's weights bit for bit; checkpoints load for inference.
func TestTrainResume(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: two small generator trainings (long)")
	}
	r := newSmallRun(t, 8, 32, 2)
	cfg := Config{Epochs: 2, MaxTrainBatches: 2, MaxEvalBatches: 1, Seed: 3, EvalStep: 5}
	dirA, dirB := t.TempDir(), t.TempDir()
	a := r.trainer(t, cfg, dirA)
	if !r.sn.Frozen() {
		t.Fatal("NewTrainer did not freeze the supernet")
	}
	before := r.sn.StateDict()
	if err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The frozen supernet is untouched (BN running statistics included).
	for n, v := range r.sn.StateDict() {
		if !bytes.Equal(f32bytes(v.Data), f32bytes(before[n].Data)) {
			t.Fatalf("supernet tensor %s changed during generator training", n)
		}
	}
	cfg1 := cfg
	cfg1.Epochs = 1
	b1 := r.trainer(t, cfg1, dirB)
	if err := b1.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := r.trainer(t, cfg, dirB)
	ok, err := b.Resume()
	if err != nil || !ok {
		t.Fatalf("resume: %v %v", ok, err)
	}
	if b.Epoch != 1 || math.Abs(b.BestHC-b1.BestHC) > 1e-12 || b.BestTop1 != b1.BestTop1 {
		t.Fatalf("resumed epoch %d best %g/%g, want 1 and %g/%g", b.Epoch, b.BestHC, b.BestTop1, b1.BestHC, b1.BestTop1)
	}
	if err := b.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	sa, sb := a.Net.StateDict(), b.Net.StateDict()
	changed := false
	init := NewNet(cfg.Seed).StateDict()
	for n := range sa {
		if !bytes.Equal(f32bytes(sa[n].Data), f32bytes(sb[n].Data)) {
			t.Fatalf("tensor %s differs between the uninterrupted and the resumed run", n)
		}
		if !bytes.Equal(f32bytes(sa[n].Data), f32bytes(init[n].Data)) {
			changed = true
		}
	}
	if !changed {
		t.Fatal("training did not change the generator")
	}
	// Logs: two epochs each, identical apart from timing.
	la, lb := readLog(t, filepath.Join(dirA, LogFile)), readLog(t, filepath.Join(dirB, LogFile))
	if len(la) != 2 || len(lb) != 2 {
		t.Fatalf("log lines: %d and %d, want 2", len(la), len(lb))
	}
	for i := range la {
		la[i].Seconds, lb[i].Seconds = 0, 0
		ja, _ := json.Marshal(la[i])
		jb, _ := json.Marshal(lb[i])
		if !bytes.Equal(ja, jb) {
			t.Errorf("epoch %d log differs:\n%s\n%s", i, ja, jb)
		}
	}
	if la[0].Top1 == nil || la[0].Steps != 2 || len(la[0].Targets) != 8 {
		t.Errorf("log line %+v", la[0])
	}
	// final.pth loads for inference and reproduces the trained scores.
	g, err := gen.Load(filepath.Join(dirA, FinalFile))
	if err != nil {
		t.Fatal(err)
	}
	_, prior := r.pool.Nearest(100)
	want := a.Net.Inference().Forward(prior.Encoding(), []float64{0.5})[0]
	if got := g.Forward(prior.Encoding(), []float64{0.5})[0]; got != want {
		t.Error("final.pth scores differ from the trained generator's")
	}
	for _, f := range []string{BestFile, LastFile} {
		if _, err := os.Stat(filepath.Join(dirA, f)); err != nil {
			t.Error(err)
		}
	}
	// Resume on a different range is refused.
	cfg2 := cfg
	cfg2.Low = 85
	if _, err := r.trainer(t, cfg2, dirA).Resume(); err == nil {
		t.Error("resume with another constraint range accepted")
	}
}

func f32bytes(x []float32) []byte {
	b := make([]byte, 0, 4*len(x))
	for _, v := range x {
		u := math.Float32bits(v)
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return b
}

func readLog(t *testing.T, path string) []EpochStats {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []EpochStats
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var es EpochStats
		if err := json.Unmarshal(line, &es); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, es)
	}
	return out
}
