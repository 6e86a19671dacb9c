// Lake → IndexedDB end to end: Parquet written by a real DuckDB is imported with `idbsync import
// --server` (admin token) and pulled by browser clients in Chromium. What IndexedDB holds, read back
// with the native API, is compared with what DuckDB reads from the same file: same rows, same types
// (numbers, booleans, strings, Date objects at the right instant, nested objects and arrays, nulls).
// Then: --mode replace deletes rows in the browsers, --user-column gives each user only their rows,
// and a --read-only store reaches browsers while their writes to it are refused, set aside, and
// reverted locally to the server's version.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { startServer, launchBrowser, prepareContext, openPage, tempDir, BIN, SRC } from './lib/harness.mjs';

const require = createRequire(path.join(SRC, 'package.json'));
const duckdb = await import(require.resolve('@duckdb/node-api'));

const DB = 'lake';
let srv, browser, duck, dir, A, B;   // A: alice's browser, B: bob's

before(async () => {
  dir = tempDir();
  fs.writeFileSync(path.join(dir, 'tokens'), 'ta alice\ntb bob\ntadm ops admin\n');
  srv = await startServer({ args: ['--auth', `tokens:${path.join(dir, 'tokens')}`, '--read-only', 'prices', '--no-inbox'] });
  duck = await (await duckdb.DuckDBInstance.create(':memory:')).connect();
  await duck.run("SET TimeZone='UTC'");
  browser = await launchBrowser();
  A = await openPage(await prepareContext(await browser.newContext()), srv);
  B = await openPage(await prepareContext(await browser.newContext()), srv);
  for (const [page, token] of [[A, 'ta'], [B, 'tb']]) {
    await page.evaluate(async ({ token, db }) => {
      window.errors = [];
      window.s = await window.idbsync.openSynced(db, 1, {
        url: location.origin, token, background: false,
        upgrade(db) { for (const n of ['items', 'orders', 'prices', 'wide']) db.createObjectStore(n, { keyPath: 'id' }); },
      });
      window.s.addEventListener('error', (e) => window.errors.push({ name: e.detail.name, code: e.detail.code,
        serverCode: e.detail.serverCode, status: e.detail.status, message: e.detail.message, mutation: e.detail.mutation }));
      window.conflicts = [];
      window.s.addEventListener('conflict', (e) => window.conflicts.push(e.detail));
      // Values as JSON with their JS types made explicit: only a real Date becomes {$D: ms}.
      window.tag = function tag(v) {
        if (v instanceof Date) return { $D: v.getTime() };
        if (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0))) return { $N: Object.is(v, -0) ? '-0' : String(v) };
        if (typeof v === 'bigint') return { $B: String(v) };
        if (v === undefined) return { $U: true };
        if (Array.isArray(v)) return v.map(tag);
        if (v && typeof v === 'object') {
          if (Object.getPrototypeOf(v) !== Object.prototype) return { $C: v.constructor?.name };
          return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, tag(x)]));
        }
        return v;
      };
      window.all = (store) => new Promise((res, rej) => {
        const r = window.s.db.transaction(store).objectStore(store).getAll();
        r.onsuccess = () => res(r.result.map(window.tag));
        r.onerror = () => rej(r.error);
      });
      window.write = (store, rows) => new Promise((res, rej) => {
        const tx = window.s.db.transaction(store, 'readwrite');
        for (const r of rows) tx.objectStore(store).put(r);
        tx.oncomplete = res; tx.onabort = () => rej(tx.error);
      });
    }, { token, db: DB });
  }
});
after(async () => { await browser?.close(); await srv?.stop(); });

