// `base`: the client sends, with each mutation, the server seq of the row version it last applied
// from a pull. Under `merge` two browsers editing different fields of one object (each writing the
// whole object) both keep their edits and a removed field is removed; under `server-wins` an edit
// made on top of the current server version applies while one made on a stale copy loses.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, prepareContext, openPage, serverPull } from './lib/harness.mjs';

// The server finds a base version in its change log; the lake prunes it only after
// --base-retention, so bases stay available with the lake on (the default).
const LAKE = process.env.IDBSYNC_BASE_NO_LAKE ? ['--no-lake'] : [];
let srv, browser, A, B;
before(async () => {
  srv = await startServer({ args: ['--conflict', 'notes=merge', '--conflict', 'docs=server-wins', ...LAKE] });
  browser = await launchBrowser();
  A = await openPage(await prepareContext(await browser.newContext()), srv);
  B = await openPage(await prepareContext(await browser.newContext()), srv);
  for (const p of [A, B]) {
    await p.evaluate(async () => {
      window.conflicts = [];
      window.s = await window.idbsync.openSynced('based', 1, {
        url: location.origin, background: false,
        upgrade(db) { db.createObjectStore('notes', { keyPath: 'id' }); db.createObjectStore('docs', { keyPath: 'id' }); },
      });
      window.s.addEventListener('conflict', (e) => window.conflicts.push(e.detail));
      window.put = (store, v) => new Promise((res, rej) => {
        const tx = window.s.db.transaction(store, 'readwrite');
        tx.objectStore(store).put(v);
        tx.oncomplete = res; tx.onabort = () => rej(tx.error);
      });
      window.get = (store, k) => new Promise((res) => { window.s.db.transaction(store).objectStore(store).get(k).onsuccess = (e) => res(e.target.result); });
    });
  }
});
after(async () => { await browser?.close(); await srv?.stop(); });

const sync = (p) => p.evaluate(() => window.s.sync());
const serverRow = async (store, key) => (await serverPull(srv, 'based')).find((c) => c.store === store && c.key === key);

test('merge: two browsers edit different fields of one object; both edits and a field removal survive', async () => {
  await A.evaluate(() => window.put('notes', { id: 1, title: 't0', body: 'b0', tag: 'x' }));
  await sync(A);
  await sync(B);
  assert.deepEqual(await B.evaluate(() => window.get('notes', 1)), { id: 1, title: 't0', body: 'b0', tag: 'x' });
  // Each writes the whole object it read, changing one field; B writes later (newer hlc).
  await A.evaluate(() => window.put('notes', { id: 1, title: 'title by A', body: 'b0', tag: 'x' }));
  await new Promise((r) => setTimeout(r, 10));
  await B.evaluate(() => window.put('notes', { id: 1, title: 't0', body: 'body by B' }));   // also removes tag
  await sync(A);
  await sync(B);
  await sync(A);
  const want = { id: 1, title: 'title by A', body: 'body by B' };
  assert.deepEqual((await serverRow('notes', 1)).value, want);
  assert.deepEqual(await A.evaluate(() => window.get('notes', 1)), want);
  assert.deepEqual(await B.evaluate(() => window.get('notes', 1)), want);
  assert.equal((await A.evaluate(() => window.conflicts)).length, 0);
  assert.equal((await B.evaluate(() => window.conflicts)).length, 0);
});

test('server-wins: an edit on top of the server version applies, an edit of a stale copy loses', async () => {
  await A.evaluate(() => window.put('docs', { id: 1, v: 'from client' }));
  await sync(A);
  await sync(B);
  // The lake (a server-side writer) changes the row.
  const r = await fetch(`${srv.url}/v1/db/based/push`, {
    method: 'POST',
    body: JSON.stringify({ client: 'lake', origin: 'server', mutations: [{ id: 1, store: 'docs', op: 'put', key: 1, value: { id: 1, v: 'from lake' } }] }),
  });
  assert.equal(r.status, 200);
  // B still holds the pre-lake copy: its edit was made without seeing the lake's change and loses.
  await B.evaluate(() => window.put('docs', { id: 1, v: 'stale edit' }));
  await sync(B);
  const cb = await B.evaluate(() => window.conflicts);
  assert.equal(cb.length, 1);
  assert.equal(cb[0].rule, 'server-wins');
  assert.equal((await serverRow('docs', 1)).value.v, 'from lake');
  assert.equal((await B.evaluate(() => window.get('docs', 1))).v, 'from lake');
  // A pulls the lake's version, then edits it: its base is the lake's seq, so the edit applies.
  await sync(A);
  assert.equal((await A.evaluate(() => window.get('docs', 1))).v, 'from lake');
  await A.evaluate(() => window.put('docs', { id: 1, v: 'edited after the lake' }));
  await sync(A);
  assert.equal((await A.evaluate(() => window.conflicts)).length, 0, 'no conflict for an up-to-date edit');
  assert.equal((await serverRow('docs', 1)).value.v, 'edited after the lake');
  await sync(B);
  assert.equal((await B.evaluate(() => window.get('docs', 1))).v, 'edited after the lake');
});

