#!/usr/bin/env bash
# make demo: the main job end to end, as far as sgnas goes today.
#   architectures → generator (N budgets, one forward pass) → ONNX export → ONNX Runtime
#   → a --quick latency profile of this machine → models for millisecond budgets
# Uses the authors' trained ImageNet generator and the SGNAS-C fixture from ../shared
# when present; the steps that need them are skipped with a message otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo-out}
mkdir -p "$out"
sgnas=bin/sgnas
shared=../shared
gen=$shared/pretrained/imagenet/best_avg.pth
prior=$shared/pretrained/imagenet/prior_pool.json
fixture=$shared/fixtures/sgnas_c

echo "== 1. sample architectures of both search spaces and inspect them"
$sgnas arch random --space imagenet --seed 1 --flops 320 -o "$out/imagenet_320.json"
$sgnas arch info "$out/imagenet_320.json"    # imagenet defaults: SE, h-swish, 1000 classes
$sgnas arch random --space cifar10 --seed 2 --flops 100 -o "$out/cifar10_100.json"
$sgnas arch info "$out/cifar10_100.json" --json > "$out/cifar10_100.info.json"
echo "wrote $out/cifar10_100.info.json"

echo
echo "== 2. export a sampled CIFAR-10 architecture (seeded weights), check optimised vs plain graph in ONNX Runtime"
$sgnas export "$out/cifar10_100.json" -o "$out/cifar10_100.onnx" --seed 1 --check

echo
echo "== 3. train your own (a smoke-sized run on the built-in synthetic dataset, CIFAR-10 space):"
echo "      supernet → generator → one ONNX model per budget, weights sliced from the supernet"
run="$out/run"
rm -rf "$run"
$sgnas search supernet --space cifar10 --data synthetic --samples 400 --epochs 1 --batch 16 \
	--max-train-batches 8 --max-val-batches 2 --out "$run" --seed 1
$sgnas search generator --supernet "$run/supernet.ckpt" --out "$run" --epochs 3 --batch 8 \
	--max-train-batches 10 --max-eval-batches 2 --seed 1
bin/sgnas-export --flops 90,100,110 --generator "$run/generator/best.pth" --supernet "$run/supernet.ckpt" \
	--out "$run/models" --measure --runs 20
echo "(a real run trains for hours: see docs/supernet.md and docs/generator.md)"

if [ ! -f "$gen" ]; then
	echo "(skipping steps 4-7: $gen not found; they need ../shared)"
	exit 0
fi

echo
echo "== 4. the authors' generator: the paper's SGNAS-A/B/C (raw argmax), then budgets guaranteed"
$sgnas generate --generator "$gen" --prior "$prior" --flops 275,320,365 --raw
$sgnas generate --generator "$gen" --prior "$prior" --flops 270:450:30

echo
echo "== 5. sgnas-export: three budgets → three ONNX models + manifest.json, checked and timed in ONNX Runtime"
bin/sgnas-export --flops 275,320,365 --generator "$gen" --prior "$prior" --out "$out/models" --check --measure --runs 30
ls -l "$out/models"    # manifest.json and the models: links into current/, the last complete run

echo
echo "== 6. latency budgets: a --quick profile of THIS machine (1-2 min), then models for milliseconds"
echo "      (SE, h-swish, 1000 classes, 1 thread: the options of step 5's models)"
prof="$out/device.json"
$sgnas profile build --space imagenet --se --act hswish --threads 1 --quick --out "$prof"
$sgnas profile show "$prof" | tee "$out/device.txt"
# two targets inside the profile's predicted range (the line "range  LO ms (...) … HI ms (slowest)")
read -r lo hi < <(awk '/^range/ {print $2, $(NF-2)}' "$out/device.txt")
lats=$(awk -v lo="$lo" -v hi="$hi" 'BEGIN {printf "%.1fms,%.1fms", lo + 0.35*(hi-lo), lo + 0.5*(hi-lo)}')
echo "profile range $lo..$hi ms → latency budgets $lats"
$sgnas generate --generator "$gen" --prior "$prior" --latency "$lats" --profile "$prof"
bin/sgnas-export --latency "$lats" --profile "$prof" --generator "$gen" --prior "$prior" --out "$out/latency-models" --measure --runs 30
grep -E '"(file|target|predicted_latency_ms|p50_ms)"' "$out/latency-models/manifest.json"

echo
echo "== 7. SGNAS-C with PyTorch weights: import, export, run the fixture input, compare with PyTorch's logits"
$sgnas export "$fixture/sgnas_c_arch.json" --weights "$fixture/sgnas_c_state_dict.pth" -o "$out/sgnas_c.onnx" --target flops:275
$sgnas export "$fixture/sgnas_c_arch.json" --weights "$fixture/sgnas_c_state_dict.pth" -o "$out/sgnas_c_plain.onnx" --no-optimize
$sgnas infer "$out/sgnas_c.onnx" --input "$fixture/sgnas_c_input.npy" --output "$out/sgnas_c_logits.npy" --reference "$fixture/sgnas_c_logits.npy"
$sgnas bench "$out/sgnas_c.onnx" "$out/sgnas_c_plain.onnx" --runs 30 --threads 1
echo
echo "demo outputs are in $out/"
