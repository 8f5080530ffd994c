#!/usr/bin/env bash
# ORT thread spinning and interleaved benchmarks: one large ImageNet model
# timed alone and interleaved with two others, spinning on and off, at 1 and
# 2 threads. "interleaved/alone" is the ratio of its p50s (≈ 1 means the
# interleaving protocol is sound). See docs/infer.md.
set -euo pipefail
cd "$(dirname "$0")/.."
go test ./infer -run '^$' -bench Spinning -benchtime 1x -count "${COUNT:-1}" | grep -E 'Benchmark|ok|FAIL'