// Pushes A's outbox without the pull that sync() does after it.
const pushOnly = (p) => p.evaluate(() => window.s.tabs.io(() => window.s.pushAll()));
const pullOnly = (p) => p.evaluate(() => window.s.tabs.io(() => window.s.pullAll()));

// Note `id` starts as {a:0, b:0, c:0}, known to both; `between` makes the edits; then both sync
// until quiet, and the server and both browsers must hold `want` with no conflict reported.
async function mergeCase(id, between, want) {
  await A.evaluate((id) => window.put('notes', { id, a: 0, b: 0, c: 0 }), id);
  await sync(A);
  await sync(B);
  for (const p of [A, B]) await p.evaluate(() => { window.conflicts.length = 0; });
  await between();
  await sync(B);
  await sync(A);
  await sync(B);
  want = { id, ...want };
  assert.deepEqual((await serverRow('notes', id)).value, want);
  assert.deepEqual(await A.evaluate((id) => window.get('notes', id), id), want);
  assert.deepEqual(await B.evaluate((id) => window.get('notes', id), id), want);
  assert.equal((await A.evaluate(() => window.conflicts)).length, 0);
  assert.equal((await B.evaluate(() => window.conflicts)).length, 0);
}
const tick = () => new Promise((r) => setTimeout(r, 10));

test('merge: A edits field a and pushes, edits field b before any pull; B edits field c: all three edits survive', () =>
  mergeCase(2, async () => {
    await A.evaluate(() => window.put('notes', { id: 2, a: 1, b: 0, c: 0 }));
    await pushOnly(A);
    await A.evaluate(() => window.put('notes', { id: 2, a: 1, b: 1, c: 0 }));
    await B.evaluate(() => window.put('notes', { id: 2, a: 0, b: 0, c: 1 }));
  }, { a: 1, b: 1, c: 1 }));

// A's own acked write comes back in a pull while A has edited the key again: that pulled seq is
// the version A's new edit was made on, so it is the edit's base. With the older base the server
// would take A's field a (unchanged by the new edit, but different from that base) as a new write
// stamped after B's edit of a, and B's edit would be lost.
test('merge: the base of an edit pending while its key\'s own acked write is pulled is that write\'s seq', () =>
  mergeCase(3, async () => {
    await A.evaluate(() => window.put('notes', { id: 3, a: 1, b: 0, c: 0 }));
    await pushOnly(A);
    await tick();
    await B.evaluate(() => window.put('notes', { id: 3, a: 2, b: 0, c: 1 }));   // after A's edit of a
    await tick();
    await A.evaluate(() => window.put('notes', { id: 3, a: 1, b: 1, c: 0 }));   // A edits b only (stamped after B's edit)
    await pullOnly(A);   // A's own write (seq s1) comes back; the key is pending, so the row is left alone
  }, { a: 2, b: 1, c: 1 }));

// A pushes its edit of a; B edits a after it and syncs; A edits b on top of its own write, with
// or without a pull between (which brings B's newer version of the key, not A's own write: the
// feed holds each key once, at its latest change). A's edit must be based on its acked write.
function editAfterPush(id, pullBetween) {
  return mergeCase(id, async () => {
    await A.evaluate((id) => window.put('notes', { id, a: 1, b: 0, c: 0 }), id);
    await pushOnly(A);
    await tick();
    await B.evaluate((id) => window.put('notes', { id, a: 2, b: 0, c: 1 }), id);   // after A's edit of a
    await sync(B);
    await tick();
    await A.evaluate((id) => window.put('notes', { id, a: 1, b: 1, c: 0 }), id);   // A edits b only
    if (pullBetween) await pullOnly(A);   // the key is pending: B's version leaves the row alone
  }, { a: 2, b: 1, c: 1 });
}

// The push answer lists the mutations stored as sent with their seqs ("kept"): an edit made right
// after a push, before any pull, is based on that version (same failure as above without it).
test('merge: an edit made after a push and before any pull is based on the acked write (push answer "kept")', () =>
  editAfterPush(4, false));

// ... and that base reaches BASE in the pull, which then forgets the push answer's seqs.
test('merge: the base from the push answer survives a pull that brings another client\'s newer version of the key', () =>
  editAfterPush(5, true));

