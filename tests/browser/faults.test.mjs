// Crashes and restarts: the server killed with SIGKILL mid-push and restarted on the same port,
// the page reloaded mid-sync, two tabs of one context (one leader, both see the data, takeover).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, prepareContext, openPage, serverPull, until } from './lib/harness.mjs';

let srv, browser, ctx;
before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
  ctx = await prepareContext(await browser.newContext());
});
after(async () => { await browser?.close(); await srv?.stop(); });

const head = async () => (await fetch(`${srv.url}/healthz`).then((r) => r.json())).head;
const rows = async (db) => {
  const r = await fetch(`${srv.url}/v1/db/${db}/stores`).then((x) => x.json());
  return r.stores.reduce((n, s) => n + s.rows, 0);
};

async function openShop(page, name, n) {
  await page.evaluate(async ({ name }) => {
    window.s = await window.idbsync.openSynced(name, 1, {
      url: location.origin, retryMin: 100, retryMax: 800, batchSize: 500,
      upgrade(db) { db.createObjectStore('orders', { keyPath: 'id' }); },
    });
  }, { name, n });
}
async function writeMany(page, n, txSize = 500) {
  await page.evaluate(async ({ n, txSize }) => {
    for (let b = 0; b < n; b += txSize) {
      await new Promise((res, rej) => {
        const tx = window.s.db.transaction('orders', 'readwrite');
        const st = tx.objectStore('orders');
        for (let i = b; i < Math.min(n, b + txSize); i++) st.put({ id: i, item: 'item ' + i, qty: i % 7 });
        tx.oncomplete = res; tx.onabort = () => rej(tx.error);
      });
    }
  }, { n, txSize });
}

test('server killed with kill -9 mid-push and restarted: nothing lost, nothing duplicated', async () => {
  const page = await openPage(ctx, srv);
  const h0 = await head();
  await openShop(page, 'crash');
  await writeMany(page, 20000);
  await until(async () => (await head()) > h0 + 500, 20000, 'push under way');
  await srv.kill9();
  const pendingWhileDown = await page.evaluate(() => window.s.pending());
  assert.ok(pendingWhileDown > 0, 'still pending while the server is down');
  await new Promise((r) => setTimeout(r, 300));
  await srv.restart();                 // same data dir, same port
  await until(() => page.evaluate(async () => (await window.s.pending()) === 0), 30000, 'outbox drained');
  assert.equal(await rows('crash'), 20000);
  assert.equal((await head()) - h0, 20000, 'each mutation applied exactly once (one seq each)');
  const changes = await serverPull(srv, 'crash');
  assert.equal(new Set(changes.map((c) => c.key)).size, 20000);
  await page.evaluate(() => window.s.close());
  await page.close();
});

test('page reloaded mid-sync: the new page resends, the server absorbs duplicates', async () => {
  const page = await openPage(ctx, srv);
  const h0 = await head();
  await openShop(page, 'reload');
  await writeMany(page, 20000);
  await until(async () => (await head()) > h0 + 500, 20000, 'push under way');
  await page.reload();
  await page.evaluate(async () => { window.idbsync = await import('/client/idbsync.js'); });
  await openShop(page, 'reload');
  await until(() => page.evaluate(async () => (await window.s.pending()) === 0), 30000, 'outbox drained after reload');
  assert.equal(await rows('reload'), 20000);
  assert.equal((await head()) - h0, 20000, 'no mutation applied twice');
  await page.evaluate(() => window.s.close());
  await page.close();
});

test('two tabs of one context: one holds the lock and syncs, both see the data, the other takes over', async () => {
  const p1 = await openPage(ctx, srv);
  const p2 = await openPage(ctx, srv);
  for (const p of [p1, p2]) {
    await openShop(p, 'tabs');
    await p.evaluate(() => { window.seen = []; window.s.addEventListener('change', (e) => window.seen.push(...e.detail.changes)); });
  }
  await until(async () => (await p1.evaluate(() => window.s.isLeader)) !== (await p2.evaluate(() => window.s.isLeader)), 10000, 'one leader');
  const held = await p1.evaluate(async () => (await navigator.locks.query()).held.filter((l) => l.name.startsWith('idbsync:leader:')).length);
  assert.equal(held, 1);
  const [leader, follower] = (await p1.evaluate(() => window.s.isLeader)) ? [p1, p2] : [p2, p1];
  // A write in the follower tab is pushed by the leader.
  await writeMany(follower, 10);
  await until(async () => (await rows('tabs')) === 10, 10000, 'follower\'s writes pushed');
  assert.equal(await follower.evaluate(() => window.s.isLeader), false);
  // A change from another device reaches both tabs (leader applies, follower hears it).
  await fetch(`${srv.url}/v1/db/tabs/push`, { method: 'POST', body: JSON.stringify({ client: 'other-device', mutations: [{ id: 1, store: 'orders', op: 'put', key: 999, value: { id: 999, item: 'remote' } }] }) });
  for (const p of [leader, follower]) {
    await until(() => p.evaluate(() => window.seen.some((c) => c.key === 999)), 10000, 'change event in both tabs');
    const v = await p.evaluate(() => new Promise((r) => { window.s.db.transaction('orders').objectStore('orders').get(999).onsuccess = (e) => r(e.target.result); }));
    assert.equal(v.item, 'remote');
  }
  // The leader tab closes: the follower takes over.
  await leader.close();
  await until(() => follower.evaluate(() => window.s.isLeader), 10000, 'takeover');
  await writeMany(follower, 20);
  await until(async () => (await rows('tabs')) === 21, 10000, 'new leader pushes');
  await follower.close();
});

test('a leader tab that stops its heartbeat (frozen) loses the lock to a follower', async () => {
  const p1 = await openPage(ctx, srv);
  await openShop(p1, 'freeze');
  await until(() => p1.evaluate(() => window.s.isLeader), 10000, 'first tab leads');
  const p2 = await openPage(ctx, srv);
  await openShop(p2, 'freeze');
  assert.equal(await p2.evaluate(() => window.s.isLeader), false);
  // A frozen tab keeps its Web Lock but runs no timers. (CDP's Page.setWebLifecycleState does not
  // stop timers in headless Chromium, so the freeze is simulated by silencing the heartbeat.)
  await p1.evaluate(() => { window.s.tabs.post = () => {}; });
  const t0 = Date.now();
  await until(() => p2.evaluate(() => window.s.isLeader), 20000, 'follower takes over');
  const took = Date.now() - t0;
  await until(() => p1.evaluate(() => !window.s.isLeader), 10000, 'old leader stepped down');
  await writeMany(p2, 5);
  await until(async () => (await rows('freeze')) === 5, 10000, 'new leader pushes');
  const held = await p2.evaluate(async () => (await navigator.locks.query()).held.filter((l) => l.name === 'idbsync:leader:freeze').length);
  assert.equal(held, 1);
  assert.ok(took < 16000, `takeover within the stale timeout (${took} ms)`);
  await p1.close();
  await p2.close();
});
