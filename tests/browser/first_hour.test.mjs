// The web developer's first hour (issue 15), each in a fresh page: Dexie set up exactly as
// docs/getting-started.md says syncs; enableSync refuses a connection whose writes it cannot
// capture; a store added by a later app version receives the rows that existed before (also
// after a reload), and resync() / resync(store) bring back what the local copy lost; Dexie's
// liveQuery sees rows pushed by another client; offline is a status, not a stream of errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, prepareContext, openPage, serverPull, until } from './lib/harness.mjs';

let srv, browser;
before(async () => { srv = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await srv?.stop(); });

/** A fresh page (own storage) on the server origin, nothing imported yet. */
async function freshPage() {
  const context = await prepareContext(await browser.newContext());
  const page = await openPage(context, srv, { module: null });
  return { context, page };
}

/** Pushes rows as another client would (straight to the server). */
const seedIds = new Map();   // db -> the seeder's last mutation id there
async function seed(db, store, rows) {
  for (let i = 0; i < rows.length; i += 500) {
    let id = seedIds.get(db) || 0;
    const mutations = rows.slice(i, i + 500).map((v) => ({ id: ++id, store, op: 'put', key: v.id, value: v }));
    seedIds.set(db, id);
    const r = await fetch(`${srv.url}/v1/db/${db}/push`, { method: 'POST', body: JSON.stringify({ client: 'seeder', mutations }) });
    const body = await r.json();
    assert.equal(body.ack, id, JSON.stringify(body));
  }
}

test('Dexie as docs/getting-started.md shows it: its writes reach the server', async () => {
  const { context, page } = await freshPage();
  // The guide's code, imports in its order (Dexie, then idbsync), in a page that never loaded idbsync.
  await page.evaluate(async () => {
    const { default: Dexie } = await import('/vendor/dexie.mjs');
    const { enableSync, DEXIE_STORES } = await import('/client/idbsync.js');
    const url = location.origin;
    const dx = new Dexie('todos');
    dx.version(1).stores({ items: 'id, done', ...DEXIE_STORES });
    await dx.open();
    const s = await enableSync(dx.backendDB(), { url });
    await dx.items.put({ id: 3, title: 'with Dexie' });
    window.s = s;
  });
  const row = await until(async () => (await serverPull(srv, 'todos')).find((c) => c.store === 'items' && c.key === 3), 10000,
    'the Dexie write on the server');
  assert.deepEqual(row.value, { id: 3, title: 'with Dexie' });
  await until(() => page.evaluate(async () => (await window.s.pending()) === 0), 5000, 'the outbox acknowledged');   // the ack lands after the server has the row
  await context.close();
});

test('enableSync on a connection opened before idbsync was loaded throws a SchemaError', async () => {
  const { context, page } = await freshPage();
  const r = await page.evaluate(async () => {
    const { default: Dexie } = await import('/vendor/dexie.mjs');
    const dx = new Dexie('early');
    dx.version(1).stores({ items: 'id', _idbsync_outbox: '++', _idbsync_meta: '', _idbsync_base: '', _idbsync_rejected: '++' });
    await dx.open();   // Dexie keeps IndexedDB's own transaction() now
    const { enableSync } = await import('/client/idbsync.js');
    try {
      await enableSync(dx.backendDB(), { url: location.origin });
      return 'no error';
    } catch (e) {
      return { name: e.name, code: e.code, message: e.message };
    }
  });
  assert.equal(r.code, 'schema', JSON.stringify(r));
  assert.match(r.message, /opened before idbsync was loaded/);
  await context.close();
});

