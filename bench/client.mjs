// Browser client benchmark: capture overhead (the same puts with and without idbsync), push
// throughput of 100k records from a browser to a real `idbsync serve`, and the same records
// replicated by PouchDB (pouchdb-browser, IndexedDB adapter) to pouchdb-server. Prints tables.
// usage: node bench/client.mjs [--bin build/idbsync] [--static DIR] [--sizes 10000,100000] [--push 100000]
//                              [--reps 3] [--pouch 1|0] [--pouch-batch 1000] [--only capture|push]
//                              [--baseline DIR] [--initial 1000000]
// --only initial: a fresh browser's first sync of --initial rows (orders-like, ~150 bytes) seeded on
// the server, next to raw IndexedDB storing the same rows with the best of several batch sizes
// (issue 15's target: at most 1.5x), with the longest main-thread task and the progress events, and a
// control: how many 4 ms tasks of the same page become long tasks at the current load.
// --static DIR serves another copy of the client (DIR/client), e.g. an older one, for before/after.
// --baseline DIR adds a column to the capture table: the client in DIR/client, run interleaved with
// the current one in the same process (before/after under the same machine noise).
// Pages are opened without Playwright request interception (it would proxy every request through
// node and halve the throughput measured).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { startServer, launchBrowser, tempDir, SRC } from '../tests/browser/lib/harness.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, arr) => (v.startsWith('--') ? [...a, [v.slice(2), arr[i + 1]]] : a), []));
const bin = args.bin ? path.resolve(args.bin) : undefined; // undefined: the harness's BIN
const sizes = (args.sizes || '10000,100000').split(',').map(Number);
const pushN = Number(args.push || 100000);
const reps = Number(args.reps || 3);
const withPouch = args.pouch !== '0';
const pouchBatch = Number(args['pouch-batch'] || 1000);
const only = args.only || 'all';
const staticArgs = args.static ? ['--static', args.static] : [];
const baseline = args.baseline || null;

const browser = await launchBrowser();

/** A page on srv's origin (no request interception) with the client as window.idbsync. */
async function clientPage(srv) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  await page.goto(srv.url + '/healthz');
  await page.evaluate(async () => { window.idbsync = await import('/client/idbsync.js'); });
  return { ctx, page };
}

// The records of every workload (same shape for idbsync and PouchDB).
const RECORD = `({ id: i, customer: 'customer ' + (i % 977), total: (i * 7.31) % 1000, items: i % 9, status: ['new', 'paid', 'shipped'][i % 3], note: 'x'.repeat(40) })`;

