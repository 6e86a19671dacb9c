// Durable push throughput: N clients each push batches of B mutations to a real
// `idbsync serve` (fsync on), keep-alive, one request in flight per client. Bodies are
// serialized before the clock starts so the generator costs little CPU next to the server.
// usage: node bench/push.mjs --bin build/idbsync [--total 400000] [--batch 500] [--clients 1,16]
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../tests/lib/server.mjs';
import { orderBodies, postPush } from './lib/orders.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, arr) =>
  (v.startsWith('--') ? [...a, [v.slice(2), arr[i + 1]]] : a), []));
const bin = args.bin || 'build/idbsync';
const total = Number(args.total || 400000);
const batch = Number(args.batch || 500);
const clientCounts = (args.clients || '1,16').split(',').map(Number);
const extra = (args['server-args'] || '').split(' ').filter(Boolean);

async function post(agent, port, body) {
  const t0 = process.hrtime.bigint();
  await postPush(agent, port, body);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function run(clients) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idbsync-bench-'));
  const srv = await startServer({ bin, args: extra, dataDir: path.join(dir, 'data'), lakeDir: path.join(dir, 'lake') });
  const { port } = srv;
  const per = Math.ceil(total / clients);
  const bodies = Array.from({ length: clients }, (_, c) => orderBodies(c, per, batch));
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const lat = [];
  const t0 = process.hrtime.bigint();
  await Promise.all(bodies.map(async (list) => { for (const b of list) lat.push(await post(agent, port, b)); }));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  lat.sort((a, b) => a - b);
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const commits = Number(metrics.match(/idbsync_commit_seconds_count (\d+)/)[1]);
  const applied = Number(metrics.match(/idbsync_mutations_applied_total (\d+)/)[1]);
  // the server's own time per push and stage (ms), when it reports them
  const stage = (name) => Number((metrics.match(new RegExp(`stage="${name}"} ([0-9.]+)`)) || [])[1]) * 1000 / lat.length;
  const stages = metrics.includes('idbsync_push_stage_seconds_total') ? {
    receive: stage('receive'), dispatch: stage('dispatch'), parse: stage('parse'), queue: stage('queue'), apply: stage('apply'), wake: stage('wake'), send: stage('send'),
    commit: Number(metrics.match(/idbsync_commit_seconds_sum ([0-9.]+)/)[1]) * 1000 / lat.length,
    streamed: Number(metrics.match(/idbsync_pushes_streamed_total (\d+)/)[1]) } : null;
  await srv.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  if (applied !== per * clients) throw new Error(`applied ${applied}, expected ${per * clients}`);
  return { clients, muts: per * clients, secs, rate: (per * clients) / secs, p50: lat[lat.length >> 1],
    p99: lat[Math.floor(lat.length * 0.99)], commits, pushes: lat.length, stages };
}

console.log(`durable push: ${total} mutations, batches of ${batch}, fsync on (${os.cpus().length} cores, ${os.cpus()[0].model})`);
console.log('| clients | mutations | seconds | durable mutations/s | push p50 ms | push p99 ms | pushes | fsync commits |');
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
const rows = [];
for (const c of clientCounts) {
  const r = await run(c);
  rows.push(r);
  console.log(`| ${r.clients} | ${r.muts} | ${r.secs.toFixed(2)} | ${Math.round(r.rate).toLocaleString('en-US')} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.pushes} | ${r.commits} |`);
}
if (rows.some((r) => r.stages)) {
  // parse overlaps apply when a push is streamed (one client), so the stages may add up to more than the wall
  console.log('\nserver time per push, ms (/metrics idbsync_push_stage_seconds_total, idbsync_commit_seconds):');
  console.log('| clients | wall per push | receive | dispatch | parse | queue | apply | commit | wake | send | streamed pushes |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows.filter((x) => x.stages)) {
    const s = r.stages;
    const ms = ['receive', 'dispatch', 'parse', 'queue', 'apply', 'commit', 'wake', 'send'].map((k) => s[k].toFixed(3));
    console.log(`| ${r.clients} | ${(r.secs * 1000 / r.pushes * r.clients).toFixed(3)} | ${ms.join(' | ')} | ${s.streamed} |`);
  }
}
