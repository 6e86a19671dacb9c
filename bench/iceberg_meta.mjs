// Iceberg metadata size over many flushes, with and without snapshot expiry, in one run: two
// servers side by side, each round one changed row pushed and POST flush (one snapshot of the
// state and one of the change log per flush). At checkpoints it prints, per setup, the bytes
// of metadata the current snapshot needs (metadata JSON + manifest list + its manifests, read
// by pyiceberg) and what metadata/ holds on disk, for the state and the change log table, and
// the flush p50/p99 of the rounds since the last checkpoint.
// Usage: node bench/iceberg_meta.mjs [flushes=10000] [checkpoints=100,1000,2500,5000,7500,10000] [setup]
// (setup: run only the one whose name starts with it, e.g. "no expiry")
import fs from 'node:fs';
import { serve, push, flush, tempDir } from '../tests/lake/lib.mjs';
import { py } from '../tests/lake/iceberg_lib.mjs';

const total = Number(process.argv[2] || 10000);
const marks = (process.argv[3] || '100,1000,2500,5000,7500,10000').split(',').map(Number).filter((n) => n <= total);
if (!marks.includes(total)) marks.push(total);
const setups = [
  { name: 'no expiry (--iceberg-keep 0)', args: ['--iceberg-keep', '0'] },
  { name: 'expiry: --iceberg-keep-snapshots 100', args: ['--iceberg-keep', '0', '--iceberg-keep-snapshots', '100'] },
].filter((s) => !process.argv[4] || s.name.startsWith(process.argv[4]));
const q = (a, f) => a[Math.min(a.length - 1, Math.floor(a.length * f))];
const kb = (n) => (n / 1e3).toFixed(1);
const t0 = Date.now();

console.log(`| setup | flushes | table | snapshots | needed: JSON + list + manifests (n) kB | metadata/ on disk kB (files) | flush p50 / p99 ms since last row |`);
console.log(`|---|---|---|---|---|---|---|`);
async function run(s) {
  const lake = tempDir('idbsync-bench-'), data = tempDir('idbsync-bench-');
  // a long flush interval: only the POSTs flush, one snapshot each
  const srv = await serve({ data, lake, args: ['--lake-format', 'iceberg', '--flush-interval', '3600s', ...s.args] });
  let times = [];
  for (let r = 1; r <= total; r++) {
    await push(srv.url, 'app', { client: 'b', mutations: [{ id: r, store: 'docs', op: 'put', key: r % 1000, value: { v: r, s: 'x'.repeat(50) } }] });
    const a = performance.now();
    await flush(srv.url, 'app');
    times.push(performance.now() - a);
    if (marks.includes(r)) {
      times.sort((x, y) => x - y);
      for (const t of ['docs', 'docs_changes']) {
        const z = await py('size', `${lake}/_iceberg/app/${t}`);
        console.log(`| ${s.name} | ${r} | ${t} | ${z.snapshots} | ${kb(z.json)} + ${kb(z.list)} + ${kb(z.manifests)} (${z.n_manifests}) = ${kb(z.json + z.list + z.manifests)} | ${kb(z.disk)} (${z.disk_files}) | ${q(times, 0.5).toFixed(0)} / ${q(times, 0.99).toFixed(0)} |`);
      }
      times = [];
    }
  }
  await srv.stop();
}
await Promise.all(setups.map(run));
const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`\n${new Date().toISOString()}: ${((Date.now() - t0) / 60000).toFixed(1)} min; load average at the end ${load}`);
process.exit(0);
