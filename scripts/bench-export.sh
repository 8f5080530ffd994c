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
# Then SGNAS-A (`--flops 365` with the authors' generator, seeded weights):
# sgnas's FP32 export in its graph forms (default; padded depthwise; h-swish
# gate), torch.onnx.export of the same network (PyTorch default init), and
# the INT8 (QDQ) exports calibrated on CALIB_SAMPLES synthetic images
# (default form: pointwise/SE/head convs int8, stem and depthwise float;
# every conv int8; s8 activations; h-swish gate), first profiled op by op
# (OPS_RUNS runs: the kernels ORT runs, e.g. QLinearConv, and their time),
# then timed interleaved; prints the
# FP32-vs-torch and INT8-vs-FP32 p50 ratios (RATIO lines) and the load
# average.
#
# Environment: RUNS (default 200), THREADS (default "1,2"), OPSET (torch
# export, default 17), CALIB_SAMPLES (default 32), OPS_RUNS (default 20; 0
# skips the op profile), SGNAS_ORT_LIB (path of
# libonnxruntime.so).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-200}"
THREADS="${THREADS:-1,2}"
OPSET="${OPSET:-17}"
CALIB_SAMPLES="${CALIB_SAMPLES:-32}"
OPS_RUNS="${OPS_RUNS:-20}"
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

G=../shared/pretrained/imagenet
if [ ! -f "$G/best_avg.pth" ]; then
	echo "== SGNAS-A skipped: generator $G/best_avg.pth not found"
	exit 0
fi
echo
echo "== SGNAS-A (sgnas-export --flops 365, the authors' generator; seeded weights)"
"$tmp/sgnas" generate --generator "$G/best_avg.pth" --prior "$G/prior_pool.json" --flops 365 -o "$tmp/a365.json" >/dev/null
# The report's architecture with its network options, as an architecture file.
"$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); a=r["results"][0]["arch"]; a.update(se=r["se"],activation=r["activation"],classes=r["classes"]); json.dump(a,open(sys.argv[2],"w"))' "$tmp/a365.json" "$tmp/sgnas_a.json"
A="$tmp/sgnas_a.json"
"$tmp/sgnas" export "$A" -o "$tmp/a_fp32.onnx" --check "${ortflag[@]}" | sed -n '1,2p;$p'
"$tmp/sgnas" export "$A" -o "$tmp/a_padded.onnx" --depthwise-form padded >/dev/null
"$tmp/sgnas" export "$A" -o "$tmp/a_gate.onnx" --hswish-form gate >/dev/null
calib=(--int8 --calib synthetic --calib-samples "$CALIB_SAMPLES" --calib-method percentile "${ortflag[@]}")
"$tmp/sgnas" export "$A" -o "$tmp/a_int8.onnx" "${calib[@]}" | tail -1
"$tmp/sgnas" export "$A" -o "$tmp/a_int8_all.onnx" "${calib[@]}" --int8-spatial | tail -1
"$tmp/sgnas" export "$A" -o "$tmp/a_int8_s8.onnx" "${calib[@]}" --symmetric | tail -1
"$tmp/sgnas" export "$A" -o "$tmp/a_int8_gate.onnx" "${calib[@]}" --hswish-form gate | tail -1
amodels=(fp32="$tmp/a_fp32.onnx" padded="$tmp/a_padded.onnx" gate="$tmp/a_gate.onnx"
	int8="$tmp/a_int8.onnx" int8all="$tmp/a_int8_all.onnx" int8s8="$tmp/a_int8_s8.onnx" int8gate="$tmp/a_int8_gate.onnx")
ratios=int8/fp32,int8all/fp32,int8s8/fp32,int8gate/fp32,padded/fp32,gate/fp32
if "$PY" -c "import torch" 2>/dev/null; then
	"$PY" scripts/sgnas_torch.py export "$A" seed:0 "$tmp/a_torch.onnx" --opset "$OPSET" 2>/dev/null
	amodels+=(torch="$tmp/a_torch.onnx")
	ratios="fp32/torch,padded/torch,gate/torch,$ratios"
fi
echo "== SGNAS-A latency (RATIO A/B < 1: A is faster; goals: fp32/torch <= 0.75, int8/fp32 <= 0.5)"
"$tmp/benchexport" --runs "$RUNS" --threads "$THREADS" --ops "$OPS_RUNS" --ratio "$ratios" "${ortflag[@]}" "${amodels[@]}"
