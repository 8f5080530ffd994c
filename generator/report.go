package generator

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/sgnas/sgnas/models"
)

// ParseTargets parses a target list: comma-separated values and inclusive
// ranges "start:stop:step" (step defaults to 1), e.g. "275,320,365" or
// "270:450:1".
func ParseTargets(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("targets: no target given")
	}
	var out []float64
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("targets %q: empty item (two commas in a row, or a comma at an end)", s)
		}
		parts := strings.Split(item, ":")
		vals := make([]float64, len(parts))
		for i, p := range parts {
			v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("targets %q: %q is not a number", s, p)
			}
			vals[i] = v
		}
		switch len(vals) {
		case 1:
			out = append(out, vals[0])
		case 2, 3:
			step := 1.0
			if len(vals) == 3 {
				step = vals[2]
			}
			if step <= 0 || vals[1] < vals[0] {
				return nil, fmt.Errorf("targets %q: range %q needs start ≤ stop and a positive step", s, item)
			}
			count := math.Floor((vals[1]-vals[0])/step+1e-9) + 1
			if !(count <= 100000) {
				return nil, fmt.Errorf("targets %q: range %q has %g targets (at most 100000)", s, item, count)
			}
			n := int(count)
			for i := 0; i < n; i++ {
				out = append(out, vals[0]+float64(i)*step)
			}
		default:
			return nil, fmt.Errorf("targets %q: %q: want VALUE or START:STOP[:STEP]", s, item)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("targets %q: no target given", s)
	}
	return out, nil
}

// JSONResult is one result as `sgnas generate --json` prints it.
type JSONResult struct {
	Target        float64      `json:"target"`
	Arch          *models.Arch `json:"arch"`
	LUTMFLOPs     float64      `json:"lut_mflops"`
	MFLOPs        float64      `json:"mflops"`
	Params        int64        `json:"params"`
	RawMFLOPs     float64      `json:"raw_mflops"`
	ChangedGroups int          `json:"changed_groups"`
	PriorKey      int          `json:"prior_key"`
	// With a latency budget: the generator's FLOPs input the target was
	// mapped onto, and the predicted latency of the result (ms).
	GeneratorInput     float64  `json:"generator_input,omitempty"`
	PredictedLatencyMS *float64 `json:"predicted_latency_ms,omitempty"`
}

// JSONReport is the document `sgnas generate --json` prints.
type JSONReport struct {
	Space   string `json:"space"`
	SE      bool   `json:"se"`
	Act     string `json:"activation"`
	Classes int    `json:"classes"`
	Metric  string `json:"metric"` // metric the budget applies to; raw_mflops is in it
	Raw     bool   `json:"raw"`
	// Budget is "flops" (targets in MFLOPs) or "latency" (ms, on Profile,
	// whose file has ProfileDigest).
	Budget        string       `json:"budget"`
	Profile       string       `json:"profile,omitempty"`
	ProfileDigest string       `json:"profile_digest,omitempty"`
	Results       []JSONResult `json:"results"`
}

// Report builds the JSON document for results.
func Report(results []Result, req Request, metricName string) JSONReport {
	rep := JSONReport{
		Space: req.Net.Space.Name, SE: req.Net.SE, Act: string(req.Net.Activation()),
		Classes: req.Net.NumClasses(), Metric: metricName, Raw: req.Raw, Budget: "flops",
		Results: make([]JSONResult, len(results)),
	}
	for i, r := range results {
		rep.Results[i] = JSONResult{
			Target: r.Target, Arch: r.Arch, LUTMFLOPs: round(r.LUTMFLOPs), MFLOPs: round(r.MFLOPs),
			Params: r.Params, RawMFLOPs: round(r.RawMetric), ChangedGroups: r.ChangedGroups, PriorKey: r.PriorKey,
		}
		if req.MapTargets {
			rep.Budget = "latency"
			v := round(r.Metric)
			rep.Results[i].GeneratorInput, rep.Results[i].PredictedLatencyMS = round(r.Input), &v
		}
	}
	return rep
}

func round(x float64) float64 { return math.Round(x*1e6) / 1e6 }
