// Lake catch-up throughput: N changes pushed with flushing held off (--flush-interval 100000s),
// then one POST /flush timed: the change log and the current state written from scratch.
// usage: N=300000 node bench/lake_catchup.mjs   (IDBSYNC_BIN picks the binary)
import { serve, push, flush, tempDir } from '../tests/lake/lib.mjs';
const lake = tempDir(), data = tempDir();
const srv = await serve({ data, lake, args: ['--flush-interval', '100000s'] });
const N = Number(process.env.N || 300000);
let id = 1;
for (let b = 0; b < N / 1000; b++) {
  const muts = [];
  for (let j = 0; j < 1000; j++) { const i = b * 1000 + j; muts.push({ id: id++, store: 'orders', op: 'put', key: i, value: { id: i, customer: 'customer ' + (i % 977), total: (i * 7.31) % 1000, items: i % 9, status: ['new', 'paid', 'shipped'][i % 3], when: { $date: new Date(1.7e12 + i * 1000).toISOString() } } }); }
  await push(srv.url, 'app', { client: 'c', mutations: muts });
}
if (process.env.PIDFILE) (await import('node:fs')).writeFileSync(process.env.PIDFILE, String(srv.proc.pid));  // for perf -p
await new Promise(r => setTimeout(r, 1500));
const t0 = performance.now();
await flush(srv.url, 'app');
const secs = (performance.now() - t0) / 1000;
console.log(`flush of ${N} changes: ${secs.toFixed(2)} s (${Math.round(N / secs).toLocaleString('en-US')} changes/s)`);
await srv.stop();
