#!/usr/bin/env bash
# NDJSON <-> Parquet: idbsync vs DuckDB on the same generated 1M-row file (ints, doubles,
# repeated strings, booleans, timestamps, a nested struct), same codec. Runs are
# interleaved (so a busy machine hurts every tool alike) and the best wall time of RUNS
# is kept. Prints time, output size and the ratio to DuckDB with one thread.
# usage: bench/parquet.sh [ROWS] [CODEC]     (env: IDBSYNC_BIN, RUNS, KEEP=1 keeps the files)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
CODEC=${2:-snappy}
RUNS=${RUNS:-5}
BIN=${IDBSYNC_BIN:-build/idbsync}
[ -x "$BIN" ] || { echo "no idbsync binary at $BIN (build first or set IDBSYNC_BIN)" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/pqbench.XXXXXX")
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$W"' EXIT

node bench/parquet_gen.mjs "$ROWS" "$W/in.ndjson"

declare -A BEST
# runs a command once and keeps the best wall time (ms) under key $1 ("fail" if it fails)
timed() {
  local key=$1 t0 t1 t
  shift
  [ "${BEST[$key]:-}" = fail ] && return
  t0=$(date +%s%N)
  if ! "$@" >/dev/null 2>"$W/err.$key"; then BEST[$key]=fail; return; fi
  t1=$(date +%s%N)
  t=$(( (t1 - t0) / 1000000 ))
  if [ -z "${BEST[$key]:-}" ] || [ "$t" -lt "${BEST[$key]}" ]; then BEST[$key]=$t; fi
}
# DuckDB timings come from inside node (engine time, without node's start-up)
duck() {
  local key=$1 t
  shift
  t=$(node bench/parquet_duck.mjs "$@" 1 2>"$W/err.$key") || { BEST[$key]=fail; return; }
  t=$(awk -v s="$t" 'BEGIN { printf "%d", s * 1000 }')
  if [ -z "${BEST[$key]:-}" ] || [ "$t" -lt "${BEST[$key]}" ]; then BEST[$key]=$t; fi
}
cat_out() { "$BIN" parquet cat "$1" > "$2"; }

for _ in $(seq "$RUNS"); do
  timed w "$BIN" parquet write --compression "$CODEC" "$W/in.ndjson" "$W/ours.parquet"
  timed w1 "$BIN" parquet write --threads 1 --compression "$CODEC" "$W/in.ndjson" "$W/ours1.parquet"
  duck dw1 write 1 "$W/in.ndjson" "$W/duck1.parquet" "$CODEC"
  duck dw2 write 2 "$W/in.ndjson" "$W/duck2.parquet" "$CODEC"
done
for _ in $(seq "$RUNS"); do
  timed r cat_out "$W/ours.parquet" "$W/ours.json"
  duck dr1 read 1 "$W/ours.parquet" "$W/duck1.json"
  duck dr2 read 2 "$W/ours.parquet" "$W/duck2.json"
done

sec() { local v=${BEST[$1]:-fail}; [ "$v" = fail ] && echo n/a || printf '%d.%03d' $((v / 1000)) $((v % 1000)); }
size() { [ -f "$1" ] && stat -c %s "$1" || echo n/a; }
ratio() {
  local a=${BEST[$1]:-fail} b=${BEST[$2]:-fail}
  if [ "$a" = fail ] || [ "$b" = fail ]; then echo n/a; else awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }'; fi
}
row() { printf '%-19s %-27s %8s %12s %9s\n' "$@"; }

echo
echo "rows: $ROWS   input: $(size "$W/in.ndjson") bytes   codec: $CODEC   best of $RUNS, interleaved"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
row task tool "time s" "out bytes" "vs duck1"
row "NDJSON -> Parquet" "idbsync (threads: CPUs)" "$(sec w)" "$(size "$W/ours.parquet")" "$(ratio w dw1)"
row "NDJSON -> Parquet" "idbsync --threads 1" "$(sec w1)" "$(size "$W/ours1.parquet")" "$(ratio w1 dw1)"
row "NDJSON -> Parquet" "duckdb threads=1" "$(sec dw1)" "$(size "$W/duck1.parquet")" 1.00
row "NDJSON -> Parquet" "duckdb threads=2" "$(sec dw2)" "$(size "$W/duck2.parquet")" "$(ratio dw2 dw1)"
row "Parquet -> NDJSON" "idbsync parquet cat" "$(sec r)" "$(size "$W/ours.json")" "$(ratio r dr1)"
row "Parquet -> NDJSON" "duckdb threads=1" "$(sec dr1)" "$(size "$W/duck1.json")" 1.00
row "Parquet -> NDJSON" "duckdb threads=2" "$(sec dr2)" "$(size "$W/duck2.json")" "$(ratio dr2 dr1)"
