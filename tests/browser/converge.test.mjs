// Two browser contexts (two "devices") editing one database converge; conflicts resolve by the
// server's rule (lww, merge) and raise `conflict` where a local change lost; offline writes queue.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, prepareContext, openPage, serverPull, until } from './lib/harness.mjs';

let srv, browser, A, B, ctxA, ctxB;
before(async () => {
  srv = await startServer({ args: ['--conflict', 'orders=lww', '--conflict', 'notes=merge'] });
  browser = await launchBrowser();
  ctxA = await prepareContext(await browser.newContext());
  ctxB = await prepareContext(await browser.newContext());
  A = await openPage(ctxA, srv);
  B = await openPage(ctxB, srv);
});
after(async () => { await browser?.close(); await srv?.stop(); });

// In-page helpers: open a synced db as window.s, record events, read a store.
async function setup(page, name, background) {
  await page.evaluate(async ({ name, background }) => {
    const { openSynced } = window.idbsync;
    window.events = { change: [], conflict: [], status: [] };
    window.s = await openSynced(name, 1, {
      url: location.origin, background, retryMin: 100, retryMax: 1000,
      upgrade(db) { db.createObjectStore('orders', { keyPath: 'id' }); db.createObjectStore('notes', { keyPath: 'id' }); },
    });
    for (const t of ['change', 'conflict', 'status']) window.s.addEventListener(t, (e) => window.events[t].push(e.detail));
    window.put = (store, v) => new Promise((res, rej) => {
      const tx = window.s.db.transaction(store, 'readwrite');
      tx.objectStore(store).put(v);
      tx.oncomplete = res; tx.onabort = () => rej(tx.error);
    });
    window.all = (store) => new Promise((res) => { window.s.db.transaction(store).objectStore(store).getAll().onsuccess = (e) => res(e.target.result); });
  }, { name, background });
}
const all = (page, store) => page.evaluate((st) => window.all(st), store);

test('two contexts converge with background sync (live pull)', async () => {
  await setup(A, 'live', true);
  await setup(B, 'live', true);
  await A.evaluate(async () => { for (let i = 1; i <= 10; i++) await window.put('orders', { id: i, item: 'a' + i }); });
  await until(async () => (await all(B, 'orders')).length === 10, 15000, 'B sees A\'s rows');
  await B.evaluate(() => window.put('orders', { id: 3, item: 'edited by B' }));
  await until(async () => (await all(A, 'orders')).find((o) => o.id === 3).item === 'edited by B', 15000, 'A sees B\'s edit');
  const changes = await B.evaluate(() => window.events.change.flatMap((d) => d.changes).length);
  assert.ok(changes >= 10, 'B got change events');
  await A.evaluate(() => window.s.close());
  await B.evaluate(() => window.s.close());
});

test('lww conflict: the later write wins, the loser gets a conflict event and converges', async () => {
  await setup(A, 'conf', false);
  await setup(B, 'conf', false);
  await A.evaluate(async () => { await window.put('orders', { id: 1, item: 'base' }); await window.s.sync(); });
  await B.evaluate(() => window.s.sync());
  await A.evaluate(() => window.put('orders', { id: 1, item: 'from A (older)' }));
  await new Promise((r) => setTimeout(r, 20));
  await B.evaluate(() => window.put('orders', { id: 1, item: 'from B (newer)' }));
  await B.evaluate(() => window.s.sync());
  await A.evaluate(() => window.s.sync());   // A's older write loses
  const ca = await A.evaluate(() => window.events.conflict);
  assert.equal(ca.length, 1);
  assert.equal(ca[0].rule, 'lww');
  assert.equal(ca[0].store, 'orders');
  assert.equal(ca[0].key, 1);
  assert.equal(ca[0].local.value.item, 'from A (older)');
  assert.equal(ca[0].winner.value.item, 'from B (newer)');
  await B.evaluate(() => window.s.sync());
  assert.equal((await all(A, 'orders'))[0].item, 'from B (newer)');
  assert.equal((await all(B, 'orders'))[0].item, 'from B (newer)');
  assert.equal((await B.evaluate(() => window.events.conflict)).length, 0);
});

test('merge conflict: per-field last-writer-wins, both converge to the merged row', async () => {
  await A.evaluate(async () => { window.events.conflict = []; });
  // Disjoint fields merge without a conflict.
  await A.evaluate(() => window.put('notes', { id: 1, title: 'title by A' }));
  await B.evaluate(() => window.put('notes', { id: 1, body: 'body by B' }));
  await A.evaluate(() => window.s.sync());
  await B.evaluate(() => window.s.sync());
  await A.evaluate(() => window.s.sync());
  const merged = { id: 1, title: 'title by A', body: 'body by B' };
  assert.deepEqual((await all(A, 'notes'))[0], merged);
  assert.deepEqual((await all(B, 'notes'))[0], merged);
  // The same field: B writes later, A pushes later and loses that field.
  await B.evaluate(() => window.put('notes', { id: 2, title: 'B', tag: 'b' }));
  await new Promise((r) => setTimeout(r, 20));
  await A.evaluate(() => window.put('notes', { id: 2, title: 'A', color: 'red' }));
  await new Promise((r) => setTimeout(r, 20));
  await B.evaluate(() => window.put('notes', { id: 2, title: 'B again', tag: 'b' }));
  await B.evaluate(() => window.s.sync());
  await A.evaluate(() => window.s.sync());
  await B.evaluate(() => window.s.sync());
  const ca = await A.evaluate(() => window.events.conflict);
  assert.equal(ca.length, 1, 'A lost the title field');
  assert.equal(ca[0].rule, 'merge');
  const a = (await all(A, 'notes')).find((n) => n.id === 2);
  const b = (await all(B, 'notes')).find((n) => n.id === 2);
  assert.deepEqual(a, b);
  assert.equal(a.title, 'B again');
  assert.equal(a.color, 'red', 'A\'s own field survives the merge');
  const server = (await serverPull(srv, 'conf')).find((c) => c.store === 'notes' && c.key === 2);
  assert.deepEqual(server.value, a);
});

test('offline: writes queue, pending() counts them, back online they sync', async () => {
  await A.evaluate(() => { window.s.start(); });
  await ctxA.setOffline(true);
  await A.evaluate(async () => { for (let i = 100; i < 120; i++) await window.put('orders', { id: i, item: 'offline' }); });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await A.evaluate(() => window.s.pending()), 20);
  const st = await A.evaluate(() => window.s.status);
  assert.equal(st.online, false);
  assert.equal((await serverPull(srv, 'conf')).filter((c) => c.key >= 100).length, 0);
  await ctxA.setOffline(false);
  await until(() => A.evaluate(async () => (await window.s.pending()) === 0), 15000, 'A pushed after going online');
  assert.equal((await serverPull(srv, 'conf')).filter((c) => c.key >= 100).length, 20);
  assert.equal((await A.evaluate(() => window.s.status)).online, true);
  await B.evaluate(() => window.s.sync());
  assert.equal((await all(B, 'orders')).filter((o) => o.id >= 100).length, 20);
});
