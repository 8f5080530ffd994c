#!/usr/bin/env bash
# Runs every native Go fuzz target (func FuzzXxx) of the module for FUZZTIME
# each (default 30s). Targets are discovered per package with
# `go test -list '^Fuzz'`, so new ones are picked up without editing this file.
# New crashers are written by `go test` under <pkg>/testdata/fuzz/<FuzzXxx>/;
# commit them as regression inputs (plain `go test` replays them).
#   FUZZTIME=2m bash scripts/fuzz.sh            # every target
#   bash scripts/fuzz.sh ./weights/ ./models/    # some packages
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZPAR=${FUZZPAR:-}   # e.g. FUZZPAR=2 to bound the workers on a shared machine
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)
par=()
[ -z "$FUZZPAR" ] || par=(-parallel "$FUZZPAR")
failed=()
n=0
for pkg in $($GO list "${pkgs[@]}"); do
	dir=$($GO list -f '{{.Dir}}' "$pkg")
	# Only packages with test files can hold fuzz targets.
	ls "$dir"/*_test.go >/dev/null 2>&1 || continue
	grep -q '^func Fuzz' "$dir"/*_test.go || continue
	for target in $($GO test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		n=$((n + 1))
		echo "== $pkg $target ($FUZZTIME)"
		if ! $GO test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "${par[@]}"; then
			failed+=("$pkg $target")
		fi
	done
done
echo "fuzz: $n targets run, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
	printf '  FAILED %s\n' "${failed[@]}"
	echo "crashers are under <pkg>/testdata/fuzz/<target>/; fix them and commit the inputs as regression tests"
	exit 1
fi
