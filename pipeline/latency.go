package pipeline

import (
	"fmt"
	"io"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/models"
	"github.com/sgnas/sgnas/profiles"
)

// Latency is a loaded latency budget: the profile's predictor (the repair
// metric) and the profile's identity for manifests and metadata.
type Latency struct {
	Predictor *profiles.Predictor
	Path      string
	Digest    string // "sha256:…" of the profile file
}

// LoadLatency loads the device profile at path for latency budgets of models
// with options net (profiles.LoadPredictorWarn: network options checked,
// device fingerprint checked unless force, then one warning line on log),
// and refuses targets (ms) outside the predicted range of the space with
// at least minExpansion groups per layer. Errors are one line.
func LoadLatency(path string, net models.Options, ortLib string, force bool, minExpansion int, targets []float64, log io.Writer) (*Latency, error) {
	if path == "" {
		return nil, fmt.Errorf("--latency needs --profile (a device profile from `sgnas profile build`)")
	}
	pr, warn, err := profiles.LoadPredictorWarn(path, net, ortLib, force)
	if err != nil {
		return nil, err
	}
	if warn != "" && log != nil {
		fmt.Fprintln(log, warn)
	}
	if minExpansion < 1 {
		minExpansion = 1
	}
	for _, t := range targets {
		if err := pr.CheckTarget(t, minExpansion); err != nil {
			return nil, fmt.Errorf("--latency: %w (profile %s)", err, path)
		}
	}
	sum, err := export.FileSHA256(path)
	if err != nil {
		return nil, err
	}
	return &Latency{Predictor: pr, Path: path, Digest: "sha256:" + sum}, nil
}
