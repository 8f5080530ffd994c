package profiles

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// unitMS maps a latency unit to milliseconds.
var unitMS = []struct {
	suffix string
	ms     float64
}{{"ms", 1}, {"us", 1e-3}, {"µs", 1e-3}, {"μs", 1e-3}, {"ns", 1e-6}, {"s", 1e3}}

// ParseLatency parses a latency such as "12ms", "12.5ms", "800us" (or µs)
// or "0.015s" and returns milliseconds. A unit is required; the value must be
// a finite number > 0.
func ParseLatency(s string) (float64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("latency %q: empty; write e.g. 12ms", s)
	}
	for _, u := range unitMS {
		num, ok := strings.CutSuffix(t, u.suffix)
		if !ok {
			continue
		}
		num = strings.TrimSpace(num)
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("latency %q: %q is not a number; write e.g. 12ms", s, num)
		}
		if v <= 0 {
			return 0, fmt.Errorf("latency %q: must be positive", s)
		}
		return v * u.ms, nil
	}
	if v, err := strconv.ParseFloat(t, 64); err == nil {
		return 0, fmt.Errorf("latency %q: missing unit; write e.g. %sms", s, strconv.FormatFloat(v, 'g', -1, 64))
	}
	return 0, fmt.Errorf("latency %q: not a duration; write e.g. 12ms, 800us or 0.012s", s)
}

// MaxTargets bounds the number of targets a range may expand to.
const MaxTargets = 100000

// ParseLatencyTargets parses a list of latency targets: comma-separated
// latencies and inclusive ranges START:STOP[:STEP] (STEP defaults to 1ms),
// e.g. "10ms,12ms,15ms" or "8ms:20ms:0.5ms", and returns milliseconds.
func ParseLatencyTargets(s string) ([]float64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("latency targets: no target given")
	}
	var out []float64
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("latency targets %q: empty item (two commas in a row, or a comma at an end)", s)
		}
		parts := strings.Split(item, ":")
		if len(parts) > 3 {
			return nil, fmt.Errorf("latency targets %q: %q: want LATENCY or START:STOP[:STEP]", s, item)
		}
		vals := make([]float64, len(parts))
		for i, p := range parts {
			v, err := ParseLatency(p)
			if err != nil {
				return nil, fmt.Errorf("latency targets %q: %w", s, err)
			}
			vals[i] = v
		}
		if len(vals) == 1 {
			out = append(out, vals[0])
			continue
		}
		step := 1.0
		if len(vals) == 3 {
			step = vals[2]
		}
		if vals[1] < vals[0] {
			return nil, fmt.Errorf("latency targets %q: range %q needs START ≤ STOP", s, item)
		}
		count := math.Floor((vals[1]-vals[0])/step+1e-9) + 1
		if !(count <= MaxTargets) {
			return nil, fmt.Errorf("latency targets %q: range %q has %g targets (at most %d)", s, item, count, MaxTargets)
		}
		for i := 0; i < int(count); i++ {
			out = append(out, vals[0]+float64(i)*step)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("latency targets %q: no target given", s)
	}
	return out, nil
}

// FormatMS formats milliseconds compactly, e.g. "12ms", "12.5ms".
func FormatMS(ms float64) string {
	return strconv.FormatFloat(ms, 'f', -1, 64) + "ms"
}
