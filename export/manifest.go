package export

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/sgnas/sgnas/internal/fsutil"
	"github.com/sgnas/sgnas/models"
)

// ManifestVersion is the schema version of manifest.json.
const ManifestVersion = 1

// OutputLockName is the lock file of an sgnas-export output folder: held by
// an export run while it writes, and by `sgnas eval` while it records a
// result in the folder's manifest.
const OutputLockName = ".sgnas-export.lock"

// Manifest describes the models written by one export run; it is written as
// manifest.json beside them.
type Manifest struct {
	Version         int    `json:"version"`
	SgnasVersion    string `json:"sgnas_version"`
	Generator       string `json:"generator,omitempty"`
	GeneratorDigest string `json:"generator_digest,omitempty"`
	Metric          string `json:"metric"` // budgeted quantity: "full" or "lut" MFLOPs, or "latency" (ms)
	// Budget is the kind of the targets: "flops" (MFLOPs) or "latency" (ms).
	Budget string `json:"budget,omitempty"`
	// Profile and ProfileDigest identify the device profile whose predictor
	// budgeted the latency (or predicted it).
	Profile       string          `json:"profile,omitempty"`
	ProfileDigest string          `json:"profile_digest,omitempty"`
	Models        []ManifestEntry `json:"models"`
}

// ManifestEntry is one exported model.
type ManifestEntry struct {
	File          string         `json:"file"`
	SHA256        string         `json:"sha256"`
	Target        float64        `json:"target"`
	Space         string         `json:"space"`
	Arch          string         `json:"arch"` // compact form
	Layers        []models.Layer `json:"layers"`
	SE            bool           `json:"se"`
	Activation    string         `json:"activation"`
	Classes       int            `json:"classes"`
	Weights       string         `json:"weights"` // "seed:N" or the imported file
	LUTMFLOPs     float64        `json:"lut_mflops"`
	MFLOPs        float64        `json:"mflops"`
	Params        int64          `json:"params"`
	RawMFLOPs     float64        `json:"raw_metric"` // the generator's plain argmax, on the budgeted metric
	ChangedGroups int            `json:"changed_groups"`
	Nodes         int            `json:"nodes"`
	// PredictedLatencyMS comes from a device latency profile (nil: none used).
	PredictedLatencyMS *float64 `json:"predicted_latency_ms"`
	// MeasuredLatency is filled when the models were timed in ONNX Runtime.
	MeasuredLatency *MeasuredLatency `json:"measured_latency,omitempty"`
	// Evaluations are accuracies measured by `sgnas eval` (one per dataset,
	// directory and split; a later evaluation replaces an earlier one).
	Evaluations []Evaluation `json:"evaluations,omitempty"`
	// Precision is "int8" for a quantized model ("" for float32).
	Precision string `json:"precision,omitempty"`
	// Int8 describes an INT8 model's quantization and calibration.
	Int8 *QuantInfo `json:"int8,omitempty"`
}

// Evaluation is the accuracy of an exported model measured in ONNX Runtime
// (sgnas eval).
type Evaluation struct {
	Dataset string  `json:"dataset"`
	Data    string  `json:"data,omitempty"`
	Split   string  `json:"split,omitempty"`
	Images  int     `json:"images"`
	Limited bool    `json:"limited,omitempty"` // only the first Images images (--limit)
	Top1    float64 `json:"top1"`
	Top5    float64 `json:"top5"`
	EP      string  `json:"ep"`
	ORT     string  `json:"ort_version"`
	Date    string  `json:"date"` // UTC, RFC 3339
}

// QuantInfo describes an INT8 (QDQ) model: its quantization, its
// calibration and the FP32→INT8 error measured on the calibration inputs.
type QuantInfo struct {
	Weights     string  `json:"weights"`     // e.g. "int8 symmetric per-channel"
	Activations string  `json:"activations"` // "uint8 asymmetric" or "int8 symmetric"
	FloatOps    string  `json:"float_ops"`   // convolutions kept in float32 ("" none)
	Method      string  `json:"calibration_method"`
	Percentile  float64 `json:"calibration_percentile,omitempty"`
	Samples     int     `json:"calibration_samples"`
	Data        string  `json:"calibration_data"`
	// FP32→INT8 logit error and argmax agreement on the calibration inputs.
	MaxAbsLogitError  float64 `json:"max_abs_logit_error"`
	MeanAbsLogitError float64 `json:"mean_abs_logit_error"`
	MaxAbsFP32Logit   float64 `json:"max_abs_fp32_logit"`
	ArgmaxAgree       int     `json:"argmax_agree"`
}

// String is the one line the CLIs print.
func (q *QuantInfo) String() string {
	return fmt.Sprintf("int8: %s calibration on %s; INT8 vs FP32 on those %d inputs: max abs logit error %.4g, mean %.4g (max |FP32 logit| %.4g), argmax agrees %d/%d",
		q.Method, q.Data, q.Samples, q.MaxAbsLogitError, q.MeanAbsLogitError, q.MaxAbsFP32Logit, q.ArgmaxAgree, q.Samples)
}

// Metadata is the metadata_props entries an INT8 model carries:
// precision=int8 and the fields of q.
func (q *QuantInfo) Metadata() map[string]string {
	md := map[string]string{
		"precision":                 "int8",
		"quantization":              "qdq",
		"int8_weights":              q.Weights,
		"int8_activations":          q.Activations,
		"calibration_method":        q.Method,
		"calibration_samples":       strconv.Itoa(q.Samples),
		"calibration_data":          q.Data,
		"int8_max_abs_logit_error":  strconv.FormatFloat(q.MaxAbsLogitError, 'g', 4, 64),
		"int8_mean_abs_logit_error": strconv.FormatFloat(q.MeanAbsLogitError, 'g', 4, 64),
		"int8_argmax_agreement":     fmt.Sprintf("%d/%d", q.ArgmaxAgree, q.Samples),
	}
	if q.FloatOps != "" {
		md["int8_float_ops"] = q.FloatOps
	}
	if q.Percentile != 0 {
		md["calibration_percentile"] = strconv.FormatFloat(q.Percentile, 'g', -1, 64)
	}
	return md
}

// MeasuredLatency is an ONNX Runtime timing of an exported model.
type MeasuredLatency struct {
	P50MS   float64 `json:"p50_ms"`
	P90MS   float64 `json:"p90_ms"`
	Runs    int     `json:"runs"`
	Threads int     `json:"threads"`
	EP      string  `json:"ep"`
	CPU     string  `json:"cpu"`
}

// Save writes the manifest atomically.
func (m *Manifest) Save(path string) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("write manifest %s: %w", path, err)
	}
	return fsutil.WriteFileAtomic(path, append(data, '\n'), 0o644)
}

// FileSHA256 returns the hex sha256 of a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// LoadManifest reads a manifest.json.
func LoadManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("load manifest %s: %w", path, err)
	}
	return &m, nil
}
