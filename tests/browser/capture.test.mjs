// Writes through the raw IndexedDB API, through `idb` and through Dexie 4 reach the server
// exactly once; aborted transactions leave no outbox entry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, prepareContext, openPage, serverPull, serverMetrics } from './lib/harness.mjs';

let srv, browser, context, page;
before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
  context = await prepareContext(await browser.newContext());
  page = await openPage(context, srv);
});
after(async () => { await browser?.close(); await srv?.stop(); });

function byKey(changes, store) {
  const m = new Map();
  for (const c of changes) if (c.store === store) m.set(JSON.stringify(c.key), c);
  return m;
}

test('raw IndexedDB API: put/add/delete/range delete/clear/cursor writes reach the server once', async () => {
  const before = await serverMetrics(srv);
  const r = await page.evaluate(async () => {
    const { openSynced } = window.idbsync;
    const s = await openSynced('raw', 1, {
      url: location.origin, background: false, stores: ['orders', 'auto', 'wiped'],
      upgrade(db) {
        db.createObjectStore('orders', { keyPath: 'id' });
        db.createObjectStore('auto', { keyPath: 'n', autoIncrement: true });
        db.createObjectStore('wiped');
        db.createObjectStore('local');
      },
    });
    const done = (tx) => new Promise((res, rej) => { tx.oncomplete = res; tx.onabort = () => rej(tx.error); });
    let tx = s.db.transaction(['orders', 'auto', 'wiped', 'local'], 'readwrite');
    const o = tx.objectStore('orders');
    const v = { id: 0, item: 'tea', when: new Date(0), odd: [NaN, -0, Infinity], big: 10n, bin: new Uint8Array([1, 2, 3]), $x: 1, m: new Map([[1, 'a']]) };
    for (let i = 0; i < 50; i++) { v.id = i; o.put(v); }       // v mutated after each call: the captured value must not change
    v.item = 'MUTATED';
    o.add({ id: 100, item: 'added' });
    o.delete(3);
    o.delete(IDBKeyRange.bound(10, 14));
    tx.objectStore('auto').add({ x: 1 });
    tx.objectStore('auto').put({ x: 2 });
    for (let i = 0; i < 3; i++) tx.objectStore('wiped').put('w' + i, 'k' + i);
    tx.objectStore('wiped').clear();
    tx.objectStore('wiped').put('kept', 'k9');
    tx.objectStore('local').put('not synced', 'k');
    await done(tx);
    tx = s.db.transaction('orders', 'readwrite');
    await new Promise((res) => {
      tx.objectStore('orders').openCursor(IDBKeyRange.bound(20, 23)).onsuccess = (e) => {
        const c = e.target.result;
        if (!c) return res();
        if (c.key === 23) c.delete(); else c.update({ ...c.value, item: 'cursor' });
        c.continue();
      };
    });
    await done(tx);
    const pendingBefore = await s.pending();
    await s.sync();
    const out = { pendingBefore, pending: await s.pending(), pushed: s.status.pushed };
    s.close();
    return out;
  });
  // 50 puts + add + delete + 5 range deletes + 2 auto + 3 puts + 3 clear-deletes + put + 3 updates + 1 cursor delete
  assert.equal(r.pendingBefore, 50 + 1 + 1 + 5 + 2 + 3 + 3 + 1 + 3 + 1);
  assert.equal(r.pending, 0);
  const changes = await serverPull(srv, 'raw');
  const orders = byKey(changes, 'orders');
  assert.equal(orders.get('3').op, 'delete');
  for (let k = 10; k <= 14; k++) assert.equal(orders.get(String(k)).op, 'delete');
  assert.equal(orders.get('23').op, 'delete');
  assert.equal(orders.get('21').value.$esc.item, 'cursor');
  const v7 = orders.get('7').value;
  assert.equal(v7.$esc.item, 'tea', 'captured at call time, not after the app mutated it');
  assert.deepEqual(v7.$esc ? Object.keys(v7.$esc).sort() : null, ['$x', 'big', 'bin', 'id', 'item', 'm', 'odd', 'when'].sort());
  assert.deepEqual(v7.$esc.when, { $date: '1970-01-01T00:00:00.000Z' });
  assert.deepEqual(v7.$esc.odd, [{ $num: 'NaN' }, { $num: '-0' }, { $num: 'Infinity' }]);
  assert.deepEqual(v7.$esc.big, { $bigint: '10' });
  assert.deepEqual(v7.$esc.bin, { $bin: 'AQID', $type: 'Uint8Array' });
  assert.equal(orders.get('100').value.item, 'added');
  const auto = byKey(changes, 'auto');
  assert.deepEqual([...auto.values()].map((c) => c.value).sort((a, b) => a.n - b.n), [{ x: 1, n: 1 }, { x: 2, n: 2 }]);
  const wiped = byKey(changes, 'wiped');
  assert.equal(wiped.get('"k0"').op, 'delete');
  assert.equal(wiped.get('"k9"').value, 'kept');
  assert.ok(!changes.some((c) => c.store === 'local'));
  const m = await serverMetrics(srv);
  assert.equal(m.applied - before.applied, r.pendingBefore, 'each mutation applied once');
  assert.equal(m.duplicates - before.duplicates, 0);
});

