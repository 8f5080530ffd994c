#!/usr/bin/env bash
# Data-loader throughput (data): images/s delivered by the Loader with
# training augmentation, for CIFAR-style 32x32 images held in memory, the
# procedural synthetic dataset, and JPEG folders at 224x224.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench 'BenchmarkLoader' -benchtime "${BENCHTIME:-2s}" ./data/ |
	awk '/^Benchmark/ { for (i = 1; i <= NF; i++) if ($i == "images/s") printf "%-40s %12s images/s\n", $1, $(i-1) } /^(ok|FAIL|cpu:)/'