test('a store added in a later app version receives the rows that existed before; resync() and resync(store)', async () => {
  const N = 1000;
  await seed('grow', 'later', Array.from({ length: N }, (_, i) => ({ id: i + 1, v: `row ${i + 1}` })));
  await seed('grow', 'a', [{ id: 1, v: 'a1' }, { id: 2, v: 'a2' }]);
  const { context, page } = await freshPage();
  const count = (store) => page.evaluate((st) => new Promise((res) => {
    window.s.db.transaction(st).objectStore(st).count().onsuccess = (e) => res(e.target.result);
  }), store);
  const open = (version, upgrade) => page.evaluate(async ({ version, upgrade }) => {
    if (window.s) window.s.close();
    window.idbsync = await import('/client/idbsync.js');
    window.s = await window.idbsync.openSynced('grow', version, {
      url: location.origin, background: false, upgrade: new Function('db', 'old', 'nv', 'tx', upgrade),
    });
    await window.s.sync();
  }, { version, upgrade });

  // v1: only store a; the pull's cursor moves past every row of `later`.
  await open(1, "db.createObjectStore('a', { keyPath: 'id' });");
  assert.equal(await count('a'), 2);
  // v2 adds `later`: it gets the N rows from before.
  await open(2, "if (old < 1) db.createObjectStore('a', { keyPath: 'id' }); db.createObjectStore('later', { keyPath: 'id' });");
  assert.equal(await count('later'), N, 'the new store received the rows that existed before it');
  // After a reload too.
  await page.reload();
  await open(2, '');
  assert.equal(await count('later'), N);

  // The local copy loses rows behind idbsync's back (writes in an upgrade are not captured):
  // resync('later') brings them back, resync() also removes a row the server never had.
  await open(3, "tx.objectStore('later').clear(); tx.objectStore('a').delete(1); tx.objectStore('a').put({ id: 99, v: 'local only' });");
  assert.equal(await count('later'), 0);
  await page.evaluate(() => window.s.resync('later'));
  assert.equal(await count('later'), N);
  assert.equal(await count('a'), 2, 'resync(store) leaves the other stores alone');
  await page.evaluate(() => window.s.resync());
  const a = await page.evaluate(() => new Promise((res) => { window.s.db.transaction('a').objectStore('a').getAll().onsuccess = (e) => res(e.target.result); }));
  assert.deepEqual(a, [{ id: 1, v: 'a1' }, { id: 2, v: 'a2' }]);
  assert.equal(await count('later'), N);
  await assert.rejects(page.evaluate(() => window.s.resync('nope')), /not a synced store/);
  await context.close();
});

test('Dexie liveQuery sees a row pushed by another client', async () => {
  const { context, page } = await freshPage();
  const db = 'live';
  await page.evaluate(async (db) => {
    const { default: Dexie, liveQuery } = await import('/vendor/dexie.mjs');
    const { enableSync, DEXIE_STORES } = await import('/client/idbsync.js');
    const dx = new Dexie(db);
    dx.version(1).stores({ items: 'id, done', ...DEXIE_STORES });
    await dx.open();
    window.s = await enableSync(dx.backendDB(), { url: location.origin });
    window.all = null; window.undone = null;
    liveQuery(() => dx.items.toArray()).subscribe((v) => { window.all = v; });
    liveQuery(() => dx.items.where('done').equals(0).toArray()).subscribe((v) => { window.undone = v; });
    await dx.items.put({ id: 1, title: 'mine', done: 1 });
  }, db);
  await until(() => page.evaluate(() => window.all && window.all.length === 1), 5000, 'the first liveQuery result');
  await seed(db, 'items', [{ id: 2, title: 'from another client', done: 0 }]);
  await until(() => page.evaluate(() => window.all.length === 2 && window.undone && window.undone.length === 1), 10000,
    'liveQuery results with the synced row');
  assert.deepEqual(await page.evaluate(() => window.undone), [{ id: 2, title: 'from another client', done: 0 }]);
  await context.close();
});

test('offline: no requests and no error events while offline, status online:false, pushes on `online`', async () => {
  const { context, page } = await freshPage();
  await page.evaluate(async () => {
    window.idbsync = await import('/client/idbsync.js');
    window.s = await window.idbsync.openSynced('off', 1, {
      url: location.origin, retryMin: 50, retryMax: 400,
      upgrade(db) { db.createObjectStore('items', { keyPath: 'id' }); },
    });
    await window.s.sync();
    window.errors = [];
    window.s.addEventListener('error', (e) => window.errors.push(e.detail.code));
  });
  let requests = 0;
  page.on('request', (r) => { if (r.url().includes('/v1/db/off/')) requests++; });
  await context.setOffline(true);
  await page.evaluate(() => new Promise((res) => {
    const tx = window.s.db.transaction('items', 'readwrite');
    tx.objectStore('items').put({ id: 1, v: 'written offline' });
    tx.oncomplete = res;
  }));
  await new Promise((r) => setTimeout(r, 3000));
  const st = await page.evaluate(() => ({ status: window.s.status, errors: window.errors }));
  assert.deepEqual(st.errors, [], 'no error events while offline');
  assert.equal(st.status.online, false);
  assert.equal(st.status.error, null);
  assert.equal(st.status.pending, 1);
  assert.ok(requests <= 1, `${requests} requests while offline`);   // at most the long-poll that was running
  await context.setOffline(false);
  await until(async () => (await serverPull(srv, 'off')).some((c) => c.key === 1), 5000, 'the offline write on the server');
  await until(() => page.evaluate(() => window.s.status.online && window.s.status.pending === 0), 5000, 'online status');
  await context.close();
});