test('aborted transactions leave no outbox entry', async () => {
  const r = await page.evaluate(async () => {
    const { openSynced } = window.idbsync;
    const s = await openSynced('abort', 1, { url: location.origin, background: false, upgrade(db) { db.createObjectStore('orders', { keyPath: 'id' }); } });
    const settle = (tx) => new Promise((res) => { tx.oncomplete = () => res('complete'); tx.onabort = () => res('abort'); });
    let tx = s.db.transaction('orders', 'readwrite');
    tx.objectStore('orders').put({ id: 1 });
    tx.objectStore('orders').put({ id: 2 });
    tx.abort();
    const a = await settle(tx);
    tx = s.db.transaction('orders', 'readwrite');
    tx.objectStore('orders').add({ id: 5 });
    tx.objectStore('orders').add({ id: 5 });     // ConstraintError, not prevented: the transaction aborts
    const b = await settle(tx);
    tx = s.db.transaction('orders', 'readwrite');
    const st = tx.objectStore('orders');
    st.put({ id: 7 });
    st.put({ id: 8 }).onsuccess = () => { throw new Error('app bug'); };   // exception in a handler aborts
    const c = await settle(tx).catch(() => 'abort');
    window.onerror = null;
    tx = s.db.transaction('orders', 'readwrite');
    tx.objectStore('orders').add({ id: 9 });
    const dup = tx.objectStore('orders').add({ id: 9 });
    dup.onerror = (e) => e.preventDefault();        // handled error: the transaction commits without it
    const d = await settle(tx);
    const out = { a, b, c, d, pending: await s.pending() };
    s.close();
    return out;
  });
  assert.deepEqual([r.a, r.b, r.c, r.d], ['abort', 'abort', 'abort', 'complete']);
  assert.equal(r.pending, 1, 'only the committed add of id 9 is pending');
});

