#!/usr/bin/env bash
# Standalone training throughput (sgnas train, CIFAR recipe step: forward
# with dropout, label-smoothed CE, backward, SGD) of one architecture, sgnas
# (train/standalone BenchmarkStandaloneTrainStep) vs PyTorch (the same
# network from scripts/sgnas_torch.py), same batch, 2 threads each.
# Env: BENCH_ARCH (architecture JSON; default: sgnas arch random --space
# cifar10 --flops 75 --seed 1), BENCH_BATCH (64), BENCH_STEPS (3).
set -euo pipefail
cd "$(dirname "$0")/.."

STEPS="${BENCH_STEPS:-3}"
BATCH="${BENCH_BATCH:-64}"
export GOMAXPROCS=2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ARCH="${BENCH_ARCH:-}"
if [[ -z "$ARCH" ]]; then
  ARCH="$tmp/arch.json"
  go run ./cmd/sgnas arch random --space cifar10 --flops 75 --seed 1 -o "$ARCH"
fi
ARCH=$(realpath "$ARCH")

echo "== sgnas train/standalone (batch $BATCH, 2 threads) =="
out=$(SGNAS_BENCH_ARCH="$ARCH" SGNAS_BENCH_BATCH="$BATCH" go test -run '^$' -bench 'BenchmarkStandaloneTrainStep$' -benchtime "${STEPS}x" ./train/standalone)
echo "$out" | grep Benchmark || true
go_ips=$(echo "$out" | sed -n 's/.* \([0-9.]*\) images\/s.*/\1/p' | tail -1)

torch_ips=""
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "== PyTorch (torch.set_num_threads(2)) =="
  tout=$(cd "$tmp" && /usr/bin/python3 "$OLDPWD/scripts/bench_standalone_torch.py" "$ARCH" 2 "$BATCH" "$STEPS")
  echo "$tout"
  torch_ips=$(echo "$tout" | sed -n 's/^torch images\/s: //p')
else
  echo "== PyTorch skipped: /usr/bin/python3 cannot import torch =="
fi

echo "== summary (standalone training images/s, batch $BATCH, 2 threads) =="
printf 'sgnas: %s\n' "${go_ips:-n/a}"
if [[ -n "$torch_ips" ]]; then
  printf 'torch: %s\n' "$torch_ips"
  awk -v a="$go_ips" -v t="$torch_ips" 'BEGIN{printf "ratio sgnas/torch: %.2f\n", a/t}'
fi
