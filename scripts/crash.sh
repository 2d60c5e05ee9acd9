#!/usr/bin/env bash
# Runs the crash suite (internal/cli TestCrash) with the full count: azkeep
# killed with SIGKILL at random points of AZKEEP_CRASH_OPS (default 200)
# mixed operations per engine (az, native) and vault (file, Secret
# Service), against the emulator with single-use refresh tokens. Runs
# inside scripts/test.sh (real az, the private bus's Secret Service) and
# prints the table: engine, vault, operations, kills, losses (logins
# azkeep lost), in flight (kills while the endpoint's answer was on its way:
# the rotated token existed nowhere else), tokens in clear. The whole log goes to $AZKEEP_CRASH_LOG (default a temp file).
#
# Usage: scripts/crash.sh   (AZKEEP_CRASH_SEED=N repeats a run)
set -euo pipefail
cd "$(dirname "$0")/.."
export AZKEEP_CRASH_OPS=${AZKEEP_CRASH_OPS:-200}
export AZKEEP_CRASH_TABLE
AZKEEP_CRASH_TABLE=$(mktemp /tmp/azkeep-crash-table.XXXXXX)
log=${AZKEEP_CRASH_LOG:-$(mktemp /tmp/azkeep-crash-log.XXXXXX)}
trap 'rm -f "$AZKEEP_CRASH_TABLE"' EXIT
status=0
scripts/test.sh -run '^TestCrash$' -v -timeout 4h ./internal/cli >"$log" 2>&1 || status=$?
if [ -s "$AZKEEP_CRASH_TABLE" ]; then
	cat "$AZKEEP_CRASH_TABLE"
else
	tail -n 40 "$log" >&2
fi
grep -E '^\s+crash_test.go:[0-9]+: (seed|after)' "$log" | head -n 40 >&2 || true
echo "crash.sh: log in $log" >&2
exit "$status"
