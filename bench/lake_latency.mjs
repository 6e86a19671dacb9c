// bench/lake.sh helper: push-ack -> lake-visibility latency and flush throughput, against a real
// server. Plain layout: a DuckDB reader polls the Parquet files for each pushed key. Iceberg
// (--lake-format iceberg among the args): the moment the table's newest committed metadata (what
// a reader resolving the table through its catalog or version-hint gets) has a current snapshot
// whose summary idbsync.seq covers the push's seq (its ack's cursor).
// FORMATS=hive,iceberg: one row per format in the same run (the args apply to both).
import fs from 'node:fs';
import { serve, push, flush, duck, glob, tempDir } from '../tests/lake/lib.mjs';

const N = Number(process.env.N || 100), BULK = Number(process.env.BULK || 50000);
const args = process.argv.slice(2);
const formats = process.env.FORMATS ? process.env.FORMATS.split(',') : [null];

/** idbsync.seq of the current snapshot of the newest committed metadata of table dir t (0: none). */
function icebergSeq(t) {
  let v = 0;
  try { v = Number(fs.readFileSync(`${t}/metadata/version-hint.text`, 'utf8')); } catch { return 0; }
  while (fs.existsSync(`${t}/metadata/v${v + 1}.metadata.json`)) v++;   // the hint trails the commit
  let m;
  try { m = JSON.parse(fs.readFileSync(`${t}/metadata/v${v}.metadata.json`, 'utf8')); } catch { return 0; }
  const s = m.snapshots.find((x) => x['snapshot-id'] === m['current-snapshot-id']);
  return s ? Number(s.summary['idbsync.seq']) : 0;
}

console.log(`| settings | visibility p50 ms | p99 ms | bulk rows | push s | flush after push s | rows/s through lake |`);
console.log(`|---|---|---|---|---|---|---|`);
for (const format of formats) {
  const fargs = format ? ['--lake-format', format, ...args] : args;
  const iceberg = fargs.join(' ').includes('--lake-format iceberg');
  const lake = tempDir('idbsync-bench-'), data = tempDir('idbsync-bench-');
  const srv = await serve({ data, lake, args: ['--unsafe-no-fsync', ...fargs] });
  const d = iceberg ? null : await duck();
  const lat = [];
  let id = 1;
  for (let i = 0; i < N; i++) {
    const ack = await push(srv.url, 'bench', { client: 'b', mutations: [{ id: id++, store: 'lat', op: 'put', key: i, value: { i, s: 'x' } }] });
    const t0 = performance.now();
    for (;;) {
      if (iceberg) {
        if (icebergSeq(`${lake}/_iceberg/bench/lat`) >= ack.cursor) break;
      } else {
        try {
          const r = await d.rows(`SELECT 1 FROM ${glob(lake, 'bench', 'lat')} WHERE idb_key = '${i}'`);
          if (r.length) break;
        } catch { /* table not created yet */ }
      }
      await new Promise((res) => setTimeout(res, 5));
    }
    lat.push(performance.now() - t0);
    await new Promise((res) => setTimeout(res, Math.random() * 300));
  }
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(0);
  // throughput: BULK puts in batches of 1000, then one flush
  let t0 = performance.now();
  for (let i = 0; i < BULK; i += 1000) {
    const m = [];
    for (let j = i; j < i + 1000 && j < BULK; j++) m.push({ id: id++, store: 'bulk', op: 'put', key: j, value: { j, name: 'n' + (j % 97), v: j * 0.5 } });
    await push(srv.url, 'bench', { client: 'b', mutations: m });
  }
  const pushed = performance.now() - t0;
  t0 = performance.now();
  await flush(srv.url, 'bench');
  const fl = performance.now() - t0;
  const tp = BULK ? Math.round(BULK / ((pushed + fl) / 1000)) : '-';
  console.log(`| ${fargs.join(' ') || 'defaults'} | ${q(0.5)} | ${q(0.99)} | ${BULK} | ${(pushed / 1000).toFixed(2)} | ${(fl / 1000).toFixed(2)} | ${tp} |`);
  await srv.stop();
}
process.exit(0);
