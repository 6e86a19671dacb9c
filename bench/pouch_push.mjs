// Push ingest next to a peer: idbsync's durable push vs npm pouchdb-server's _bulk_docs, with the
// same documents (the ones bench/push.mjs sends), batches of 500, 1 and 16 concurrent clients,
// keep-alive, one request in flight per client, bodies serialized before the clock starts.
// pouchdb-server's LevelDOWN backend writes batches without fsync (leveldown's default
// sync:false), so idbsync is also run with --unsafe-no-fsync for a like-for-like column.
//
// usage: node bench/pouch_push.mjs [--bin build/idbsync] [--total 100000] [--batch 500] [--clients 1,16]
//                                  [--repeat N] [--pouchdb-server PATH] [--before OLD_BINARY]
// --before adds rows for an older idbsync binary (durable), run in the same minutes, so a
// change is compared with the same peer and machine load.
// pouchdb-server is found in ./node_modules/.bin, $POUCHDB_SERVER_DIR/node_modules/.bin, or
// /tmp/idbsync-pouch/node_modules/.bin; install it with `npm install --no-save pouchdb-server`
// (or `npm install --prefix /tmp/idbsync-pouch pouchdb-server` to leave ./node_modules alone).
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../tests/lib/server.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, arr) =>
  (v.startsWith('--') ? [...a, [v.slice(2), arr[i + 1]]] : a), []));
const bin = path.resolve(args.bin || process.env.IDBSYNC_BIN || path.join(ROOT, 'build/idbsync'));
const total = Number(args.total || 100000);
const batch = Number(args.batch || 500);
const clientCounts = (args.clients || '1,16').split(',').map(Number);
const repeat = Number(args.repeat || 1); // best of N runs (shared, noisy machines)
const before = args.before && path.resolve(args.before);

