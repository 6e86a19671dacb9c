#!/usr/bin/env bash
# 10,000 live clients (half long-polls, half SSE streams) on one server, this tree's binary next
# to a base binary in the same run (by default main's, built from a git worktree; BASE_REF picks
# another ref, e.g. the thread-per-connection server before issue #17). One change reaches every client; another
# client's pushes are timed alone, with the clients held, and during the fan-out.
# usage: bench/live.sh [CLIENTS...]          (default: 10000)
#   BASE_BIN=path   use this binary as the base instead of building BASE_REF (default main)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/idbsync ] || make build
# every client is a socket in this process and one in the server
ulimit -n "$(ulimit -Hn)"
need=$(( ${1:-10000} + 200 ))
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge "$need" ] ||
  { echo "bench/live.sh: ulimit -n $(ulimit -n) < $need; raise the hard limit (e.g. LimitNOFILE)" >&2; exit 1; }
if [ -z "${BASE_BIN:-}" ]; then
  ref=${BASE_REF:-main}
  BASE_BIN=${TMPDIR:-/tmp}/idbsync-live-base-$(git rev-parse --short "$ref")
  if [ ! -x "$BASE_BIN" ]; then
    # a throwaway worktree: built, its binary kept, the worktree removed again
    wt=$(mktemp -d)
    git worktree add --detach "$wt/src" "$ref" >/dev/null
    cmake -S "$wt/src" -B "$wt/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$wt/build" -j2 --target idbsync >/dev/null
    cp "$wt/build/idbsync" "$BASE_BIN"
    git worktree remove --force "$wt/src"
    rm -rf "$wt"
  fi
fi
out=$(mktemp)
for n in "${@:-10000}"; do
  for bin in "$BASE_BIN" "$PWD/build/idbsync"; do
    node bench/live.mjs --bin "$bin" --clients "$n" --json >>"$out"
  done
done
BASE_BIN=$BASE_BIN BASE_NAME="base (${BASE_REF:-main})" node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const f = (x, k) => x ? x[k].toFixed(k === "n" ? 0 : 1) : "-";
console.log("| server | clients (SSE/long-poll) | closed by the server before the change | the change: push | reached | change p50 / p99 / max ms | server / client CPU s for the fan-out (wall s) | RSS held / peak MB | threads held | other push p50 / p99 ms (n): alone | held | fan-out | other pushes refused | load |");
console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
for (const r of rows) {
  const name = r.bin === process.env.BASE_BIN ? process.env.BASE_NAME : "this tree";
  const l = r.latency;
  const o = (x) => x ? `${x.p50.toFixed(1)} / ${x.p99.toFixed(1)} (${x.n})` : "-";
  console.log(`| ${name} | ${r.clients} (${r.sse}/${r.polls}) | ${r.closedEarly + r.connectFailed} | ${r.pushStatus === 200 ? `${r.pushMs.toFixed(0)} ms` : r.pushStatus} | ${r.delivered} | ${l ? `${l.p50.toFixed(0)} / ${l.p99.toFixed(0)} / ${l.max.toFixed(0)}` : "-"} | ${r.waveCpuS.toFixed(2)} / ${r.clientCpuS.toFixed(2)} (${(r.waveWallMs / 1000).toFixed(1)}) | ` +
    `${(r.server.held.rssKb / 1024).toFixed(0)} / ${(r.server.peakRssKb / 1024).toFixed(0)} | ${r.server.held.threads} | ${o(r.other.alone)} | ${o(r.other.held)} | ${o(r.other.wave)} | ${r.otherFailed} | ${r.load.split(" ")[0]} |`);
}
' "$out"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f "$out"