test('outbox record written behind the app\'s requests: handled errors, explicit commit(), any task', async () => {
  const r = await page.evaluate(async () => {
    const { openSynced } = window.idbsync;
    const s = await openSynced('pipelined', 1, {
      url: location.origin, background: false,
      upgrade(db) { db.createObjectStore('orders', { keyPath: 'id' }); db.createObjectStore('auto', { autoIncrement: true }); },
    });
    const settle = (tx) => new Promise((res) => { tx.oncomplete = () => res('complete'); tx.onabort = () => res('abort'); });
    const outbox = () => new Promise((res) => {
      const tx = s.local.idb.transaction('_idbsync_outbox');
      tx.objectStore('_idbsync_outbox').getAll().onsuccess = (e) => res(e.target.result.map((x) => x.m.map((m) => m[1])));
    });
    const out = {};
    await (async () => {   // a handled failure among written mutations: the record is rewritten without it
      const tx = s.db.transaction('orders', 'readwrite');
      const st = tx.objectStore('orders');
      st.add({ id: 1 });
      st.add({ id: 1 }).onerror = (e) => e.preventDefault();
      st.put({ id: 2 });
      out.a = await settle(tx);
    })();
    await (async () => {   // the only mutation fails (handled): no record is left
      const tx = s.db.transaction('orders', 'readwrite');
      tx.objectStore('orders').add({ id: 2 }).onerror = (e) => e.preventDefault();
      out.b = await settle(tx);
    })();
    await (async () => {   // explicit commit() right after the writes, with a handled failure: Chromium aborts, with or without idbsync
      const tx = s.db.transaction('orders', 'readwrite');
      tx.objectStore('orders').put({ id: 3 });
      tx.objectStore('orders').add({ id: 1 }).onerror = (e) => e.preventDefault();
      tx.commit();
      out.c = await settle(tx);
    })();
    await (async () => {   // commit() while an autoIncrement key is still to come, then a known key
      const tx = s.db.transaction(['orders', 'auto'], 'readwrite');
      tx.objectStore('auto').add('x');
      tx.objectStore('orders').put({ id: 4 });
      tx.commit();
      out.d = await settle(tx);
    })();
    // writes from a timer task, from another request's success, and after an await (microtask)
    await new Promise((res) => setTimeout(() => {
      const tx = s.db.transaction('orders', 'readwrite');
      tx.objectStore('orders').put({ id: 5 });
      settle(tx).then((x) => { out.e = x; res(); });
    }, 0));
    await new Promise((res) => {
      const tx = s.db.transaction('orders', 'readwrite');
      tx.objectStore('orders').get(5).onsuccess = async () => {
        tx.objectStore('orders').put({ id: 6 });
        await Promise.resolve();
        tx.objectStore('orders').put({ id: 7 });
      };
      settle(tx).then((x) => { out.f = x; res(); });
    });
    out.outbox = await outbox();
    out.pending = await s.pending();
    await s.sync();
    s.close();
    return out;
  });
  assert.deepEqual([r.a, r.b, r.c, r.d, r.e, r.f], ['complete', 'complete', 'abort', 'complete', 'complete', 'complete']);
  assert.deepEqual(r.outbox, [['1', '2'], ['1', '4'], ['5'], ['6'], ['7']]);
  assert.equal(r.pending, 7);
  const orders = byKey(await serverPull(srv, 'pipelined'), 'orders');
  assert.deepEqual([...orders.keys()].sort(), ['1', '2', '4', '5', '6', '7']);
  assert.equal(byKey(await serverPull(srv, 'pipelined'), 'auto').size, 1);
});

test('writes through idb (npm) reach the server exactly once', async () => {
  const before = await serverMetrics(srv);
  const r = await page.evaluate(async () => {
    const { openDB, unwrap } = await import('/vendor/idb/index.js');
    const { enableSync, createSyncStores } = window.idbsync;
    const db = await openDB('withidb', 1, { upgrade(db) { db.createObjectStore('orders', { keyPath: 'id' }); createSyncStores(db); } });
    const s = await enableSync(unwrap(db), { url: location.origin, background: false });
    for (let i = 0; i < 20; i++) await db.put('orders', { id: i, item: 'idb' + i });
    const tx = db.transaction('orders', 'readwrite');
    await Promise.all([tx.store.put({ id: 100, item: 'tx' }), tx.store.delete(0), tx.done]);
    let cur = await db.transaction('orders', 'readwrite').store.openCursor(IDBKeyRange.bound(5, 6));
    while (cur) { await cur.update({ ...cur.value, item: 'upd' }); cur = await cur.continue(); }
    const p = await s.pending();
    await s.sync();
    await s.sync();   // a second sync sends nothing
    const out = { p, pending: await s.pending() };
    s.close();
    db.close();
    return out;
  });
  assert.equal(r.p, 20 + 2 + 2);
  assert.equal(r.pending, 0);
  const orders = byKey(await serverPull(srv, 'withidb'), 'orders');
  assert.equal(orders.get('0').op, 'delete');
  assert.equal(orders.get('5').value.item, 'upd');
  assert.equal(orders.get('100').value.item, 'tx');
  assert.equal(orders.size, 21);
  const m = await serverMetrics(srv);
  assert.equal(m.applied - before.applied, 24);
  assert.equal(m.duplicates - before.duplicates, 0);
});