// ------------------------------------------------------------------ capture overhead
const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
const captureRows = [];
if (only === 'all' || only === 'capture') {
  const srv = await startServer({ bin, args: staticArgs });
  const pages = [await clientPage(srv)];
  const base = baseline ? await startServer({ bin, args: ['--static', baseline] }) : null;
  if (base) pages.push(await clientPage(base));
  for (const { page } of pages) await page.evaluate((src) => { window.record = new Function('i', 'return ' + src); }, RECORD);
  // One run: n puts in transactions of txSize, into a fresh database, synced or not. Returns ms.
  const run = (page, n, txSize, synced, name) => page.evaluate(async ({ n, txSize, synced, name }) => {
    const upgrade = (db) => db.createObjectStore('orders', { keyPath: 'id' });
    let db, s;
    if (synced) { s = await window.idbsync.openSynced(name, 1, { url: location.origin, background: false, upgrade }); db = s.db; }
    else db = await new Promise((res, rej) => { const r = indexedDB.open(name, 1); r.onupgradeneeded = () => upgrade(r.result); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
    const t0 = performance.now();
    for (let b = 0; b < n; b += txSize) {
      await new Promise((res, rej) => {
        const tx = db.transaction('orders', 'readwrite');
        const st = tx.objectStore('orders');
        for (let i = b; i < Math.min(n, b + txSize); i++) st.put(window.record(i));
        tx.oncomplete = res; tx.onabort = () => rej(tx.error);
      });
    }
    const ms = performance.now() - t0;
    if (s) s.close(); else db.close();
    await new Promise((res) => { const r = indexedDB.deleteDatabase(name); r.onsuccess = r.onerror = res; });
    return ms;
  }, { n, txSize, synced, name });
  let k = 0;
  for (const [n, txSize] of [...sizes.map((n) => [n, 1000]), [2000, 1]]) {
    const raw = [], cap = [], old = [];
    for (let r = 0; r < reps; r++) {   // interleaved so machine noise hits all alike
      raw.push(await run(pages[0].page, n, txSize, false, 'raw' + k++));
      cap.push(await run(pages[0].page, n, txSize, true, 'cap' + k++));
      if (base) old.push(await run(pages[1].page, n, txSize, true, 'old' + k++));
    }
    const a = median(raw), b = median(cap);
    const row = [`${n} puts, ${txSize}/tx`, a.toFixed(0), b.toFixed(0), (b / a).toFixed(2) + 'x'];
    if (base) { const c = median(old); row.push(c.toFixed(0), (c / a).toFixed(2) + 'x'); }
    captureRows.push(row);
  }
  for (const { ctx } of pages) await ctx.close();
  await srv.stop();
  if (base) await base.stop();
}

// ------------------------------------------------------------------ idbsync push
// Writes N records (1000 per transaction), then times the push alone (outbox -> server, each
// batch durable) and the pull that follows (the server returns our own rows with their seq).
async function idbsyncPush(serverArgs, options = {}) {
  const srv = await startServer({ bin, args: [...staticArgs, ...serverArgs] });
  const { ctx, page } = await clientPage(srv);
  const r = await page.evaluate(async ({ N, src, options }) => {
    const record = new Function('i', 'return ' + src);
    const s = await window.idbsync.openSynced('pushbench', 1, { url: location.origin, background: false, ...options, upgrade: (db) => db.createObjectStore('orders', { keyPath: 'id' }) });
    for (let b = 0; b < N; b += 1000) {
      await new Promise((res) => {
        const tx = s.db.transaction('orders', 'readwrite');
        const st = tx.objectStore('orders');
        for (let i = b; i < b + 1000; i++) st.put(record(i));
        tx.oncomplete = res;
      });
    }
    const t0 = performance.now();
    await s.tabs.io(() => s.pushAll());
    const t1 = performance.now();
    await s.sync();
    const t2 = performance.now();
    const pending = await s.pending();
    s.close();
    return { push: t1 - t0, pull: t2 - t1, pending };
  }, { N: pushN, src: RECORD, options });
  const rows = (await fetch(`${srv.url}/v1/db/pushbench/stores`).then((x) => x.json())).stores[0].rows;
  await ctx.close();
  await srv.stop();
  if (rows !== pushN || r.pending) throw new Error(`idbsync push: server has ${rows} rows, ${r.pending} pending`);
  return r;
}

// ------------------------------------------------------------------ PouchDB
// pouchdb-server (in-memory: its LevelDOWN backend needs a native build) and pouchdb-browser's ES
// module served from node_modules by a small static server (its four bare imports mapped below).
const NM = path.join(SRC, 'node_modules');
const cjs = (file) => `const module = { exports: {} }; const exports = module.exports;\n${fs.readFileSync(file, 'utf8')}\nexport default module.exports;\n`;
const EVENTS_SHIM = `
function EventEmitter() { this._ev = new Map(); }
const P = EventEmitter.prototype;
P._l = function (t) { if (!this._ev) this._ev = new Map(); let l = this._ev.get(t); if (!l) this._ev.set(t, (l = [])); return l; };
P.on = P.addListener = function (t, f) { this._l(t).push(f); return this; };
P.prependListener = function (t, f) { this._l(t).unshift(f); return this; };
P.once = function (t, f) { const w = (...a) => { this.removeListener(t, w); f.apply(this, a); }; w.listener = f; return this.on(t, w); };
P.off = P.removeListener = function (t, f) { const l = this._l(t); const i = l.findIndex((x) => x === f || x.listener === f); if (i >= 0) l.splice(i, 1); return this; };
P.removeAllListeners = function (t) { if (!this._ev) return this; if (t === undefined) this._ev.clear(); else this._ev.delete(t); return this; };
P.emit = function (t, ...a) { const l = this._l(t).slice(); if (!l.length && t === 'error') console.error(a[0]); for (const f of l) f.apply(this, a); return l.length > 0; };
P.listeners = function (t) { return this._l(t).map((f) => f.listener || f); };
P.listenerCount = function (t) { return this._l(t).length; };
P.setMaxListeners = function () { return this; };
P.getMaxListeners = function () { return Infinity; };
EventEmitter.listenerCount = (ee, t) => ee.listenerCount(t);
EventEmitter.EventEmitter = EventEmitter;
export default EventEmitter;
export { EventEmitter };
`;
const POUCH_PAGE = `<!doctype html><title>pouch</title><script type="importmap">{"imports":{
"spark-md5":"/vendor/spark-md5.js","vuvuzela":"/vendor/vuvuzela.js","events":"/vendor/events.js","uuid":"/vendor/uuid/index.js"}}</script><body></body>`;

function serveStatic() {
  const files = {
    '/': ['text/html', () => POUCH_PAGE],
    '/vendor/pouchdb.js': ['text/javascript', () => fs.readFileSync(path.join(NM, 'pouchdb-browser/lib/index.es.js'))],
    '/vendor/spark-md5.js': ['text/javascript', () => cjs(path.join(NM, 'spark-md5/spark-md5.js'))],
    '/vendor/vuvuzela.js': ['text/javascript', () => cjs(path.join(NM, 'vuvuzela/index.js'))],
    '/vendor/events.js': ['text/javascript', () => EVENTS_SHIM],
  };
  const server = http.createServer((req, res) => {
    const p = new URL(req.url, 'http://x').pathname;
    let f = files[p];
    if (!f && p.startsWith('/vendor/uuid/')) {
      const file = path.join(NM, 'uuid/dist/esm-browser', path.basename(p));
      if (fs.existsSync(file)) f = ['text/javascript', () => fs.readFileSync(file)];
    }
    if (!f) { res.writeHead(404); return res.end(); }
    res.writeHead(200, { 'content-type': f[0] });
    res.end(f[1]());
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

async function startPouchServer() {
  const bin = path.join(NM, '.bin/pouchdb-server');
  if (!fs.existsSync(bin)) throw new Error('pouchdb-server is not installed (npm install)');
  const dir = tempDir();
  const port = await new Promise((r) => { const t = net.createServer().listen(0, '127.0.0.1', () => { const p = t.address().port; t.close(() => r(p)); }); });
  const proc = spawn(bin, ['--in-memory', '--host', '127.0.0.1', '--port', String(port), '--no-color'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const url = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('pouchdb-server did not start: ' + log)), 20000);
    readline.createInterface({ input: proc.stdout }).on('line', (l) => {
      log += l + '\n';
      const m = /has started on (http:\/\/127\.0\.0\.1:(\d+))/.exec(l);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
    proc.once('exit', (c) => { clearTimeout(t); reject(new Error(`pouchdb-server exited ${c}: ${log}`)); });
  });
  return { url, stop: () => new Promise((r) => { proc.once('exit', r); proc.kill('SIGTERM'); }) };
}

async function pouchPush() {
  const remote = await startPouchServer();
  const web = await serveStatic();
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('[pageerror]', e.message));
    await page.goto(`http://127.0.0.1:${web.address().port}/`);
    const r = await page.evaluate(async ({ N, src, remote, batch }) => {
      const { default: PouchDB } = await import('/vendor/pouchdb.js');
      const record = new Function('i', 'return ' + src);
      const local = new PouchDB('pouchbench');
      for (let b = 0; b < N; b += 1000) {
        const docs = [];
        for (let i = b; i < b + 1000; i++) docs.push({ _id: String(i).padStart(8, '0'), ...record(i) });
        await local.bulkDocs(docs);
      }
      const t0 = performance.now();
      const res = await PouchDB.replicate(local, remote + '/pouchbench', { batch_size: batch });
      const ms = performance.now() - t0;
      const info = await new PouchDB(remote + '/pouchbench').info();
      return { ms, written: res.docs_written, remoteDocs: info.doc_count, adapter: local.adapter };
    }, { N: pushN, src: RECORD, remote: remote.url, batch: pouchBatch });
    if (r.remoteDocs !== pushN) throw new Error(`PouchDB: server has ${r.remoteDocs} docs`);
    return r;
  } finally {
    await ctx.close();
    web.close();
    await remote.stop();
  }
}

// ------------------------------------------------------------------ initial sync of a big store
const initialN = Number(args.initial || 1000000);
let initial = null;
async function initialSync() {
  const srv = await startServer({ bin, args: [...staticArgs, '--unsafe-no-fsync', '--no-lake'] });
  const record = new Function('i', 'return ' + RECORD);
  const t0 = Date.now();
  for (let b = 0, id = 0; b < initialN; b += 5000) {
    const mutations = [];
    for (let i = b; i < Math.min(initialN, b + 5000); i++) mutations.push({ id: ++id, store: 'orders', op: 'put', key: i, value: record(i) });
    const r = await fetch(`${srv.url}/v1/db/initbench/push`, { method: 'POST', body: JSON.stringify({ client: 'seed', mutations }) }).then((x) => x.json());
    if (r.ack !== id) throw new Error('seeding: ' + JSON.stringify(r).slice(0, 200));
  }
  const seedMs = Date.now() - t0;
  const { ctx, page } = await clientPage(srv);
  // Raw IndexedDB: the same rows, generated in the page, best of these transaction sizes.
  const raw = {};
  for (const per of [1000, 10000, 50000]) {
    raw[per] = await page.evaluate(async ({ N, src, per }) => {
      const record = new Function('i', 'return ' + src);
      const name = 'raw' + per;
      const db = await new Promise((res, rej) => { const r = indexedDB.open(name, 1); r.onupgradeneeded = () => r.result.createObjectStore('orders', { keyPath: 'id' }); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
      const t = performance.now();
      for (let b = 0; b < N; b += per) {
        await new Promise((res, rej) => {
          const tx = db.transaction('orders', 'readwrite', { durability: 'relaxed' });
          const st = tx.objectStore('orders');
          for (let i = b; i < Math.min(N, b + per); i++) st.put(record(i));
          tx.oncomplete = res; tx.onabort = () => rej(tx.error);
        });
      }
      const ms = performance.now() - t;
      db.close();
      await new Promise((res) => { const r = indexedDB.deleteDatabase(name); r.onsuccess = r.onerror = res; });
      return ms;
    }, { N: initialN, src: RECORD, per });
  }
  // Control: the same page running nothing but 4 ms tasks for 10 s. On a loaded machine the OS
  // deschedules the main thread mid-task, so even these become "long tasks": count them too.
  const control = await page.evaluate(() => new Promise((resolve) => {
    let n = 0, longest = 0;
    const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) { n++; longest = Math.max(longest, e.duration); } });
    obs.observe({ type: 'longtask' });
    const end = performance.now() + 10000;
    const tick = () => {
      const t = performance.now();
      while (performance.now() - t < 4) { /* busy */ }
      if (performance.now() < end) setTimeout(tick, 0);
      else setTimeout(() => { obs.disconnect(); resolve({ n, longest, tasks: Math.round(10000 / 4) }); }, 100);
    };
    tick();
  }));
  const r = await page.evaluate(async ({ N }) => {
    let longest = 0, longTasks = 0, progress = 0;
    const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) { longTasks++; longest = Math.max(longest, e.duration); } });
    obs.observe({ type: 'longtask', buffered: false });
    const t = performance.now();
    const s = await window.idbsync.openSynced('initbench', 1, { url: location.origin, background: false, upgrade: (db) => db.createObjectStore('orders', { keyPath: 'id' }) });
    s.addEventListener('status', (e) => { if (e.detail.pulled) progress++; });
    await s.sync();
    const ms = performance.now() - t;
    const count = await new Promise((res) => { s.db.transaction('orders').objectStore('orders').count().onsuccess = (e) => res(e.target.result); });
    const heap = performance.memory ? Math.round(performance.memory.usedJSHeapSize / 1048576) : null;
    obs.disconnect();
    s.close();
    return { ms, count, longest, longTasks, progress, heap };
  }, { N: initialN });
  await ctx.close();
  await srv.stop();
  if (r.count !== initialN) throw new Error(`initial sync: ${r.count} of ${initialN} rows`);
  return { ...r, raw, seedMs, control };
}
if (only === 'initial') initial = await initialSync();

