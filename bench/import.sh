#!/usr/bin/env bash
# Lake -> IndexedDB import throughput: one Parquet file of ROWS rows written by DuckDB (ints,
# doubles, strings, booleans, a timestamp, a date, a sparse string) imported into a fresh store
#   - in-process:     idbsync import --data DIR            (no server)
#   - over HTTP:      idbsync import --server URL          (upload, imported by a running serve)
#   - inbox:          the file + _SUCCESS dropped into LAKE/db/_inbox/store/ of a running serve
# next to the peer: DuckDB loading the same file into a table of its own database file
# (CREATE TABLE AS + CHECKPOINT, inside node). Every idbsync mode ends with the rows durable
# (fsynced) in the SQLite state. The servers run with --no-lake unless LAKE=1: the lake is written
# after the import, asynchronously, and would compete for the CPUs (see docs/benchmarks.md).
# Modes are interleaved run by run; the best wall time of RUNS is kept with that run's CPU time
# (user+sys of the CLI plus, for server modes, of the server process during the import).
# usage: bench/import.sh [ROWS]     (env: IDBSYNC_BIN, RUNS=3, LAKE=1, KEEP=1 keeps the files)
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
RUNS=${RUNS:-3}
BIN=${IDBSYNC_BIN:-build/idbsync}
[ -x "$BIN" ] || { echo "no idbsync binary at $BIN (build first or set IDBSYNC_BIN)" >&2; exit 1; }
BIN=$(realpath "$BIN")
W=$(mktemp -d "${TMPDIR:-/tmp}/impbench.XXXXXX")
SRV_PID=
cleanup() {
  [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
  [ "${KEEP:-0}" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT
LAKEARG=(--no-lake)
[ "${LAKE:-0}" = 1 ] && LAKEARG=()
TICK=$(getconf CLK_TCK)

node bench/import.mjs gen "$ROWS" "$W/in.parquet"

. bench/lib/best.sh   # keep KEY WALL_S CPU_S: the best run per key
proc_cpu() { awk -v t="$TICK" '{ printf "%.3f", ($14 + $15) / t }' "/proc/$1/stat"; }

# start `idbsync serve` on a free port with fresh dirs; sets SRV_PID and URL
serve() {
  local d=$1
  shift
  rm -rf "$d"
  mkdir -p "$d"
  "$BIN" serve --data "$d/data" --lake "$d/lake" --listen 127.0.0.1:0 "${LAKEARG[@]}" "$@" >"$d/out" 2>"$d/err" &
  SRV_PID=$!
  for _ in $(seq 200); do
    URL=$(sed -n 's/^idbsync: listening on \(http:[^ ]*\).*/\1/p' "$d/out")
    [ -n "$URL" ] && return 0
    sleep 0.05
  done
  echo "server did not start: $(cat "$d/err")" >&2
  exit 1
}
stop() { kill "$SRV_PID"; wait "$SRV_PID" || true; SRV_PID=; }

run_data() {
  local out
  rm -rf "$W/d"
  out=$( { TIMEFORMAT='%R %U %S'; time "$BIN" import --db bench --store t --key id --data "$W/d" "$W/in.parquet" >"$W/out.data" 2>"$W/err.data"; } 2>&1 ) \
    || { echo "import --data failed: $(cat "$W/err.data")" >&2; exit 1; }
  set -- $out
  keep data "$1" "$(awk -v u="$2" -v s="$3" 'BEGIN { print u + s }')"
}

run_server() {
  local out c0 c1
  serve "$W/s" --no-inbox
  c0=$(proc_cpu "$SRV_PID")
  out=$( { TIMEFORMAT='%R %U %S'; time "$BIN" import --db bench --store t --key id --server "$URL" "$W/in.parquet" >"$W/out.server" 2>"$W/err.server"; } 2>&1 ) \
    || { echo "import --server failed: $(cat "$W/err.server")" >&2; exit 1; }
  c1=$(proc_cpu "$SRV_PID")
  stop
  set -- $out
  keep server "$1" "$(awk -v u="$2" -v s="$3" -v a="$c0" -v b="$c1" 'BEGIN { print u + s + b - a }')"
}

run_inbox() {
  local inbox t c0 c1
  serve "$W/i" --inbox-interval 50 --inbox-settle 0
  inbox="$W/i/lake/bench/_inbox/t"
  mkdir -p "$inbox"
  echo '{"key":"id"}' >"$inbox/_import.json"
  cp "$W/in.parquet" "$inbox/.part-0.parquet"
  mv "$inbox/.part-0.parquet" "$inbox/part-0.parquet"
  c0=$(proc_cpu "$SRV_PID")
  # the waiter writes _SUCCESS and times until every row is committed and the file is in _done
  t=$(node bench/import.mjs wait "$URL" bench t "$ROWS" "$inbox/_SUCCESS" "$inbox/_done/part-0.parquet" 600) \
    || { echo "inbox import failed: $(tail -5 "$W/i/err")" >&2; exit 1; }
  c1=$(proc_cpu "$SRV_PID")
  stop
  keep inbox "$t" "$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')"
}

run_duck() {   # key threads
  local out
  out=$(node bench/import.mjs load "$W/in.parquet" "$W/duck.db" "$2" 2>"$W/err.$1") || { WALL[$1]=fail; return; }
  set -- "$1" $out
  keep "$1" "$2" "$3"
}

for _ in $(seq "$RUNS"); do
  run_data
  run_server
  run_inbox
  run_duck duck1 1
  run_duck duck2 2
done
grep -q "imported $ROWS rows" "$W/out.data" || { echo "unexpected import output: $(cat "$W/out.data")" >&2; exit 1; }
grep -q "imported $ROWS rows" "$W/out.server" || { echo "unexpected import output: $(cat "$W/out.server")" >&2; exit 1; }

sec() { local v=$1; [ "$v" = fail ] && echo n/a || printf '%d.%03d' $((v / 1000)) $((v % 1000)); }
rate() { [ "$1" = fail ] && echo n/a || awk -v n="$ROWS" -v ms="$1" 'BEGIN { printf "%d", n / (ms / 1000) }'; }
ratio() { if [ "$1" = fail ] || [ "$2" = fail ]; then echo n/a; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; fi; }
row() { printf '| %-44s | %9s | %7s | %7s | %6s |\n' "$@"; }
line() {   # label key
  local w=${WALL[$2]:-fail} c=${CPU[$2]:-fail}
  [ "$w" = fail ] && c=fail
  row "$1" "$(rate "$w")" "$(sec "$w")" "$(sec "$c")" "$(ratio "$w" "${WALL[duck1]:-fail}")"
}

echo
echo "rows: $ROWS   file: $(stat -c %s "$W/in.parquet") bytes (DuckDB, snappy)   best of $RUNS, interleaved   server lake: $([ "${LAKE:-0}" = 1 ] && echo on || echo off)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
row "import" "rows/s" "wall s" "CPU s" "vs DuckDB 1 thr"
row "---" "---" "---" "---" "---"
line "idbsync import --data DIR (in-process)" data
line "idbsync import --server URL (upload)" server
line "inbox (_SUCCESS -> all rows committed)" inbox
line "DuckDB CREATE TABLE AS + CHECKPOINT, 1 thr" duck1
line "DuckDB CREATE TABLE AS + CHECKPOINT, 2 thr" duck2
