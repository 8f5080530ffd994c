package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v3"

	"github.com/sgnas/sgnas/internal/orttest"
	"github.com/sgnas/sgnas/internal/testutil"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/profiles"
)

// writeSyntheticProfile writes profiles.Synthetic for net, measured "on"
// dev, into dir and returns its path and predictor.
func writeSyntheticProfile(t *testing.T, dir, name string, net profiles.Network, dev profiles.Fingerprint) (string, *profiles.Predictor) {
	t.Helper()
	p, err := profiles.Synthetic(net, dev)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := p.Save(path); err != nil {
		t.Fatal(err)
	}
	pr, err := profiles.NewPredictor(p)
	if err != nil {
		t.Fatal(err)
	}
	return path, pr
}

func hereDevice(t *testing.T) profiles.Fingerprint {
	orttest.Need(t)
	return profiles.CurrentFingerprint("cpu", 1, 1, 99)
}

func imagenetNet() profiles.Network {
	return profiles.NetworkOf(models.DefaultOptions(models.MustSpace("imagenet")))
}

// TestGenerateLatencyCLI: `sgnas generate --latency … --profile P` with a
// synthetic profile of this machine: every result's predicted latency in
// [0.97·T, T]; the budget kind and profile digest are reported.
func TestGenerateLatencyCLI(t *testing.T) {
	dir := t.TempDir()
	prof, pr := writeSyntheticProfile(t, dir, "here.json", imagenetNet(), hereDevice(t))
	lo, hi := pr.Range(1)
	t1, t2 := lo+0.35*(hi-lo), lo+0.5*(hi-lo)
	lats := fmt.Sprintf("%.3fms,%.3fms", t1, t2)
	G := testutil.Shared(t, "pretrained", "imagenet")
	base := []string{"sgnas", "generate", "--generator", filepath.Join(G, "best_avg.pth"), "--prior", filepath.Join(G, "prior_pool.json")}
	root := func() *cli.Command {
		return &cli.Command{Name: "sgnas", Commands: []*cli.Command{generateCommand()}}
	}
	out, err := captureStdout(t, func() error {
		return root().Run(context.Background(), append(base, "--latency", lats, "--profile", prof, "--json"))
	})
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Budget  string `json:"budget"`
		Results []struct {
			Target    float64      `json:"target"`
			Predicted *float64     `json:"predicted_latency_ms"`
			Arch      *models.Arch `json:"arch"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Results) != 2 || rep.Budget != "latency" {
		t.Fatalf("report %s (%v)", out, err)
	}
	if !strings.Contains(out, `"profile_digest": "sha256:`) || !strings.Contains(out, `"metric": "latency"`) {
		t.Fatalf("no profile digest / metric in %s", out)
	}
	for _, r := range rep.Results {
		v := pr.Value(r.Arch)
		if r.Predicted == nil || v > r.Target+1e-6 || v < 0.97*r.Target-1e-6 {
			t.Fatalf("target %g ms: predicted %v (%g)", r.Target, r.Predicted, v)
		}
	}
	// The table form runs too.
	if _, err := captureStdout(t, func() error {
		return root().Run(context.Background(), append(base, "--latency", lats, "--profile", prof))
	}); err != nil {
		t.Fatal(err)
	}

	// Bad inputs: one clear line each.
	corrupt := filepath.Join(dir, "corrupt.json")
	os.WriteFile(corrupt, []byte(`{"schema": "sgnas-profile/1", "layers": [`), 0o644)
	cifar, _ := writeSyntheticProfile(t, dir, "cifar.json", profiles.NetworkOf(models.DefaultOptions(models.MustSpace("cifar10"))), hereDevice(t))
	other := hereDevice(t)
	other.CPUModel, other.Threads = "Some Other CPU", 4
	foreign, _ := writeSyntheticProfile(t, dir, "foreign.json", imagenetNet(), other)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--latency", "12", "--profile", prof}, "missing unit"},
		{[]string{"--latency", "-3ms", "--profile", prof}, "must be positive"},
		{[]string{"--latency", "abc", "--profile", prof}, "not a duration"},
		{[]string{"--latency", "12ms", "--flops", "300", "--profile", prof}, "not both"},
		{[]string{"--latency", "12ms"}, "needs --profile"},
		{[]string{}, "--flops (MFLOPs) or --latency"},
		{[]string{"--latency", fmt.Sprintf("%.3fms", lo/2), "--profile", prof}, "below the fastest architecture"},
		{[]string{"--latency", fmt.Sprintf("%.3fms", hi*2), "--profile", prof}, "above the slowest architecture"},
		{[]string{"--latency", "12ms", "--profile", filepath.Join(dir, "none.json")}, "does not exist"},
		{[]string{"--latency", "12ms", "--profile", corrupt}, corrupt},
		{[]string{"--latency", "12ms", "--profile", cifar}, "another network"},
		{[]string{"--latency", fmt.Sprintf("%.3fms", t1), "--profile", foreign}, "another device"},
	} {
		_, err := captureStdout(t, func() error { return root().Run(context.Background(), append(base, c.args...)) })
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: got %v, want one line with %q", c.args, err, c.want)
		}
	}
	// --force accepts the foreign profile.
	if _, err := captureStdout(t, func() error {
		return root().Run(context.Background(), append(base, "--latency", fmt.Sprintf("%.3fms", t1), "--profile", foreign, "--force", "--json"))
	}); err != nil {
		t.Fatalf("--force: %v", err)
	}
}
