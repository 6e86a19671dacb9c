// Instruction counts of one lake flush, which machine load does not move: runs `idbsync serve`
// under valgrind's callgrind with flushing held off, pushes N changes (the orders of
// bench/lake_catchup.mjs), zeroes the counters, times nothing, runs one POST /flush (change
// log + current state from scratch) and dumps. Prints Ir per change for the flush thread
// and for all threads; the dumps (callgrind.out.*) stay in --out for callgrind_annotate.
// usage: node bench/lake_callgrind.mjs [--bin build/idbsync] [--n 10000] [--out /tmp/lake-cg]
//                                      [--server-args "--lake-profile modern"]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { push, flush, tempDir } from '../tests/lake/lib.mjs';
import { serveUnderCallgrind, dumpTotals } from './lib/callgrind.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, arr) =>
  (v.startsWith('--') ? [...a, [v.slice(2), arr[i + 1]]] : a), []));
const bin = path.resolve(args.bin || 'build/idbsync');
const N = Number(args.n || 10000);
const out = path.resolve(args.out || '/tmp/lake-cg');
const extra = (args['server-args'] ?? '').split(' ').filter(Boolean);

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
const data = tempDir(), lake = tempDir();
const { p, port } = await serveUnderCallgrind(bin, ['serve', '--data', data, '--lake', lake, '--listen', '127.0.0.1:0',
  '--flush-interval', '100000s', ...extra], out);
const url = `http://127.0.0.1:${port}`;
try {
  let id = 1;
  for (let b = 0; b < N / 1000; b++) {
    const muts = [];
    for (let j = 0; j < 1000; j++) { const i = b * 1000 + j; muts.push({ id: id++, store: 'orders', op: 'put', key: i, value: { id: i, customer: 'customer ' + (i % 977), total: (i * 7.31) % 1000, items: i % 9, status: ['new', 'paid', 'shipped'][i % 3], when: { $date: new Date(1.7e12 + i * 1000).toISOString() } } }); }
    await push(url, 'app', { client: 'c', mutations: muts });
  }
  execFileSync('callgrind_control', ['-z', String(p.pid)], { stdio: 'ignore' });
  // under valgrind a flush can outlast the server's 60 s wait: it answers 503, call again
  for (;;) {
    try { await flush(url, 'app'); break; } catch (e) { if (!/ 503 /.test(e.message)) throw e; }
  }
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
console.log(`one flush of ${N} changes (server ${extra.join(' ') || 'defaults'}): flush thread ${per(top)} Ir/change, all threads ${per(sum)} Ir/change (${sum.toLocaleString('en-US')} Ir)`);
