#!/usr/bin/env bash
# Architecture generator benchmarks: one call generating 181 targets
# (270..450 step 1, ImageNet, SE + h-swish) including the budget repair, and
# its parts (batched forward pass, repair alone, single-target forward).
# Goal: < 1 s for the 181-target call on 2 cores. Needs ../shared (the
# authors' generator); prints a note and exits 0 when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f ../shared/pretrained/imagenet/best_avg.pth ]]; then
  echo "bench-generate: ../shared/pretrained/imagenet/best_avg.pth absent; skipped"
  exit 0
fi
echo "== generator (train/generator), $(nproc) CPU cores"
go test ./train/generator/ -run '^$' -bench 'Generate181|Forward181|Repair181|Forward1$' -benchtime 5x \
  | awk '/^Benchmark/ {
      name=$1; ns=$3; extra="";
      for (i=4;i<=NF;i++) if ($(i)=="µs/target") extra=sprintf(", %s µs/target", $(i-1));
      printf "%-28s %10.1f ms/op%s\n", name, ns/1e6, extra
    }'