// A pull of many rows records their seqs in bulk (base.js: a record per slice of rows, found by an
// index) instead of one BASE entry per row: the bases sent must be the same exact seqs.
test('merge: bases recorded in bulk by a big pull are exact (300 rows pulled, both edits of one row survive)', async () => {
  const N = 300;
  await A.evaluate((N) => new Promise((res, rej) => {
    const tx = window.s.db.transaction('notes', 'readwrite');
    for (let i = 0; i < N; i++) tx.objectStore('notes').put({ id: 1000 + i, a: 0, b: 0, c: 0 });
    tx.oncomplete = res; tx.onabort = () => rej(tx.error);
  }), N);
  await sync(A);
  await sync(B);
  const bulk = await B.evaluate(() => new Promise((res) => {
    const q = indexedDB.open('based');
    q.onsuccess = () => {
      const tx = q.result.transaction('_idbsync_base');
      tx.objectStore('_idbsync_base').getAll(IDBKeyRange.lowerBound([])).onsuccess = (e) => { q.result.close(); res(e.target.result.reduce((n, r) => n + r.k.length, 0)); };
    };
  }));
  // Slices have at least 64 rows; only the page's last one may be too small for a record.
  assert.ok(bulk >= N - 64, `B holds the seqs of the ${N} pulled rows in bulk records (${bulk})`);
  for (const p of [A, B]) await p.evaluate(() => { window.conflicts.length = 0; });
  const id = 1000 + 250;
  await A.evaluate((id) => window.put('notes', { id, a: 1, b: 0, c: 0 }), id);
  await sync(A);
  await tick();
  await B.evaluate((id) => window.put('notes', { id, a: 0, b: 0, c: 1 }), id);   // later, from its pulled copy
  await sync(B);
  await sync(A);
  const want = { id, a: 1, b: 0, c: 1 };
  assert.deepEqual((await serverRow('notes', id)).value, want, 'B\'s unchanged field a is no write: its base is exact');
  assert.deepEqual(await A.evaluate((id) => window.get('notes', id), id), want);
  assert.deepEqual(await B.evaluate((id) => window.get('notes', id), id), want);
  assert.equal((await B.evaluate(() => window.conflicts)).length, 0);
});

test('base.js: the highest seq of a key wins over single and bulk entries; dropped keys have no base', async () => {
  const r = await A.evaluate(async () => {
    const { writeBases, readBases, dropBases, ensureBaseIndex } = await import('/client/base.js');
    const db = await new Promise((res, rej) => {
      const q = indexedDB.open('basejs', 1);
      q.onupgradeneeded = () => ensureBaseIndex(q.result.createObjectStore('b'));
      q.onsuccess = () => res(q.result); q.onerror = () => rej(q.error);
    });
    const run = (mode, fn) => new Promise((res, rej) => {
      const tx = db.transaction('b', mode);
      let out;
      Promise.resolve(fn(tx.objectStore('b'))).then((v) => { out = v; }, rej);
      tx.oncomplete = () => res(out); tx.onabort = () => rej(tx.error);
    });
    const many = (from, seq) => Array.from({ length: 100 }, (_, i) => ['s\0' + (from + i), seq + i]);
    await run('readwrite', (bs) => { writeBases(bs, many(0, 1000)); writeBases(bs, many(50, 5000)); writeBases(bs, [['s\x000', 7], ['s\x0060', 9000]]); });
    const ids = ['s\x000', 's\x0010', 's\x0060', 's\x00120', 's\x00999'];
    const before = await run('readonly', (bs) => readBases(bs, ids));
    await run('readwrite', (bs) => dropBases(bs, ['s\x0060', 's\x0010']));
    const after = await run('readonly', (bs) => readBases(bs, ids));
    const records = await run('readonly', (bs) => new Promise((res) => { bs.count().onsuccess = (e) => res(e.target.result); }));
    // More than 256 ids at once: dropped by one scan of the bulk records.
    const t = Array.from({ length: 300 }, (_, i) => ['t\0' + i, 100 + i]);
    await run('readwrite', (bs) => { writeBases(bs, t.slice(0, 150)); writeBases(bs, t.slice(150)); });
    await run('readwrite', (bs) => dropBases(bs, t.slice(10).map((e) => e[0])));
    const scanned = await run('readonly', (bs) => readBases(bs, ['t\x000', 't\x009', 't\x0010', 't\x00299', 's\x00120']));
    const left = await run('readonly', (bs) => new Promise((res) => { bs.count().onsuccess = (e) => res(e.target.result); }));
    db.close();
    return { before, after, records, scanned, left };
  });
  assert.deepEqual(r.scanned, [100, 109, undefined, undefined, 5070]);
  assert.equal(r.left, 4, 'the record left with no pair is deleted');
  assert.deepEqual(r.before, [1000, 1010, 9000, 5070, undefined]);
  assert.deepEqual(r.after, [1000, undefined, undefined, 5070, undefined]);
  assert.equal(r.records, 3, 'two bulk records and one single entry left');
});
