// Conformance: each scenario runs twice, each time in a fresh page: on plain IndexedDB, and as an
// app with sync enabled would (prototypes patched at page start, createSyncStores in the upgrade,
// enableSync on open). The observable results (events and their order, error names, generated
// keys, values read back, store names) must be identical, and with capture on the outbox must
// hold exactly what IndexedDB stored: replaying the outbox gives the stores' contents.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, prepareContext, openPage } from './lib/harness.mjs';

let srv, browser;
before(async () => {
  srv = await startServer();
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await srv?.stop(); });

/** Page-side helpers (window.T), the same in both modes except open(). */
function setup(mode) {
  const { createSyncStores, enableSync, installCapture, encodeKey, decodeKey, encodeValue, DEXIE_STORES } = window.idbsync;
  const encodeValueAsync = window.idbsync.encodeValueAsync || (async (v) => encodeValue(v));
  if (mode === 'capture' && installCapture) installCapture();
  const handles = [];
  const T = {
    mode, handles, list: [],
    push(x) { T.list.push(x); },
    /** Opens name at version; upgrade(db, tx) creates the app's stores. */
    open(name, version, upgrade, { background = false, wait = true, stores } = {}) {
      return new Promise((resolve, reject) => {
        const r = indexedDB.open(name, version);
        r.onupgradeneeded = (e) => {
          if (mode === 'capture') createSyncStores(r.result);   // first: from then on the upgrade does not see them
          upgrade(r.result, r.transaction, e);
        };
        r.onsuccess = async () => {
          const db = r.result;
          if (mode === 'capture') {
            const p = enableSync(db, { url: location.origin, background, stores }).then((s) => {
              s.checked = !background;   // background sync empties the outbox: nothing to compare
              handles.push(s);
            });
            if (wait) await p; else p.catch(() => {});   // wait: false, the app goes on (and may close db meanwhile)
          }
          resolve(db);
        };
        r.onerror = () => reject(r.error);
        r.onblocked = () => T.push(`${name}:blocked`);
      });
    },
    /** Enables sync on a connection opened by a library (capture mode only). */
    async enable(db, opts = {}) { if (mode === 'capture') handles.push(await enableSync(db, { url: location.origin, background: false, ...opts })); },
    schema: (stores) => (mode === 'capture' ? { ...stores, ...DEXIE_STORES } : stores),
    sync: (db) => { if (mode === 'capture') createSyncStores(db); },
    key(k) { try { return encodeKey(k); } catch { return String(k); } },
    err: (e) => (e ? `${e.constructor === TypeError ? 'TypeError' : e.name}` : 'none'),
    /** Logs db-level error/abort events (they bubble from requests and transactions). */
    watchDb(db, label = 'db') {
      db.addEventListener('error', (e) => T.push(`${label}:error:${T.err(e.target.error)}`));
      db.addEventListener('abort', (e) => T.push(`${label}:abort:${T.err(e.target.error)}`));
      db.addEventListener('versionchange', (e) => T.push(`${label}:versionchange:${e.oldVersion}->${e.newVersion}`));
      db.addEventListener('close', () => T.push(`${label}:close`));
    },
    watchTx(tx, label) {
      tx.addEventListener('error', (e) => T.push(`${label}:error@${e.target === tx ? 'tx' : 'req'}:${T.err(e.target.error)}`));
      tx.addEventListener('abort', () => T.push(`${label}:abort:${T.err(tx.error)}`));
      tx.addEventListener('complete', () => T.push(`${label}:complete`));
    },
    req(r, label, prevent = false) {
      r.addEventListener('success', () => T.push(`${label}:success:${r.result === undefined ? 'undefined' : T.key(r.result)}`));
      r.addEventListener('error', (e) => { T.push(`${label}:error:${T.err(r.error)}`); if (prevent) e.preventDefault(); });
      return r;
    },
    done: (tx) => new Promise((res) => { tx.addEventListener('complete', () => res('complete')); tx.addEventListener('abort', () => res('abort')); }),
    /** Runs f and logs what it threw (or 'ok'). */
    try(label, f) {
      try { const v = f(); T.push(`${label}:ok`); return v; } catch (e) { T.push(`${label}:throws:${T.err(e)}`); return undefined; }
    },
    /** Every record of the stores, values as tagged JSON (types included). */
    async dump(db, stores) {
      const tx = db.transaction(stores, 'readonly');
      const out = {};
      for (const n of stores) {
        const st = tx.objectStore(n);
        const [keys, vals] = await Promise.all([st.getAllKeys(), st.getAll()].map((r) => new Promise((res, rej) => { r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); })));
        out[n] = [];
        for (let i = 0; i < keys.length; i++) out[n].push([T.key(keys[i]), await encodeValueAsync(vals[i]).catch((e) => 'unencodable: ' + e.message)]);
      }
      return out;
    },
    /**
     * Capture mode: the outbox replayed from an empty database must give exactly the stores'
     * contents (what IndexedDB stored), store by store. Returns the differences.
     */
    async check() {
      if (mode !== 'capture') return [];
      const diffs = [];
      for (const name of new Set(handles.filter((h) => h.checked !== false).map((h) => h.name))) {
        const db = await new Promise((res, rej) => { const r = indexedDB.open(name); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
        if (!db.objectStoreNames.contains('_idbsync_outbox')) { db.close(); continue; }   // deleted by the scenario
        const synced = handles.find((h) => h.name === name).isSynced;
        const stores = Array.from(db.objectStoreNames).filter(synced);
        const stored = await T.dump(db, stores);
        const read = () => new Promise((res) => { db.transaction('_idbsync_outbox').objectStore('_idbsync_outbox').getAll().onsuccess = (e) => res(e.target.result); });
        let recs = await read();
        // A record left open by commit() is completed right after its transaction: give it time.
        for (let i = 0; i < 100 && recs.some((r) => r.open); i++) { await new Promise((r) => setTimeout(r, 20)); recs = await read(); }
        db.close();
        const replay = {};
        for (const n of stores) replay[n] = new Map();
        for (const rec of recs) {
          if (rec.open) diffs.push(`${name}: a record is still open`);
          for (const m of rec.m) {
            if (!replay[m[0]]) { diffs.push(`${name}: outbox names store ${m[0]}`); continue; }
            if (m.length === 3) replay[m[0]].delete(m[1]);
            else if (typeof m[3] === 'string') replay[m[0]].set(m[1], m[3]);
            else if (m[3].blob !== undefined) replay[m[0]].set(m[1], await encodeValueAsync(m[3].blob));
            else replay[m[0]].set(m[1], 'unencodable: ' + m[3].error);
          }
        }
        for (const n of stores) {
          const want = JSON.stringify(stored[n]);
          const k = (x) => decodeKey(JSON.parse(x[0]));
          const got = JSON.stringify([...replay[n]].sort((a, b) => indexedDB.cmp(k(a), k(b))));
          if (want !== got) diffs.push(`${name}/${n}: stored ${want} but the outbox gives ${got}`);
        }
      }
      return diffs;
    },
  };
  window.T = T;
}

/**
 * Runs scenario fn (a page function of T, arg returning T.list or any JSON) in a fresh page (its
 * own context: own storage) per mode. Returns {plain, capture, captureCheck}.
 */
async function both(fn, arg) {
  const out = {};
  for (const mode of ['plain', 'capture']) {
    const context = await prepareContext(await browser.newContext());
    // Plain: IndexedDB unpatched (the client patches it when loaded), only the codec for the checks.
    const page = await openPage(context, srv, { module: mode === 'plain' ? '/client/codec.js' : '/client/idbsync.js' });
    await page.evaluate(setup, mode);
    await page.evaluate(`window.scenario = ${fn.toString()}`);
    out[mode] = await page.evaluate((a) => window.scenario(window.T, a), arg);
    out[mode + 'Check'] = await page.evaluate(() => window.T.check());
    await page.evaluate(() => { for (const h of window.T.handles) h.close(); });
    await context.close();
  }
  return out;
}

/** both(), asserting identical results and, for capture, that the outbox matches the stores. */
async function same(fn, arg) {
  const out = await both(fn, arg);
  assert.deepEqual(out.capture, out.plain, 'capture changes what the app observes');
  assert.deepEqual(out.captureCheck, [], 'the outbox differs from what IndexedDB stored');
  return out.plain;
}

test('request and transaction events, their order and errors: handled, unhandled, abort()', async () => {
  await same(async (T) => {
    const db = await T.open('events', 1, (db) => {
      db.createObjectStore('a', { keyPath: 'id' });
      db.createObjectStore('auto', { autoIncrement: true });
      db.createObjectStore('nested', { keyPath: 'k.id', autoIncrement: true });
    });
    T.watchDb(db);
    let tx = db.transaction(['a', 'auto', 'nested'], 'readwrite');
    T.watchTx(tx, 'tx1');
    const a = tx.objectStore('a');
    T.req(a.put({ id: 1, v: 'x' }), 'put1');
    T.req(a.add({ id: 1 }), 'dup', true);
    T.req(a.add({ id: 2, v: new Date(0) }), 'add2');
    T.req(tx.objectStore('auto').add({ n: 1 }), 'auto1');
    T.req(tx.objectStore('auto').put('s'), 'auto2');
    T.req(tx.objectStore('nested').put({ v: 1 }), 'nested1');
    T.req(tx.objectStore('nested').put({ k: {}, v: 2 }), 'nested2');
    T.req(a.delete(IDBKeyRange.bound(5, 9)), 'rdel');
    T.push(await T.done(tx));
    tx = db.transaction('a', 'readwrite');
    T.watchTx(tx, 'tx2');
    T.req(tx.objectStore('a').put({ id: 3 }), 'put3');
    T.req(tx.objectStore('a').put({ id: 4 }), 'put4');
    tx.abort();
    T.push(await T.done(tx));
    tx = db.transaction('a', 'readwrite');
    T.watchTx(tx, 'tx3');
    T.req(tx.objectStore('a').put({ id: 5 }), 'put5');
    T.req(tx.objectStore('a').add({ id: 1 }), 'dup2');   // not handled: the transaction aborts
    T.push(await T.done(tx));
    tx = db.transaction('a', 'readwrite');
    T.watchTx(tx, 'tx4');
    await new Promise((res) => {
      T.req(tx.objectStore('a').openCursor(), 'cursor').addEventListener('success', (e) => {
        const c = e.target.result;
        if (!c) return res();
        if (c.key === 2) T.req(c.delete(), 'cdel'); else T.req(c.update({ ...c.value, u: true }), 'cupd');
        c.continue();
      });
    });
    T.push(await T.done(tx));
    tx = db.transaction(['auto'], 'readwrite');
    T.watchTx(tx, 'tx5');
    T.req(tx.objectStore('auto').clear(), 'clear');
    T.req(tx.objectStore('auto').add('after clear'), 'auto3');
    T.push(await T.done(tx));
    T.push(await T.dump(db, ['a', 'auto', 'nested']));
    return T.list;
  });
});

test('more write paths: index cursors, prev cursors, abort() in a handler, exceptions in handlers, durability, key generator, transaction(db.objectStoreNames)', async () => {
  await same(async (T) => {
    const db = await T.open('paths', 1, (db) => {
      const a = db.createObjectStore('a', { keyPath: 'id' });
      a.createIndex('by_g', 'g');
      db.createObjectStore('gen', { autoIncrement: true });
    });
    T.watchDb(db);
    let tx = db.transaction(db.objectStoreNames, 'readwrite', { durability: 'relaxed' });
    T.watchTx(tx, 'tx1');
    T.push(Array.from(tx.objectStoreNames));
    for (let i = 0; i < 6; i++) T.req(tx.objectStore('a').put({ id: i, g: i % 2 }), 'put' + i);
    T.req(tx.objectStore('gen').add('x', 10), 'gen10');
    T.req(tx.objectStore('gen').add('y'), 'gen-next');
    T.req(tx.objectStore('gen').put('z', 3.5), 'gen3.5');
    T.req(tx.objectStore('gen').add('w'), 'gen-next2');
    T.push(await T.done(tx));
    tx = db.transaction('a', 'readwrite');
    T.watchTx(tx, 'tx2');
    await new Promise((res) => {
      T.req(tx.objectStore('a').index('by_g').openCursor(IDBKeyRange.only(1), 'prev'), 'icur').addEventListener('success', (e) => {
        const c = e.target.result;
        if (!c) return res();
        if (c.primaryKey === 3) T.req(c.delete(), 'idel'); else T.req(c.update({ ...c.value, via: 'index' }), 'iupd');
        c.continue();
      });
    });
    T.push(await T.done(tx));
    tx = db.transaction('a', 'readwrite');
    T.watchTx(tx, 'tx3');
    T.req(tx.objectStore('a').put({ id: 20 }), 'put20').addEventListener('success', () => tx.abort());
    T.req(tx.objectStore('a').put({ id: 21 }), 'put21');
    T.push(await T.done(tx));
    window.onerror = () => true;
    tx = db.transaction('a', 'readwrite');
    T.watchTx(tx, 'tx4');
    T.req(tx.objectStore('a').put({ id: 30 }), 'put30').addEventListener('success', () => { throw new Error('app bug'); });
    T.req(tx.objectStore('a').put({ id: 31 }), 'put31');
    T.push(await T.done(tx));
    window.onerror = null;
    tx = db.transaction('a', 'readwrite');
    T.watchTx(tx, 'tx5');
    T.req(tx.objectStore('a').delete(IDBKeyRange.bound(100, 200)), 'nothing');
    T.req(tx.objectStore('a').delete(77), 'absent');
    T.push(await T.done(tx));
    T.push(await T.dump(db, ['a', 'gen']));
    return T.list;
  });
});

test('store names: the idbsync stores are invisible (db, transactions, versionchange, objectStore())', async () => {
  await same(async (T) => {
    const names = (l) => ({ arr: Array.from(l), len: l.length, item0: l.item(0), item9: l.item(9), c: l.contains('a'), tag: Object.prototype.toString.call(l), isList: l instanceof DOMStringList, keys: Object.keys(l) });
    const db = await T.open('names', 1, (db, tx) => {
      db.createObjectStore('a');
      db.createObjectStore('b');
      T.push(['upgrade db', names(db.objectStoreNames)]);
    });
    db.close();
    const db2 = await T.open('names', 2, (db, tx) => {
      T.push(['upgrade2 db', names(db.objectStoreNames)]);
      T.push(['upgrade2 tx', names(tx.objectStoreNames)]);
      T.try('upgrade2 objectStore(_idbsync_outbox)', () => tx.objectStore('_idbsync_outbox'));
      db.createObjectStore('c');
    }).catch((e) => T.push('open2:' + e.name));
    T.push(['db', names(db.objectStoreNames)]);
    T.push(['db2', names(db2.objectStoreNames)]);
    const tx = db2.transaction(['a', 'b'], 'readwrite');
    T.push(['rw tx', names(tx.objectStoreNames)]);
    T.push(['ro tx', names(db2.transaction('a').objectStoreNames)]);
    T.try('objectStore(_idbsync_outbox)', () => tx.objectStore('_idbsync_outbox'));
    T.try('objectStore(_idbsync_meta)', () => tx.objectStore('_idbsync_meta'));
    T.try('transaction(_idbsync_outbox)', () => db2.transaction('_idbsync_outbox'));
    T.try('transaction([a, _idbsync_meta], readwrite)', () => db2.transaction(['a', '_idbsync_meta'], 'readwrite'));
    tx.abort();
    return T.list;
  });
});

test('error types, argument conversion and the replaced methods\' name/length', async () => {
  await same(async (T) => {
    const db = await T.open('errors', 1, (db) => { db.createObjectStore('a', { keyPath: 'id' }); db.createObjectStore('k'); db.createObjectStore('1'); });
    const tx = db.transaction(['a', 'k', '1'], 'readwrite');
    const a = tx.objectStore('a'), k = tx.objectStore('k');
    T.try('put()', () => a.put());
    T.try('add()', () => a.add());
    T.try('delete()', () => a.delete());
    T.try('put(window)', () => a.put({ id: 9, w: window }));
    T.try('put(function)', () => a.put({ id: 9, f() {} }));
    T.try('put(no key)', () => a.put({ v: 1 }));
    T.try('put(NaN key)', () => k.put(1, NaN));
    T.try('put(key + keyPath)', () => a.put({ id: 1 }, 1));
    T.try('delete({})', () => a.delete({}));
    T.try('delete(NaN)', () => a.delete(NaN));
    T.try('put on no store', () => IDBObjectStore.prototype.put.call({}, { id: 1 }));
    T.try('delete on no store', () => IDBObjectStore.prototype.delete.call({ transaction: tx }, 1));
    T.try('update on no cursor', () => IDBCursor.prototype.update.call({}, { id: 1 }));
    T.try('objectStore(1)', () => tx.objectStore(1));
    T.try('objectStore(nope)', () => tx.objectStore('nope'));
    T.try('transaction(1)', () => db.transaction(1));
    T.try('transaction([], readwrite)', () => db.transaction([], 'readwrite'));
    T.try('transaction(a, bogus)', () => db.transaction('a', 'bogus'));
    T.try('transaction(new String(a), readwrite)', () => db.transaction(new String('a'), 'readwrite'));
    T.try('transaction({toString}, readwrite)', () => db.transaction({ toString: () => 'k' }, 'readwrite'));
    T.req(a.put({ id: 1 }), 'put1');
    await new Promise((res) => {
      a.openCursor().onsuccess = (e) => {
        const c = e.target.result;
        T.try('cursor.update()', () => c.update());
        T.try('cursor.update(other key)', () => c.update({ id: 2 }));
        res();
      };
    });
    T.push(await T.done(tx));
    const ro = db.transaction('a');
    T.try('readonly put', () => ro.objectStore('a').put({ id: 3 }));
    T.push(await T.done(ro));
    T.try('finished put', () => ro.objectStore('a').put({ id: 3 }));
    const P = (C, n) => { const d = Object.getOwnPropertyDescriptor(C.prototype, n); const f = d.value || d.get; return [n, f.name, f.length, d.enumerable, d.configurable, !!d.writable]; };
    T.push([
      P(IDBObjectStore, 'put'), P(IDBObjectStore, 'add'), P(IDBObjectStore, 'delete'), P(IDBObjectStore, 'clear'), P(IDBObjectStore, 'get'),
      P(IDBIndex, 'get'), P(IDBCursor, 'update'), P(IDBCursor, 'delete'), P(IDBCursor, 'continue'), P(IDBDatabase, 'transaction'),
      P(IDBDatabase, 'close'), P(IDBTransaction, 'objectStore'), P(IDBTransaction, 'commit'), P(IDBTransaction, 'abort'), P(IDBTransaction, 'objectStoreNames'),
      P(IDBDatabase, 'objectStoreNames'),
    ]);
    return T.list;
  });
});

test('commit(): no request after it, abort() and a second commit() throw, the data is stored', async () => {
  await same(async (T) => {
    const db = await T.open('commit', 1, (db) => { db.createObjectStore('a', { keyPath: 'id' }); db.createObjectStore('auto', { keyPath: 'n', autoIncrement: true }); });
    T.watchDb(db);
    let tx = db.transaction(['a', 'auto'], 'readwrite');
    T.watchTx(tx, 'tx1');
    T.req(tx.objectStore('a').put({ id: 1 }), 'put1');
    T.req(tx.objectStore('auto').add({ x: 1 }), 'auto1');
    T.req(tx.objectStore('a').delete(IDBKeyRange.lowerBound(5)), 'rdel');
    tx.commit();
    T.try('put after commit', () => tx.objectStore('a').put({ id: 2 }));
    T.try('abort after commit', () => tx.abort());
    T.try('commit again', () => tx.commit());
    T.push(await T.done(tx));
    tx = db.transaction(['a'], 'readwrite');
    T.watchTx(tx, 'tx2');
    T.req(tx.objectStore('a').add({ id: 1 }), 'dup', true);   // fails after commit(): Chromium aborts
    tx.commit();
    T.push(await T.done(tx));
    tx = db.transaction(['a'], 'readwrite');
    T.watchTx(tx, 'tx3');
    await new Promise((res) => { tx.objectStore('a').get(1).onsuccess = () => { T.req(tx.objectStore('a').put({ id: 7 }), 'put7'); tx.commit(); res(); }; });
    T.push(await T.done(tx));
    T.push(await T.dump(db, ['a', 'auto']));
    return T.list;
  });
});

test('generated keys are defined like IndexedDB does (no setters run); getters run once, with the transaction inactive', async () => {
  await same(async (T) => {
    const db = await T.open('keys', 1, (db) => {
      db.createObjectStore('auto', { keyPath: 'id', autoIncrement: true });
      db.createObjectStore('deep', { keyPath: 'a.b.c', autoIncrement: true });
      db.createObjectStore('g', { keyPath: 'id' });
      db.createObjectStore('o');
      db.createObjectStore('local');
    }, { stores: ['auto', 'deep', 'g', 'o'] });
    let setterCalls = 0;
    Object.defineProperty(Object.prototype, 'id', { configurable: true, set(v) { setterCalls++; }, get() { return undefined; } });
    const tx = db.transaction(['auto', 'deep', 'g', 'o'], 'readwrite');
    try {
      T.req(tx.objectStore('auto').add({ v: 1 }), 'auto');
      T.req(tx.objectStore('deep').add({ v: 2 }), 'deep1');
      T.req(tx.objectStore('deep').add({ a: { x: 1 } }), 'deep2');
    } finally { delete Object.prototype.id; }
    let calls = 0, n = 1;
    const g = tx.objectStore('g');
    T.req(g.put({ get id() { calls++; return n++; }, get v() { calls++; return { id: n }; } }), 'getter');
    T.req(g.put({ id: 10, get probe() { try { g.get(1); return 'request placed'; } catch (e) { return e.name; } } }), 'probe');
    T.req(g.put({ id: 11, get x() { try { g.put({ id: 12 }); return 'put placed'; } catch (e) { return e.name; } } }), 'probe2');
    T.try('key for in-line keys', () => g.put({ get id() { calls += 100; return 13; } }, 13));
    T.try('no key for out-of-line keys', () => tx.objectStore('o').put({ get v() { calls += 1000; return 1; } }));
    T.push(await T.done(tx));
    // A getter writing to a store that is not synced, in the transaction being cloned for.
    const local = db.transaction(['g', 'local'], 'readwrite');
    T.req(local.objectStore('g').put({ id: 14, get x() { try { local.objectStore('local').put(1, 1); return 'put placed'; } catch (e) { return e.name; } } }), 'probe3');
    T.push(await T.done(local));
    const tc = db.transaction(['g'], 'readwrite');
    T.req(tc.objectStore('g').put({ id: 15, get x() { try { tc.commit(); return 'committed'; } catch (e) { return e.name; } } }), 'probe4');
    T.push(await T.done(tc));
    // A put in a later task: the transaction is inactive but not finished (it waits for a request).
    const tx2 = db.transaction(['g', 'o'], 'readwrite');
    tx2.objectStore('g').get(1);
    await new Promise((r) => setTimeout(r, 0));
    T.try('inactive put', () => tx2.objectStore('g').put({ get id() { calls += 10000; return 20; } }));
    T.try('inactive add', () => tx2.objectStore('o').add({ get v() { calls += 10000; return 1; } }, 1));
    T.push(await T.done(tx2));
    const tx3 = db.transaction(['o'], 'readwrite');
    const o3 = tx3.objectStore('o');
    T.try('put before abort', () => o3.put(1, 1));
    tx3.abort();
    T.try('put after abort', () => o3.put({ get v() { calls += 100000; return 1; } }, 2));
    T.push(await T.done(tx3));
    T.push(`setter calls: ${setterCalls}, getter calls: ${calls}`);
    T.push(await T.dump(db, ['auto', 'deep', 'g', 'o', 'local']));
    return T.list;
  });
});

test('values and keys from another realm (iframe) are stored and recorded as they are', async () => {
  await same(async (T) => {
    const f = document.createElement('iframe');
    document.body.append(f);
    const w = f.contentWindow;
    const db = await T.open('realm', 1, (db) => { db.createObjectStore('v'); db.createObjectStore('k'); });
    let tx = db.transaction(['v', 'k'], 'readwrite');
    const v = tx.objectStore('v'), k = tx.objectStore('k');
    T.req(v.put({ d: new w.Date(5), m: new w.Map([[1, new w.Set([2])]]), b: new w.ArrayBuffer(3), u: new w.Uint16Array([1, 2]), r: new w.RegExp('a+', 'gi'), arr: new w.Array(1, 2), o: new w.Object(), n: new w.Number(4), big: w.BigInt(7) }, 1), 'v1');
    T.req(v.put(new w.Date(9), 2), 'v2');
    for (let i = 0; i < 6; i++) T.req(k.put('r' + i, i), 'k' + i);
    T.req(k.put('date', new w.Date(3)), 'kdate');
    T.req(k.put('arr', w.eval('[1, "x", [2]]')), 'karr');
    T.req(k.put('bin', new w.Uint8Array([1, 2]).buffer), 'kbin');
    T.push(await T.done(tx));
    tx = db.transaction(['k'], 'readwrite');
    T.req(tx.objectStore('k').delete(w.IDBKeyRange.bound(1, 3)), 'rdel');
    T.req(tx.objectStore('k').delete(w.eval('[1, "x", [2]]')), 'adel');
    T.req(tx.objectStore('k').delete(new w.Date(3)), 'ddel');
    T.push(await T.done(tx));
    T.push(await T.dump(db, ['v', 'k']));
    return T.list;
  });
});

test('Blob, File, FileList and ImageData values, deep and cyclic values: stored, never a throw at the call site', async () => {
  await same(async (T) => {
    const db = await T.open('blobs', 1, (db) => { db.createObjectStore('files'); });
    const tx = db.transaction('files', 'readwrite');
    const st = tx.objectStore('files');
    const file = new File(['hello'], 'a.txt', { type: 'text/plain', lastModified: 1000 });
    const dt = new DataTransfer();
    dt.items.add(file);
    let deep = { leaf: 1 };
    for (let i = 0; i < 100; i++) deep = { d: deep };
    const cyc = { name: 'c' };
    cyc.self = cyc;
    T.try('blob', () => T.req(st.put({ img: new Blob([new Uint8Array([1, 2, 3])], { type: 'image/png' }) }, 'blob'), 'blob'));
    T.try('file', () => T.req(st.put(file, 'file'), 'file'));
    T.try('filelist', () => T.req(st.put(dt.files, 'filelist'), 'filelist'));
    T.try('imagedata', () => T.req(st.put(new ImageData(2, 1), 'imagedata'), 'imagedata'));
    T.try('deep', () => T.req(st.put(deep, 'deep'), 'deep'));
    T.try('cycle', () => T.req(st.put(cyc, 'cycle'), 'cycle'));
    T.push(await T.done(tx));
    const r = db.transaction('files').objectStore('files');
    const got = await Promise.all(['blob', 'file', 'filelist', 'imagedata'].map((key) => new Promise((res) => { r.get(key).onsuccess = (e) => res(e.target.result); })));
    T.push(Object.prototype.toString.call(got[0].img) + ' ' + got[0].img.type + ' ' + got[0].img.size);
    T.push(`${got[1].constructor.name} ${got[1].name} ${got[1].type} ${got[1].lastModified} ${await got[1].text()}`);
    T.push(`${Object.prototype.toString.call(got[2])} ${got[2].length} ${got[2][0].name}`);
    T.push(`${Object.prototype.toString.call(got[3])} ${got[3].width}x${got[3].height}`);
    return T.list;
  });
});

test('enableSync leaves the app\'s connection free: close() during enableSync, then open(v2) / deleteDatabase are not blocked', async () => {
  await same(async (T) => {
    const db = await T.open('free', 1, (db) => { db.createObjectStore('a'); }, { background: true, wait: false });
    T.watchDb(db);
    db.close();   // while enableSync is still starting
    const db2 = await new Promise((res, rej) => {
      const r = indexedDB.open('free', 2);
      r.onupgradeneeded = () => T.push('upgrade to 2');
      r.onblocked = () => T.push('open v2 blocked');
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    T.push(`version ${db2.version}`);
    db2.close();
    await new Promise((res) => {
      const r = indexedDB.deleteDatabase('free');
      r.onblocked = () => T.push('delete blocked');
      r.onsuccess = () => { T.push('deleted'); res(); };
      r.onerror = () => { T.push('delete failed'); res(); };
    });
    return T.list;
  });
});

test('background sync fires no events on the app\'s database; an app versionchange reaches only the app', async () => {
  await same(async (T) => {
    const db = await T.open('quiet', 1, (db) => { db.createObjectStore('a'); }, { background: true });
    T.watchDb(db);
    let completes = 0;   // every transaction's complete event passes the database in the capture phase
    db.addEventListener('complete', () => completes++, true);
    for (let i = 0; i < 5; i++) {
      const tx = db.transaction('a', 'readwrite');
      tx.objectStore('a').put(i, i);
      await T.done(tx);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1000));
    T.push(`complete events on the app's database: ${completes}`);
    db.onversionchange = () => { T.push('app versionchange'); db.close(); };
    const db2 = await new Promise((res) => { const r = indexedDB.open('quiet', 2); r.onblocked = () => T.push('blocked'); r.onsuccess = () => res(r.result); });
    T.push(`v${db2.version}`);
    db2.close();
    return T.list;
  });
});

test('idb (npm) in a fresh page: same results, outbox as stored', async () => {
  await same(async (T) => {
    const { openDB, unwrap } = await import('/vendor/idb/index.js');
    const db = await openDB('withidb', 1, {
      upgrade(db) { db.createObjectStore('orders', { keyPath: 'id' }); db.createObjectStore('auto', { autoIncrement: true }); T.sync(db); },
    });
    await T.enable(unwrap(db));
    for (let i = 0; i < 5; i++) await db.put('orders', { id: i, when: new Date(i) });
    const tx = db.transaction(['orders', 'auto'], 'readwrite');
    T.push(String(tx.objectStoreNames.length));
    const r = await Promise.all([tx.objectStore('orders').put({ id: 9 }), tx.objectStore('auto').add({ a: 1 }), tx.objectStore('orders').delete(0), tx.done]);
    T.push(JSON.stringify(r));
    const one = db.transaction('orders', 'readwrite');
    T.push(`store: ${one.store ? one.store.name : 'none'}`);
    let cur = await one.store.openCursor(IDBKeyRange.bound(2, 3));
    while (cur) { await cur.update({ ...cur.value, upd: true }); cur = await cur.continue(); }
    await one.done;
    try { await db.add('orders', { id: 1 }); } catch (e) { T.push('add dup: ' + e.name); }
    T.push(await T.dump(unwrap(db), ['orders', 'auto']));
    T.push(Array.from(db.objectStoreNames));
    return T.list;
  });
});

test('Dexie 4 in a fresh page: same results, outbox as stored', async () => {
  await same(async (T) => {
    const { Dexie } = await import('/vendor/dexie.mjs');
    const db = new Dexie('withdexie');
    db.version(1).stores(T.schema({ orders: 'id, status', auto: '++n' }));
    await db.open();
    await T.enable(db.backendDB());
    await db.orders.bulkPut(Array.from({ length: 10 }, (_, i) => ({ id: i, status: i % 2 ? 'paid' : 'new', when: new Date(i) })));
    T.push(String(await db.auto.add({ x: 1 })));
    await db.orders.update(3, { status: 'shipped' });
    await db.orders.where('id').below(2).delete();
    await db.orders.where('status').equals('paid').modify({ note: 'p' });
    try { await db.orders.bulkAdd([{ id: 50 }, { id: 5 }, { id: 51 }]); } catch (e) { T.push(`${e.name} ${e.failures.length}`); }
    try {
      await db.transaction('rw', db.orders, async () => { await db.orders.put({ id: 100 }); throw new Error('app'); });
    } catch (e) { T.push('tx: ' + e.message); }
    await db.transaction('rw', db.orders, db.auto, async () => { await db.orders.put({ id: 200 }); await db.auto.put({ x: 2 }); await db.orders.delete(9); });
    T.push(await T.dump(db.backendDB(), ['orders', 'auto']));
    T.push((await db.orders.toArray()).length);
    db.close();
    return T.list;
  });
});

test('the differences a prototype patch cannot remove (client/README.md "Limits")', async () => {
  const r = await both(async (T) => {
    const db = await T.open('diff', 1, (db) => { db.createObjectStore('a'); });
    const seen = [];
    db.addEventListener('success', (e) => seen.push('db capture-phase success'), true);
    const tx = db.transaction('a', 'readwrite');
    tx.objectStore('a').put(1, 1);
    await T.done(tx);
    const l = db.objectStoreNames;
    return {
      captureListener: seen,
      nativeSource: /\[native code\]/.test(IDBObjectStore.prototype.put.toString()),
      listProto: Object.getPrototypeOf(l) === DOMStringList.prototype,
      listItem: l.item === DOMStringList.prototype.item,
    };
  });
  // The outbox record is a request of the app's transaction: its success event passes the
  // database (and the transaction) in the capture phase, where stopPropagation at the target
  // comes too late. Bubbling listeners and on* handlers do not see it.
  assert.deepEqual(r.plain.captureListener, ['db capture-phase success']);
  assert.deepEqual(r.capture.captureListener, ['db capture-phase success', 'db capture-phase success']);
  // Patched methods are JavaScript functions.
  assert.equal(r.plain.nativeSource, true);
  assert.equal(r.capture.nativeSource, false);
  // A list without the idbsync stores is no real DOMStringList (none can be constructed): it
  // inherits from DOMStringList.prototype through an object with its own item/contains/length.
  assert.deepEqual([r.plain.listProto, r.plain.listItem], [true, true]);
  assert.deepEqual([r.capture.listProto, r.capture.listItem], [false, false]);
});
