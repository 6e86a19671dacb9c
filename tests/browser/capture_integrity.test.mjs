// Every write IndexedDB stores reaches the server as stored: values and keys from another realm,
// Blob/File/FileList values (bytes to the server as binary, back into another browser as Blob and
// File), values the wire format cannot carry or the server refuses (a rejected-mutation event,
// never a throw at the call site, the rest syncs on), and a connection the app closes stops syncing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, prepareContext, openPage, serverPull, until } from './lib/harness.mjs';
import { duck, flush, globU } from '../lake/lib.mjs';

let srv, browser;
before(async () => {
  srv = await startServer({ args: ['--max-value', '20000'] });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await srv?.stop(); });

const fresh = async () => openPage(await prepareContext(await browser.newContext()), srv);
const byKey = (changes, store) => new Map(changes.filter((c) => c.store === store).map((c) => [JSON.stringify(c.key), c]));

test('values, keys and key ranges from an iframe reach the server as IndexedDB stored them', async () => {
  const page = await fresh();
  const r = await page.evaluate(async () => {
    const f = document.createElement('iframe');
    document.body.append(f);
    const w = f.contentWindow;
    const s = await window.idbsync.openSynced('realm', 1, { url: location.origin, background: false, upgrade(db) { db.createObjectStore('k'); } });
    const done = (tx) => new Promise((res, rej) => { tx.oncomplete = res; tx.onabort = () => rej(tx.error); });
    let tx = s.db.transaction('k', 'readwrite');
    for (let i = 0; i < 6; i++) tx.objectStore('k').put('r' + i, i);
    tx.objectStore('k').put({ d: new w.Date(5), m: new w.Map([[1, 'a']]), b: new w.Uint8Array([1, 2]).buffer, r: new w.RegExp('x', 'g') }, 'v');
    tx.objectStore('k').put('arr', w.eval('[1, "x"]'));
    await done(tx);
    tx = s.db.transaction('k', 'readwrite');
    tx.objectStore('k').delete(w.IDBKeyRange.bound(1, 3));
    tx.objectStore('k').delete(w.eval('[1, "x"]'));
    await done(tx);
    await s.sync();
    const out = { pending: await s.pending() };
    s.close();
    return out;
  });
  assert.equal(r.pending, 0);
  const k = byKey(await serverPull(srv, 'realm'), 'k');
  for (const key of ['1', '2', '3', '[1,"x"]']) assert.equal(k.get(key).op, 'delete', `the delete of ${key} reached the server`);
  assert.equal(k.get('0').value, 'r0');
  assert.deepEqual(k.get('"v"').value, { d: { $date: '1970-01-01T00:00:00.005Z' }, m: { $map: [[1, 'a']] }, b: { $bin: 'AQI=' }, r: { $regexp: 'x', $flags: 'g' } });
});

