#!/usr/bin/env bash
# Training-engine throughput: forward+backward+SGD of one MobileNetV2-style
# CIFAR path network (batch 64, 2 threads), sgnas (train/nn) vs PyTorch.
# Env: BENCH_STEPS (default 3), BENCH_PROFILE=1 for per-op tables.
set -euo pipefail
cd "$(dirname "$0")/.."

STEPS="${BENCH_STEPS:-3}"
export GOMAXPROCS=2
PROF_ENV=()
if [[ "${BENCH_PROFILE:-0}" == 1 ]]; then PROF_ENV=(SGNAS_PROFILE=1); fi

run_go() { # $@: extra go test args
  env "${PROF_ENV[@]}" go test "$@" -run '^$' -bench 'BenchmarkTrainStepPath$' -benchtime "${STEPS}x" ./train/nn
}
ips() { sed -n 's/.* \([0-9.]*\) images\/s.*/\1/p' | tail -1; }

echo "== sgnas train/nn (default build: pure Go + Go-assembly AVX2/AVX-512 kernels) =="
out=$(run_go); echo "$out" | grep -v '^\(goos\|goarch\|pkg\|cpu\|PASS\|ok\)' || true
go_ips=$(echo "$out" | ips)

echo "== sgnas train/nn (default build, GEMMs forced to gonum blas32: SGNAS_GEMM=gonum) =="
out=$(SGNAS_GEMM=gonum run_go); echo "$out" | grep -v '^\(goos\|goarch\|pkg\|cpu\|PASS\|ok\)' || true
gonum_ips=$(echo "$out" | ips)

ob_ips=""
if ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so'; then
  echo "== sgnas train/nn (-tags openblas) =="
  out=$(CGO_LDFLAGS="-lopenblas" OPENBLAS_NUM_THREADS=1 run_go -tags openblas)
  echo "$out" | grep -v '^\(goos\|goarch\|pkg\|cpu\|PASS\|ok\)' || true
  ob_ips=$(echo "$out" | ips)
else
  echo "== openblas variant skipped (libopenblas not installed: apt-get install libopenblas-dev) =="
fi

torch_ips=""
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "== PyTorch (torch.set_num_threads(2)) =="
  args=(2 "$STEPS"); [[ "${BENCH_PROFILE:-0}" == 1 ]] && args+=(--profile)
  tout=$(/usr/bin/python3 scripts/bench_train_torch.py "${args[@]}")
  echo "$tout"
  torch_ips=$(echo "$tout" | sed -n 's/^torch images\/s: //p')
else
  echo "== PyTorch skipped: /usr/bin/python3 cannot import torch =="
fi

echo "== summary (images/s, batch 64, 2 threads) =="
printf 'sgnas (default):  %s\n' "${go_ips:-n/a}"
printf 'sgnas (gonum GEMM): %s\n' "${gonum_ips:-n/a}"
[[ -n "$ob_ips" ]] && printf 'sgnas (openblas): %s\n' "$ob_ips"
if [[ -n "$torch_ips" ]]; then
  printf 'torch:            %s\n' "$torch_ips"
  awk -v a="$go_ips" -v t="$torch_ips" 'BEGIN{printf "ratio sgnas(default)/torch:  %.2f\n", a/t}'
  [[ -n "$ob_ips" ]] && awk -v a="$ob_ips" -v t="$torch_ips" 'BEGIN{printf "ratio sgnas(openblas)/torch: %.2f\n", a/t}'
fi
