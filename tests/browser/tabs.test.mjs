// Two tabs of one browser profile, where only the leader talks to the server: the follower learns
// from it (BroadcastChannel). A server state replaced under them (its data wiped, same port: a new
// epoch) resets the leader; the follower adopts the new state too, so its own sync() does not
// reset again. A row pulled by the leader re-runs Dexie liveQuery in the follower tab.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer, launchBrowser, prepareContext, openPage, serverPull, until } from './lib/harness.mjs';

let srv, browser;
before(async () => { srv = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await srv?.stop(); });

const seed = (db, rows) => fetch(`${srv.url}/v1/db/${db}/push`, {
  method: 'POST',
  body: JSON.stringify({ client: 'other-' + Math.random().toString(36).slice(2), mutations: rows.map((v, i) => ({ id: i + 1, store: 'items', op: 'put', key: v.id, value: v })) }),
}).then((r) => r.json());

async function openRaw(db) {
  window.resets = [];
  window.s = await window.idbsync.openSynced(db, 1, {
    url: location.origin, retryMin: 50, retryMax: 400,
    upgrade(d) { d.createObjectStore('items', { keyPath: 'id' }); },
  });
  window.s.addEventListener('reset', (e) => window.resets.push(e.detail));
  window.keys = () => new Promise((res) => { window.s.db.transaction('items').objectStore('items').getAllKeys().onsuccess = (e) => res(e.target.result); });
}

test('a new server state: the leader resets, the follower adopts it and its own sync() does not reset again', async () => {
  const ctx = await prepareContext(await browser.newContext());
  const leader = await openPage(ctx, srv);
  await leader.evaluate(openRaw, 'tabreset');
  await until(() => leader.evaluate(() => window.s.isLeader), 10000, 'the first tab leads');
  const follower = await openPage(ctx, srv);
  await follower.evaluate(openRaw, 'tabreset');
  await seed('tabreset', [{ id: 1, v: 'old state' }, { id: 2, v: 'old state' }]);
  await until(() => leader.evaluate(async () => (await window.keys()).length === 2), 10000, 'the leader pulled the old rows');
  const epoch0 = await leader.evaluate(() => window.s.status.epoch);

  // The server loses its state (data dir wiped), comes back on the same port with a new epoch,
  // and another client writes to it.
  await srv.stop();
  fs.rmSync(srv.dataDir, { recursive: true, force: true });
  await srv.restart();
  await seed('tabreset', [{ id: 7, v: 'new state' }]);

  await until(() => follower.evaluate(() => window.resets.length === 1), 15000, 'the follower told of the reset');
  // The reset may come before the seed reaches the new server; row 7 then arrives by the leader's
  // next pull, so the test waits for it rather than reading the keys at the moment of the reset.
  await until(() => leader.evaluate(async () => JSON.stringify(await window.keys()) === '[7]'), 10000, 'the leader holds only the new state');
  const l = await leader.evaluate(async () => ({ resets: window.resets, status: window.s.status, keys: await window.keys() }));
  assert.equal(l.resets.length, 1);
  assert.equal(l.resets[0].from, epoch0);
  assert.notEqual(l.resets[0].to, epoch0);
  assert.deepEqual(l.keys, [7], 'the rows the new state lacks are gone');
  await until(() => follower.evaluate(() => window.s.status.epoch !== null && window.s.status.reset !== null), 5000, 'the follower status');
  const f0 = await follower.evaluate(() => ({ status: window.s.status, resets: window.resets }));
  assert.equal(f0.status.epoch, l.resets[0].to, 'the follower holds the new epoch');
  assert.deepEqual(f0.status.reset, l.resets[0]);

  // The follower syncs itself: the cursor and the epoch it uses are the new state's.
  await follower.evaluate(() => window.s.sync());
  await leader.evaluate(() => window.s.sync());
  const f = await follower.evaluate(async () => ({ resets: window.resets, keys: await window.keys(), epoch: window.s.status.epoch }));
  const lr = await leader.evaluate(() => window.resets.length);
  assert.equal(f.resets.length, 1, 'no second reset: ' + JSON.stringify(f.resets));
  assert.equal(lr, 1, 'no second reset in the leader');
  assert.equal(f.epoch, l.resets[0].to);
  assert.deepEqual(f.keys, [7]);
  assert.deepEqual((await serverPull(srv, 'tabreset')).map((c) => c.key), [7], 'no row of the old state pushed back');
  await ctx.close();
});

test('Dexie liveQuery in a follower tab re-runs when the leader pulls a row', async () => {
  // The leader tab has no Dexie (only idbsync's message can tell the follower's Dexie), and
  // opens first, so it leads; Dexie's version 1 is IndexedDB version 10.
  const ctx = await prepareContext(await browser.newContext());
  const leader = await openPage(ctx, srv);
  await leader.evaluate(async (db) => {
    window.s = await window.idbsync.openSynced(db, 10, {
      url: location.origin, retryMin: 50, retryMax: 400,
      upgrade(d) { d.createObjectStore('items', { keyPath: 'id' }).createIndex('done', 'done'); },
    });
    window.count = () => new Promise((res) => { window.s.db.transaction('items').objectStore('items').count().onsuccess = (e) => res(e.target.result); });
  }, 'tablive');
  await until(() => leader.evaluate(() => window.s.isLeader), 10000, 'the first tab leads');
  const follower = await openPage(ctx, srv);
  await follower.evaluate(async (db) => {
    const { default: Dexie, liveQuery } = await import('/vendor/dexie.mjs');
    const dx = new Dexie(db);
    dx.version(1).stores({ items: 'id, done', ...window.idbsync.DEXIE_STORES });
    await dx.open();
    window.s = await window.idbsync.enableSync(dx.backendDB(), { url: location.origin, retryMin: 50, retryMax: 400 });
    window.all = null; window.undone = null;
    liveQuery(() => dx.items.toArray()).subscribe((v) => { window.all = v; });
    liveQuery(() => dx.items.where('done').equals(0).toArray()).subscribe((v) => { window.undone = v; });
  }, 'tablive');
  await until(() => follower.evaluate(() => Array.isArray(window.all) && Array.isArray(window.undone)), 5000, 'the first liveQuery results');
  await seed('tablive', [{ id: 1, title: 'from another client', done: 0 }, { id: 2, title: 'done elsewhere', done: 1 }]);
  await until(() => leader.evaluate(async () => (await window.count()) === 2), 10000, 'the leader applied the rows');
  assert.equal(await follower.evaluate(() => window.s.isLeader), false);
  await until(() => follower.evaluate(() => window.all.length === 2 && window.undone.length === 1), 10000, 'the follower\'s liveQuery results');
  assert.deepEqual(await follower.evaluate(() => window.undone), [{ id: 1, title: 'from another client', done: 0 }]);
  await ctx.close();
});
