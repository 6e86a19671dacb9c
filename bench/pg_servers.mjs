// Pushes and pulls per second with the state in PostgreSQL, on 1 and on 3 servers sharing it,
// beside the SQLite state (one server) in the same run. Durable (fsync / synchronous_commit on),
// no lake. Pushes: 16 clients, batches of --batch, each to the servers in turn. Pulls: 16 clients
// reading pages of 100 from random cursors for --seconds, spread over the servers.
// usage: node bench/pg_servers.mjs --bin build/idbsync [--total 20000] [--batch 100] [--seconds 5]
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../tests/lib/server.mjs';
import { orderBodies, postPush } from './lib/orders.mjs';
import { startPostgres } from '../tests/pg/lib/pg.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, arr) =>
  (v.startsWith('--') ? [...a, [v.slice(2), arr[i + 1]]] : a), []));
const bin = path.resolve(args.bin || 'build/idbsync');
const total = Number(args.total || 20000);
const batch = Number(args.batch || 100);
const seconds = Number(args.seconds || 5);
const CLIENTS = 16;

function getPull(agent, port, since) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: `/v1/db/bench/pull?since=${since}&limit=100`, agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`pull ${res.statusCode}`))));
    }).on('error', reject);
  });
}

async function run(label, servers, stateArgs) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idbsync-bench-'));
  const procs = [];
  for (let i = 0; i < servers; i++) procs.push(await startServer({ bin, dataDir: path.join(dir, `s${i}`, 'data'), lakeDir: path.join(dir, `s${i}`, 'lake'),
    args: ['--no-lake', '--log-level', 'warn', ...stateArgs] }));
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS * 2 });
  const per = Math.ceil(total / CLIENTS);
  const bodies = Array.from({ length: CLIENTS }, (_, c) => orderBodies(c, per, batch));
  let t0 = process.hrtime.bigint();
  await Promise.all(bodies.map(async (list, c) => {
    for (let i = 0; i < list.length; i++) await postPush(agent, procs[(c + i) % servers].port, list[i]);
  }));
  const pushSecs = Number(process.hrtime.bigint() - t0) / 1e9;
  let pulls = 0;
  t0 = process.hrtime.bigint();
  const until = Date.now() + seconds * 1000;
  await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
    for (let i = 0; Date.now() < until; i++) {
      await getPull(agent, procs[(c + i) % servers].port, Math.floor(Math.random() * per * CLIENTS));
      pulls++;
    }
  }));
  const pullSecs = Number(process.hrtime.bigint() - t0) / 1e9;
  agent.destroy();
  for (const srv of procs) await srv.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  return { label, servers, muts: per * CLIENTS, pushRate: (per * CLIENTS) / pushSecs, pullRate: pulls / pullSecs };
}

const pg = await startPostgres();
console.log(`state backends: ${total} mutations in batches of ${batch} from ${CLIENTS} clients, then ${seconds} s of ` +
  `pulls (pages of 100) from ${CLIENTS} clients; durable, --no-lake (${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)})`);
console.log('| state | servers | mutations | pushed mutations/s | pulls/s |');
console.log('|---|---:|---:|---:|---:|');
const rows = [['SQLite (default)', 1, []]];
for (const n of [1, 3]) {
  pg.createDb(`bench${n}`);
  rows.push([`PostgreSQL ${pg.version ?? ''}`.trim(), n, ['--state', pg.uri(`bench${n}`)]]);
}
for (const [label, n, a] of rows) {
  const r = await run(label, n, a);
  console.log(`| ${r.label} | ${r.servers} | ${r.muts} | ${Math.round(r.pushRate).toLocaleString('en-US')} | ` +
    `${Math.round(r.pullRate).toLocaleString('en-US')} |`);
}
pg.stop();
