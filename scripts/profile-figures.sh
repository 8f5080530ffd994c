#!/usr/bin/env bash
# Device-profile figures of issue 10 / docs/profiles.md, on THIS machine (run it
# on a quiet one): for 1 and 2 threads, a full ImageNet profile (SE, h-swish,
# batch 1) and a --quick one, each with its build time, then `profile check`
# on 100 held-out models (prediction vs measurement beside the noise
# ceiling, plus an SVG scatter), the --quick fit's own error against the
# full table, the prediction speed and the interleaving (spinning) check.
# Usage: bash scripts/profile-figures.sh [OUT_DIR]   (default profiles-out/)
#        THREADS="1 2" MODELS=100 SPACE=imagenet to change the sweep.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-profiles-out}
mkdir -p "$out"
go build -o bin/sgnas ./cmd/sgnas
go build -o bin/sgnas-export ./cmd/sgnas-export
shared=${SGNAS_SHARED:-../shared}
sg=bin/sgnas
space=${SPACE:-imagenet}
models=${MODELS:-100}
for t in ${THREADS:-1 2}; do
	full="$out/${space}-t$t.json"
	quick="$out/${space}-t$t-quick.json"
	echo "=== $space, $t thread(s): full profile"
	$sg profile build --space "$space" --threads "$t" --out "$full"
	echo "=== $space, $t thread(s): --quick profile"
	$sg profile build --space "$space" --threads "$t" --quick --out "$quick"
	echo "=== check of the full profile ($models held-out models)"
	$sg profile check --profile "$full" --models "$models" --seed 1 --plot "$out/check-${space}-t$t.svg" \
		| tee "$out/check-${space}-t$t.txt"
	echo "=== check of the --quick profile"
	$sg profile check --profile "$quick" --models "$models" --seed 2 --plot "$out/check-${space}-t$t-quick.svg" \
		| tee "$out/check-${space}-t$t-quick.txt"
	echo "=== latency budgets: 6 targets across the range of the authors' generator, measured (--measure)"
	$sg profile show "$full" >"$out/show-${space}-t$t.txt"
	read -r lo hi < <(awk '/^range/ {print $2, $(NF-2)}' "$out/show-${space}-t$t.txt")
	lats=$(awk -v lo="$lo" -v hi="$hi" 'BEGIN {for (i = 0; i < 6; i++) printf "%s%.2fms", (i ? "," : ""), lo + (0.25 + 0.06*i)*(hi-lo)}')
	rm -rf "$out/budgets-t$t"
	bin/sgnas-export --latency "$lats" --profile "$full" --generator "$shared/pretrained/imagenet/best_avg.pth" \
		--prior "$shared/pretrained/imagenet/prior_pool.json" --out "$out/budgets-t$t" --measure --runs 50 >/dev/null
	/usr/bin/python3 - "$out/budgets-t$t/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
ok = 0
for e in m["models"]:
    t, p, meas = e["target"], e["predicted_latency_ms"], e["measured_latency"]["p50_ms"]
    inwin = 0.97 * t <= p <= t
    ok += abs(meas - t) / t <= 0.10
    print(f"  T {t:7.2f} ms  predicted {p:7.3f} ({'in' if inwin else 'OUT OF'} [0.97T, T])  measured p50 {meas:7.3f}  {100*(meas-t)/t:+6.1f}% of T")
print(f"  {ok}/{len(m['models'])} measured within 10% of T")
PY
	echo "=== the --quick fit alone (same measurements as the full table)"
	$sg profile compare --simulate-quick "$full"
	echo "=== --quick profile vs full profile (two builds: fit error + build-to-build noise)"
	$sg profile compare "$quick" "$full"
done
echo "=== predicting 1,000 architectures"
go test ./profiles -run '^$' -bench Predict1000 | grep Benchmark
echo "=== interleaved vs alone (ORT thread spinning)"
bash scripts/bench-spin.sh
