package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/profiles"
	"github.com/sgnas/sgnas/train/generator"
	"github.com/sgnas/sgnas/train/supernet"
)

func searchGeneratorRoot() *cli.Command {
	return &cli.Command{Name: "sgnas", Commands: []*cli.Command{
		{Name: "search", Commands: []*cli.Command{searchGeneratorCommand()}},
		generateCommandForTest(),
	}}
}

// TestSearchGeneratorCLI: a tiny supernet run, `search generator` for one
// epoch, --resume to a second, then `generate` with the trained checkpoint
// and the prior pool the command wrote.
func TestSearchGeneratorCLI(t *testing.T) {
	ctx := context.Background()
	run := t.TempDir()
	scfg := supernet.DefaultConfig()
	scfg.Epochs, scfg.Batch, scfg.Samples, scfg.Seed = 1, 4, 40, 1
	scfg.MaxTrainBatches, scfg.MaxValBatches = 1, 1
	if _, err := supernet.Train(ctx, scfg, run, supernet.TrainOptions{}); err != nil {
		t.Fatal(err)
	}
	args := []string{"sgnas", "search", "generator", "--supernet", filepath.Join(run, "supernet.ckpt"), "--out", run,
		"--batch", "2", "--max-train-batches", "2", "--max-eval-batches", "1", "--seed", "3"}
	if err := searchGeneratorRoot().Run(ctx, append(args, "--epochs", "1")); err != nil {
		t.Fatal(err)
	}
	gdir := filepath.Join(run, "generator")
	for _, f := range []string{generator.BestFile, generator.FinalFile, generator.LastFile, generator.LogFile, "prior_pool.json"} {
		if _, err := os.Stat(filepath.Join(gdir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := searchGeneratorRoot().Run(ctx, append(args, "--epochs", "2", "--resume")); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(gdir, generator.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(raw), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("log.jsonl has %d lines after resuming to 2 epochs, want 2", len(lines))
	}
	var es generator.EpochStats
	if err := json.Unmarshal(lines[1], &es); err != nil || es.Epoch != 1 || len(es.Targets) != 4 {
		t.Fatalf("second log line %s (%v)", lines[1], err)
	}
	out, err := captureStdout(t, func() error {
		return searchGeneratorRoot().Run(ctx, []string{"sgnas", "generate", "--generator", filepath.Join(gdir, generator.FinalFile),
			"--prior", filepath.Join(gdir, "prior_pool.json"), "--space", "cifar10", "--flops", "90,110", "--raw", "--json"})
	})
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Results []struct {
			Target float64 `json:"target"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Results) != 2 {
		t.Fatalf("generate output %q (%v)", out, err)
	}
	// --resume into a folder with no generator checkpoint: an error, no fresh run.
	fresh := t.TempDir()
	err = searchGeneratorRoot().Run(ctx, []string{"sgnas", "search", "generator", "--supernet", filepath.Join(run, "supernet.ckpt"), "--out", fresh,
		"--batch", "2", "--max-train-batches", "1", "--epochs", "1", "--resume"})
	if err == nil || !strings.Contains(err.Error(), "--resume: no checkpoint at") {
		t.Fatalf("--resume without a checkpoint: %v", err)
	}
	// Missing supernet checkpoint: one clear error.
	err = searchGeneratorRoot().Run(ctx, []string{"sgnas", "search", "generator", "--supernet", filepath.Join(run, "nope.ckpt"), "--out", run})
	if err == nil {
		t.Fatal("missing supernet checkpoint accepted")
	}
}

// generateCommandForTest returns the registered `generate` command.
func generateCommandForTest() *cli.Command {
	for _, c := range commands {
		if c.Name == "generate" {
			return c
		}
	}
	panic("generate command not registered")
}

// TestSearchGeneratorLatency: `search generator --profile P` trains against
// the latency cost model (targets in ms inside the profile's range), and
// `generate --latency` uses the result with the same profile.
func TestSearchGeneratorLatency(t *testing.T) {
	ctx := context.Background()
	run := t.TempDir()
	scfg := supernet.DefaultConfig()
	scfg.Epochs, scfg.Batch, scfg.Samples, scfg.Seed = 1, 4, 40, 1
	scfg.MaxTrainBatches, scfg.MaxValBatches = 1, 1
	if _, err := supernet.Train(ctx, scfg, run, supernet.TrainOptions{}); err != nil {
		t.Fatal(err)
	}
	net := profiles.NetworkOf(models.DefaultOptions(models.MustSpace("cifar10")))
	prof, pr := writeSyntheticProfile(t, run, "cifar.json", net, hereDevice(t))
	lo, hi := pr.Range(1)
	args := []string{"sgnas", "search", "generator", "--supernet", filepath.Join(run, "supernet.ckpt"), "--out", run,
		"--batch", "2", "--max-train-batches", "2", "--max-eval-batches", "1", "--seed", "3", "--epochs", "1", "--profile", prof}
	if err := searchGeneratorRoot().Run(ctx, args); err != nil {
		t.Fatal(err)
	}
	gdir := filepath.Join(run, "generator")
	raw, err := os.ReadFile(filepath.Join(gdir, generator.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	var es generator.EpochStats
	if err := json.Unmarshal(bytes.TrimSpace(raw), &es); err != nil || len(es.Targets) != 18 {
		t.Fatalf("log line %s (%v)", raw, err)
	}
	for i, tg := range es.Targets {
		if tg < lo || tg > hi || es.Costs[i] < lo || es.Costs[i] > hi {
			t.Fatalf("target %g ms, cost %g ms outside the profile's %g..%g ms", tg, es.Costs[i], lo, hi)
		}
	}
	// A profile of other options (SE on) is refused with one line.
	se := net
	se.SE = true
	other, _ := writeSyntheticProfile(t, run, "se.json", se, hereDevice(t))
	if err := searchGeneratorRoot().Run(ctx, append(args[:len(args)-1], other)); err == nil || !strings.Contains(err.Error(), "another network") {
		t.Fatalf("profile with SE: %v", err)
	}
	mid := fmt.Sprintf("%.3fms", (lo+hi)/2)
	out, err := captureStdout(t, func() error {
		return (&cli.Command{Name: "sgnas", Commands: []*cli.Command{generateCommand()}}).Run(ctx, []string{"sgnas", "generate",
			"--generator", filepath.Join(gdir, generator.FinalFile), "--prior", filepath.Join(gdir, "prior_pool.json"),
			"--space", "cifar10", "--latency", mid, "--profile", prof, "--json"})
	})
	if err != nil || !strings.Contains(out, `"budget": "latency"`) {
		t.Fatalf("generate --latency with the trained generator: %v\n%s", err, out)
	}
}