function run(args) {
  return new Promise((resolve) => {
    const p = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

async function importFile(store, file, extra = []) {
  const r = await run(['import', '--db', DB, '--store', store, '--key', 'id', '--server', srv.url, '--token', 'tadm', ...extra, file]);
  assert.equal(r.code, 0, r.err);
  return r.out;
}

async function writeParquet(name, sql) {
  const file = path.join(dir, name);
  await duck.run(`COPY (${sql}) TO '${file}' (FORMAT parquet)`);
  return file;
}

const floorDiv = (a, b) => { const q = a / b; return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q; };

// A DuckDB value as the same tagged form window.tag() gives for a JS value: what the browser must hold.
function fromDuck(v) {
  const D = duckdb;
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number') return (!Number.isFinite(v) || Object.is(v, -0)) ? { $N: Object.is(v, -0) ? '-0' : String(v) } : v;
  if (typeof v !== 'object') return v;
  if (v instanceof D.DuckDBDateValue) return { $D: v.days * 86400000 };
  if (v instanceof D.DuckDBTimestampValue || v instanceof D.DuckDBTimestampTZValue) return { $D: Number(floorDiv(v.micros, 1000n)) };
  if (v instanceof D.DuckDBTimestampMillisecondsValue) return { $D: Number(v.millis) };
  if (v instanceof D.DuckDBStructValue) return Object.fromEntries(Object.entries(v.entries).map(([k, x]) => [k, fromDuck(x)]));
  if (v instanceof D.DuckDBListValue) return v.items.map(fromDuck);
  // docs/types.md: a DECIMAL of up to 15 digits arrives as a number (a double holds it exactly)
  if (v instanceof D.DuckDBDecimalValue) return v.width <= 15 ? Number(v.toString()) : v.toString();
  throw new Error(`no mapping for DuckDB value ${v.constructor.name}`);
}

async function duckRows(sql) {
  return (await (await duck.runAndReadAll(sql)).getRowObjects()).map((r) => fromDuck(new duckdb.DuckDBStructValue(r)));
}

const byId = (rows) => [...rows].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
const sync = (page) => page.evaluate(() => window.s.sync());

// 200 rows; every type DuckDB jobs commonly write, with NULLs sprinkled in and nested values.
const ITEMS_SQL = `
  SELECT i AS id,
    (i - 100)::TINYINT AS i8, (i * 150 - 15000)::SMALLINT AS i16, (i * 100003)::INTEGER AS i32,
    (i * 1234567890123 - 99999999999999)::BIGINT AS i64, (i * 7)::UINTEGER AS u32,
    (i / 7)::DOUBLE AS d, (-i * 1e300)::DOUBLE AS huge, CASE WHEN i % 10 = 0 THEN NULL ELSE (i * 0.25)::FLOAT END AS f,
    CASE i % 5 WHEN 0 THEN 'plain ' || i WHEN 1 THEN 'héllo wörld ñ ' || i WHEN 2 THEN '日本語テキスト ' || i
      WHEN 3 THEN '🎉 👩‍👩‍👧 e\u0301 ' || i ELSE 'quote " back\\slash' || chr(10) || 'tab' || chr(9) || i END AS s,
    CASE WHEN i % 7 = 0 THEN NULL ELSE 'ascii' || i END AS maybe, '' AS empty,
    i % 3 = 0 AS b, CASE WHEN i % 4 = 0 THEN NULL ELSE i % 2 = 1 END AS nb,
    DATE '1999-12-31' + (i * 40)::INTEGER AS day,
    TIMESTAMP '2024-02-29 23:59:59.123456' + INTERVAL (i * 3607) SECOND AS ts,
    TIMESTAMPTZ '2024-06-01 12:00:00+02' + INTERVAL (i) DAY AS tstz,
    CASE i % 4 WHEN 0 THEN TIMESTAMP '1969-12-31 23:59:59.9995' WHEN 1 THEN TIMESTAMP '1900-01-01 00:00:00'
      WHEN 2 THEN NULL ELSE TIMESTAMP '2999-12-31 23:59:59.999' END AS rare_ts,
    {'name': 'n' || i, 'geo': {'lat': (i / 3)::DOUBLE, 'lon': (-i / 7)::DOUBLE}, 'tags': ['x' || i, NULL, 'z'],
     'since': DATE '2020-01-01' + i::INTEGER, 'ok': i % 2 = 0} AS st,
    [i, i * 2, NULL] AS li,
    CASE WHEN i % 6 = 0 THEN [] ELSE [{'k': 'a' || i, 'v': (i / 2)::DOUBLE}, {'k': 'b', 'v': NULL}] END AS lst,
    [[i], [], [i + 1, i + 2]] AS nested_list,
    CASE WHEN i % 9 = 0 THEN NULL ELSE {'only': i} END AS nst,
    (i * 1.5)::DECIMAL(10, 2) AS amount,
    NULL::VARCHAR AS always_null
  FROM range(1, 201) t(i)`;

test('DuckDB Parquet with many types → import → IndexedDB holds exactly those rows, types preserved', async () => {
  const file = await writeParquet('items.parquet', ITEMS_SQL);
  assert.match(await importFile('items', file), /imported 200 rows/);
  const want = byId(await duckRows(`SELECT * FROM read_parquet('${file}') ORDER BY id`));
  assert.equal(want.length, 200);
  await sync(A);
  const got = byId(await A.evaluate(() => window.all('items')));
  assert.equal(got.length, 200, 'exactly the imported rows');
  for (let i = 0; i < want.length; i++) {
    const g = got[i], w = want[i];
    // FLOAT: the importer sends the shortest decimal that reads back as the same float32
    // (0.25 → 0.25, 1.1 → 1.1); DuckDB widens to double. Same float either way.
    if (w.f !== null) { assert.equal(Math.fround(g.f), Math.fround(w.f), `row ${w.id} f`); g.f = w.f; }
    assert.deepStrictEqual(g, w, `row ${w.id}`);
  }
  // the raw JS values in the page, for a reader: real numbers, booleans, Date objects at the instant DuckDB reports
  const [iso] = await duckRows(`SELECT strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ') AS ts, strftime(day, '%Y-%m-%dT00:00:00.000Z') AS day,
    strftime(tstz, '%Y-%m-%dT%H:%M:%S.%gZ') AS tstz FROM read_parquet('${file}') WHERE id = 7`);
  const kinds = await A.evaluate(async () => {
    const r = await new Promise((res) => { window.s.db.transaction('items').objectStore('items').get(7).onsuccess = (e) => res(e.target.result); });
    return { id: typeof r.id, i64: typeof r.i64, d: typeof r.d, b: typeof r.b, nb: typeof r.nb, s: r.s,
      day: r.day instanceof Date && r.day.toISOString(), ts: r.ts instanceof Date && r.ts.toISOString(),
      tstz: r.tstz instanceof Date && r.tstz.toISOString(), since: r.st.since instanceof Date, lat: r.st.geo.lat,
      tags: Array.isArray(r.st.tags) && r.st.tags, li: r.li, maybe: r.maybe, hasAlways: 'always_null' in r && r.always_null === null };
  });
  assert.deepEqual(kinds, { id: 'number', i64: 'number', d: 'number', b: 'boolean', nb: 'boolean', s: '日本語テキスト 7',
    day: iso.day, ts: iso.ts, tstz: iso.tstz, since: true, lat: 7 / 3, tags: ['x7', null, 'z'], li: [7, 14, null], maybe: null, hasAlways: true });
});

test('--mode replace with a file lacking some rows: after sync they are gone from IndexedDB too', async () => {
  // every third row is missing, the others change, ten are new
  const file = await writeParquet('items2.parquet', `
    SELECT i AS id, 'v2 ' || i AS s, DATE '2030-01-01' + i::INTEGER AS day, [i] AS li
    FROM range(1, 211) t(i) WHERE i % 3 <> 0`);
  assert.match(await importFile('items', file, ['--mode', 'replace']), /replaced/);
  const want = byId(await duckRows(`SELECT * FROM read_parquet('${file}') ORDER BY id`));
  await sync(A);
  const got = byId(await A.evaluate(() => window.all('items')));
  assert.equal(got.length, 140);
  assert.deepStrictEqual(got, want);
  // a browser that never saw the old rows gets the same
  await sync(B);
  assert.deepStrictEqual(byId(await B.evaluate(() => window.all('items'))), want);
});

test('--user-column owner: two browsers logged in as different users each get only their rows', async () => {
  const file = await writeParquet('orders.parquet', `
    SELECT 'o' || i AS id, ['alice', 'bob', 'carol'][i % 3 + 1] AS owner, i * 10 AS total,
           TIMESTAMP '2024-05-01 08:00:00' + INTERVAL (i) MINUTE AS placed
    FROM range(0, 30) t(i)`);
  const out = await importFile('orders', file, ['--user-column', 'owner']);
  assert.match(out, /imported 30 rows/);
  const wantFor = async (user) => byId(await duckRows(`SELECT * FROM read_parquet('${file}') WHERE owner = '${user}' ORDER BY id`));
  await sync(A);
  await sync(B);
  const a = byId(await A.evaluate(() => window.all('orders')));
  const b = byId(await B.evaluate(() => window.all('orders')));
  assert.equal(a.length, 10);
  assert.deepStrictEqual(a, await wantFor('alice'));
  assert.deepStrictEqual(b, await wantFor('bob'));
  // carol's rows reach nobody else; an own write of alice stays hers
  await A.evaluate(() => window.write('orders', [{ id: 'mine', owner: 'alice', total: 1 }]));
  await sync(A);
  await sync(B);
  assert.equal((await A.evaluate(() => window.errors)).length, 0);
  assert.ok((await A.evaluate(() => window.all('orders'))).some((r) => r.id === 'mine'));
  assert.ok(!(await B.evaluate(() => window.all('orders'))).some((r) => r.id === 'mine'));
  // replace per user column: alice's o0 and bob's o1 are absent from the new file and vanish from
  // their browsers (so does alice's own row 'mine': replace makes the file the whole store)
  const file2 = await writeParquet('orders2.parquet', `SELECT * FROM read_parquet('${file}') WHERE id NOT IN ('o0', 'o1')`);
  await importFile('orders', file2, ['--user-column', 'owner', '--mode', 'replace']);
  await sync(A);
  await sync(B);
  const ids = async (p) => (await p.evaluate(() => window.all('orders'))).map((r) => r.id).sort();
  assert.deepEqual(await ids(A), (await wantFor('alice')).map((r) => r.id).filter((k) => k !== 'o0').sort());
  assert.deepEqual(await ids(B), (await wantFor('bob')).map((r) => r.id).filter((k) => k !== 'o1').sort());
});

test('--read-only prices: a local write is captured, refused (403), set aside, and the row reverts to the server version', async () => {
  const file = await writeParquet('prices.parquet', `SELECT 'p' || i AS id, (i * 0.5)::DOUBLE AS eur, 'EUR' AS cur FROM range(0, 5) t(i)`);
  await importFile('prices', file);
  await sync(A);
  const want = byId(await duckRows(`SELECT * FROM read_parquet('${file}') ORDER BY id`));
  assert.deepStrictEqual(byId(await A.evaluate(() => window.all('prices'))), want);
  // three local writes: a new key, an edit of an imported row, a delete of one
  const before = await A.evaluate(async () => {
    window.errors.length = 0;
    window.conflicts.length = 0;
    await window.write('prices', [{ id: 'p-new', eur: 9, cur: 'EUR' }]);
    await window.write('prices', [{ id: 'p1', eur: 999, cur: 'EUR' }]);
    await new Promise((res) => { const tx = window.s.db.transaction('prices', 'readwrite'); tx.objectStore('prices').delete('p3'); tx.oncomplete = res; });
    return window.s.pending();
  });
  assert.equal(before, 3, 'the writes are captured in the outbox');
  const r = await A.evaluate(async () => {
    await window.s.sync();
    return { pending: await window.s.pending(), rejected: await window.s.rejected(), errors: window.errors,
      conflicts: window.conflicts.map((c) => ({ ...c, local: window.tag(c.local), winner: window.tag(c.winner) })),
      rows: await window.all('prices') };
  });
  assert.equal(r.pending, 0, 'refused mutations do not block the outbox');
  assert.deepEqual(r.rejected.map((m) => [m.store, m.key, m.op]).sort(), [['prices', 'p-new', 'put'], ['prices', 'p1', 'put'], ['prices', 'p3', 'delete']]);
  assert.equal(r.errors.length, 3);
  for (const e of r.errors) {
    assert.equal(e.code, 'rejected');
    assert.equal(e.serverCode, 'forbidden');
    assert.equal(e.status, 403);
  }
  assert.match(r.errors.find((e) => e.mutation.key === 'p-new').message, /server-owned/);
  // A's IndexedDB holds the server's version again: the edit and the delete are undone, the new key is gone
  assert.deepStrictEqual(byId(r.rows), want);
  const c = new Map(r.conflicts.map((x) => [x.key, x]));
  assert.deepEqual([...c.keys()].sort(), ['p-new', 'p1', 'p3']);
  for (const x of c.values()) { assert.equal(x.rule, 'forbidden'); assert.match(x.reason, /server-owned/); }
  assert.deepEqual(c.get('p-new').winner, { op: 'delete' }, 'no such row on the server');
  assert.deepEqual(c.get('p-new').local, { op: 'put', value: { id: 'p-new', eur: 9, cur: 'EUR' } });
  assert.equal(c.get('p1').winner.op, 'put');
  assert.equal(typeof c.get('p1').winner.seq, 'number');
  assert.deepStrictEqual(c.get('p1').winner.value, want.find((x) => x.id === 'p1'));
  assert.deepEqual(c.get('p1').local.value.eur, 999);
  assert.equal(c.get('p3').local.op, 'delete');
  assert.deepStrictEqual(c.get('p3').winner.value, want.find((x) => x.id === 'p3'));
  // the revert was not captured (no echo) and is not repeated
  const again = await A.evaluate(async () => { window.conflicts.length = 0; await window.s.sync(); return { pending: await window.s.pending(), conflicts: window.conflicts.length, errors: window.errors.length }; });
  assert.deepEqual(again, { pending: 0, conflicts: 0, errors: 3 });
  // the server still holds exactly the imported rows
  const server = [];
  for (let since = 0; ;) {
    const p = await fetch(`${srv.url}/v1/db/${DB}/pull?since=${since}&limit=1000`, { headers: { authorization: 'Bearer tadm' } }).then((x) => x.json());
    server.push(...p.changes.filter((c) => c.store === 'prices'));
    since = p.cursor;
    if (!p.more) break;
  }
  assert.deepStrictEqual(byId(server.map((c) => c.value)), want);
  // other browsers see the server's version
  await sync(B);
  assert.deepStrictEqual(byId(await B.evaluate(() => window.all('prices'))), want);
  // The server changes p2 after A pulled it, and A edits its stale copy: the change at A's base is
  // gone from the (compacted) feed, so the revert scans the feed from there for the newer version.
  await importFile('prices', await writeParquet('prices2.parquet', `SELECT 'p2' AS id, 7.5::DOUBLE AS eur, 'EUR' AS cur`));
  const r2 = await A.evaluate(async () => {
    window.conflicts.length = 0;
    await window.write('prices', [{ id: 'p2', eur: -1, cur: 'EUR' }]);
    await window.s.sync();
    return { conflicts: window.conflicts.map((c) => [c.key, c.rule, c.winner.value.eur]), rows: await window.all('prices') };
  });
  assert.deepEqual(r2.conflicts, [['p2', 'forbidden', 7.5]]);
  assert.equal(r2.rows.find((x) => x.id === 'p2').eur, 7.5);
});

// Regression: INT64/UINT64 values beyond ±2^53 once arrived as neighbouring doubles; the importer
// now sends them as {"$bigint":..}, a BigInt in IndexedDB.
test('BIGINT beyond 2^53 reaches the browser exactly', async () => {
  const file = await writeParquet('wide.parquet', `
    SELECT 1 AS id, 9007199254740993::BIGINT AS big, (-9223372036854775807)::BIGINT - 1 AS min, 18446744073709551615::UBIGINT AS umax`);
  await importFile('wide', file);
  await sync(A);
  const [row] = await A.evaluate(() => window.all('wide'));
  const exact = (v) => (v && v.$B) || (typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : `inexact ${v}`);
  assert.deepEqual([exact(row.big), exact(row.min), exact(row.umax)], ['9007199254740993', '-9223372036854775808', '18446744073709551615']);
});
