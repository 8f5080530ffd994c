package generator

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	gen "github.com/sgnas/sgnas/generator"
	"github.com/sgnas/sgnas/train/data"
	"github.com/sgnas/sgnas/train/supernet"
)

// TestAcceptanceTracking (≈40 s on 2 cores) is the acceptance check of generator training
// (issue item 4): a supernet trained briefly by sgnas on the synthetic
// dataset (written to and read back from RUN/supernet.ckpt), then a
// generator trained against it, must track its targets over the CIFAR range
// 80..120 MFLOPs: Kendall τ ≥ 0.9 between the targets 80, 82, …, 118 (finer
// than the authors' step 10, which gives only 4 CIFAR targets) and the LUT
// FLOPs of the generated hard architectures. The test starts the Gumbel
// temperature at 1 instead of the authors' 5 (Config.Tau0) so that 240
// steps suffice: at τ = 5 the soft matrix is nearly uniform, its soft FLOPs
// track long before the argmax does (τ reached 0.93 only after ~300 steps).
func TestAcceptanceTracking(t *testing.T) {
	ctx := context.Background()
	run := t.TempDir()
	scfg := supernet.DefaultConfig() // cifar10 space, synthetic data, 32×32
	scfg.Epochs, scfg.Batch, scfg.Samples, scfg.Seed = 1, 8, 200, 1
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
	tl, err := data.NewLoader(ds, val, data.LoaderOptions{BatchSize: 2, Seed: 1, Shuffle: true, Train: true})
	if err != nil {
		t.Fatal(err)
	}
	vl, err := data.NewLoader(ds, val, data.LoaderOptions{BatchSize: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := gen.BuildPriorPool(ctx, sn.Space, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	epochs, steps := 12, 20
	seed := int64(1)
	if v := os.Getenv("SGNAS_ACCEPT_SEED"); v != "" {
		seed, _ = strconv.ParseInt(v, 10, 64)
	}
	cfg := Config{Space: sn.Space, Epochs: epochs, MaxTrainBatches: steps, MaxEvalBatches: 1, Seed: seed, EvalStep: 2, Tau0: 1}
	tr, err := NewTrainer(cfg, sn, sn.Space.LUT(), pool, tl, vl)
	if err != nil {
		t.Fatal(err)
	}
	tr.OutDir = filepath.Join(run, "generator")
	if err := tr.Run(ctx); err != nil {
		t.Fatal(err)
	}
	logs := readLog(t, filepath.Join(tr.OutDir, LogFile))
	for _, es := range logs {
		t.Logf("epoch %d: tau %.3f ce %.4f hc %.4f |F-T| %.2f hard L_hc %.4f kendall %.3f (%.1fs)",
			es.Epoch, es.Tau, es.CE, es.HC, es.CostErr, es.HCTotal, es.Kendall, es.Seconds)
	}
	// The selected checkpoint (best.pth, lowest total hard L_hc on the
	// tracking targets: sgnas's output) must track with τ ≥ 0.9; the last
	// weights fluctuate more from epoch to epoch (seeds 1–3: τ 0.91–0.97
	// final, 0.97–0.99 best) and must reach 0.8.
	for _, f := range []string{FinalFile, BestFile} {
		minTau := 0.9
		if f == FinalFile {
			minTau = 0.8
		}
		g, err := gen.Load(filepath.Join(tr.OutDir, f))
		if err != nil {
			t.Fatal(err)
		}
		trk := EvalTracking(g, pool, sn.Space.LUT(), tr.Cfg.Low, tr.Cfg.High, Targets(80, 120, 2))
		t.Logf("%s: targets %v\nLUT MFLOPs %.2f\nKendall tau %.3f, total hard L_hc %.4f", f, trk.Targets, trk.Costs, trk.Kendall, trk.HCTotal)
		if !(trk.Kendall >= minTau) {
			t.Errorf("%s: Kendall tau %.3f between targets and generated LUT FLOPs, want >= %g", f, trk.Kendall, minTau)
		}
		// The generated FLOPs stay near the targets (L_hc per target small:
		// 0.05 is a miss of 11.5 above or 12.9 below).
		if per := trk.HCTotal / float64(len(trk.Targets)); per > 0.05 {
			t.Errorf("%s: mean hard L_hc %.4f per target: the generator does not reach its targets", f, per)
		}
	}
	// Without training the generator does not track (the check can fail).
	g0 := NewNet(seed).Inference()
	trk0 := EvalTracking(g0, pool, sn.Space.LUT(), tr.Cfg.Low, tr.Cfg.High, Targets(80, 120, 2))
	t.Logf("untrained: Kendall tau %.3f, total hard L_hc %.4f", trk0.Kendall, trk0.HCTotal)
	if trk0.Kendall >= 0.9 && trk0.HCTotal/float64(len(trk0.Targets)) <= 0.05 {
		t.Error("an untrained generator already passes the tracking check")
	}
}
