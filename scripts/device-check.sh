#!/usr/bin/env bash
# device-check.sh — what a person with an NVIDIA GPU (and network for the
# package registries) runs in one command to check sgnas's CUDA path:
#   1. `make deps deps-cuda build` (ONNX Runtime CPU library and the 1.29.0 CUDA bundle);
#   2. the CUDA pre-flight (driver, CUDA 13 / cuDNN 9 libraries found) and the
#      CUDA EP unit test of package infer (it runs a model on the GPU when it can);
#   3. SGNAS-C (the ../shared fixture) exported, run on the CPU EP and on the CUDA EP
#      against PyTorch's logits (max abs diff printed, tolerance 1e-3);
#   4. `sgnas bench --ep cuda` at batch 1 and 64 (latency and throughput), beside the CPU EP.
# The training engine has no CUDA backend: `--device cuda` of `sgnas search`/`train`
# stops with a message, so nothing of training is checked here.
# Usage: bash scripts/device-check.sh [OUT_DIR]    (default device-check-out/)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-device-check-out}
mkdir -p "$out"
shared=${SGNAS_SHARED:-../shared}
fixture=$shared/fixtures/sgnas_c
log() { echo "== $*"; }

log "GPU"
if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; else echo "nvidia-smi not found"; fi
log "make deps deps-cuda build"
make deps deps-cuda build
sg=bin/sgnas
log "infer: CUDA pre-flight and EP test"
go test ./infer -run 'CUDA' -count=1 -v 2>&1 | grep -E '^(=== RUN|--- |    |ok|FAIL)' || true
[ -d "$fixture" ] || { echo "no $fixture: set SGNAS_SHARED to the shared test data"; exit 1; }
log "SGNAS-C parity (CPU EP, CUDA EP) against PyTorch's logits"
$sg export "$fixture/sgnas_c_arch.json" --weights "$fixture/sgnas_c_state_dict.pth" -o "$out/sgnas_c.onnx" --target flops:275
$sg infer "$out/sgnas_c.onnx" --input "$fixture/sgnas_c_input.npy" --output "$out/cpu.npy" --reference "$fixture/sgnas_c_logits.npy" --tolerance 1e-3
$sg infer "$out/sgnas_c.onnx" --ep cuda --input "$fixture/sgnas_c_input.npy" --output "$out/cuda.npy" --reference "$fixture/sgnas_c_logits.npy" --tolerance 1e-3
log "bench: CPU EP vs CUDA EP, batch 1 and 64"
for b in 1 64; do
	$sg bench "$out/sgnas_c.onnx" --batch "$b" --runs 50 --threads 0 | tee "$out/bench-cpu-b$b.txt"
	$sg bench "$out/sgnas_c.onnx" --batch "$b" --runs 50 --ep cuda | tee "$out/bench-cuda-b$b.txt"
done
log "done: outputs in $out/"
