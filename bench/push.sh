#!/usr/bin/env bash
# Durable push throughput (issue: server core). Target: >= 100,000 durable mutations/s on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/idbsync ] || make build
node bench/push.mjs --bin "${IDBSYNC_BIN:-build/idbsync}" "$@"