test('Blob, File and FileList sync as binary with type and name, and come back as Blob/File in another browser', async () => {
  const a = await fresh(), b = await fresh();
  await a.evaluate(async () => {
    const s = await window.idbsync.openSynced('files', 1, { url: location.origin, background: false, upgrade(db) { db.createObjectStore('docs', { keyPath: 'id' }); } });
    const dt = new DataTransfer();
    dt.items.add(new File(['one'], 'one.txt', { type: 'text/plain', lastModified: 1700000000000 }));
    const tx = s.db.transaction('docs', 'readwrite');
    tx.objectStore('docs').put({ id: 1, img: new Blob([new Uint8Array([137, 80, 78, 71])], { type: 'image/png' }) });
    tx.objectStore('docs').put({ id: 2, file: new File(['hello'], 'hello.txt', { type: 'text/plain', lastModified: 1000 }) });
    tx.objectStore('docs').put({ id: 3, list: dt.files });
    await new Promise((res) => { tx.oncomplete = res; });
    await s.sync();
    s.close();
  });
  const docs = byKey(await serverPull(srv, 'files'), 'docs');
  assert.deepEqual(docs.get('1').value.img, { $bin: 'iVBORw==', $type: 'Blob', $mime: 'image/png' });
  assert.deepEqual(docs.get('2').value.file, { $bin: 'aGVsbG8=', $type: 'File', $mime: 'text/plain', $name: 'hello.txt', $modified: 1000 });
  assert.equal(docs.get('3').value.list[0].$name, 'one.txt');
  // In the lake the Blob and the File are binary columns holding their bytes.
  await flush(srv.url, 'files');
  const rows = await (await duck()).rows(`SELECT id, hex(img) AS img, hex(file) AS file FROM ${globU(srv.lakeDir, 'files', 'docs')} WHERE id < 3 ORDER BY id`);
  assert.deepEqual(rows.map((x) => [x.img, x.file]), [['89504E47', null], [null, '68656C6C6F']]);
  const got = await b.evaluate(async () => {
    const s = await window.idbsync.openSynced('files', 1, { url: location.origin, background: false, upgrade(db) { db.createObjectStore('docs', { keyPath: 'id' }); } });
    await s.sync();
    const all = await new Promise((res) => { s.db.transaction('docs').objectStore('docs').getAll().onsuccess = (e) => res(e.target.result); });
    const out = [];
    const [img, file, list] = [all[0].img, all[1].file, all[2].list];
    out.push(`${Object.prototype.toString.call(img)} ${img.type} ${[...new Uint8Array(await img.arrayBuffer())]}`);
    out.push(`${Object.prototype.toString.call(file)} ${file.name} ${file.type} ${file.lastModified} ${await file.text()}`);
    out.push(`${Array.isArray(list)} ${list[0].name} ${await list[0].text()}`);
    s.close();
    return out;
  });
  assert.deepEqual(got, ['[object Blob] image/png 137,80,78,71', '[object File] hello.txt text/plain 1000 hello', 'true one.txt one']);
});

test('values the wire cannot carry or the server refuses: stored, a rejected-mutation event, the rest syncs', async () => {
  const page = await fresh();
  const r = await page.evaluate(async () => {
    const s = await window.idbsync.openSynced('limits', 1, { url: location.origin, background: false, maxValueBytes: 5000, upgrade(db) { db.createObjectStore('v'); } });
    const errors = [];
    s.addEventListener('error', (e) => errors.push({ code: e.detail.code, serverCode: e.detail.serverCode, key: e.detail.mutation && e.detail.mutation.key, message: e.detail.message }));
    let deep = { leaf: 1 };
    for (let i = 0; i < 100; i++) deep = { d: deep };
    const cyc = { n: 1 };
    cyc.self = cyc;
    const throws = [];
    const tx = s.db.transaction('v', 'readwrite');
    const st = tx.objectStore('v');
    const put = (v, k) => { try { st.put(v, k); } catch (e) { throws.push(k + ': ' + e.name); } };
    put('before', 'a');
    put(new Blob([new Uint8Array(6000)]), 'bigblob');      // over maxValueBytes: not read, not sent
    put(deep, 'deep');                                     // deeper than the server's JSON nesting
    put(cyc, 'cycle');                                     // JSON has no cycles
    put('x'.repeat(30000), 'bigstring');                   // over the server's --max-value: 413
    put('after', 'z');
    await new Promise((res) => { tx.oncomplete = res; });
    await s.sync();
    const rejected = await s.rejected();
    const stored = await new Promise((res) => { s.db.transaction('v').objectStore('v').getAllKeys().onsuccess = (e) => res(e.target.result); });
    const out = { throws, errors, rejected: rejected.map((x) => [x.key, x.error.code, Object.prototype.toString.call(x.value)]), stored, pending: await s.pending() };
    s.close();
    return out;
  });
  assert.deepEqual(r.throws, [], 'never a throw at the call site');
  assert.deepEqual(r.stored.sort(), ['a', 'bigblob', 'bigstring', 'cycle', 'deep', 'z']);
  assert.equal(r.pending, 0);
  assert.deepEqual(r.rejected.map((x) => x[0]), ['bigblob', 'deep', 'cycle', 'bigstring']);
  assert.deepEqual(r.rejected.map((x) => x[1]), ['too_large', 'unsupported_value', 'unsupported_value', 'too_large']);
  assert.equal(r.rejected[0][2], '[object Blob]', 'the rejected entry keeps the Blob');
  assert.deepEqual(r.errors.map((e) => e.code), ['rejected', 'rejected', 'rejected', 'rejected']);
  assert.match(r.errors[1].message, /deeper than 64/);
  assert.match(r.errors[2].message, /cycle/);
  const v = byKey(await serverPull(srv, 'limits'), 'v');
  assert.deepEqual([...v.keys()].sort(), ['"a"', '"z"']);
});

