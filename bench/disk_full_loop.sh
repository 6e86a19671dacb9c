#!/usr/bin/env bash
# Runs tests/faults/disk_full.test.mjs N times (default 30) against IDBSYNC_BIN and counts the
# runs that failed and the restarts on the full disk that died by a signal (the SIGBUS of the
# WAL index, benchmarks.md "Disk full"). HOGS=2 adds that many busy loops for the duration.
# Needs root (the test mounts a loop ext4 image). Prints one line per run and a summary.
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-30}
bin=${IDBSYNC_BIN:-$PWD/build/idbsync}
hogs=()
for _ in $(seq "${HOGS:-0}"); do (while :; do :; done) & hogs+=($!); done
trap '[ ${#hogs[@]} -gt 0 ] && kill "${hogs[@]}" 2>/dev/null' EXIT
out=$(mktemp)
fail=0 sig=0
for i in $(seq "$n"); do
  if IDBSYNC_BIN=$bin IDBSYNC_SRC=$PWD timeout 600 node --test --test-reporter=spec tests/faults/disk_full.test.mjs >"$out" 2>&1; then
    r=pass
  else
    r=FAIL; fail=$((fail + 1))
  fi
  if grep -q "restart on a full disk failed.*signal SIG" "$out"; then sig=$((sig + 1)); r="$r (restart died: $(grep -o 'signal SIG[A-Z]*' "$out" | head -1))"; fi
  echo "run $i: $r, load $(cut -d' ' -f1 /proc/loadavg)"
done
rm -f "$out"
echo "$n runs: $((n - fail)) passed, $fail failed, $sig restarts died by a signal; load $(cut -d' ' -f1-3 /proc/loadavg), hogs ${HOGS:-0}, $(date -u +%FT%TZ)"
