package generator

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sgnas/sgnas/data"
	gen "github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/train/nn"
	"github.com/sgnas/sgnas/train/supernet"
)

// acceptKnobs are the settings of TestAcceptanceTracking; the environment
// variables SGNAS_ACCEPT_SEEDS (comma-separated), SGNAS_ACCEPT_EPOCHS and
// SGNAS_ACCEPT_STEPS override them for measurements (the thresholds below
// hold for the defaults only).
func acceptKnobs(t *testing.T) (seeds []int64, epochs, steps int) {
	seeds, epochs, steps = []int64{1, 2, 3}, 16, 25
	if v := os.Getenv("SGNAS_ACCEPT_SEEDS"); v != "" {
		seeds = nil
		for _, f := range strings.Split(v, ",") {
			s, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil {
				t.Fatalf("SGNAS_ACCEPT_SEEDS=%q: %v", v, err)
			}
			seeds = append(seeds, s)
		}
	}
	for _, kv := range []struct {
		name string
		v    *int
	}{{"SGNAS_ACCEPT_EPOCHS", &epochs}, {"SGNAS_ACCEPT_STEPS", &steps}} {
		if v := os.Getenv(kv.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				t.Fatalf("%s=%q: want a positive integer", kv.name, v)
			}
			*kv.v = n
		}
	}
	return seeds, epochs, steps
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// TestAcceptanceTracking is the acceptance check of generator training
// (issue item 4): a supernet trained briefly by sgnas on the synthetic
// dataset (written to and read back from RUN/supernet.ckpt), then
// generators trained against it with several seeds, must track their
// targets over the CIFAR range 80..120 MFLOPs: Kendall τ between the
// targets 80, 82, …, 118 (finer than the authors' step 10, which gives only
// 4 CIFAR targets) and the LUT FLOPs of the generated hard architectures.
//
// The check must hold on every kernel path (AVX-512, AVX2, gonum, -tags
// purego): float32 rounding differs between them, and a generator's
// trajectory is chaotic (a different rounding is a different sample of the
// same training), so a single short run's τ is a random draw. The test
// therefore judges the median over seeds of runs long enough to converge
// (400 steps, Gumbel τ from 1 down to 0.46, where the argmax follows the
// soft cost), with thresholds well below the medians measured on every path
// and above what an untrained or broken generator reaches (its τ is
// negative and its hard L_hc per target ≫ 0.05). The values measured on
// each path are in docs/generator.md ("Acceptance"). The images
// are 16×16 (the supernet is fully convolutional; the LUT FLOPs the
// generator tracks are those of the 32×32 space) to keep a step cheap.
func TestAcceptanceTracking(t *testing.T) {
	if testing.Short() {
		t.Skip("generator acceptance: three generator trainings (about 1–2 min on 2 cores)")
	}
	ctx := context.Background()
	run := t.TempDir()
	scfg := supernet.DefaultConfig() // cifar10 space, synthetic data
	scfg.Epochs, scfg.Batch, scfg.Samples, scfg.Seed, scfg.Size = 1, 8, 200, 1, 16
	scfg.MaxTrainBatches, scfg.MaxValBatches = 4, 1
	if _, err := supernet.Train(ctx, scfg, run, supernet.TrainOptions{}); err != nil {
		t.Fatal(err)
	}
	sn, ck, err := supernet.LoadCheckpoint(filepath.Join(run, supernet.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	ds, _, val, err := supernet.OpenData(ck.Config, sn.Space)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := gen.BuildPriorPool(ctx, sn.Space, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	seeds, epochs, steps := acceptKnobs(t)
	targets := Targets(80, 120, 2)
	t.Logf("GEMM backend %s, %d seeds × %d epochs × %d steps", nn.GEMMBackend(), len(seeds), epochs, steps)
	res := map[string][]float64{}
	var late []float64 // Kendall τ of the epochs in the second half of training, all seeds
	for _, seed := range seeds {
		tl, err := data.NewLoader(ds, val, data.LoaderOptions{BatchSize: 2, Seed: uint64(seed), Shuffle: true, Train: true})
		if err != nil {
			t.Fatal(err)
		}
		vl, err := data.NewLoader(ds, val, data.LoaderOptions{BatchSize: 20, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Space: sn.Space, Epochs: epochs, MaxTrainBatches: steps, MaxEvalBatches: 1, Seed: seed, EvalStep: 2, Tau0: 1}
		tr, err := NewTrainer(cfg, sn, sn.Space.LUT(), pool, tl, vl)
		if err != nil {
			t.Fatal(err)
		}
		tr.OutDir = filepath.Join(run, "generator-"+strconv.FormatInt(seed, 10))
		if err := tr.Run(ctx); err != nil {
			t.Fatal(err)
		}
		for _, es := range readLog(t, filepath.Join(tr.OutDir, LogFile)) {
			t.Logf("seed %d epoch %d: tau %.3f ce %.4f hc %.4f |F-T| %.2f hard L_hc %.4f kendall %.3f (%.1fs)",
				seed, es.Epoch, es.Tau, es.CE, es.HC, es.CostErr, es.HCTotal, es.Kendall, es.Seconds)
			if es.Epoch >= epochs/2 {
				late = append(late, es.Kendall)
			}
		}
		for _, f := range []string{FinalFile, BestFile} {
			g, err := gen.Load(filepath.Join(tr.OutDir, f))
			if err != nil {
				t.Fatal(err)
			}
			trk := EvalTracking(g, pool, sn.Space.LUT(), tr.Cfg.Low, tr.Cfg.High, targets)
			t.Logf("seed %d %s: LUT MFLOPs %.2f\nKendall tau %.3f, hard L_hc per target %.4f", seed, f, trk.Costs, trk.Kendall, trk.HCTotal/float64(len(targets)))
			res[f+" tau"] = append(res[f+" tau"], trk.Kendall)
			res[f+" hc"] = append(res[f+" hc"], trk.HCTotal/float64(len(targets)))
		}
	}
	for _, k := range []string{BestFile + " tau", BestFile + " hc", FinalFile + " tau", FinalFile + " hc"} {
		t.Logf("ACCEPT %s %s: per seed %.3f, median %.4f", nn.GEMMBackend(), k, res[k], median(res[k]))
	}
	t.Logf("ACCEPT %s second-half epochs tau: median %.4f of %d", nn.GEMMBackend(), median(late), len(late))
	// The selected checkpoint (best.pth, lowest total hard L_hc on the
	// tracking targets: sgnas's output) tracks, and stays near its targets
	// (L_hc per target small: 0.05 is a miss of 11.5 above or 12.9 below).
	if m := median(res[BestFile+" tau"]); !(m >= 0.85) {
		t.Errorf("best.pth: median Kendall tau %.3f between targets and generated LUT FLOPs over seeds %v, want >= 0.85", m, seeds)
	}
	if m := median(res[BestFile+" hc"]); !(m <= 0.05) {
		t.Errorf("best.pth: median hard L_hc per target %.4f over seeds %v: the generator does not reach its targets (want <= 0.05)", m, seeds)
	}
	// Tracking is sustained, not one lucky epoch: the median τ of every
	// evaluation in the second half of training, over all seeds. (A single
	// run's last weights are not judged: late in training an epoch's
	// weights can collapse onto one architecture, measured on AVX2 in 1 of 5
	// seeds, and a median of three final τ would fail by chance.)
	if m := median(late); !(m >= 0.8) {
		t.Errorf("median Kendall tau %.3f over the epochs of the second half of training (%d evaluations), want >= 0.8", m, len(late))
	}
	// Without training the generator does not track (the check can fail).
	for _, seed := range seeds {
		trk0 := EvalTracking(NewNet(seed).Inference(), pool, sn.Space.LUT(), 80, 120, targets)
		t.Logf("untrained seed %d: Kendall tau %.3f, total hard L_hc %.4f", seed, trk0.Kendall, trk0.HCTotal)
		if trk0.Kendall >= 0.8 && trk0.HCTotal/float64(len(targets)) <= 0.05 {
			t.Errorf("seed %d: an untrained generator already passes the tracking check", seed)
		}
	}
}
