#!/usr/bin/env bash
# Every benchmark, then one table of the results side by side as ratios, each with its target
# from the issues (`make bench`). Runs, in order, with their full output streamed:
#   bench/parquet.sh      NDJSON <-> Parquet, idbsync vs DuckDB
#   bench/pouch_push.mjs  durable push ingest vs pouchdb-server _bulk_docs (1 and 16 clients)
#   bench/hostile.sh      normal push/pull latency beside 200 slow and hostile sockets
#   bench/client.mjs      browser capture overhead; browser -> server vs PouchDB replication
#   bench/lake.sh         push ack -> lake visibility (DuckDB polling), flush throughput
#   bench/ingest10m.mjs   server RSS during a 10M-row ingest (8 clients, batches of 500)
# usage: bench/all.sh [--quick] [--ingest-rows N] [--only parquet,push,client,lake,ingest]
#                     [--logs DIR] [--report DIR]
#   --logs DIR: keep each benchmark's output in DIR/<name>.txt; --report DIR: only print the table
#   from such a DIR (no benchmark is run)
#   --quick: small sizes everywhere (a smoke run of a few minutes; the ratios are noisier)
#   env overrides: IDBSYNC_BIN, PARQUET_ROWS, PARQUET_RUNS, PUSH_TOTAL, CLIENT_SIZES, CLIENT_PUSH,
#   CLIENT_REPS, LAKE_N, LAKE_BULK, INGEST_ROWS, INGEST_FLUSH_TIMEOUT (seconds the lake may take
#   to catch up after the ingest; 120)
# Nothing is built here (`make bench` builds first). A benchmark that fails is reported as n/a
# and the others still run; the exit status is 1 when one failed.
set -uo pipefail
cd "$(dirname "$0")/.."
CMD="bench/all.sh${*:+ $*}"
QUICK=0
REPORT=0
LOGS=
ONLY=parquet,push,client,lake,ingest
while [ $# -gt 0 ]; do
  case $1 in
    --quick) QUICK=1 ;;
    --ingest-rows) INGEST_ROWS=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --logs) LOGS=$2; shift ;;
    --report) LOGS=$2; REPORT=1; shift ;;
    -h|--help) sed -n '2,/^set /{/^#/p}' "$0"; exit 0 ;;
    *) echo "bench/all.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
# --report: the sizes of the run that wrote the logs
[ "$REPORT" = 1 ] && [ -f "$LOGS/sizes.env" ] && . "$LOGS/sizes.env"
if [ "$QUICK" = 1 ]; then
  : "${PARQUET_ROWS:=200000}" "${PARQUET_RUNS:=2}" "${PUSH_TOTAL:=20000}" "${CLIENT_SIZES:=10000}"
  : "${CLIENT_PUSH:=20000}" "${CLIENT_REPS:=3}" "${LAKE_N:=30}" "${LAKE_BULK:=10000}" "${INGEST_ROWS:=500000}"
fi
: "${PARQUET_ROWS:=1000000}" "${PARQUET_RUNS:=3}" "${PUSH_TOTAL:=100000}" "${CLIENT_SIZES:=10000,100000}"
: "${CLIENT_PUSH:=100000}" "${CLIENT_REPS:=3}" "${LAKE_N:=100}" "${LAKE_BULK:=50000}" "${INGEST_ROWS:=10000000}"
export IDBSYNC_BIN=${IDBSYNC_BIN:-$PWD/build/idbsync}
[ -x "$IDBSYNC_BIN" ] || { echo "bench/all.sh: no idbsync binary at $IDBSYNC_BIN (make build, or set IDBSYNC_BIN)" >&2; exit 2; }
if [ -n "$LOGS" ]; then
  LOG=$LOGS
  mkdir -p "$LOG"
else
  LOG=$(mktemp -d "${TMPDIR:-/tmp}/idbsync-benchall.XXXXXX")
  trap 'rm -rf "$LOG"' EXIT
fi

FAILED=()
declare -A SECS
if [ "$REPORT" = 0 ]; then
for v in PARQUET_ROWS PARQUET_RUNS PUSH_TOTAL CLIENT_SIZES CLIENT_PUSH CLIENT_REPS LAKE_N LAKE_BULK INGEST_ROWS; do
  echo "$v=${!v}"
done > "$LOG/sizes.env"

