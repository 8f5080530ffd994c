#!/usr/bin/env bash
# bench-infer.sh — what sgnas's infer.Session.Run adds on top of a bare
# onnxruntime_go call on the same ORT session (goal: < 2% on a small model).
# Both paths run alternately in every iteration; per-run medians are compared.
# Needs the ONNX Runtime library (`make deps`). Env: COUNT (default 5),
# BENCHTIME (default 20000x).
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${COUNT:-5}"
BENCHTIME="${BENCHTIME:-20000x}"
out="$(go test ./infer/ -run '^$' -bench 'BenchmarkRunOverhead' -benchtime "$BENCHTIME" -count "$COUNT")" || {
	echo "$out" >&2
	echo "bench-infer: benchmark failed (is ONNX Runtime installed? run make deps)" >&2
	exit 1
}
echo "$out" | grep -E '^(cpu|Benchmark)' || true
echo
echo "== infer: Session.Run overhead vs bare onnxruntime_go (medians; mean over $COUNT counts) =="
echo "$out" | awk '
/^BenchmarkRunOverhead\// {
	name = $1; sub(/^BenchmarkRunOverhead\//, "", name); sub(/-[0-9]+$/, "", name)
	for (i = 2; i < NF; i++) {
		if ($(i+1) == "bare-ns/run") bare[name] += $i
		if ($(i+1) == "sgnas-ns/run") sg[name] += $i
	}
	n[name]++
}
END {
	printf "%-18s %12s %12s %10s %9s\n", "model", "bare us/run", "sgnas us/run", "ratio", "overhead"
	for (k in n) {
		b = bare[k] / n[k] / 1000; s = sg[k] / n[k] / 1000
		printf "%-18s %12.2f %12.2f %10.4f %8.2f%%\n", k, b, s, s / b, 100 * (s / b - 1)
	}
}'