test('a connection the app closes stops syncing and releases the leader lock; reopened, it syncs again', async () => {
  const page = await fresh();
  const r = await page.evaluate(async () => {
    const open = () => new Promise((res) => {
      const q = indexedDB.open('closing', 1);
      q.onupgradeneeded = () => { window.idbsync.createSyncStores(q.result); q.result.createObjectStore('a'); };
      q.onsuccess = () => res(q.result);
    });
    const held = async () => (await navigator.locks.query()).held.map((l) => l.name).filter((n) => n.startsWith('idbsync:leader'));
    let db = await open();
    const s1 = await window.idbsync.enableSync(db, { url: location.origin });
    const wait = async (f) => { for (let i = 0; i < 200 && !(await f()); i++) await new Promise((r) => setTimeout(r, 25)); };
    await wait(() => s1.isLeader);
    const before = await held();
    db.close();   // without s1.close()
    await wait(async () => (await held()).length === 0);
    const after = await held();
    db = await open();
    const s2 = await window.idbsync.enableSync(db, { url: location.origin });
    const tx = db.transaction('a', 'readwrite');
    tx.objectStore('a').put('v', 'k');
    await new Promise((res) => { tx.oncomplete = res; });
    for (let i = 0; i < 100 && (await s2.pending()) > 0; i++) await new Promise((r) => setTimeout(r, 50));
    const out = { before, after, closed1: s1.closed, leader2: s2.isLeader, pending2: await s2.pending() };
    db.close();
    return out;
  });
  assert.deepEqual(r.before, ['idbsync:leader:closing']);
  assert.deepEqual(r.after, [], 'the lock is released');
  assert.equal(r.closed1, true);
  assert.equal(r.leader2, true, 'the reopened connection leads in this tab');
  assert.equal(r.pending2, 0, 'and syncs');
  await until(async () => byKey(await serverPull(srv, 'closing'), 'a').has('"k"'), 5000, 'the write on the server');
});

test('commit() with a generated key still to come, the app closing the database in its complete handler: the record is completed', async () => {
  const page = await fresh();
  const r = await page.evaluate(async () => {
    const db = await new Promise((res) => {
      const q = indexedDB.open('late', 1);
      q.onupgradeneeded = () => { window.idbsync.createSyncStores(q.result); q.result.createObjectStore('auto', { keyPath: 'n', autoIncrement: true }); };
      q.onsuccess = () => res(q.result);
    });
    await window.idbsync.enableSync(db, { url: location.origin, background: false });
    const tx = db.transaction('auto', 'readwrite');
    const closed = new Promise((res) => { tx.oncomplete = () => { db.close(); res(); }; });
    tx.objectStore('auto').add({ x: 1 });
    tx.commit();
    await closed;
    const db2 = await new Promise((res) => { const q = indexedDB.open('late'); q.onsuccess = () => res(q.result); });
    const read = () => new Promise((res) => { db2.transaction('_idbsync_outbox').objectStore('_idbsync_outbox').getAll().onsuccess = (e) => res(e.target.result); });
    let recs = await read();
    for (let i = 0; i < 100 && recs.some((x) => x.open); i++) { await new Promise((res) => setTimeout(res, 20)); recs = await read(); }
    db2.close();
    return recs.map((x) => ({ open: !!x.open, m: x.m.map((m) => [m[0], m[1], m[3]]) }));
  });
  assert.deepEqual(r, [{ open: false, m: [['auto', '1', '{"x":1,"n":1}']] }]);
});