# ------------------------------------------------------------------ header
echo "# idbsync benchmarks"
echo
echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "command: $CMD"
echo "machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"), kernel $(uname -r)"
echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start"
echo "binary:  $IDBSYNC_BIN (built $(date -u -r "$IDBSYNC_BIN" '+%Y-%m-%d %H:%M UTC'); source tree at $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src include 2>/dev/null || echo ' with uncommitted changes in src/ or include/'))"
echo "tools:   node $(node --version), DuckDB $(node -e "console.log(require('./node_modules/@duckdb/node-api/package.json').version)" 2>/dev/null || echo '?'), pouchdb-server $(node -e "console.log(require('./node_modules/pouchdb-server/package.json').version)" 2>/dev/null || echo '?'), $( (${CHROMIUM:-/usr/bin/chromium} --version 2>/dev/null || echo 'no chromium') | head -1)"
echo "sizes:   parquet $PARQUET_ROWS rows x $PARQUET_RUNS runs; push $PUSH_TOTAL docs; browser capture $CLIENT_SIZES (x$CLIENT_REPS), push $CLIENT_PUSH; lake $LAKE_N samples + $LAKE_BULK rows; ingest $INGEST_ROWS rows"

bench() {   # name command...: runs it, streams and keeps its output
  local name=$1 t0 rc
  shift
  case ",$ONLY," in *",$name,"*) ;; *) return ;; esac
  echo
  echo "## $name: $*"
  echo
  t0=$(date +%s)
  "$@" 2>&1 | tee "$LOG/$name.txt"
  rc=${PIPESTATUS[0]}
  SECS[$name]=$(( $(date +%s) - t0 ))
  [ "$rc" = 0 ] || { FAILED+=("$name (exit $rc)"); echo "bench/all.sh: $name failed with exit status $rc"; }
  echo "($name: ${SECS[$name]} s)"
}

bench parquet env RUNS="$PARQUET_RUNS" IDBSYNC_BIN="$IDBSYNC_BIN" bash bench/parquet.sh "$PARQUET_ROWS" snappy
bench push node bench/pouch_push.mjs --bin "$IDBSYNC_BIN" --total "$PUSH_TOTAL" --batch 500 --clients 1,16
bench client node bench/client.mjs --bin "$IDBSYNC_BIN" --sizes "$CLIENT_SIZES" --push "$CLIENT_PUSH" --reps "$CLIENT_REPS"
bench lake env N="$LAKE_N" BULK="$LAKE_BULK" sh bench/lake.sh "$IDBSYNC_BIN"
bench hostile env IDBSYNC_BIN="$IDBSYNC_BIN" bash bench/hostile.sh
bench ingest node bench/ingest10m.mjs --bin "$IDBSYNC_BIN" --rows "$INGEST_ROWS" --batch 500 --clients 8 --flush-timeout "${INGEST_FLUSH_TIMEOUT:-120}"
fi

# ------------------------------------------------------------------ parsing helpers
f() { [ -f "$LOG/$1.txt" ] && cat "$LOG/$1.txt"; }
# parquet.sh rows: "<task> <tool> wall ratio cpu ratio bytes" -> field N from the end (0 = bytes)
pq() { f parquet | grep -F -- "$1" | grep -F -- "$2" | head -1 | awk -v k="$3" '{ print $(NF - k) }'; }
# markdown table cell: rows whose cells 1..n match the given strings (trimmed) -> cell k
md() {   # file k match1 [match2]
  f "$1" | awk -F'|' -v k="$2" -v a="${3:-}" -v b="${4:-}" '
    function t(s) { gsub(/^ +| +$/, "", s); return s }
    /^\|/ && (a == "" || t($2) == a) && (b == "" || t($3) == b) { v = t($(k + 1)); gsub(/[,x]/, "", v); print v; exit }'
}
num() { [[ "${1:-}" =~ ^[0-9]+(\.[0-9]+)?$ ]]; }
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
# verdict: value op limit (op: le, lt, ge)
ok() {
  num "${1:-}" && num "${3:-}" || { echo "n/a"; return; }
  awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { r = (op == "le" ? v <= l : op == "lt" ? v < l : v >= l); print (r ? "yes" : "**NO**") }'
}
fmt() { num "${1:-}" && awk -v v="$1" 'BEGIN { n = sprintf("%.0f", v); o = ""; while (length(n) > 3) { o = "," substr(n, length(n) - 2) o; n = substr(n, 1, length(n) - 3) } print n o }' || echo "n/a"; }
or_na() { [ -n "${1:-}" ] && echo "$1" || echo "n/a"; }
x() { num "${1:-}" && echo "${1}x" || echo "n/a"; }
ROWS_OUT=()
row() { ROWS_OUT+=("| $1 | $2 | $3 | $4 | $5 |"); }   # name, "idbsync | reference", ratio, target, met
ratio() { num "${1:-}" && num "${2:-}" && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }' || echo "n/a"; }

