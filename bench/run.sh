#!/usr/bin/env bash
# bench/run.sh: measure azkeep against the emulator and print one table of
# medians and ratios, every figure taken side by side in this one run
# (docs/performance.md holds a copy and says what each row means).
#
#   bench/run.sh                      # 9 samples per row, agent idle 60 s
#   AZKEEP_BENCH_N=21 bench/run.sh    # more samples
#   AZKEEP_BENCH_FLOOR=0 bench/run.sh # whole-process rows only
#
# The first table is whole azkeep processes on the real vaults (the Secret
# Service and pass of scripts/test.sh's private session, the file vault),
# with every target of docs/performance.md and its verdict; the second the
# in-process floor analysis.
#
# Needs Go, the real Azure CLI (az 2.45) on PATH or in AZKEEP_AZ, and node
# and npm (the real @azure/identity installs into a cache dir outside the
# repository). Nothing leaves 127.0.0.1: az and azkeep talk to the
# in-process emulator through its proxy. Takes about three minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v "${AZKEEP_AZ:-az}" >/dev/null; then
	echo "bench/run.sh: the Azure CLI (az) is not installed; install azure-cli 2.45 or set AZKEEP_AZ" >&2
	exit 1
fi
out=$(mktemp)
proc=$(mktemp)
log=$(mktemp)
trap 'rm -f "$out" "$proc" "$log"' EXIT
if ! AZKEEP_BENCH=1 AZKEEP_BENCH_OUT_PROCESS="$proc" AZKEEP_BENCH_N="${AZKEEP_BENCH_N:-9}" \
	scripts/test.sh -run '^TestProcessReport$' ./bench/ >"$log" 2>&1; then
	grep -v 'refused CONNECT' "$log" >&2
	exit 1
fi
if [ "${AZKEEP_BENCH_FLOOR:-1}" != 0 ] && ! AZKEEP_BENCH=1 AZKEEP_BENCH_OUT="$out" \
	AZKEEP_BENCH_N="${AZKEEP_BENCH_N:-9}" AZKEEP_BENCH_IDLE="${AZKEEP_BENCH_IDLE:-60s}" \
	go test -count=1 -run '^TestReport$' -timeout 30m ./bench/ >"$log" 2>&1; then
	grep -v 'refused CONNECT' "$log" >&2
	exit 1
fi
echo "azkeep $(git describe --always --dirty 2>/dev/null || echo unknown), $(az version --query '"azure-cli"' -o tsv 2>/dev/null | sed 's/^/az /')"
cat "$proc"
[ -s "$out" ] && { echo; echo "in-process floor analysis:"; cat "$out"; }
