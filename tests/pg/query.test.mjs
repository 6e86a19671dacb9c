// POST /v1/db/{db}/query with the state in PostgreSQL (src/ledger/pg_query.c): the stores as
// typed views run by PostgreSQL, per-user scoping, read-only, the raw tables out of reach, the
// row and time limits (also when the query lifts statement_timeout itself), on two servers.
// The SQL is PostgreSQL's ($1 parameters); docs/scaling.md lists what differs from SQLite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startPostgres } from './lib/pg.mjs';
import { startServers } from './lib/cluster.mjs';
import { push, request, tempDir } from '../integration/lib/server.mjs';
import { seedMutations, expectedByItem } from '../lib/query_seed.mjs';

const query = (url, db, body, token) => request(`${url}/v1/db/${db}/query`, { method: 'POST', body, token, fresh: true });

test('/query on PostgreSQL', { timeout: 300000 }, async (t) => {
  const pg = await startPostgres({ t });
  const dir = tempDir('idbsync-pgq-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const tokens = path.join(dir, 'tokens');
  fs.writeFileSync(tokens, 'ta alice\ntb bob\n');
  const { servers: [a, b] } = await startServers(pg, 2, {
    t, args: ['--no-lake', '--auth', `tokens:${tokens}`, '--query-timeout', '1500', '--query-max-rows', '50'],
  });
  const muts = seedMutations((i) => ({ done: i % 2 === 0 }));
  muts.push({ id: 123, store: 'rows', op: 'put', key: 'r', value: { n: 1 } });
  let r = await push(a.url, 'shop', { client: 'seed', mutations: muts }, 'ta');
  assert.equal(r.status, 200, r.text);
  r = await push(b.url, 'shop', { client: 'bob', mutations: [{ id: 1, store: 'orders', op: 'put', key: 1000, value: { item: 'bob', qty: 9 } }] }, 'tb');
  assert.equal(r.status, 200, r.text);

  // aggregates and parameters, on either server; deleted rows are not in the view
  const exp = expectedByItem();
  for (const s of [a, b]) {
    r = await query(s.url, 'shop', { sql: 'SELECT item, count(*) n, sum(qty) q, round(sum(qty*price)::numeric, 2) v FROM orders GROUP BY item ORDER BY item' }, 'ta');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.columns, ['item', 'n', 'q', 'v']);
    const got = Object.fromEntries(r.json.rows.map(([it, n, q, v]) => [it, { n, q, v }]));
    for (const [it, e] of exp) assert.deepEqual(got[it], e, it);
  }
  r = await query(b.url, 'shop', { sql: 'SELECT count(*) FROM orders WHERE qty >= $1 AND item = $2', params: [3, 'jam'] }, 'ta');
  let n = 0;
  for (let i = 1; i <= 119; i++) if (i % 5 >= 3 && i % 3 === 2) n++;
  assert.deepEqual(r.json.rows, [[n]]);

  // dates as ISO text, nested values as JSON text, keys as their JSON, booleans, odd names
  r = await query(a.url, 'shop', { sql: 'SELECT _key, at, tags, nested, done, price FROM orders WHERE qty = 4 AND item = $1 ORDER BY _seq LIMIT 1', params: ['jam'] }, 'ta');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.rows, [['14', '2024-03-01T00:00:00.000Z', '["x"]', '{"a":14}', true, 2]]);
  r = await query(a.url, 'shop', { sql: `SELECT count(*) FROM orders WHERE extract(month FROM at::timestamptz) = 1` }, 'ta');
  assert.ok(r.json.rows[0][0] > 0, r.text);
  r = await query(a.url, 'shop', { sql: 'SELECT _key, sku, "it\'s" FROM "line items"' }, 'ta');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.rows, [['[1,"a"]', 'T-1', 1]]);
  r = await query(a.url, 'shop', { sql: 'SELECT n FROM rows' }, 'ta');
  assert.deepEqual(r.json.rows, [[1]], 'a store named like an internal table is that store');

  // per-user scoping: bob sees his row only
  r = await query(b.url, 'shop', { sql: 'SELECT item, qty FROM orders' }, 'tb');
  assert.deepEqual(r.json.rows, [['bob', 9]]);
  assert.equal((await query(a.url, 'shop', { sql: 'SELECT 1' })).status, 401);

  // limits
  r = await query(a.url, 'shop', { sql: 'SELECT _key FROM orders' }, 'ta');
  assert.equal(r.json.rows.length, 50);
  assert.equal(r.json.truncated, true);
  for (const sql of ['SELECT pg_sleep(30)', "SELECT set_config('statement_timeout', '0', true), pg_sleep(30)",
    'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c']) {
    const t0 = Date.now();
    r = await query(b.url, 'shop', { sql }, 'tb');
    assert.equal(r.status, 422, `${sql}: ${r.text}`);
    assert.equal(r.json.error.code, 'timeout');
    assert.match(r.json.error.message, /time limit of 1500 ms/);
    assert.ok(Date.now() - t0 < 20000, sql);
  }

  // refused
  for (const [sql, re] of [
    ['DELETE FROM orders', /read-only|permission denied|cannot delete/],
    ['INSERT INTO orders(item) VALUES (1)', /read-only|permission denied|cannot insert/],
    ['SELECT * FROM rows x WHERE x.n IS NULL AND false UNION SELECT count(*) FROM changes', /no such table/],
    ['SELECT count(*) FROM clients', /no such table/],
    ['SELECT count(*) FROM public.rows', /permission denied/],
    ['SELECT count(*) FROM public.clients', /permission denied/],
    ['CREATE TABLE x(y int)', /read-only|permission denied/],
    ['SELECT 1; SELECT 2', /multiple commands/],
    ['SELEC 1', /syntax error/],
    ['SELECT nope FROM orders', /column "nope" does not exist/],
    ['', /empty SQL/],
  ]) {
    r = await query(a.url, 'shop', { sql }, 'tb');
    assert.equal(r.status, 400, `${sql}: ${r.text}`);
    assert.equal(r.json.error.code, 'invalid');
    assert.match(r.json.error.message, re, sql);
  }
  for (const [body, re] of [[{ sql: 'SELECT $1::int', params: {} }, /array/], [{ sql: 'SELECT $1::int', params: [] }, /parameters/],
    [{ sql: 'SELECT $1::text', params: [[1]] }, /bind/]]) {
    r = await query(a.url, 'shop', body, 'ta');
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.match(r.json.error.message, re);
  }

  // a query cannot move the servers' head: NOTIFY payloads are not trusted
  const head = (await request(`${a.url}/healthz`)).json.head;
  r = await query(a.url, 'shop', { sql: "SELECT pg_notify('idbsync_head', '999999')" }, 'tb');
  assert.equal(r.status, 200, r.text);
  r = await push(b.url, 'shop', { client: 'bob', mutations: [{ id: 2, store: 'orders', op: 'put', key: 1001, value: { item: 'bob', qty: 1 } }] }, 'tb');
  assert.equal(r.status, 200, r.text);
  for (const s of [a, b]) {
    let h;
    for (let i = 0; i < 100 && (h = (await request(`${s.url}/healthz`, { fresh: true })).json.head) !== head + 1; i++) await new Promise((res) => setTimeout(res, 50));
    assert.equal(h, head + 1, 'the head is the committed one');
  }

  // describe
  r = await query(b.url, 'shop', { describe: 'orders' }, 'tb');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.columns, [
    { name: '_key', type: 'json' }, { name: '_seq', type: 'integer' }, { name: '_hlc', type: 'text' },
    { name: 'item', type: 'text' }, { name: 'qty', type: 'integer' }, { name: 'price', type: 'real' },
    { name: 'at', type: 'date' }, { name: 'tags', type: 'json' }, { name: 'nested', type: 'json' },
    { name: 'done', type: 'boolean' }]);
  const all = await query(b.url, 'shop', { sql: 'SELECT * FROM orders LIMIT 0' }, 'tb');
  assert.deepEqual(r.json.columns.map((c) => c.name), all.json.columns);
  r = await query(b.url, 'shop', { describe: 'nope' }, 'tb');
  assert.equal(r.status, 404);
  assert.match(r.json.error.message, /no store "nope"/);
});
