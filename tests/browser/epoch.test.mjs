// A server restored from a backup (`idbsync backup` while it runs, `idbsync restore`, started
// again on the same data dir and port) is another state (epoch): a browser whose cursor belongs to
// the old one resyncs from 0, keeps and then pushes its unpushed write, drops the rows the restored
// state does not have, and tells the app (`reset` event, status.reset), in a fresh page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { startServer, launchBrowser, prepareContext, openPage, serverPull, tempDir, BIN } from './lib/harness.mjs';

let srv, browser;
before(async () => { srv = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await srv?.stop(); });

function cli(args) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, `idbsync ${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

async function page() {
  const p = await openPage(await prepareContext(await browser.newContext()), srv);
  await p.evaluate(async () => {
    window.resets = [];
    window.s = await window.idbsync.openSynced('ep', 1, {
      url: location.origin, background: false,
      upgrade(db) { db.createObjectStore('items', { keyPath: 'id' }); },
    });
    window.s.addEventListener('reset', (e) => window.resets.push(e.detail));
    window.put = (v) => new Promise((res, rej) => {
      const tx = window.s.db.transaction('items', 'readwrite');
      tx.objectStore('items').put(v);
      tx.oncomplete = res; tx.onabort = () => rej(tx.error);
    });
    window.keys = () => new Promise((res) => { window.s.db.transaction('items').objectStore('items').getAllKeys().onsuccess = (e) => res(e.target.result); });
  });
  return p;
}

test('restored from a backup: the browser resyncs, keeps and pushes its unpushed write, and is told', async () => {
  const A = await page();
  for (let i = 1; i <= 5; i++) await A.evaluate((i) => window.put({ id: i, v: `before backup ${i}` }), i);
  await A.evaluate(() => window.s.sync());
  const epoch0 = await A.evaluate(() => window.s.status.epoch);
  const backup = path.join(tempDir(), 'backup.sqlite');
  cli(['backup', '--data', srv.dataDir, backup]);
  for (let i = 6; i <= 10; i++) await A.evaluate((i) => window.put({ id: i, v: `after backup ${i}` }), i);
  await A.evaluate(() => window.s.sync());   // A's cursor: 10, past what the backup holds

  await srv.stop();
  cli(['restore', '--data', srv.dataDir, backup]);
  await srv.restart();   // same data dir, same port: the page's origin
  // Another browser writes to the restored state, so its head passes A's cursor again: only the
  // epoch tells A that its cursor means nothing here.
  const B = await page();
  for (let i = 20; i <= 29; i++) await B.evaluate((i) => window.put({ id: i, v: `by B ${i}` }), i);
  await B.evaluate(() => window.s.sync());
  await A.evaluate(() => window.put({ id: 11, v: 'unpushed' }));

  await A.evaluate(() => window.s.sync());
  const r = await A.evaluate(async () => ({ resets: window.resets, status: window.s.status, keys: await window.keys(), pending: await window.s.pending() }));
  const want = [1, 2, 3, 4, 5, 11, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29];
  assert.deepEqual(r.keys, want, 'the restored state, plus the unpushed write, minus what the backup lacks');
  assert.equal(r.pending, 0);
  assert.match(epoch0, /^[0-9a-f]{16}$/, 'the client held the server epoch');
  assert.equal(r.resets.length, 1, JSON.stringify(r.resets));
  assert.equal(r.resets[0].from, epoch0);
  assert.notEqual(r.resets[0].to, epoch0);
  assert.equal(r.resets[0].reason, 'epoch_changed');
  assert.equal(r.status.epoch, r.resets[0].to);
  assert.deepEqual(r.status.reset, r.resets[0]);
  const server = new Map();
  for (const c of await serverPull(srv, 'ep')) { if (c.op === 'put') server.set(c.key, c.value); else server.delete(c.key); }
  assert.deepEqual([...server.keys()].sort((a, b) => a - b), want);
  assert.equal(server.get(11).v, 'unpushed');
  await B.evaluate(() => window.s.sync());
  assert.deepEqual(await B.evaluate(() => window.keys()), want);
  assert.deepEqual(await B.evaluate(() => window.resets), [], 'a browser that synced with the restored state only is not reset');
});
