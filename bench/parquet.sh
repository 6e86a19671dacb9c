#!/usr/bin/env bash
# NDJSON <-> Parquet: idbsync vs DuckDB on the same generated 1M-row file (ints, doubles,
# repeated strings, booleans, timestamps, a nested struct), same codec. Runs are
# interleaved (so a busy machine hurts every tool alike) and the best wall time of RUNS is
# kept, with that run's CPU time (user+sys, all threads). Prints both, the output size, and
# the ratios to DuckDB with one thread.
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

. bench/lib/best.sh   # keep KEY WALL_S CPU_S: the best run per key
# one run of a command (bash's time: real, user, sys)
timed() {
  local key=$1 out
  shift
  [ "${WALL[$key]:-}" = fail ] && return
  out=$( { TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>"$W/err.$key"; } 2>&1 ) || { WALL[$key]=fail; return; }
  set -- $out
  keep "$key" "$1" "$(awk -v u="$2" -v s="$3" 'BEGIN { print u + s }')"
}
# DuckDB timings come from inside node (engine time, without node's start-up)
duck() {
  local key=$1 out
  shift
  out=$(node bench/parquet_duck.mjs "$@" 1 2>"$W/err.$key") || { WALL[$key]=fail; return; }
  set -- $out
  keep "$key" "$1" "$2"
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

sec() { local v=$1; [ "$v" = fail ] && echo n/a || printf '%d.%03d' $((v / 1000)) $((v % 1000)); }
size() { [ -f "$1" ] && stat -c %s "$1" || echo n/a; }
ratio() { if [ "$1" = fail ] || [ "$2" = fail ] || [ -z "$1" ] || [ -z "$2" ]; then echo n/a; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; fi; }
row() { printf '%-19s %-26s %7s %6s %7s %6s %12s\n' "$@"; }
line() {   # task tool key base file
  local w=${WALL[$3]:-fail} c=${CPU[$3]:-fail}
  [ "$w" = fail ] && c=fail
  row "$1" "$2" "$(sec "$w")" "$(ratio "$w" "${WALL[$4]:-fail}")" "$(sec "$c")" "$(ratio "$c" "${CPU[$4]:-fail}")" "$(size "$5")"
}

echo
echo "rows: $ROWS   input: $(size "$W/in.ndjson") bytes   codec: $CODEC   best of $RUNS, interleaved"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
row task tool "wall s" "ratio" "cpu s" "ratio" "out bytes"
line "NDJSON -> Parquet" "idbsync (threads: CPUs)" w dw1 "$W/ours.parquet"
line "NDJSON -> Parquet" "idbsync --threads 1" w1 dw1 "$W/ours1.parquet"
line "NDJSON -> Parquet" "duckdb threads=1" dw1 dw1 "$W/duck1.parquet"
line "NDJSON -> Parquet" "duckdb threads=2" dw2 dw1 "$W/duck2.parquet"
line "Parquet -> NDJSON" "idbsync parquet cat" r dr1 "$W/ours.json"
line "Parquet -> NDJSON" "duckdb threads=1" dr1 dr1 "$W/duck1.json"
line "Parquet -> NDJSON" "duckdb threads=2" dr2 dr1 "$W/duck2.json"
