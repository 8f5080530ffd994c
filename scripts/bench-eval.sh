#!/usr/bin/env bash
# bench-eval.sh — sgnas eval throughput (images/s) against the bare ONNX
# Runtime runs on the same preprocessed batches, 1 thread: a CIFAR-space
# model on 200 Fashion-MNIST test images (batch 50) and an ImageNet-space
# model on 40 JPEGs of a class folder (batch 20). Needs the ONNX Runtime
# library (`make deps`) and Fashion-MNIST. Env: COUNT (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${COUNT:-3}"
out="$(go test ./evaluate/ -run '^$' -bench 'BenchmarkEval' -benchtime 3x -count "$COUNT")" || {
	echo "$out" >&2
	echo "bench-eval: benchmark failed (ONNX Runtime installed? Fashion-MNIST installed?)" >&2
	exit 1
}
echo "$out" | grep -E '^(cpu|Benchmark)' || true
echo
echo "== eval: images/s, evaluate vs bare ORT runs (mean over $COUNT counts) =="
echo "$out" | awk '
/^BenchmarkEval\// {
	name = $1; sub(/^BenchmarkEval\//, "", name); sub(/-[0-9]+$/, "", name)
	for (i = 2; i < NF; i++) if ($(i+1) == "images/s") { s[name] += $i; n[name]++ }
}
END {
	for (d in s) { split(d, p, "/"); sets[p[1]] = 1 }
	for (k in sets) {
		e = s[k "/evaluate"] / n[k "/evaluate"]; o = s[k "/ort"] / n[k "/ort"]
		printf "%-7s evaluate %7.1f images/s, ort %7.1f images/s, ratio %.3f\n", k, e, o, e / o
	}
}'
