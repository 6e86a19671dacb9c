// A client clock minutes off still syncs (the HLC runs on server time: `now` of push/pull answers,
// or the time in a 400 "ahead of the server clock", after which pending stamps are re-stamped), and
// a mutation the server refuses (here a value over --max-value) is isolated, reported and set aside
// instead of blocking the outbox.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, prepareContext, openPage, serverPull } from './lib/harness.mjs';

let srv, browser;
before(async () => {
  srv = await startServer({ args: ['--max-value', '200'] });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await srv?.stop(); });

// A page whose Date.now() is off by skewMs, with window.s open on db `name`.
async function skewedPage(name, skewMs, extra = '') {
  const page = await openPage(await prepareContext(await browser.newContext()), srv);
  await page.evaluate(async ({ name, skewMs, extra }) => {
    const real = Date.now.bind(Date);
    Date.now = () => real() + skewMs;
    window.realNow = real;
    window.errors = [];
    const opts = { url: location.origin, background: false, upgrade(db) { db.createObjectStore('orders', { keyPath: 'id' }); } };
    if (extra === 'nohint') {
      // Strip the index the server names ("mutations[3].value: ...") so the client must bisect.
      opts.fetch = async (u, init) => {
        const r = await fetch(u, init);
        if (r.ok) return r;
        const t = (await r.text()).replace(/mutations\[\d+\]/g, 'a mutation');
        return new Response(t, { status: r.status, headers: { 'content-type': 'application/json' } });
      };
    }
    window.s = await window.idbsync.openSynced(name, 1, opts);
    window.s.addEventListener('error', (e) => window.errors.push({ code: e.detail.code, serverCode: e.detail.serverCode, message: e.detail.message, mutation: e.detail.mutation }));
    window.write = (rows) => new Promise((res, rej) => {
      const tx = window.s.db.transaction('orders', 'readwrite');
      for (const r of rows) tx.objectStore('orders').put(r);
      tx.oncomplete = res; tx.onabort = () => rej(tx.error);
    });
  }, { name, skewMs, extra });
  return page;
}

const hlcMs = (h) => Number(h.slice(0, 13));

test('a client clock 10 minutes ahead: the 400 gives the server time, pending stamps are re-stamped, sync succeeds', async () => {
  const page = await skewedPage('ahead', 10 * 60000);
  await page.evaluate(async () => { for (let t = 0; t < 3; t++) await window.write([{ id: t * 2 }, { id: t * 2 + 1 }]); });
  const r = await page.evaluate(async () => {
    await window.s.sync();
    await window.write([{ id: 100, after: true }]);   // stamped with the corrected clock at capture
    await window.s.sync();
    return { pending: await window.s.pending(), now: window.realNow() };
  });
  assert.equal(r.pending, 0);
  const rows = (await serverPull(srv, 'ahead')).filter((c) => c.store === 'orders');
  assert.equal(rows.length, 7);
  for (const c of rows) assert.ok(Math.abs(hlcMs(c.hlc) - r.now) < 60000, `stamp ${c.hlc} near server time`);
  const order = rows.filter((c) => c.key < 100).sort((a, b) => a.key - b.key).map((c) => c.hlc);
  assert.deepEqual(order, order.slice().sort(), 're-stamping kept the write order');
  assert.ok(hlcMs(rows.find((c) => c.key === 100).hlc) >= hlcMs(order.at(-1)));
});

test('a client clock 10 minutes behind: after one sync, new writes carry server time', async () => {
  const page = await skewedPage('behind', -10 * 60000);
  await page.evaluate(async () => { await window.write([{ id: 1 }]); await window.s.sync(); await window.write([{ id: 2 }]); await window.s.sync(); });
  const now = Date.now();
  const c2 = (await serverPull(srv, 'behind')).find((c) => c.key === 2);
  assert.ok(Math.abs(hlcMs(c2.hlc) - now) < 60000, `stamp ${c2.hlc} is near server time ${now}`);
});

for (const mode of ['hint', 'nohint']) {
  test(`a value over --max-value is isolated and reported; the others sync (${mode === 'hint' ? 'index from the server message' : 'bisection'})`, async () => {
    const name = 'poison' + mode;
    const page = await skewedPage(name, 0, mode);
    const r = await page.evaluate(async () => {
      const rows = [];
      for (let i = 0; i < 40; i++) rows.push({ id: i, item: 'small ' + i });
      rows[27] = { id: 27, item: 'x'.repeat(500) };
      await window.write(rows.slice(0, 30));
      await window.write(rows.slice(30));
      await window.s.sync();
      const rejected = await window.s.rejected();
      await window.write([{ id: 1000, item: 'after' }]);
      await window.s.sync();
      return { pending: await window.s.pending(), rejected, errors: window.errors };
    });
    assert.equal(r.pending, 0);
    const rows = (await serverPull(srv, name)).filter((c) => c.store === 'orders');
    assert.deepEqual(rows.map((c) => c.key).sort((a, b) => a - b), [...Array.from({ length: 40 }, (_, i) => i).filter((i) => i !== 27), 1000]);
    assert.equal(r.rejected.length, 1);
    assert.equal(r.rejected[0].key, 27);
    assert.equal(r.rejected[0].store, 'orders');
    assert.equal(r.rejected[0].op, 'put');
    assert.equal(r.rejected[0].value.item.length, 500);
    assert.equal(r.rejected[0].error.code, 'too_large');
    assert.equal(r.rejected[0].error.status, 413);
    const ev = r.errors.filter((e) => e.code === 'rejected');
    assert.equal(ev.length, 1);
    assert.equal(ev[0].serverCode, 'too_large');
    assert.equal(ev[0].mutation.key, 27);
    assert.match(ev[0].message, /limit is 200/);
    await page.evaluate(() => window.s.clearRejected());
    assert.equal((await page.evaluate(() => window.s.rejected())).length, 0);
  });
}
