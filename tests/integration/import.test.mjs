// Lake → IndexedDB: Parquet written by a real DuckDB is imported (CLI over HTTP, CLI on the
// data dir, and the inbox) and reaches clients through pull with types preserved.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, tempDir, pullAll, push, sleep } from '../lib/server.mjs';
import { writeParquet, run, byKey } from './lib/parquet.mjs';

describe('idbsync import --server', () => {
  let srv, dir;
  before(async () => {
    srv = await startServer();
    dir = tempDir();
    await writeParquet(path.join(dir, 'a.parquet'), `
      SELECT i AS id, 'item ' || i AS name, (i * 1.5)::DOUBLE AS price, i % 2 = 0 AS paid,
             DATE '2024-01-01' + CAST(i AS INTEGER) AS day, TIMESTAMP '2024-01-01 10:00:00' + INTERVAL (i) MINUTE AS at,
             {'city': 'c' || i, 'zip': i} AS addr, [i, i + 1] AS tags, CAST(i AS DECIMAL(10,2)) AS amount
      FROM range(1, 101) t(i)`);
  });
  after(() => srv.stop());

  test('every row arrives with its types (numbers, strings, booleans, dates, nested)', async () => {
    const r = run(['import', '--db', 'shop', '--store', 'orders', '--server', srv.url, path.join(dir, 'a.parquet')]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /imported 100 rows/);
    const rows = byKey((await pullAll(srv.url, 'shop')).changes, 'orders');
    assert.equal(rows.size, 100);
    const v = rows.get('7');
    assert.deepEqual(v, { id: 7, name: 'item 7', price: 10.5, paid: false, day: { $date: '2024-01-08T00:00:00.000Z' },
      at: { $date: '2024-01-01T10:07:00.000Z' }, addr: { city: 'c7', zip: 7 }, tags: [7, 8], amount: 7 });
  });

  test('_op deletes, replace mode removes absent rows, re-running is idempotent', async () => {
    await writeParquet(path.join(dir, 'ops.parquet'), `
      SELECT i AS id, 'new ' || i AS name, CASE WHEN i <= 5 THEN 'delete' ELSE 'put' END AS _op
      FROM range(1, 21) t(i)`);
    let r = run(['import', '--db', 'shop', '--store', 'orders', '--client', 'job-42', '--server', srv.url, path.join(dir, 'ops.parquet')]);
    assert.equal(r.code, 0, r.err);
    let rows = byKey((await pullAll(srv.url, 'shop')).changes, 'orders');
    assert.equal(rows.size, 95);
    assert.equal(rows.get('6').name, 'new 6');
    assert.equal(rows.get('6')._op, undefined, '_op is not stored');
    // the same job again (a retry): nothing applied twice
    r = run(['import', '--db', 'shop', '--store', 'orders', '--client', 'job-42', '--server', srv.url, path.join(dir, 'ops.parquet')]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /20 already applied/);
    // replace with two files: only their keys remain
    await writeParquet(path.join(dir, 'r1.parquet'), 'SELECT i AS id, i AS v FROM range(50, 55) t(i)');
    await writeParquet(path.join(dir, 'r2.parquet'), 'SELECT i AS id, i AS v FROM range(200, 203) t(i)');
    r = run(['import', '--db', 'shop', '--store', 'orders', '--mode', 'replace', '--server', srv.url,
      path.join(dir, 'r1.parquet'), path.join(dir, 'r2.parquet')]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /replaced/);
    rows = byKey((await pullAll(srv.url, 'shop')).changes, 'orders');
    assert.deepEqual([...rows.keys()].map(Number).sort((a, b) => a - b), [50, 51, 52, 53, 54, 200, 201, 202]);
  });

  test('bad input: missing key column, corrupt file, unknown options — clear errors, nothing applied', async () => {
    const before = (await pullAll(srv.url, 'shop')).cursor;
    await writeParquet(path.join(dir, 'nokey.parquet'), 'SELECT 1 AS other');
    let r = run(['import', '--db', 'shop', '--store', 'orders', '--server', srv.url, path.join(dir, 'nokey.parquet')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /nokey\.parquet: no column "id" to take the key from; the file has the columns other .*--key/);
    fs.writeFileSync(path.join(dir, 'bad.parquet'), 'PAR1 this is not parquet at all PAR1');
    r = run(['import', '--db', 'shop', '--store', 'orders', '--server', srv.url, path.join(dir, 'bad.parquet')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /400|parquet|footer|magic/i);
    r = run(['import', '--db', 'shop', '--server', srv.url, path.join(dir, 'a.parquet')]);
    assert.equal(r.code, 2);
    assert.equal((await pullAll(srv.url, 'shop')).cursor, before);
  });
});

describe('per-user rows and the data dir', () => {
  test('--user-column: each row reaches only its user; --data refuses a dir a server holds', async () => {
    const dir = tempDir();
    const tokens = path.join(dir, 'tokens');
    fs.writeFileSync(tokens, 'ta alice\ntb bob\ntadm ops admin\n');
    await writeParquet(path.join(dir, 'u.parquet'), `SELECT i AS id, CASE WHEN i % 2 = 0 THEN 'alice' ELSE 'bob' END AS owner FROM range(0, 10) t(i)`);
    const srv = await startServer({ args: ['--auth', `tokens:${tokens}`] });
    let dataDir = srv.dataDir;
    try {
      let r = run(['import', '--db', 'u', '--store', 's', '--user-column', 'owner', '--server', srv.url, '--token', 'ta', path.join(dir, 'u.parquet')]);
      assert.equal(r.code, 1, 'a user token may not import');
      assert.match(r.err, /403|admin/);
      r = run(['import', '--db', 'u', '--store', 's', '--user-column', 'owner', '--server', srv.url, '--token', 'tadm', path.join(dir, 'u.parquet')]);
      assert.equal(r.code, 0, r.err);
      const a = (await pullAll(srv.url, 'u', {}, 'ta')).changes.map((c) => c.key).sort((x, y) => x - y);
      const b = (await pullAll(srv.url, 'u', {}, 'tb')).changes.map((c) => c.key).sort((x, y) => x - y);
      assert.deepEqual(a, [0, 2, 4, 6, 8]);
      assert.deepEqual(b, [1, 3, 5, 7, 9]);
      r = run(['import', '--db', 'u', '--store', 's', '--data', srv.dataDir, path.join(dir, 'u.parquet')]);
      assert.equal(r.code, 1);
      assert.match(r.err, /in use by another idbsync process/);
    } finally {
      await srv.stop();
    }
    // with the server stopped, --data works on the same directory
    await writeParquet(path.join(dir, 'v.parquet'), 'SELECT 100 + i AS id FROM range(0, 3) t(i)');
    const r = run(['import', '--db', 'u', '--store', 's2', '--data', dataDir, path.join(dir, 'v.parquet')]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /imported 3 rows/);
  });
});

describe('inbox', () => {
  test('complete files are imported once, moved to _done; corrupt ones rejected with a report', async () => {
    const srv = await startServer({ args: ['--inbox-interval', '200', '--inbox-settle', '300'] });
    try {
      const inbox = path.join(srv.lakeDir, 'shop', '_inbox', 'prices');
      fs.mkdirSync(inbox, { recursive: true });
      fs.writeFileSync(path.join(inbox, '_import.json'), JSON.stringify({ key: 'sku' }));
      // written to a hidden name then renamed, like engines do; no _SUCCESS: settles by size
      await writeParquet(path.join(inbox, '.tmp1'), "SELECT 'sku' || i AS sku, i AS eur FROM range(0, 500) t(i)");
      fs.renameSync(path.join(inbox, '.tmp1'), path.join(inbox, '000000_0'));
      fs.writeFileSync(path.join(inbox, 'broken.parquet'), Buffer.from('not parquet'));
      const deadline = Date.now() + 15000;
      let rows;
      while (Date.now() < deadline) {
        rows = byKey((await pullAll(srv.url, 'shop')).changes, 'prices');
        if (rows.size === 500 && fs.existsSync(path.join(inbox, '_rejected', 'broken.parquet'))) break;
        await sleep(200);
      }
      assert.equal(rows.size, 500);
      assert.deepEqual(rows.get('"sku7"'), { sku: 'sku7', eur: 7 });
      assert.ok(fs.existsSync(path.join(inbox, '_done', '000000_0')));
      assert.ok(!fs.existsSync(path.join(inbox, '000000_0')));
      const report = fs.readFileSync(path.join(inbox, '_rejected', 'broken.parquet.error.txt'), 'utf8');
      assert.match(report, /broken\.parquet/);
      // a job with a _SUCCESS marker: both files together
      await writeParquet(path.join(inbox, 'p1'), "SELECT 'x' || i AS sku, 1 AS eur FROM range(0, 5) t(i)");
      await writeParquet(path.join(inbox, 'p2'), "SELECT 'y' || i AS sku, 2 AS eur FROM range(0, 5) t(i)");
      fs.writeFileSync(path.join(inbox, '_SUCCESS'), '');
      const d2 = Date.now() + 10000;
      while (Date.now() < d2 && byKey((await pullAll(srv.url, 'shop')).changes, 'prices').size < 510) await sleep(100);
      assert.equal(byKey((await pullAll(srv.url, 'shop')).changes, 'prices').size, 510);
    } finally {
      await srv.stop();
    }
  });

  test('kill -9 mid-import: after restart every row is there exactly once', async () => {
    const srv = await startServer({ args: ['--inbox-interval', '100', '--inbox-settle', '0'] });
    const inbox = path.join(srv.lakeDir, 'big', '_inbox', 'events');
    fs.mkdirSync(inbox, { recursive: true });
    await writeParquet(path.join(inbox, '.w'), 'SELECT i AS id, md5(i::VARCHAR) AS h FROM range(0, 200000) t(i)');
    fs.renameSync(path.join(inbox, '.w'), path.join(inbox, 'events.parquet'));
    // wait until the import is under way, then kill
    const t0 = Date.now();
    while (Date.now() - t0 < 20000) {
      const h = await (await fetch(`${srv.url}/healthz`)).json();
      if (h.head > 0) break;
      await sleep(20);
    }
    await srv.kill9();
    const srv2 = await srv.restart();
    try {
      // sanitizer/valgrind runs are several times slower (scripts/valgrind-integration sets the scale)
      const d = Date.now() + 60000 * Number(process.env.IDS_TIME_SCALE || 1);
      while (Date.now() < d && !fs.existsSync(path.join(inbox, '_done', 'events.parquet'))) await sleep(200);
      assert.ok(fs.existsSync(path.join(inbox, '_done', 'events.parquet')), 'moved to _done after restart');
      const all = await pullAll(srv2.url, 'big', { limit: 10000 });
      const keys = all.changes.filter((c) => c.store === 'events').map((c) => c.key);
      assert.equal(keys.length, 200000);
      assert.equal(new Set(keys).size, 200000);
      const st = await (await fetch(`${srv2.url}/v1/db/big/stores`)).json();
      assert.equal(st.stores[0].rows, 200000);
      // every change was applied once: the change count equals the rows
      const m = await (await fetch(`${srv2.url}/metrics`)).text();
      assert.ok(m.includes('idbsync_head_seq'));
    } finally {
      await srv2.stop();
    }
  });
});

describe('server-owned stores', () => {
  test('--read-only: imports land and reach clients; client writes get 403 and apply nothing', async () => {
    const srv = await startServer({ args: ['--read-only', 'prices'] });
    try {
      const dir = tempDir();
      await writeParquet(path.join(dir, 'p.parquet'), "SELECT 'a' || i AS id, i AS eur FROM range(0, 3) t(i)");
      const r = run(['import', '--db', 'shop', '--store', 'prices', '--server', srv.url, path.join(dir, 'p.parquet')]);
      assert.equal(r.code, 0, r.err);
      const w = await push(srv.url, 'shop', { client: 'c', mutations: [
        { id: 1, store: 'orders', op: 'put', key: 1, value: {} },
        { id: 2, store: 'prices', op: 'put', key: 'a1', value: { eur: 0 } }] });
      assert.equal(w.status, 403, w.text);
      assert.match(w.json.error.message, /server-owned/);
      const rows = byKey((await pullAll(srv.url, 'shop')).changes, 'prices');
      assert.equal(rows.size, 3);
      assert.deepEqual(rows.get('"a1"'), { id: 'a1', eur: 1 });
      assert.equal(byKey((await pullAll(srv.url, 'shop')).changes, 'orders').size, 0, 'nothing of the batch applied');
    } finally {
      await srv.stop();
    }
  });
});
