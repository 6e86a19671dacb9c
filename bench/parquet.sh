#!/usr/bin/env bash
# NDJSON <-> Parquet: idbsync vs DuckDB on the same generated 1M-row file (ints, doubles,
# repeated strings, booleans, timestamps, a nested struct), same codec. Prints a table of
# best-of-N wall times, output sizes and the ratio to DuckDB with one thread.
# usage: bench/parquet.sh [ROWS] [CODEC]     (env: IDBSYNC_BIN, RUNS, KEEP=1 keeps the files)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
CODEC=${2:-snappy}
RUNS=${RUNS:-3}
BIN=${IDBSYNC_BIN:-build/idbsync}
[ -x "$BIN" ] || { echo "no idbsync binary at $BIN (build first or set IDBSYNC_BIN)" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/pqbench.XXXXXX")
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$W"' EXIT

node bench/parquet_gen.mjs "$ROWS" "$W/in.ndjson"

# best wall time of RUNS runs of a command, in seconds (prints "n/a" if it fails)
best() {
  local b="" t0 t1 t
  for _ in $(seq "$RUNS"); do
    t0=$(date +%s%N)
    "$@" >/dev/null 2>"$W/err" || { echo n/a; return; }
    t1=$(date +%s%N)
    t=$(( (t1 - t0) / 1000000 ))
    if [ -z "$b" ] || [ "$t" -lt "$b" ]; then b=$t; fi
  done
  printf '%d.%03d\n' $((b / 1000)) $((b % 1000))
}
size() { [ -f "$1" ] && stat -c %s "$1" || echo n/a; }
ratio() { if [ "$1" = n/a ] || [ "$2" = n/a ]; then echo n/a; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a / b }'; fi; }

ours_w=$(best "$BIN" parquet write --compression "$CODEC" "$W/in.ndjson" "$W/ours.parquet")
ours_w1=$(best "$BIN" parquet write --threads 1 --compression "$CODEC" "$W/in.ndjson" "$W/ours1.parquet")
duck_w1=$(node bench/parquet_duck.mjs write 1 "$W/in.ndjson" "$W/duck1.parquet" "$CODEC" "$RUNS")
duck_w2=$(node bench/parquet_duck.mjs write 2 "$W/in.ndjson" "$W/duck2.parquet" "$CODEC" "$RUNS")
cat_out() { "$BIN" parquet cat "$1" > "$W/ours.json"; }
ours_r=$(best cat_out "$W/ours.parquet")
duck_r1=$(node bench/parquet_duck.mjs read 1 "$W/ours.parquet" "$W/duck1.json" "$RUNS")
duck_r2=$(node bench/parquet_duck.mjs read 2 "$W/ours.parquet" "$W/duck2.json" "$RUNS")

echo
echo "rows: $ROWS   input: $(size "$W/in.ndjson") bytes   codec: $CODEC   best of $RUNS"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-24s %-26s %9s %12s %9s\n' task tool "time s" "out bytes" "vs duck1"
printf '%-24s %-26s %9s %12s %9s\n' "NDJSON -> Parquet" "idbsync (default threads)" "$ours_w" "$(size "$W/ours.parquet")" "$(ratio "$ours_w" "$duck_w1")"
printf '%-24s %-26s %9s %12s %9s\n' "NDJSON -> Parquet" "idbsync --threads 1" "$ours_w1" "$(size "$W/ours1.parquet")" "$(ratio "$ours_w1" "$duck_w1")"
printf '%-24s %-26s %9s %12s %9s\n' "NDJSON -> Parquet" "duckdb threads=1" "$duck_w1" "$(size "$W/duck1.parquet")" 1.00
printf '%-24s %-26s %9s %12s %9s\n' "NDJSON -> Parquet" "duckdb threads=2" "$duck_w2" "$(size "$W/duck2.parquet")" "$(ratio "$duck_w2" "$duck_w1")"
printf '%-24s %-26s %9s %12s %9s\n' "Parquet -> NDJSON" "idbsync parquet cat" "$ours_r" "$(size "$W/ours.json")" "$(ratio "$ours_r" "$duck_r1")"
printf '%-24s %-26s %9s %12s %9s\n' "Parquet -> NDJSON" "duckdb threads=1" "$duck_r1" "$(size "$W/duck1.json")" 1.00
printf '%-24s %-26s %9s %12s %9s\n' "Parquet -> NDJSON" "duckdb threads=2" "$duck_r2" "$(size "$W/duck2.json")" "$(ratio "$duck_r2" "$duck_r1")"
