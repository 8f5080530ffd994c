// Command benchexport times ONNX models against each other with
// infer.Bench (interleaved runs, batch 1, ORT CPU) and prints p50 latency,
// node counts and ratios relative to the first model. It is a helper of
// scripts/bench-export.sh, not part of sgnas.
//
//	go run ./scripts/benchexport --runs 200 --threads 1,2 [--ratio int8/opt,opt/torch] opt=a.onnx plain=b.onnx torch=c.onnx
//
// --ratio prints "RATIO threads=T A/B p50 X" lines: p50 of model A over p50
// of model B (below 1: A is faster). The machine's load average is printed
// with every block, since the timings are only comparable on a quiet one.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/onnx"
	"github.com/sgnas/sgnas/tensor"
)

func main() {
	runs := flag.Int("runs", 200, "timed runs per model")
	warmup := flag.Int("warmup", 20, "untimed warm-up runs per model")
	threads := flag.String("threads", "1,2", "comma-separated intra-op thread counts")
	ortLib := flag.String("ort-lib", "", "path of libonnxruntime.so (default: found automatically)")
	ratios := flag.String("ratio", "", "comma-separated A/B label pairs whose p50 ratio to print")
	ops := flag.Int("ops", 0, "first profile every model over this many runs (1 thread) and print the op types ORT runs and their time")
	flag.Parse()
	if err := run(*runs, *warmup, *threads, *ortLib, *ratios, *ops, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "benchexport:", err)
		os.Exit(1)
	}
}

// loadAvg is the 1, 5 and 15 minute load average ("?" when unknown).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// opProfile prints the nodes of the graph ORT runs for the model at path
// (after its fusions) and the kernel time per op type over n runs.
func opProfile(label, path string, n int) error {
	dir, err := os.MkdirTemp("", "benchexport-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	o := infer.DefaultSessionOptions()
	o.IntraOpThreads, o.NoSpin = 1, true
	o.OptimizedModelPath = filepath.Join(dir, "opt.onnx")
	o.ProfilePrefix = filepath.Join(dir, "prof")
	s, err := infer.NewSession(path, o)
	if err != nil {
		return err
	}
	shape := []int{1}
	for _, d := range s.Inputs()[0].Shape[1:] {
		shape = append(shape, int(d))
	}
	x := tensor.New(shape...)
	for i := range x.Data {
		x.Data[i] = float32(i%17)/8 - 1
	}
	for i := 0; i < n; i++ {
		if _, err := s.Run(context.Background(), x); err != nil {
			s.Close()
			return err
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	om, err := onnx.ReadFile(o.OptimizedModelPath)
	if err != nil {
		return err
	}
	traces, _ := filepath.Glob(o.ProfilePrefix + "*.json")
	if len(traces) != 1 {
		return fmt.Errorf("%s: %d profile traces", path, len(traces))
	}
	times, err := infer.OpProfile(traces[0])
	if err != nil {
		return err
	}
	total := 0.0
	for _, t := range times {
		total += t.MS
	}
	fmt.Printf("%-8s ORT runs %s\n         kernel time %.3f ms/run:", label, export.FormatNodeCounts(export.NodeCounts(om)), total/float64(n))
	for _, t := range times {
		fmt.Printf(" %s %.3f", t.Op, t.MS/float64(n))
	}
	fmt.Println()
	return nil
}

func run(runs, warmup int, threads, ortLib, ratios string, ops int, args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("want at least two LABEL=MODEL.onnx arguments")
	}
	var labels, paths []string
	for _, a := range args {
		l, p, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("argument %q: want LABEL=MODEL.onnx", a)
		}
		labels, paths = append(labels, l), append(paths, p)
	}
	index := map[string]int{}
	for i, l := range labels {
		index[l] = i
	}
	var pairs [][2]int
	if ratios != "" {
		for _, r := range strings.Split(ratios, ",") {
			a, b, ok := strings.Cut(strings.TrimSpace(r), "/")
			ia, okA := index[a]
			ib, okB := index[b]
			if !ok || !okA || !okB {
				return fmt.Errorf("--ratio %q: want A/B with labels of the models given", r)
			}
			pairs = append(pairs, [2]int{ia, ib})
		}
	}
	if err := infer.Init(ortLib); err != nil {
		return err
	}
	nodes := make([]int, len(paths))
	for i, p := range paths {
		m, err := onnx.ReadFile(p)
		if err != nil {
			return err
		}
		nodes[i] = len(m.GetGraph().GetNode())
		fmt.Printf("%-8s %s\n         nodes %s\n", labels[i], p, export.FormatNodeCounts(export.NodeCounts(m)))
	}
	if ops > 0 {
		fmt.Printf("\nORT's optimised graphs and per-op kernel time (1 thread, %d runs each, one after the other: load average %s)\n", ops, loadAvg())
		for i, p := range paths {
			if err := opProfile(labels[i], p, ops); err != nil {
				return err
			}
		}
	}
	for _, ts := range strings.Split(threads, ",") {
		th, err := strconv.Atoi(strings.TrimSpace(ts))
		if err != nil || th < 1 {
			return fmt.Errorf("--threads %q: want positive integers", threads)
		}
		res, err := infer.Bench(context.Background(), paths, infer.BenchConfig{Runs: runs, Warmup: warmup, Threads: th, Batch: 1})
		if err != nil {
			return err
		}
		d := res[0].Device
		fmt.Printf("\nORT %s CPU, %d intra-op thread(s), graph opt level %d, batch 1, %d interleaved runs per model (%s, %d cores; load average %s)\n",
			d.ORTVersion, th, d.OptLevel, runs, d.CPUModel, d.Cores, loadAvg())
		fmt.Printf("  %-8s %9s %9s %9s %6s %18s\n", "model", "p50 ms", "p90 ms", "min ms", "nodes", "p50 vs "+labels[0])
		for i, r := range res {
			fmt.Printf("  %-8s %9.3f %9.3f %9.3f %6d %17.3fx\n", labels[i], r.P50MS, r.P90MS, r.MinMS, nodes[i], r.P50MS/res[0].P50MS)
		}
		for i := 1; i < len(res); i++ {
			fmt.Printf("  RESULT threads=%d %s/%s p50 latency ratio %.3f (%s %.1f%% faster), node ratio %.3f (%d/%d)\n",
				th, labels[0], labels[i], res[0].P50MS/res[i].P50MS, labels[0], 100*(1-res[0].P50MS/res[i].P50MS),
				float64(nodes[0])/float64(nodes[i]), nodes[0], nodes[i])
		}
		for _, p := range pairs {
			fmt.Printf("  RATIO threads=%d %s/%s p50 %.3f\n", th, labels[p[0]], labels[p[1]], res[p[0]].P50MS/res[p[1]].P50MS)
		}
	}
	return nil
}
