#!/usr/bin/env bash
# make demo: the main job end to end, as far as sgnas goes today.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo-out}
mkdir -p "$out"
sgnas=bin/sgnas

echo "== 1. sample architectures of both search spaces and inspect them"
$sgnas arch random --space imagenet --seed 1 --flops 320 -o "$out/imagenet_320.json"
$sgnas arch info "$out/imagenet_320.json" --se --act hswish
$sgnas arch random --space cifar10 --seed 2 --flops 100 -o "$out/cifar10_100.json"
$sgnas arch info "$out/cifar10_100.json" --json > "$out/cifar10_100.info.json"
echo "wrote $out/cifar10_100.info.json"