function findPouch() {
  const cands = [args['pouchdb-server'], path.join(ROOT, 'node_modules/.bin/pouchdb-server'),
    process.env.POUCHDB_SERVER_DIR && path.join(process.env.POUCHDB_SERVER_DIR, 'node_modules/.bin/pouchdb-server'),
    '/tmp/idbsync-pouch/node_modules/.bin/pouchdb-server'].filter(Boolean);
  return cands.find((c) => fs.existsSync(c));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

/** Same documents as bench/push.mjs: [{key, value}] per client, cut into batches. */
function makeDocs(client, n) {
  const batches = [];
  let id = 1;
  for (let done = 0; done < n; done += batch) {
    const docs = [];
    for (let i = 0; i < batch && done + i < n; i++, id++) {
      docs.push({ id, key: `${client}-${id}`, value: { id: `${client}-${id}`, customer: `customer ${id % 977}`,
        total: (id * 7.31) % 1000, items: id % 9, status: ['new', 'paid', 'shipped'][id % 3], note: 'x'.repeat(40) } });
    }
    batches.push(docs);
  }
  return batches;
}

function post(agent, port, urlPath, body, okStatus, check) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: urlPath, agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => {
        if (res.statusCode !== okStatus) return reject(new Error(`${urlPath} ${res.statusCode}: ${data.slice(0, 300)}`));
        const err = check(JSON.parse(data));
        if (err) return reject(new Error(`${urlPath}: ${err}`));
        resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function getJson(port, p) {
  return (await fetch(`http://127.0.0.1:${port}${p}`)).json();
}

function waitExit(p) {
  return new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', r)));
}

const peers = {
  async idbsync(dir, extra, exe = bin) {
    const srv = await startServer({ bin: exe, args: extra, dataDir: path.join(dir, 'data'), lakeDir: path.join(dir, 'lake') });
    const { port } = srv;
    return {
      port, stop: () => srv.stop(),
      body: (c, docs) => JSON.stringify({ client: `bench-${c}`, mutations: docs.map((d) => ({ id: d.id, store: 'orders', op: 'put', key: d.key, value: d.value })) }),
      send: (agent, body) => post(agent, port, '/v1/db/bench/push', body, 200, (j) => (j.applied + j.duplicates > 0 ? null : 'nothing applied')),
      async count() {
        const m = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return Number(m.match(/idbsync_mutations_applied_total (\d+)/)[1]);
      },
    };
  },
  async pouchdb(dir) {
    const exe = findPouch();
    const port = await freePort();
    const p = spawn(exe, ['-p', String(port), '-o', '127.0.0.1', '-d', dir, '-c', path.join(dir, 'config.json'), '-n'],
      { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    const until = Date.now() + 30000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`pouchdb-server exited ${p.exitCode}`);
      try { if ((await fetch(`http://127.0.0.1:${port}/`)).ok) break; } catch { /* not up yet */ }
      if (Date.now() > until) throw new Error('pouchdb-server did not start within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const put = await fetch(`http://127.0.0.1:${port}/bench`, { method: 'PUT' });
    if (!put.ok) throw new Error(`PUT /bench: ${put.status}`);
    return {
      port, stop: () => { p.kill('SIGTERM'); return waitExit(p); },
      body: (c, docs) => JSON.stringify({ docs: docs.map((d) => ({ _id: d.key, ...d.value })) }),
      send: (agent, body) => post(agent, port, '/bench/_bulk_docs', body, 201,
        (arr) => (Array.isArray(arr) && arr.every((r) => r.ok) ? null : `not all ok: ${JSON.stringify(arr.find((r) => !r.ok))}`)),
      async count() { return (await getJson(port, '/bench')).doc_count; },
    };
  },
};

async function run(name, start, clients) {
  let best = null;
  for (let i = 0; i < repeat; i++) {
    const r = await runOnce(name, start, clients);
    if (!best || r.rate > best.rate) best = r;
  }
  return best;
}

async function runOnce(name, start, clients) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idbsync-pouchbench-'));
  const peer = await start(dir);
  try {
    const per = Math.ceil(total / clients);
    const bodies = Array.from({ length: clients }, (_, c) => makeDocs(c, per).map((docs) => peer.body(c, docs)));
    const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
    const lat = [];
    const t0 = process.hrtime.bigint();
    await Promise.all(bodies.map(async (list) => { for (const b of list) lat.push(await peer.send(agent, b)); }));
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    agent.destroy();
    const n = await peer.count();
    if (n !== per * clients) throw new Error(`${name}: ${n} documents stored, expected ${per * clients}`);
    lat.sort((a, b) => a - b);
    return { name, clients, docs: per * clients, secs, rate: (per * clients) / secs, p50: lat[lat.length >> 1], p99: lat[Math.floor(lat.length * 0.99)] };
  } finally {
    await peer.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const pouchExe = findPouch();
if (!pouchExe) {
  console.error('pouch_push: pouchdb-server not found; install it with `npm install --no-save pouchdb-server` ' +
    '(or `npm install --prefix /tmp/idbsync-pouch pouchdb-server`), or pass --pouchdb-server PATH');
  process.exit(2);
}
const pouchVersion = JSON.parse(fs.readFileSync(path.join(path.dirname(fs.realpathSync(pouchExe)), '../package.json'), 'utf8')).version;
console.log(`push ingest: ${total} documents, batches of ${batch} (${os.cpus().length} cores, ${os.cpus()[0].model}); ` +
  `pouchdb-server ${pouchVersion} (LevelDOWN, writes not fsynced), idbsync ${bin.startsWith(ROOT) ? path.relative(ROOT, bin) : bin}` +
  `${before ? ` (before: ${before})` : ''}${repeat > 1 ? `, best of ${repeat}` : ''}; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log('| clients | peer | durable | seconds | docs/s | request p50 ms | request p99 ms | idbsync / peer |');
console.log('|---:|---|---|---:|---:|---:|---:|---:|');
for (const c of clientCounts) {
  const old = before && await run('idbsync before', (d) => peers.idbsync(d, [], before), c);
  const fsyncd = await run('idbsync', (d) => peers.idbsync(d, []), c);
  const nofsync = await run('idbsync --unsafe-no-fsync', (d) => peers.idbsync(d, ['--unsafe-no-fsync']), c);
  const pouch = await run('pouchdb-server', (d) => peers.pouchdb(d), c);
  const row = (r, durable, ratio) => console.log(`| ${c} | ${r.name} | ${durable} | ${r.secs.toFixed(2)} | ` +
    `${Math.round(r.rate).toLocaleString('en-US')} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${ratio} |`);
  if (old) row(old, 'fsync per commit', `${(old.rate / pouch.rate).toFixed(2)}x`);
  row(fsyncd, 'fsync per commit', `${(fsyncd.rate / pouch.rate).toFixed(2)}x`);
  row(nofsync, 'no fsync', `${(nofsync.rate / pouch.rate).toFixed(2)}x`);
  row(pouch, 'no fsync (LevelDB log)', '1.00x');
}
console.log(`load average at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
