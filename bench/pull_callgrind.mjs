// Instructions per pulled row, which machine load does not move: runs `idbsync serve --no-lake
// --no-inbox` under callgrind, pushes N new keys (the documents of bench/push.mjs), zeroes the
// counters, pulls every row (pages of --limit) and dumps. Prints Ir per row over all threads.
// usage: node bench/pull_callgrind.mjs [--bin build/idbsync] [--n 20000] [--limit 1000] [--out /tmp/pull-cg]
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { orderBodies, postPush } from './lib/orders.mjs';
import { serveUnderCallgrind, dumpTotals } from './lib/callgrind.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, arr) =>
  (v.startsWith('--') ? [...a, [v.slice(2), arr[i + 1]]] : a), []));
const bin = path.resolve(args.bin || 'build/idbsync');
const n = Number(args.n || 20000);
const limit = Number(args.limit || 1000);
const out = path.resolve(args.out || '/tmp/pull-cg');

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idbsync-pull-cg-'));
const { p, port } = await serveUnderCallgrind(bin, ['serve', '--data', path.join(dir, 'data'), '--lake', path.join(dir, 'lake'),
  '--listen', '127.0.0.1:0', '--no-lake', '--no-inbox'], out);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
for (const b of orderBodies(0, n, 500)) await postPush(agent, port, b);
const get = (q) => new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port, path: q, agent }, (r) => {
  const c = [];
  r.on('data', (d) => c.push(d));
  r.on('end', () => resolve(JSON.parse(Buffer.concat(c).toString())));
}).on('error', reject));
execFileSync('callgrind_control', ['-z', String(p.pid)], { stdio: 'ignore' });
let since = 0;
let rows = 0;
for (;;) {
  const page = await get(`/v1/db/bench/pull?since=${since}&limit=${limit}`);
  rows += page.changes.length;
  since = page.cursor;
  if (!page.more) break;
}
execFileSync('callgrind_control', ['-d', String(p.pid)], { stdio: 'ignore' });
agent.destroy();
p.kill('SIGTERM');
await new Promise((r) => p.once('exit', r));
fs.rmSync(dir, { recursive: true, force: true });
if (rows !== n) throw new Error(`pulled ${rows} rows, expected ${n}`);
const sum = dumpTotals(out).reduce((a, [, ir]) => a + ir, 0);
console.log(`${n} rows pulled in pages of ${limit}: ${Math.round(sum / rows).toLocaleString('en-US')} Ir/row (all threads)`);