# ------------------------------------------------------------------ Parquet vs DuckDB
if [ -f "$LOG/parquet.txt" ]; then
  W='NDJSON -> Parquet'; R='Parquet -> NDJSON'
  ours_w=$(pq "$W" "idbsync (threads" 4); d1_w=$(pq "$W" "duckdb threads=1" 4); d2_w=$(pq "$W" "duckdb threads=2" 4)
  ours_b=$(pq "$W" "idbsync (threads" 0); d1_b=$(pq "$W" "duckdb threads=1" 0); d2_b=$(pq "$W" "duckdb threads=2" 0)
  ours_r=$(pq "$R" "idbsync parquet cat" 4); d1_r=$(pq "$R" "duckdb threads=1" 4); d2_r=$(pq "$R" "duckdb threads=2" 4)
  best() { num "${1:-}" && num "${2:-}" && awk -v a="$1" -v b="$2" 'BEGIN { print (a < b ? a : b) }' || or_na "${1:-}"; }
  dw=$(best "$d1_w" "$d2_w"); db=$(best "$d1_b" "$d2_b"); dr=$(best "$d1_r" "$d2_r")
  r=$(ratio "$ours_w" "$dw")
  ours_wc=$(pq "$W" "idbsync (threads" 2); d1_wc=$(pq "$W" "duckdb threads=1" 2)
  row "Parquet write, $(fmt "$PARQUET_ROWS") rows NDJSON -> Parquet snappy (wall s, best of $PARQUET_RUNS; vs DuckDB 1 thread: $(x "$(ratio "$ours_w" "$d1_w")") wall, $(x "$(ratio "$ours_wc" "$d1_wc")") CPU)" "$(or_na "$ours_w") s | DuckDB $dw s (best of 1/2 threads)" "$(x "$r")" "<= 0.5x DuckDB's time" "$(ok "$r" le 0.5)"
  r=$(ratio "$ours_b" "$db")
  row "Parquet file size (bytes)" "$(fmt "$ours_b") | DuckDB $(fmt "$db")" "$(x "$r")" "<= 1x DuckDB's size" "$(ok "$r" le 1)"
  r=$(ratio "$ours_r" "$dr")
  row "Parquet read, idbsync's file -> NDJSON (wall s; vs DuckDB 1 thread: $(x "$(ratio "$ours_r" "$d1_r")"))" "$(or_na "$ours_r") s | DuckDB $dr s (best of 1/2 threads)" "$(x "$r")" "<= 1x DuckDB's time" "$(ok "$r" le 1)"
fi

# ------------------------------------------------------------------ push ingest vs pouchdb-server
if [ -f "$LOG/push.txt" ]; then
  for c in 1 16; do
    us=$(md push 5 "$c" idbsync); nf=$(md push 5 "$c" "idbsync --unsafe-no-fsync"); pd=$(md push 5 "$c" pouchdb-server)
    r=$(ratio "$us" 100000)
    row "Durable push, $c client$([ "$c" = 1 ] || echo s), batches of 500 (mutations/s, fsync per commit)" "$(fmt "$us")/s | target 100,000/s" "$(x "$r")" ">= 100,000 durable mutations/s" "$(ok "$us" ge 100000)"
    r=$(ratio "$us" "$pd")
    row "Push ingest vs pouchdb-server _bulk_docs, $c client$([ "$c" = 1 ] || echo s) (docs/s; idbsync durable, peer not fsynced)" "$(fmt "$us")/s (no fsync: $(fmt "$nf")/s) | pouchdb-server $(fmt "$pd")/s" "$(x "$r")" "faster than the peer (no number in the issues)" "$(ok "$r" ge 1)"
  done
fi

