package infer

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// OpTime is the time ONNX Runtime spent in the kernels of one operator type.
type OpTime struct {
	Op    string  // the kernel's op type after optimisation, e.g. QLinearConv
	Nodes int     // distinct nodes of that type that ran
	MS    float64 // total milliseconds over all profiled runs
}

// OpProfile reads the JSON trace ORT's profiler wrote (SessionOptions.
// ProfilePrefix) and sums the kernel time per op type, largest first.
func OpProfile(path string) ([]OpTime, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := ParseOpProfile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParseOpProfile sums the kernel time per op type of an ORT profiler trace
// (a JSON array of events), largest first.
func ParseOpProfile(b []byte) ([]OpTime, error) {
	var events []struct {
		Cat  string `json:"cat"`
		Name string `json:"name"`
		Dur  float64
		Args struct {
			OpName string `json:"op_name"`
		} `json:"args"`
	}
	if err := json.Unmarshal(b, &events); err != nil {
		return nil, fmt.Errorf("ORT profile: %w", err)
	}
	byOp := map[string]*OpTime{}
	nodes := map[string]map[string]bool{}
	for _, e := range events {
		if e.Cat != "Node" || !strings.HasSuffix(e.Name, "_kernel_time") || e.Args.OpName == "" {
			continue
		}
		t := byOp[e.Args.OpName]
		if t == nil {
			t = &OpTime{Op: e.Args.OpName}
			byOp[e.Args.OpName] = t
			nodes[e.Args.OpName] = map[string]bool{}
		}
		t.MS += e.Dur / 1000
		nodes[e.Args.OpName][e.Name] = true
	}
	out := make([]OpTime, 0, len(byOp))
	for op, t := range byOp {
		t.Nodes = len(nodes[op])
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].MS != out[j].MS {
			return out[i].MS > out[j].MS
		}
		return out[i].Op < out[j].Op
	})
	return out, nil
}
