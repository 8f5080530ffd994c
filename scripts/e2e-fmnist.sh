#!/usr/bin/env bash
# e2e-fmnist.sh — the whole search on a real dataset, Fashion-MNIST (Debian's
# dataset-fashion-mnist), on this machine's CPU:
#   1. unified supernet (CIFAR-10 space, 28×28 grey padded to 32×32, 3 channels)
#   2. architecture generator against it (LUT MFLOPs 80..120)
#   3. architectures for three budgets (BUDGETS, MFLOPs)
#   4. each trained standalone from inherited supernet weights (--init-from-supernet),
#      and the first one also from scratch (same seed, same budget: the inheritance curve)
#   5. exported (RUN/arch.json + best.safetensors) and evaluated by `sgnas eval` in ONNX
#      Runtime on the 10,000 test images
# Every stage resumes where it stopped (rerun the script after Ctrl-C); wall-clock
# times go to OUT/times.txt, the per-epoch curves to each run's log.jsonl, and a summary
# to OUT/summary.txt.
# Usage: bash scripts/e2e-fmnist.sh [OUT]   (default e2e-fmnist/)
# Env: SUPERNET_EPOCHS (4) GEN_EPOCHS (10) TRAIN_EPOCHS (30) BUDGETS ("80 90 100")
#      THREADS (2) BATCH (64) TRAIN_LR (0.05) SCRATCH (1: also train BUDGETS' first from scratch)
#      SMOKE=1: a few batches per stage (checks the plumbing in a few minutes; accuracies meaningless)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-e2e-fmnist}
mkdir -p "$out"
sg=bin/sgnas
[ -x "$sg" ] || go build -o "$sg" ./cmd/sgnas
se=${SUPERNET_EPOCHS:-4} ge=${GEN_EPOCHS:-10} te=${TRAIN_EPOCHS:-30}
budgets=${BUDGETS:-80 90 100} threads=${THREADS:-2} batch=${BATCH:-64} lr=${TRAIN_LR:-0.05}
common=(--threads "$threads" --workers 1)
sx=() gx=() tx=() ex=()
if [ "${SMOKE:-0}" = 1 ]; then
	sx=(--max-train-batches 3 --max-val-batches 2) gx=(--max-train-batches 2 --max-eval-batches 1)
	tx=(--train-samples 128 --val-samples 64) ex=(--limit 64)
fi
stamp() { echo "$(date -u +%FT%TZ) $*" | tee -a "$out/times.txt" >&2; }
timed() { # NAME CMD...: runs CMD, logs its wall-clock time
	local name=$1 t0; shift
	t0=$(date +%s)
	stamp "start $name"
	"$@"
	stamp "done  $name in $(($(date +%s) - t0)) s"
}
resume_flag() { [ -e "$1" ] && echo --resume || true; }

# 1. supernet (the stabilisers of docs/supernet.md for short schedules: warm-up, zero-init residual)
if ! grep -q "done  supernet" "$out/times.txt" 2>/dev/null; then
	timed supernet $sg search supernet --space cifar10 --data fashion-mnist --epochs "$se" --batch "$batch" \
		--lr 0.02 --warmup 200 --zero-init-residual --out "$out/supernet" "${common[@]}" --log-every 100 \
		"${sx[@]}" $(resume_flag "$out/supernet/supernet.ckpt")
fi
# 2. generator
gen=$out/generator/generator/best.pth
if ! grep -q "done  generator" "$out/times.txt" 2>/dev/null; then
	timed generator $sg search generator --supernet "$out/supernet/supernet.ckpt" --out "$out/generator" \
		--epochs "$ge" --batch "$batch" --threads "$threads" "${gx[@]}" $(resume_flag "$out/generator/generator/last.pth")
fi
[ -f "$gen" ] || gen=$out/generator/generator/final.pth
# 3.–5. per budget: train from inherited weights (and from scratch), export, evaluate
train_one() { # NAME FLOPS [--init-from-supernet CKPT]
	local name=$1 flops=$2; shift 2
	local run=$out/train-$name
	if ! grep -q "done  train-$name" "$out/times.txt" 2>/dev/null; then
		timed "train-$name" $sg train --space cifar10 --flops "$flops" --generator "$gen" --data fashion-mnist \
			--epochs "$te" --batch "$batch" --lr "$lr" --out "$run" "${common[@]}" "${tx[@]}" "$@" $(resume_flag "$run/last.ckpt")
	fi
	$sg export "$run/arch.json" --weights "$run/best.safetensors" -o "$out/$name.onnx" >"$out/$name.export.txt"
	timed "eval-$name" $sg eval "$out/$name.onnx" --data fashion-mnist --threads "$threads" "${ex[@]}" --json >"$out/$name.eval.json"
}
first=1
for b in $budgets; do
	train_one "inherit-$b" "$b" --init-from-supernet "$out/supernet/supernet.ckpt"
	if [ "$first" = 1 ] && [ "${SCRATCH:-1}" = 1 ]; then
		train_one "scratch-$b" "$b"
	fi
	first=0
done
/usr/bin/python3 - "$out" $budgets >"$out/summary.txt" <<'PY'
import json, os, sys
out, budgets = sys.argv[1], sys.argv[2:]
def log(run):
    p = os.path.join(out, run, "log.jsonl")
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []
for name in [f"inherit-{b}" for b in budgets] + [f"scratch-{budgets[0]}"]:
    p = os.path.join(out, name + ".eval.json")
    if not os.path.exists(p):
        continue
    e = json.load(open(p))
    curve = " ".join(f"{100*m.get('val_top1', 0):.1f}" for m in log("train-" + name))
    flops = next((l.split(None, 1)[1].strip() for l in open(os.path.join(out, name + ".export.txt")) if l.strip().startswith("MFLOPs")), "?")
    print(f"{name:14s} MFLOPs {flops}\n{'':14s} sgnas eval top-1 {100*e['top1']:.2f} %  top-5 {100*e['top5']:.2f} %  ({e['images']} test images)\n{'':14s} per-epoch validation top-1 (engine): {curve}")
PY
cat "$out/summary.txt"
