#!/usr/bin/env bash
# Normal push and pull latency while 200 slow and hostile sockets are open (the scenario of
# tests/faults/hostile.test.mjs, which asserts only behaviour), printed before / during / after.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
IDBSYNC_BIN=${IDBSYNC_BIN:-$PWD/build/idbsync} IDBSYNC_SRC=$PWD IDS_BENCH_OUT=$out \
  node --test --test-reporter=dot tests/faults/hostile.test.mjs >/dev/null
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const f = (x) => x ? `${x.p50.toFixed(1)} / ${x.max.toFixed(1)}` : "-";
console.log("normal op (p50 / max ms)   before        with 200 hostile sockets   slowloris only");
for (const k of ["push", "pull"]) console.log(`${k.padEnd(27)}${f(r[k].before).padEnd(14)}${f(r[k].during).padEnd(27)}${f(r[k].late)}`);
' "$out"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f "$out"