test('writes through Dexie 4 reach the server exactly once', async () => {
  const before = await serverMetrics(srv);
  const r = await page.evaluate(async () => {
    const { Dexie } = await import('/vendor/dexie.mjs');
    const { enableSync, DEXIE_STORES } = window.idbsync;
    const db = new Dexie('withdexie');
    db.version(1).stores({ orders: 'id, status', ...DEXIE_STORES });
    await db.open();
    const s = await enableSync(db.backendDB(), { url: location.origin, background: false });
    await db.orders.bulkPut(Array.from({ length: 30 }, (_, i) => ({ id: i, status: i % 2 ? 'paid' : 'new', when: new Date(i) })));
    await db.orders.add({ id: 500, status: 'new' });
    await db.orders.update(7, { status: 'shipped' });
    await db.orders.where('id').below(3).delete();
    await db.orders.where('status').equals('paid').modify({ note: 'p' });
    await db.transaction('rw', db.orders, async () => {
      await db.orders.put({ id: 600, status: 'tx' });
      await db.orders.delete(29);
    });
    const p = await s.pending();
    await s.sync();
    const local = await db.orders.toArray();
    const out = { p, pending: await s.pending(), local: local.map((o) => ({ ...o, when: o.when ? o.when.toISOString() : undefined })) };
    s.close();
    db.close();
    return out;
  });
  assert.equal(r.pending, 0);
  const orders = byKey(await serverPull(srv, 'withdexie'), 'orders');
  const live = [...orders.values()].filter((c) => c.op === 'put');
  assert.equal(live.length, r.local.length);
  for (const o of r.local) {
    const c = orders.get(String(o.id));
    assert.ok(c && c.op === 'put', 'server has ' + o.id);
    assert.equal(c.value.status, o.status);
    assert.equal(c.value.note, o.note);
    if (o.when) assert.deepEqual(c.value.when, { $date: o.when });
  }
  for (const k of ['0', '1', '2', '29']) assert.equal(orders.get(k).op, 'delete');
  const m = await serverMetrics(srv);
  assert.equal(m.applied - before.applied, r.p);
  assert.equal(m.duplicates - before.duplicates, 0);
});

test('codec: tagged JSON round-trips every supported type and key', async () => {
  const r = await page.evaluate(() => {
    const { encodeValue, decodeValue, encodeKey, decodeKey } = window.idbsync;
    const values = [
      { a: 1, b: 'x', c: [1, 2, { d: null }], e: true },
      new Date(0), new Date(NaN), NaN, Infinity, -Infinity, -0, undefined, [1, undefined, 3], 123456789012345678901234567890n,
      new Uint8Array([0, 255]).buffer, new Float32Array([1.5, -2]), new DataView(new Uint8Array([9, 8]).buffer),
      new Map([['k', new Set([1, 'a'])]]), /ab+c/gi, { $x: 1, nested: { $y: new Date(5) } }, { u: undefined },
    ];
    const out = [];
    for (const v of values) {
      const back = decodeValue(JSON.parse(encodeValue(v)));
      const same = (a, b) => {
        if (Object.is(a, b)) return true;
        if (a instanceof Date) return b instanceof Date && Object.is(a.getTime(), b.getTime());
        if (a instanceof ArrayBuffer) return b instanceof ArrayBuffer && String(new Uint8Array(a)) === String(new Uint8Array(b));
        if (ArrayBuffer.isView(a)) return b.constructor === a.constructor && String(new Uint8Array(a.buffer)) === String(new Uint8Array(b.buffer));
        if (a instanceof Map || a instanceof Set) return b.constructor === a.constructor && same([...a], [...b]);
        if (a instanceof RegExp) return String(a) === String(b);
        if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return false;
        const ka = Object.keys(a), kb = Object.keys(b);
        return ka.length === kb.length && ka.every((k) => same(a[k], b[k]));
      };
      out.push(same(v, back) ? 'ok' : `${encodeValue(v)} came back as ${String(back)}`);
    }
    const keys = [1, -0, 'a', new Date(7), new Uint8Array([1, 2]).buffer, [1, 'b', [new Date(1)]], Infinity];
    for (const k of keys) out.push(indexedDB.cmp(k, decodeKey(JSON.parse(encodeKey(k)))) === 0 ? 'ok' : 'key ' + encodeKey(k));
    out.push(encodeKey(-0) === '0' ? 'ok' : 'key -0 not canonical');
    try { encodeValue({ f: new Blob(['x']) }); out.push('Blob accepted'); } catch (e) { out.push(e.code === 'unsupported_value' ? 'ok' : e.message); }
    return out;
  });
  assert.deepEqual(r.filter((x) => x !== 'ok'), []);
});
