#!/bin/sh
# Lake benchmark: latency from push ack to visibility in the lake (DuckDB polling the Parquet
# files) and flush throughput, at default settings and a few others. Prints a markdown table.
# usage: bench/lake.sh [path/to/idbsync]   (env N = latency samples, BULK = rows for throughput)
set -e
here=$(cd "$(dirname "$0")" && pwd)
export IDBSYNC_BIN="${1:-${IDBSYNC_BIN:-$here/../build/idbsync}}"
export IDBSYNC_SRC="$here/.."
for flags in "" "--flush-interval 250ms" "--lake-profile modern"; do
  # shellcheck disable=SC2086
  node "$here/lake_latency.mjs" $flags | { [ -n "$hdr" ] && tail -n 1 || cat; }
  hdr=1
done
