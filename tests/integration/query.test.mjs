// Analytics queries (POST /v1/db/{db}/query): the embedded SQLite engine over the synced
// current state (typed views per store, read-only, limits, per-user scoping), and forwarding
// to Apache Drill's REST API (here a stand-in server that speaks Drill's /query.json).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { startServer, tempDir, push, request } from '../lib/server.mjs';
import { seedMutations, expectedByItem } from '../lib/query_seed.mjs';

const query = (url, db, body, token) => request(`${url}/v1/db/${db}/query`, { method: 'POST', body, token });

describe('embedded engine', () => {
  let srv;
  before(async () => {
    srv = await startServer({ args: ['--query-timeout', '1500', '--query-max-rows', '50'] });
    const r = await push(srv.url, 'shop', { client: 'seed', mutations: seedMutations() });
    assert.equal(r.status, 200, r.text);
  });
  after(() => srv.stop());

  test('typed columns, aggregates, params, deleted rows excluded', async () => {
    const r = await query(srv.url, 'shop', { sql: 'SELECT item, count(*) n, sum(qty) q, round(sum(qty*price),2) v FROM orders GROUP BY item ORDER BY item' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.columns, ['item', 'n', 'q', 'v']);
    // recomputed from the seed (keys 1..119 are live)
    const got = Object.fromEntries(r.json.rows.map(([it, n, q, v]) => [it, { n, q, v }]));
    for (const [it, e] of expectedByItem()) assert.deepEqual(got[it], e, it);
    const p = await query(srv.url, 'shop', { sql: 'SELECT count(*) FROM orders WHERE qty >= ? AND item = ?', params: [3, 'jam'] });
    let n = 0;
    for (let i = 1; i <= 119; i++) if (i % 5 >= 3 && i % 3 === 2) n++;
    assert.deepEqual(p.json.rows, [[n]]);
  });

  test('dates as ISO text, nested values as JSON text, keys as JSON, names with spaces and quotes', async () => {
    const r = await query(srv.url, 'shop', { sql: 'SELECT _key, at, tags, nested FROM orders WHERE _key = ?', params: ['4'] });
    assert.deepEqual(r.json.rows, [['4', '2024-05-01T00:00:00.000Z', '[]', '{"a":4}']]);
    const y = await query(srv.url, 'shop', { sql: "SELECT count(*) FROM orders WHERE strftime('%m', at) = '01'" });
    assert.ok(y.json.rows[0][0] > 0);
    const li = await query(srv.url, 'shop', { sql: 'SELECT _key, sku, "it\'s" FROM "line items"' });
    assert.equal(li.status, 200, li.text);
    assert.deepEqual(li.json.rows, [['[1,"a"]', 'T-1', 1]]);
  });

  test('row limit truncates; the time limit stops runaway queries', async () => {
    const r = await query(srv.url, 'shop', { sql: 'SELECT _key FROM orders' });
    assert.equal(r.json.rows.length, 50);
    assert.equal(r.json.truncated, true);
    const t0 = Date.now();
    const slow = await query(srv.url, 'shop', { sql: 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c' });
    assert.equal(slow.status, 422, slow.text);
    assert.equal(slow.json.error.code, 'timeout', 'a time-limit stop has its own code');
    assert.match(slow.json.error.message, /time limit/);
    assert.ok(Date.now() - t0 < 10000);
  });

  for (const [sql, re] of [
    ['DELETE FROM orders', /view|only SELECT|not authorized/],
    ['INSERT INTO orders(item) VALUES (1)', /view|only SELECT|not authorized/],
    ['SELECT * FROM rows', /no such table|prohibited|not authorized/],
    ['SELECT * FROM main.changes', /no such table|prohibited|not authorized/],
    ["ATTACH DATABASE '/tmp/x.db' AS x", /not authorized/],
    ['PRAGMA table_info(orders)', /not authorized/],
    ['SELECT 1; SELECT 2', /one statement/],
    ['SELEC 1', /syntax error/],
    ['SELECT nope FROM orders', /no such column/],
    ['', /empty SQL|syntax/],
  ]) {
    test(`refused: ${sql || '(empty)'}`, async () => {
      const r = await query(srv.url, 'shop', { sql });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.error.code, 'invalid');
      assert.match(r.json.error.message, re);
    });
  }

  test('booleans come back as true/false (bare columns, *, joins); expressions stay SQL integers', async () => {
    const r = await push(srv.url, 'bools', { client: 'b', mutations: [
      { id: 1, store: 'tasks', op: 'put', key: 1, value: { title: 'a', done: true, n: 1 } },
      { id: 2, store: 'tasks', op: 'put', key: 2, value: { title: 'b', done: false, n: 0 } },
      { id: 3, store: 'tasks', op: 'put', key: 3, value: { title: 'c', n: 1 } }] });
    assert.equal(r.status, 200, r.text);
    let q = await query(srv.url, 'bools', { sql: 'SELECT title, done, n FROM tasks ORDER BY title' });
    assert.equal(q.status, 200, q.text);
    assert.deepEqual(q.json.rows, [['a', true, 1], ['b', false, 0], ['c', null, 1]], 'numbers 1/0 stay numbers');
    q = await query(srv.url, 'bools', { sql: 'SELECT * FROM tasks t JOIN tasks u ON t._key = u._key WHERE t.done ORDER BY t.title' });
    assert.deepEqual(q.json.rows.map((row) => row.filter((x) => typeof x === 'boolean')), [[true, true]]);
    q = await query(srv.url, 'bools', { sql: 'SELECT count(*) AS done, sum(done) AS s FROM tasks WHERE done = true' });
    assert.deepEqual(q.json.rows, [[1, 1]], 'aggregates are numbers');
    // a field named like a boolean one but holding numbers in another store stays a number
    assert.equal((await push(srv.url, 'bools', { client: 'b', mutations: [
      { id: 4, store: 'counts', op: 'put', key: 1, value: { done: 1 } }] })).status, 200);
    q = await query(srv.url, 'bools', { sql: 'SELECT x.done FROM counts x JOIN tasks t ON t._key = x._key' });
    assert.deepEqual(q.json.rows, [[1]]);
    q = await query(srv.url, 'bools', { sql: 'SELECT t.done FROM counts x JOIN tasks t ON t._key = x._key' });
    assert.deepEqual(q.json.rows, [[true]]);
  });

  test('{"describe": store} lists a store\'s columns and their types', async () => {
    let r = await query(srv.url, 'shop', { describe: 'orders' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.store, 'orders');
    assert.deepEqual(r.json.columns, [
      { name: '_key', type: 'json' }, { name: '_seq', type: 'integer' }, { name: '_hlc', type: 'text' },
      { name: 'item', type: 'text' }, { name: 'qty', type: 'integer' }, { name: 'price', type: 'real' },
      { name: 'at', type: 'date' }, { name: 'tags', type: 'json' }, { name: 'nested', type: 'json' }]);
    // the same names as the query's columns
    const all = await query(srv.url, 'shop', { sql: 'SELECT * FROM orders LIMIT 0' });
    assert.deepEqual(r.json.columns.map((c) => c.name), all.json.columns);
    r = await query(srv.url, 'bools', { describe: 'tasks' });
    assert.deepEqual(r.json.columns.find((c) => c.name === 'done'), { name: 'done', type: 'boolean' });
    r = await query(srv.url, 'shop', { describe: 'nope' });
    assert.equal(r.status, 404);
    assert.match(r.json.error.message, /no store "nope"/);
    r = await query(srv.url, 'shop', { describe: 1 });
    assert.equal(r.status, 400);
  });

  test('bad bodies and params', async () => {
    for (const [body, re] of [[{}, /sql/], [{ sql: 1 }, /sql/], [{ sql: 'SELECT ?', params: {} }, /array/],
      [{ sql: 'SELECT ?', params: [] }, /placeholders/], [{ sql: 'SELECT ?', params: [[1]] }, /bind/]]) {
      const r = await query(srv.url, 'shop', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.json.error.message, re);
    }
    const h = await request(`${srv.url}/healthz`);
    assert.equal(h.status, 200);
  });
});

describe('per-user scoping', () => {
  test('with auth on, each user queries only their rows (and shared ones)', async () => {
    const dir = tempDir();
    const f = path.join(dir, 'tokens');
    fs.writeFileSync(f, 'ta alice\ntb bob\n');
    const srv = await startServer({ args: ['--auth', `tokens:${f}`] });
    try {
      const put = (id, key, v) => ({ id, store: 'notes', op: 'put', key, value: { v } });
      assert.equal((await push(srv.url, 'd', { client: 'a', mutations: [put(1, 1, 'a1'), put(2, 2, 'a2')] }, 'ta')).status, 200);
      assert.equal((await push(srv.url, 'd', { client: 'b', mutations: [put(1, 1, 'b1')] }, 'tb')).status, 200);
      const a = await query(srv.url, 'd', { sql: 'SELECT v FROM notes ORDER BY v' }, 'ta');
      const b = await query(srv.url, 'd', { sql: 'SELECT v FROM notes ORDER BY v' }, 'tb');
      assert.deepEqual(a.json.rows, [['a1'], ['a2']]);
      assert.deepEqual(b.json.rows, [['b1']]);
      // the raw tables are out of reach, even for count(*) which reads no column
      for (const sql of ['SELECT count(*) FROM rows', 'SELECT count(*) FROM changes', 'SELECT count(*) FROM clients']) {
        const raw = await query(srv.url, 'd', { sql }, 'tb');
        assert.equal(raw.status, 400, `${sql}: ${raw.text}`);
        assert.match(raw.json.error.message, /no such table/);
      }
      assert.equal((await query(srv.url, 'd', { sql: 'SELECT 1' })).status, 401);
      // listing columns needs a token like a query does
      assert.equal((await query(srv.url, 'd', { describe: 'notes' })).status, 401);
      const cols = await query(srv.url, 'd', { describe: 'notes' }, 'tb');
      assert.equal(cols.status, 200, cols.text);
      assert.deepEqual(cols.json.columns.map((c) => c.name), ['_key', '_seq', '_hlc', 'v']);
    } finally {
      await srv.stop();
    }
  });
});

describe('Apache Drill forwarding', () => {
  test('queries go to <drill-url>/query.json and come back in our shape', async () => {
    const seen = [];
    const drill = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        seen.push({ url: req.url, body: JSON.parse(body) });
        res.setHeader('content-type', 'application/json');
        if (/FAIL/.test(body)) {
          res.statusCode = 500;
          res.end(JSON.stringify({ errorMessage: 'PARSE ERROR: bad' }));
          return;
        }
        res.end(JSON.stringify({ queryId: 'x', columns: ['item', 'n', 'ok'], metadata: ['VARCHAR', 'BIGINT', 'BIT'],
          rows: [{ item: 'tea', n: '3', ok: 'true' }, { item: "o'k", n: '1', ok: 'false' }], queryState: 'COMPLETED' }));
      });
    });
    await new Promise((r) => drill.listen(0, '127.0.0.1', r));
    const srv = await startServer({ args: ['--drill-url', `http://127.0.0.1:${drill.address().port}`] });
    try {
      const r = await query(srv.url, 'shop', { sql: 'SELECT item, count(*) n FROM dfs.lake.`shop/orders` WHERE item <> ? AND q > ? GROUP BY item', params: ["it's", 2] });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.columns, ['item', 'n', 'ok']);
      assert.deepEqual(r.json.rows, [['tea', 3, true], ["o'k", 1, false]]);
      assert.equal(seen[0].url, '/query.json');
      assert.equal(seen[0].body.queryType, 'SQL');
      assert.equal(seen[0].body.query, "SELECT item, count(*) n FROM dfs.lake.`shop/orders` WHERE item <> 'it''s' AND q > 2 GROUP BY item");
      const e = await query(srv.url, 'shop', { sql: 'SELECT FAIL' });
      assert.equal(e.status, 500);
      assert.match(e.json.error.message, /PARSE ERROR/);
    } finally {
      await srv.stop();
      drill.close();
    }
  });
});
