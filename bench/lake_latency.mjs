// bench/lake.sh helper: push-ack -> lake-visibility latency (a DuckDB reader polls the lake for
// each pushed key) and flush throughput (bulk pushes, then POST /flush), against a real server.
import { serve, push, flush, duck, glob, tempDir } from '../tests/lake/lib.mjs';

const N = Number(process.env.N || 100), BULK = Number(process.env.BULK || 50000);
const args = process.argv.slice(2);
const lake = tempDir('idbsync-bench-'), data = tempDir('idbsync-bench-');
const srv = await serve({ data, lake, args: ['--unsafe-no-fsync', ...args] });
const d = await duck();
const lat = [];
let id = 1;
for (let i = 0; i < N; i++) {
  await push(srv.url, 'bench', { client: 'b', mutations: [{ id: id++, store: 'lat', op: 'put', key: i, value: { i, s: 'x' } }] });
  const t0 = performance.now();
  for (;;) {
    try {
      const r = await d.rows(`SELECT 1 FROM ${glob(lake, 'bench', 'lat')} WHERE idb_key = '${i}'`);
      if (r.length) break;
    } catch { /* table not created yet */ }
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
console.log(`| settings | visibility p50 ms | p99 ms | bulk rows | push s | flush after push s | rows/s through lake |`);
console.log(`|---|---|---|---|---|---|---|`);
console.log(`| ${args.join(' ') || 'defaults'} | ${q(0.5)} | ${q(0.99)} | ${BULK} | ${(pushed / 1000).toFixed(2)} | ${(fl / 1000).toFixed(2)} | ${Math.round(BULK / ((pushed + fl) / 1000))} |`);
await srv.stop();
process.exit(0);
