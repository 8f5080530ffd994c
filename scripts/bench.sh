#!/usr/bin/env bash
# Runs every scripts/bench-*.sh in turn (make bench).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for s in scripts/bench-*.sh; do
	echo "=== $s"
	bash "$s" || { echo "!!! $s failed"; status=1; }
done
exit $status
