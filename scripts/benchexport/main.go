// Command benchexport times ONNX models against each other with
// infer.Bench (interleaved runs, batch 1, ORT CPU) and prints p50 latency,
// node counts and ratios relative to the first model. It is a helper of
// scripts/bench-export.sh, not part of sgnas.
//
//	go run ./scripts/benchexport --runs 200 --threads 1,2 opt=a.onnx plain=b.onnx torch=c.onnx
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/sgnas/sgnas/export"
	"github.com/sgnas/sgnas/infer"
	"github.com/sgnas/sgnas/onnx"
)

func main() {
	runs := flag.Int("runs", 200, "timed runs per model")
	warmup := flag.Int("warmup", 20, "untimed warm-up runs per model")
	threads := flag.String("threads", "1,2", "comma-separated intra-op thread counts")
	ortLib := flag.String("ort-lib", "", "path of libonnxruntime.so (default: found automatically)")
	flag.Parse()
	if err := run(*runs, *warmup, *threads, *ortLib, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "benchexport:", err)
		os.Exit(1)
	}
}

func run(runs, warmup int, threads, ortLib string, args []string) error {
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
		fmt.Printf("\nORT %s CPU, %d intra-op thread(s), graph opt level %d, batch 1, %d interleaved runs per model (%s, %d cores)\n",
			d.ORTVersion, th, d.OptLevel, runs, d.CPUModel, d.Cores)
		fmt.Printf("  %-8s %9s %9s %9s %6s %18s\n", "model", "p50 ms", "p90 ms", "min ms", "nodes", "p50 vs "+labels[0])
		for i, r := range res {
			fmt.Printf("  %-8s %9.3f %9.3f %9.3f %6d %17.3fx\n", labels[i], r.P50MS, r.P90MS, r.MinMS, nodes[i], r.P50MS/res[0].P50MS)
		}
		for i := 1; i < len(res); i++ {
			fmt.Printf("  RESULT threads=%d %s/%s p50 latency ratio %.3f (%s %.1f%% faster), node ratio %.3f (%d/%d)\n",
				th, labels[0], labels[i], res[0].P50MS/res[i].P50MS, labels[0], 100*(1-res[0].P50MS/res[i].P50MS),
				float64(nodes[0])/float64(nodes[i]), nodes[0], nodes[i])
		}
	}
	return nil
}
