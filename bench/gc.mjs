// Tombstone GC on a big table: pushes N rows (1 in 1000 a delete) with --no-lake, waits 8 s, then
// times three POST /v1/admin/gc. Usage: N=1000000 node bench/gc.mjs BIN [BIN...] (binaries side by side).
import { spawn } from 'node:child_process';
import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path';
const N = +process.env.N || 1000000;
async function run(bin) {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'gcb-'));
  const p = spawn(bin, ['serve', '--data', data, '--listen', '127.0.0.1:0', '--no-lake', '--gc-interval', '3600'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = await new Promise((res) => { let b = ''; const on = (d) => { b += d; const m = b.match(/listening on (http:\/\/[^ ]+)/); if (m) res(m[1]); }; p.stdout.on('data', on); p.stderr.on('data', on); });
  let id = 1;
  for (let r = 0; r < N; r += 500) {
    const muts = [];
    for (let i = 0; i < 500; i++) muts.push((r + i) % 1000 === 7 ? { id: id++, store: 'rows', op: 'delete', key: r + i - 1 } : { id: id++, store: 'rows', op: 'put', key: r + i, value: { n: r + i, s: 'v' } });
    const res = await fetch(`${url}/v1/db/app/push`, { method: 'POST', body: JSON.stringify({ client: 'c', mutations: muts }), headers: { 'content-type': 'application/json' } });
    if (res.status !== 200) throw new Error(await res.text());
  }
  await new Promise((r) => setTimeout(r, 8000));
  const out = [];
  for (let k = 0; k < 3; k++) {
    const t = performance.now();
    const res = await fetch(`${url}/v1/admin/gc`, { method: 'POST' });
    out.push(`${(performance.now() - t).toFixed(1)} ms ${await res.text()}`);
  }
  p.kill('SIGTERM'); await new Promise((r) => p.on('exit', r));
  fs.rmSync(data, { recursive: true, force: true });
  return out;
}
for (const bin of process.argv.slice(2)) console.log(bin, N, (await run(bin)).join(' | '));
