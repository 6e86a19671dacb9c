// The SQLite WAL while the lake flushes under ingest: the flush thread holds one read snapshot
// for a change-log round and its state pass (ledger_read_begin, docs/architecture.md), which
// keeps the WAL from restarting at its beginning meanwhile. Pushes --pushes batches of --batch
// new keys from each of --clients clients (flushing every --interval) and samples the size of
// idbsync.sqlite-wal every 20 ms; prints the largest size seen, the size at the end, and the
// push rate. A figure for docs/benchmarks.md: run it for two binaries, interleaved.
// usage: node bench/lake_pin_wal.mjs [--bin build/idbsync] [--clients 2] [--pushes 300]
//                                    [--batch 200] [--interval 250ms]
import fs from 'node:fs';
import path from 'node:path';
import { push, flush, tempDir } from '../tests/lake/lib.mjs';
import { startServer } from '../tests/lib/server.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, arr) =>
  (v.startsWith('--') ? [...a, [v.slice(2), arr[i + 1]]] : a), []));
const bin = path.resolve(args.bin || 'build/idbsync');
const CLIENTS = Number(args.clients || 2), PUSHES = Number(args.pushes || 300), BATCH = Number(args.batch || 200);
const data = tempDir(), lake = tempDir();
const srv = await startServer({ bin, dataDir: data, lakeDir: lake, args: ['--flush-interval', args.interval || '250ms'] });
const wal = path.join(data, 'idbsync.sqlite-wal');
let max = 0;
const size = () => { try { return fs.statSync(wal).size; } catch { return 0; } };
const timer = setInterval(() => { max = Math.max(max, size()); }, 20);
const order = (i) => ({ id: i, customer: 'customer ' + (i % 977), total: (i * 7.31) % 1000, items: i % 9, status: ['new', 'paid', 'shipped'][i % 3] });
const t0 = performance.now();
await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
  for (let p = 0; p < PUSHES; p++) {
    const muts = [];
    for (let j = 0; j < BATCH; j++) {
      const i = (c * PUSHES + p) * BATCH + j;
      muts.push({ id: p * BATCH + j + 1, store: 'orders', op: 'put', key: i, value: order(i) });
    }
    await push(srv.url, 'app', { client: `c${c}`, mutations: muts });
  }
}));
const secs = (performance.now() - t0) / 1000;
await flush(srv.url, 'app');
clearInterval(timer);
max = Math.max(max, size());
const mb = (b) => (b / 1048576).toFixed(1);
console.log(`${path.basename(path.dirname(path.dirname(bin)))}: ${CLIENTS * PUSHES * BATCH} changes in ${secs.toFixed(1)} s ` +
  `(${Math.round((CLIENTS * PUSHES * BATCH) / secs)}/s); WAL largest ${mb(max)} MB, at the end ${mb(size())} MB; load ${(await import('node:os')).loadavg()[0].toFixed(1)}`);
await srv.stop();
