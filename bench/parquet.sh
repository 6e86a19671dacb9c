#!/usr/bin/env bash
# NDJSON <-> Parquet: idbsync vs DuckDB on the same generated data sets, same codec, in one run.
# For each data set (bench/parquet_gen.mjs shapes) and codec it prints
#   - write time at 1 and at 2 threads beside DuckDB's at the same thread count, and the read
#     (idbsync parquet cat vs DuckDB reading idbsync's file), best wall time of RUNS with that
#     run's CPU time (user+sys, all threads); runs are interleaved so a busy machine hurts
#     every tool alike;
#   - size per column and total: idbsync compat, idbsync modern, DuckDB (bench/parquet_cols.mjs;
#     '!' marks a column larger than DuckDB's);
# and a summary line per data set and codec at the end.
# usage: bench/parquet.sh [ROWS] [CODECS] [SETS]
#   ROWS    rows of mixed and orders (default 1000000); wide gets 3/10 of it, text 6/100
#   CODECS  default "snappy zstd gzip lz4_raw"      SETS  default "mixed orders wide text"
#   env: IDBSYNC_BIN, RUNS (3), KEEP=1 keeps the files, READ=0 skips the read timings
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
CODECS=${2:-snappy zstd gzip lz4_raw}
SETS=${3:-mixed orders wide text}
RUNS=${RUNS:-3}
BIN=${IDBSYNC_BIN:-build/idbsync}
[ -x "$BIN" ] || { echo "no idbsync binary at $BIN (build first or set IDBSYNC_BIN)" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/pqbench.XXXXXX")
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$W"' EXIT

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

sec() { local v=$1; [ "$v" = fail ] && echo n/a || printf '%d.%03d' $((v / 1000)) $((v % 1000)); }
size() { [ -f "$1" ] && stat -c %s "$1" || echo n/a; }
ratio() { if [ "$1" = fail ] || [ "$2" = fail ] || [ -z "$1" ] || [ -z "$2" ]; then echo n/a; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; fi; }
row() { printf '%-19s %-22s %7s %6s %7s %6s %12s\n' "$@"; }
line() {   # task tool key base file
  local w=${WALL[$3]:-fail} c=${CPU[$3]:-fail}
  [ "$w" = fail ] && c=fail
  row "$1" "$2" "$(sec "$w")" "$(ratio "$w" "${WALL[$4]:-fail}")" "$(sec "$c")" "$(ratio "$c" "${CPU[$4]:-fail}")" "$(size "$5")"
}
rows_of() {
  case $1 in
    wide) echo $((ROWS * 3 / 10)) ;;
    text) echo $((ROWS * 6 / 100)) ;;
    *) echo "$ROWS" ;;
  esac
}

echo "$("$BIN" --version 2>/dev/null | head -1) vs DuckDB $(node -e "import('@duckdb/node-api').then(async (m) => { const c = await (await m.DuckDBInstance.create(':memory:')).connect(); console.log((await c.runAndReadAll('SELECT version()')).getRows()[0][0]); })")"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); RUNS=$RUNS"
SUMMARY=()
for set in $SETS; do
  n=$(rows_of "$set")
  in="$W/$set.ndjson"
  node bench/parquet_gen.mjs "$n" "$in" "$set"
  for codec in $CODECS; do
    unset WALL CPU
    declare -A WALL CPU
    p="$W/$set.$codec"
    for _ in $(seq "$RUNS"); do
      timed w2 "$BIN" parquet write --threads 2 --compression "$codec" "$in" "$p.ours.parquet"
      timed w1 "$BIN" parquet write --threads 1 --compression "$codec" "$in" "$p.ours1.parquet"
      duck dw1 write 1 "$in" "$p.duck1.parquet" "$codec"
      duck dw2 write 2 "$in" "$p.duck.parquet" "$codec"
    done
    "$BIN" parquet write --profile modern --compression "$codec" "$in" "$p.modern.parquet" 2>"$W/err.modern" || true
    if [ "${READ:-1}" = 1 ]; then
      for _ in $(seq "$RUNS"); do
        timed r cat_out "$p.ours.parquet" "$W/ours.json"
        duck dr1 read 1 "$p.ours.parquet" "$W/duck1.json"
        duck dr2 read 2 "$p.ours.parquet" "$W/duck2.json"
      done
    fi
    echo
    echo "== $set: $n rows, $(size "$in") bytes of NDJSON, codec $codec, best of $RUNS; load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "   (ratio: to DuckDB with the same threads; reads: to DuckDB threads=1)"
    row task tool "wall s" "ratio" "cpu s" "ratio" "out bytes"
    line "NDJSON -> Parquet" "idbsync (threads 2)" w2 dw2 "$p.ours.parquet"
    line "NDJSON -> Parquet" "idbsync --threads 1" w1 dw1 "$p.ours1.parquet"
    line "NDJSON -> Parquet" "duckdb threads=1" dw1 dw1 "$p.duck1.parquet"
    line "NDJSON -> Parquet" "duckdb threads=2" dw2 dw2 "$p.duck.parquet"
    if [ "${READ:-1}" = 1 ]; then
      line "Parquet -> NDJSON" "idbsync parquet cat" r dr1 "$W/ours.json"
      line "Parquet -> NDJSON" "duckdb threads=1" dr1 dr1 "$W/duck1.json"
      line "Parquet -> NDJSON" "duckdb threads=2" dr2 dr1 "$W/duck2.json"
    fi
    echo "size per column (bytes; DuckDB: its threads=2 file):"
    cols=$(node bench/parquet_cols.mjs "idbsync compat=$p.ours.parquet" "idbsync modern=$p.modern.parquet" "duckdb=$p.duck.parquet")
    echo "$cols"
    larger=$(echo "$cols" | grep -v '^TOTAL' | awk '/!/ { n++; l = l " " $1 } END { print n + 0 l }')
    tot=$(echo "$cols" | awk '/^TOTAL/ { print $(NF - 1), $NF }')
    SUMMARY+=("$(printf '%-7s %-8s write 1thr %5s 2thr %5s  read %5s  size compat/modern vs duckdb %s  columns larger %s' \
      "$set" "$codec" "$(ratio "${WALL[w1]:-fail}" "${WALL[dw1]:-fail}")" "$(ratio "${WALL[w2]:-fail}" "${WALL[dw2]:-fail}")" \
      "$(ratio "${WALL[r]:-fail}" "${WALL[dr1]:-fail}")" "$tot" "$larger")")
    rm -f "$W/ours.json" "$W/duck1.json" "$W/duck2.json"
  done
  [ "${KEEP:-0}" = 1 ] || rm -f "$in" "$W/$set".*
done
echo
echo "summary (ratios idbsync/DuckDB; write at the same threads, read vs DuckDB threads=1; sizes per file):"
printf '%s\n' "${SUMMARY[@]}"
