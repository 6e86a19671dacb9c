// Browser client benchmark: capture overhead (the same puts with and without idbsync) and push
// throughput of 100k records from a browser to a real `idbsync serve`. Prints a table.
// usage: node bench/client.mjs [--bin build/idbsync] [--sizes 10000,100000] [--push 100000] [--reps 3]
import { startServer, launchBrowser, prepareContext, openPage } from '../tests/browser/lib/harness.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, arr) => (v.startsWith('--') ? [...a, [v.slice(2), arr[i + 1]]] : a), []));
if (args.bin) process.env.IDBSYNC_BIN = args.bin;
const sizes = (args.sizes || '10000,100000').split(',').map(Number);
const pushN = Number(args.push || 100000);
const reps = Number(args.reps || 3);

const srv = await startServer();
const browser = await launchBrowser();
const ctx = await prepareContext(await browser.newContext());
const page = await openPage(ctx, srv);

// One run: n puts in transactions of txSize, into a fresh database, synced or not. Returns ms.
const run = (n, txSize, synced, name) => page.evaluate(async ({ n, txSize, synced, name }) => {
  const upgrade = (db) => db.createObjectStore('orders', { keyPath: 'id' });
  let db, s;
  if (synced) { s = await window.idbsync.openSynced(name, 1, { url: location.origin, background: false, upgrade }); db = s.db; }
  else db = await new Promise((res, rej) => { const r = indexedDB.open(name, 1); r.onupgradeneeded = () => upgrade(r.result); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
  const t0 = performance.now();
  for (let b = 0; b < n; b += txSize) {
    await new Promise((res, rej) => {
      const tx = db.transaction('orders', 'readwrite');
      const st = tx.objectStore('orders');
      for (let i = b; i < Math.min(n, b + txSize); i++) {
        st.put({ id: i, customer: 'customer ' + (i % 977), total: (i * 7.31) % 1000, items: i % 9, status: ['new', 'paid', 'shipped'][i % 3], note: 'x'.repeat(40) });
      }
      tx.oncomplete = res; tx.onabort = () => rej(tx.error);
    });
  }
  const ms = performance.now() - t0;
  if (s) s.close(); else db.close();
  await new Promise((res) => { const r = indexedDB.deleteDatabase(name); r.onsuccess = r.onerror = res; });
  return ms;
}, { n, txSize, synced, name });

const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
const rows = [];
let k = 0;
for (const [n, txSize] of [...sizes.map((n) => [n, 1000]), [2000, 1]]) {
  const raw = [], cap = [];
  for (let r = 0; r < reps; r++) {   // interleaved so machine noise hits both alike
    raw.push(await run(n, txSize, false, 'raw' + k++));
    cap.push(await run(n, txSize, true, 'cap' + k++));
  }
  const a = median(raw), b = median(cap);
  rows.push([`${n} puts, ${txSize}/tx`, a.toFixed(0), b.toFixed(0), (b / a).toFixed(2) + 'x']);
}

const push = await page.evaluate(async (N) => {
  const s = await window.idbsync.openSynced('pushbench', 1, { url: location.origin, background: false, upgrade: (db) => db.createObjectStore('orders', { keyPath: 'id' }) });
  for (let b = 0; b < N; b += 1000) {
    await new Promise((res) => {
      const tx = s.db.transaction('orders', 'readwrite');
      const st = tx.objectStore('orders');
      for (let i = b; i < b + 1000; i++) st.put({ id: i, customer: 'customer ' + (i % 977), total: (i * 7.31) % 1000, items: i % 9, status: 'new', note: 'x'.repeat(40) });
      tx.oncomplete = res;
    });
  }
  const t0 = performance.now();
  await s.sync();
  const ms = performance.now() - t0;
  s.close();
  return ms;
}, pushN);

await browser.close();
await srv.stop();

console.log('\nidbsync browser client: capture overhead (median of ' + reps + ', Chromium, same records)\n');
console.log('| workload | raw IndexedDB ms | with idbsync ms | ratio |');
console.log('|---|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
console.log(`\npush: ${pushN} records browser -> idbsync serve (fsync on, batches of 500): ${push.toFixed(0)} ms, ${Math.round(pushN / push * 1000)} mutations/s`);
console.log('TODO: PouchDB comparison (PouchDB -> CouchDB replication of the same records) is not implemented yet.');