# ------------------------------------------------------------------ browser client
if [ -f "$LOG/client.txt" ]; then
  while IFS='|' read -r _ wl raw cap rt _; do
    wl=$(echo "$wl" | sed 's/^ *//; s/ *$//'); rt=$(echo "$rt" | tr -d ' x')
    row "Capture overhead, $wl (Chromium, median of $CLIENT_REPS; ms)" "$(echo "$cap" | tr -d ' ') ms | raw IndexedDB $(echo "$raw" | tr -d ' ') ms" "${rt}x" "<= 1.3x raw IndexedDB" "$(ok "$rt" le 1.3)"
  done < <(f client | grep -E '^\| [0-9]+ puts, ')
  push_ms=$(md client 3 "idbsync (fsync per group commit)" "push (outbox -> server, acked)")
  pouch_ms=$(f client | grep -F '| PouchDB ' | head -1 | awk -F'|' '{ v = $4; gsub(/[ ,]/, "", v); print v }')
  r=$(ratio "$pouch_ms" "$push_ms")
  row "Browser -> server, $(fmt "$CLIENT_PUSH") records (idbsync push, durable, vs PouchDB replicate to pouchdb-server in memory; ms)" "$(or_na "$push_ms") ms | PouchDB $(or_na "$pouch_ms") ms" "$(x "$r") faster" ">= 5x PouchDB (browser -> lake)" "$(ok "$r" ge 5)"
fi

# ------------------------------------------------------------------ lake
if [ -f "$LOG/lake.txt" ]; then
  for s in defaults "--flush-interval 250ms" "--lake-profile modern"; do
    p50=$(md lake 2 "$s"); p99=$(md lake 3 "$s"); tput=$(md lake 7 "$s")
    r=$(ratio "$p50" 1000)
    row "Lake visibility, push ack -> DuckDB sees the row, $s (p50 in ms; p99 $(or_na "$p99") ms; $(fmt "$tput") rows/s through the lake)" "$(or_na "$p50") ms | target 1,000 ms" "$(x "$r")" "p50 < 1 s" "$(ok "$p50" lt 1000)"
  done
fi

# ------------------------------------------------------------------ ingest RSS
if [ -f "$LOG/ingest.txt" ]; then
  line=$(f ingest | grep '^INGEST ' | tail -1)
  get() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  rows=$(get rows); h1=$(get rss_half1_max_mb); h2=$(get rss_half2_max_mb); flat=$(get flat)
  r=$(ratio "$h2" "$h1")
  row "Server RSS during a $(fmt "$rows")-row ingest, 8 clients, batches of 500 (MB: start / max / end of ingest / after the lake catch-up wait)" "$(or_na "$(get rss_start_mb)") / $(or_na "$(get rss_max_mb)") / $(or_na "$(get rss_end_mb)") / $(or_na "$(get rss_after_flush_mb)") | 2nd-half max $(or_na "$h2") vs 1st-half max $(or_na "$h1")" "$(x "$r")" "flat (2nd half within max(10%, 16 MB) of the 1st)" "$([ "$flat" = 1 ] && echo yes || { [ "$flat" = 0 ] && echo '**NO**' || echo n/a; })"
  fe=$(get lake_flushed_end); fl=$(get lake_flushed_last); ws=$(get lake_wait_s)
  if num "$fe"; then
    behind=$(awk -v r="$rows" -v f="$fe" 'BEGIN { print r - f }')
    lagok=$(awk -v b="$behind" -v r="$(get rate)" 'BEGIN { print (b <= r ? "yes" : "**NO**") }')
    row "Lake under the same ingest: changes not yet in the lake when the ingest ended (then: at seq $(fmt "$fl") after $(or_na "$ws") s more$([ "$(get lake_caught_up)" = 1 ] && echo ', caught up'))" "$(fmt "$behind") behind (flushed $(fmt "$fe") of $(fmt "$rows")) | 1 s of ingest = $(fmt "$(get rate)") changes" "$(x "$(ratio "$fe" "$rows")") flushed" "visibility < 1 s (here under sustained ingest)" "$lagok"
  fi
  rate=$(get rate)
  row "Ingest rate, same run (rows/s, durable, lake on)" "$(fmt "$rate")/s | target 100,000/s" "$(x "$(ratio "$rate" 100000)")" ">= 100,000 durable mutations/s" "$(ok "$rate" ge 100000)"
fi

# ------------------------------------------------------------------ the table
echo
echo "## Side by side, as ratios"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM; load at end $(cut -d' ' -f1-3 /proc/loadavg); command: $CMD"
echo
echo "| benchmark | idbsync | reference | ratio | target (from the issues) | met |"
echo "|---|---:|---|---:|---|---|"
for r in "${ROWS_OUT[@]}"; do echo "$r"; done
echo
for n in parquet push client lake ingest; do [ -n "${SECS[$n]:-}" ] && printf '%s %s s; ' "$n" "${SECS[$n]}"; done; echo
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "failed: ${FAILED[*]}"
  exit 1
fi