let push = null, pushNoSync = null, pouch = null, pouchError = null;
if (only === 'all' || only === 'push') {
  push = await idbsyncPush([]);
  pushNoSync = await idbsyncPush(['--unsafe-no-fsync']);
  if (withPouch) { try { pouch = await pouchPush(); } catch (e) { pouchError = e.message; } }
}
await browser.close();

const rate = (ms) => Math.round(pushN / ms * 1000);
if (initial) {
  const best = Math.min(...Object.values(initial.raw));
  console.log(`\nInitial sync of ${initialN} rows into a fresh browser (Chromium), server seeded in ${initial.seedMs} ms\n`);
  console.log('| what | ms | rows/s | vs best raw |');
  console.log('|---|---:|---:|---:|');
  for (const [per, ms] of Object.entries(initial.raw)) console.log(`| raw IndexedDB, ${per} puts per transaction (relaxed) | ${ms.toFixed(0)} | ${Math.round(initialN / ms * 1000)} | ${(ms / best).toFixed(2)}x |`);
  console.log(`| idbsync openSynced + sync() (pull + apply) | ${initial.ms.toFixed(0)} | ${Math.round(initialN / initial.ms * 1000)} | ${(initial.ms / best).toFixed(2)}x |`);
  console.log(`\nlong tasks during the sync: ${initial.longTasks}, longest ${initial.longest.toFixed(0)} ms; status events with progress: ${initial.progress}; JS heap after: ${initial.heap} MiB`);
  console.log(`control, 10 s of 4 ms tasks in the same page before the sync: ${initial.control.n} long tasks, longest ${initial.control.longest.toFixed(0)} ms (load ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} at the end)`);
}
if (captureRows.length) {
  console.log('\nidbsync browser client: capture overhead (median of ' + reps + ', Chromium, same records)\n');
  if (baseline) {
    console.log(`| workload | raw IndexedDB ms | with idbsync ms | ratio | baseline (${baseline}) ms | baseline ratio |`);
    console.log('|---|---:|---:|---:|---:|---:|');
  } else {
    console.log('| workload | raw IndexedDB ms | with idbsync ms | ratio |');
    console.log('|---|---:|---:|---:|');
  }
  for (const r of captureRows) console.log(`| ${r.join(' | ')} |`);
}
if (push) {
  console.log(`\n${pushN} records, browser (Chromium) -> server, written 1000 per transaction before the timer starts\n`);
  console.log('| system | what is timed | ms | records/s |');
  console.log('|---|---|---:|---:|');
  console.log(`| idbsync (fsync per group commit) | push (outbox -> server, acked) | ${push.push.toFixed(0)} | ${rate(push.push)} |`);
  console.log(`| idbsync (fsync per group commit) | then pull back own rows + base seqs | ${push.pull.toFixed(0)} | ${rate(push.pull)} |`);
  console.log(`| idbsync (--unsafe-no-fsync) | push | ${pushNoSync.push.toFixed(0)} | ${rate(pushNoSync.push)} |`);
  if (pouch) {
    console.log(`| PouchDB ${pouch.adapter} -> pouchdb-server (in-memory) | replicate, batch_size ${pouchBatch} | ${pouch.ms.toFixed(0)} | ${rate(pouch.ms)} |`);
    console.log(`\nidbsync push / PouchDB replicate: ${(pouch.ms / push.push).toFixed(1)}x faster (idbsync durable, pouchdb-server in memory)`);
  } else if (withPouch) {
    console.log(`\nPouchDB comparison failed: ${pouchError}`);
  }
}
