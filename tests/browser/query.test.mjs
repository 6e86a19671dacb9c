// s.query(sql, params): the server's analytics endpoint over the synced stores (a view per store,
// a column per top-level field), rows as arrays; errors as the client's error classes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, prepareContext, openPage } from './lib/harness.mjs';

let srv, browser, page;
before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
  page = await openPage(await prepareContext(await browser.newContext()), srv);
});
after(async () => { await browser?.close(); await srv?.stop(); });

test('query: SELECT with params over a synced store; bad SQL is a BadRequestError', async () => {
  const r = await page.evaluate(async () => {
    const s = await window.idbsync.openSynced('q', 1, { url: location.origin, background: false, upgrade(db) { db.createObjectStore('orders', { keyPath: 'id' }); } });
    await new Promise((res) => {
      const tx = s.db.transaction('orders', 'readwrite');
      for (let i = 1; i <= 5; i++) tx.objectStore('orders').put({ id: i, item: 'item ' + i, qty: i * 2, tags: ['a'] });
      tx.oncomplete = res;
    });
    await s.sync();
    const q = await s.query('SELECT item, qty FROM orders WHERE qty > ? ORDER BY qty DESC', [4]);
    const agg = await s.query('SELECT count(*) AS n, sum(qty) AS total FROM orders');
    const errs = [];
    for (const [sql, params] of [['SELECT * FROM nope'], ['DELETE FROM orders'], ['SELECT 1', 'notarray']]) {
      try { await s.query(sql, params); errs.push('no error'); } catch (e) {
        errs.push({ name: e.name, code: e.code, status: e.status, serverCode: e.serverCode, isIdbsync: e instanceof window.idbsync.IdbsyncError });
      }
    }
    s.close();
    return { q, agg, errs };
  });
  assert.deepEqual(r.q, { columns: ['item', 'qty'], rows: [['item 5', 10], ['item 4', 8], ['item 3', 6]], truncated: false });
  assert.deepEqual(r.agg.rows, [[5, 30]]);
  assert.deepEqual(r.errs[0], { name: 'BadRequestError', code: 'bad_request', status: 400, serverCode: 'invalid', isIdbsync: true });
  assert.equal(r.errs[1].code, 'bad_request');
  assert.equal(r.errs[2].name, 'TypeError');
});
