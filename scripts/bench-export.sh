#!/usr/bin/env bash
# bench-export.sh — ONNX Runtime CPU latency of sgnas exports (part of `make bench`).
#
# Exports the SGNAS-C fixture (../shared/fixtures/sgnas_c: SE, h-swish, 1000
# classes, the fixture's PyTorch weights) twice — optimised (BN folded,
# same-kernel depthwise groups merged) and plain — and, when /usr/bin/python3
# has torch, builds the same network in PyTorch (scripts/sgnas_torch.py),
# checks its logits against the fixture and exports it with torch.onnx.export.
# Then times all models interleaved in ORT (batch 1, 1 and 2 intra-op
# threads, p50 over RUNS runs) and prints latency and node-count ratios.
#
# Environment: RUNS (default 200), THREADS (default "1,2"), OPSET (torch
# export, default 17), SGNAS_ORT_LIB (path of libonnxruntime.so).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-200}"
THREADS="${THREADS:-1,2}"
OPSET="${OPSET:-17}"
FX=../shared/fixtures/sgnas_c
PY=/usr/bin/python3

if [ ! -f "$FX/sgnas_c_state_dict.pth" ]; then
	echo "bench-export: skipped: fixture $FX not found (../shared beside the checkout)"
	exit 0
fi
ortflag=()
if [ -n "${SGNAS_ORT_LIB:-}" ]; then
	ortflag=(--ort-lib "$SGNAS_ORT_LIB")
else
	bash scripts/fetch-ort.sh >/dev/null
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/sgnas" ./cmd/sgnas
go build -o "$tmp/benchexport" ./scripts/benchexport

echo "== export SGNAS-C (fixture weights)"
"$tmp/sgnas" export "$FX/sgnas_c_arch.json" --weights "$FX/sgnas_c_state_dict.pth" -o "$tmp/sgnas_opt.onnx" --check "${ortflag[@]}"
"$tmp/sgnas" export "$FX/sgnas_c_arch.json" --weights "$FX/sgnas_c_state_dict.pth" -o "$tmp/sgnas_plain.onnx" --no-optimize

models=(opt="$tmp/sgnas_opt.onnx" plain="$tmp/sgnas_plain.onnx")
if "$PY" -c "import torch" 2>/dev/null; then
	echo "== PyTorch reference model (scripts/sgnas_torch.py)"
	"$PY" scripts/sgnas_torch.py check "$FX/sgnas_c_arch.json" "$FX/sgnas_c_state_dict.pth" "$FX/sgnas_c_input.npy" "$FX/sgnas_c_logits.npy"
	"$PY" scripts/sgnas_torch.py export "$FX/sgnas_c_arch.json" "$FX/sgnas_c_state_dict.pth" "$tmp/torch.onnx" --opset "$OPSET" 2>/dev/null
	models+=(torch="$tmp/torch.onnx")
else
	echo "== PyTorch comparison skipped: $PY cannot import torch"
fi

echo "== latency (lower is better; ratios < 1 mean the optimised sgnas export is faster)"
"$tmp/benchexport" --runs "$RUNS" --threads "$THREADS" "${ortflag[@]}" "${models[@]}"
