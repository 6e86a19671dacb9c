// Instruction counts of one lake flush, which machine load does not move: runs `idbsync serve`
// under valgrind's callgrind with flushing held off, pushes N changes (the orders of
// bench/lake_catchup.mjs), zeroes the counters, times nothing, runs one POST /flush (change
// log + current state from scratch) and dumps. Prints Ir per change for the flush thread
// and for all threads; the dumps (callgrind.out.*) stay in --out for callgrind_annotate.
// --base B first builds a B-row table without valgrind (pushed and flushed by a plain server
// on the same dirs), so the measured flush inserts N new keys on top of an existing table:
// the case a long ingest lives in. 2,000 other new keys are flushed before the measured N.
// usage: node bench/lake_callgrind.mjs [--bin build/idbsync] [--n 10000] [--base 0] [--out /tmp/lake-cg]
//                                      [--server-args "--lake-profile modern"]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { push, flush, tempDir } from '../tests/lake/lib.mjs';
import { startServer } from '../tests/lib/server.mjs';
import { serveUnderCallgrind, dumpTotals } from './lib/callgrind.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, arr) =>
  (v.startsWith('--') ? [...a, [v.slice(2), arr[i + 1]]] : a), []));
const bin = path.resolve(args.bin || 'build/idbsync');
const N = Number(args.n || 10000);
const BASE = Number(args.base || 0);
const out = path.resolve(args.out || '/tmp/lake-cg');
const extra = (args['server-args'] ?? '').split(' ').filter(Boolean);

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
const data = tempDir(), lake = tempDir();
const order = (i) => ({ id: i, customer: 'customer ' + (i % 977), total: (i * 7.31) % 1000, items: i % 9, status: ['new', 'paid', 'shipped'][i % 3], when: { $date: new Date(1.7e12 + i * 1000).toISOString() } });
async function pushOrders(url, from, n) {
  for (let b = 0; b < n / 1000; b++) {
    const muts = [];
    for (let j = 0; j < 1000; j++) { const i = from + b * 1000 + j; muts.push({ id: i + 1, store: 'orders', op: 'put', key: i, value: order(i) }); }
    await push(url, 'app', { client: 'c', mutations: muts });
  }
}
// under valgrind a flush can outlast the server's 60 s wait: it answers 503, call again
async function flushRetry(url) {
  for (;;) {
    try { return await flush(url, 'app'); } catch (e) { if (!/ 503 /.test(e.message)) throw e; }
  }
}
if (BASE) {
  const s = await startServer({ bin, dataDir: data, lakeDir: lake, args: ['--flush-interval', '100000s', ...extra] });
  await pushOrders(s.url, 0, BASE);
  await flush(s.url, 'app');
  // the lake prunes the ledger's change log at most every 5 s, after a flush: let it prune
  // the base's million changes here, not in the measured flush
  await new Promise((r) => setTimeout(r, 5500));
  await pushOrders(s.url, BASE, 1000);
  await flush(s.url, 'app');
  await s.stop();
}
const { p, port } = await serveUnderCallgrind(bin, ['serve', '--data', data, '--lake', lake, '--listen', '127.0.0.1:0',
  '--flush-interval', '100000s', ...extra], out);
const url = `http://127.0.0.1:${port}`;
try {
  if (BASE) {
    // the first flush of a started server comes at once and prunes the base's change log:
    // let it happen on 1,000 other new keys before the measured one
    await pushOrders(url, BASE + 1000, 1000);
    await flushRetry(url);
  }
  await pushOrders(url, BASE + (BASE ? 2000 : 0), N);
  execFileSync('callgrind_control', ['-z', String(p.pid)], { stdio: 'ignore' });
  await flushRetry(url);
  execFileSync('callgrind_control', ['-d', String(p.pid)], { stdio: 'ignore' });
} finally {
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
}
fs.rmSync(data, { recursive: true, force: true });
fs.rmSync(lake, { recursive: true, force: true });
const irs = dumpTotals(out).map(([, ir]) => ir);
const sum = irs.reduce((a, x) => a + x, 0), top = Math.max(0, ...irs);
const per = (x) => Math.round(x / N).toLocaleString('en-US');
console.log(`one flush of ${N} changes${BASE ? ` on a ${BASE}-row table` : ''} (server ${extra.join(' ') || 'defaults'}): flush thread ${per(top)} Ir/change, all threads ${per(sum)} Ir/change (${sum.toLocaleString('en-US')} Ir)`);
