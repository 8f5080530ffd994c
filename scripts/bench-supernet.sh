#!/usr/bin/env bash
# Supernet training throughput: one step of reference §5.1 (4 sampled paths
# forward+backward, one SGD step) on CIFAR 32×32, batch 64, 2 threads.
# images/s counts batch images (each trained on 4 paths).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== supernet training step (default build), GOMAXPROCS=2 =="
GOMAXPROCS=2 go test ./train/supernet/ -run '^$' -bench 'BenchmarkTrainStep' -benchtime 3x | grep -E 'Benchmark|images/s'
if [ -e /usr/lib/x86_64-linux-gnu/libopenblas.so ] || [ -e /usr/lib/libopenblas.so ]; then
  echo "== supernet training step (-tags openblas), GOMAXPROCS=2 =="
  CGO_LDFLAGS=-lopenblas OPENBLAS_NUM_THREADS=1 GOMAXPROCS=2 \
    go test -tags openblas ./train/supernet/ -run '^$' -bench 'BenchmarkTrainStep' -benchtime 3x | grep -E 'Benchmark|images/s'
fi
