// The same analytic questions asked two ways must get the same answers: through the server's
// POST /v1/db/{db}/query (embedded SQLite, a view per store, dates as ISO text, nested values as
// JSON text) and with DuckDB over the Parquet lake after POST /flush (compat and modern profiles:
// INT96 vs TIMESTAMP(UTC) dates, JSON text vs STRUCT/LIST nested values). Data comes from several
// clients over HTTP, then updates and deletes, so both sides must show only the latest live rows.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer } from '../lib/server.mjs';
import { post, push, flush, tempDir, rng } from './lib.mjs';
import { createRequire } from 'node:module';
import { SRC } from './lib.mjs';
// joins over views run unindexed: give sanitizer builds (IDS_TIME_SCALE) room
// a generous limit: how fast a join runs is not what this test checks (a loaded 2-core machine took over 5 s)
const QT = ['--query-timeout', String(60000 * Number(process.env.IDS_TIME_SCALE || 1))];

const require = createRequire(path.join(SRC, 'package.json'));
const { DuckDBInstance } = await import(require.resolve('@duckdb/node-api'));

const DB = 'shop';
const CUSTOMERS = ['Zoë', 'Ærøskøbing AS', '東京商事', 'alice', 'bob', "O'Brien", 'émile', 'Øster 🎉'];
const STATUS = ['new', 'paid', 'shipped', 'cancelled'];
const CITIES = ['Oslo', 'Kraków', 'São Paulo', 'Zürich'];

// orders 1..3000 from three clients, then 400 updates and 250 deletes from a fourth
function seed() {
  const r = rng(42);
  const pick = (a) => a[Math.floor(r() * a.length)];
  const order = (id, v = 0) => {
    const o = {
      id, customer: pick(CUSTOMERS), status: pick(STATUS), qty: 1 + Math.floor(r() * 20),
      total: Math.round(r() * 100000) / 100, paid: r() < 0.6,
      at: { $date: new Date(Date.UTC(2024, 0, 1) + Math.floor(r() * 200 * 86400000)).toISOString() },
      addr: { city: pick(CITIES), zip: String(1000 + Math.floor(r() * 9000)) },
      tags: Array.from({ length: Math.floor(r() * 4) }, (_, i) => 't' + i),
      'Unit Price': Math.round(r() * 5000) / 100,
      score: r() < 0.5 ? Math.floor(r() * 100) : Math.round(r() * 10000) / 100,   // int and double mixed
      v,
    };
    if (r() < 0.3) o.note = 'note ' + id;       // sparse
    else if (r() < 0.1) o.note = null;
    return o;
  };
  const batches = [];
  for (let c = 0; c < 3; c++) {
    const muts = [];
    for (let i = 1 + c * 1000; i <= (c + 1) * 1000; i++) muts.push({ store: 'orders', op: 'put', key: i, value: order(i) });
    for (let i = 1; i <= 200; i++) {
      const k = [c * 1000 + i, i % 3];
      muts.push({ store: 'line items', op: 'put', key: k, value: { sku: 'S-' + (i % 17), qty: 1 + (i % 5), price: (i % 13) + 0.5 } });
    }
    batches.push({ client: 'c' + c, mutations: muts.map((m, j) => ({ id: j + 1, ...m })) });
  }
  const upd = [];
  for (let j = 0; j < 400; j++) upd.push({ store: 'orders', op: 'put', key: 1 + Math.floor(r() * 3000), value: null });
  for (const m of upd) m.value = order(m.key, 1);
  for (let j = 0; j < 250; j++) upd.push({ store: 'orders', op: 'delete', key: 1 + Math.floor(r() * 3000) });
  upd.push({ store: 'line items', op: 'delete', key: [1, 1] });
  batches.push({ client: 'c3', mutations: upd.map((m, j) => ({ id: j + 1, ...m })) });
  return batches;
}

// Each question: SQLite SQL (+ params) for /query, DuckDB SQL over the lake. O = orders, L = line
// items; nested and date expressions differ by profile. {field} in DuckDB SQL is the lake column of
// that field, from the table's _idbsync/<t>.json mapping (`at` is reserved: `at_`).
function questions(p) {
  const city = p === 'modern' ? 'addr.city' : "json_extract_string(addr, '$.city')";
  const ntags = p === 'modern' ? 'len(tags)' : 'json_array_length(tags)';
  const iso = (e) => `strftime(${e}, '%Y-%m-%dT%H:%M:%S.%gZ')`;
  return [
    ['row count', 'SELECT count(*) FROM orders', 'SELECT count(*) FROM O'],
    ['distinct keys, max seq', 'SELECT count(DISTINCT _key), max(_seq) FROM orders', 'SELECT count(DISTINCT idb_key), max(idb_seq) FROM O'],
    ['sums', 'SELECT sum(qty), round(sum(total), 2), round(sum("Unit Price"), 2), round(sum(score), 2), sum(v) FROM orders',
      'SELECT sum(qty), round(sum(total), 2), round(sum({Unit Price}), 2), round(sum(score), 2), sum(v) FROM O'],
    ['group by status', 'SELECT status, count(*), sum(qty), round(avg(total), 4), min(total), max(total) FROM orders GROUP BY status ORDER BY status',
      'SELECT status, count(*), sum(qty), round(avg(total), 4), min(total), max(total) FROM O GROUP BY status ORDER BY status'],
    ['group by customer (unicode)', 'SELECT customer, count(*), sum(qty) FROM orders GROUP BY customer ORDER BY customer',
      'SELECT customer, count(*), sum(qty) FROM O GROUP BY customer ORDER BY customer'],
    ['string equality with params', 'SELECT count(*), sum(qty) FROM orders WHERE customer IN (?, ?) AND status <> ?', ['東京商事', "O'Brien", 'cancelled'],
      "SELECT count(*), sum(qty) FROM O WHERE customer IN ('東京商事', 'O''Brien') AND status <> 'cancelled'"],
    ['LIKE on non-ASCII', "SELECT count(*) FROM orders WHERE customer LIKE '%ø%'", "SELECT count(*) FROM O WHERE customer LIKE '%ø%'"],
    ['booleans', 'SELECT paid, count(*), round(sum(total), 2) FROM orders GROUP BY paid ORDER BY paid',
      'SELECT paid, count(*), round(sum(total), 2) FROM O GROUP BY paid ORDER BY paid'],
    ['per month', 'SELECT substr(at, 1, 7) m, count(*), sum(qty) FROM orders GROUP BY m ORDER BY m',
      "SELECT strftime({at}, '%Y-%m') m, count(*), sum(qty) FROM O GROUP BY m ORDER BY m"],
    ['date range filter', "SELECT count(*), round(sum(total), 2) FROM orders WHERE at >= '2024-03-01' AND at < '2024-04-15T12:00:00'",
      "SELECT count(*), round(sum(total), 2) FROM O WHERE {at} >= TIMESTAMP '2024-03-01' AND {at} < TIMESTAMP '2024-04-15 12:00:00'"],
    ['weekday and hour', "SELECT CAST(strftime('%w', at) AS INT) d, count(*) FROM orders WHERE CAST(strftime('%H', at) AS INT) < 12 GROUP BY d ORDER BY d",
      'SELECT dayofweek({at}) d, count(*) FROM O WHERE hour({at}) < 12 GROUP BY d ORDER BY d'],
    ['min/max date as ISO text', 'SELECT min(at), max(at) FROM orders', `SELECT ${iso('min({at})')}, ${iso('max({at})')} FROM O`],
    ['nested field', "SELECT json_extract(addr, '$.city') c, count(*), sum(json_array_length(tags)) FROM orders GROUP BY c ORDER BY c",
      `SELECT ${city} c, count(*), sum(${ntags}) FROM O GROUP BY c ORDER BY c`],
    ['sparse field and nulls', 'SELECT count(note), count(*) - count(note), count(DISTINCT note) FROM orders',
      'SELECT count(note), count(*) - count(note), count(DISTINCT note) FROM O'],
    ['latest rows with system columns', 'SELECT _key, _seq, _hlc, v, status FROM orders ORDER BY _seq DESC LIMIT 20',
      'SELECT idb_key, idb_seq, idb_hlc, v, status FROM O ORDER BY idb_seq DESC LIMIT 20'],
    ['array keys', "SELECT count(*), sum(qty), round(sum(qty * price), 2), count(DISTINCT json_extract(_key, '$[0]')) FROM \"line items\"",
      "SELECT count(*), sum(qty), round(sum(qty * price), 2), count(DISTINCT json_extract(idb_key, '$[0]')) FROM L"],
    ['join across stores', `SELECT o.status, count(*), sum(l.qty) FROM "line items" l JOIN orders o ON CAST(o._key AS INTEGER) = json_extract(l._key, '$[0]')
      GROUP BY o.status ORDER BY o.status`,
    `SELECT o.status, count(*), sum(l.qty) FROM L l JOIN O o ON CAST(o.idb_key AS BIGINT) = CAST(json_extract(l.idb_key, '$[0]') AS BIGINT)
      GROUP BY o.status ORDER BY o.status`],
    ['top customers by revenue', 'SELECT customer, round(sum(qty * "Unit Price"), 2) r FROM orders WHERE paid GROUP BY customer ORDER BY r DESC, customer LIMIT 3',
      'SELECT customer, round(sum(qty * {Unit Price}), 2) r FROM O WHERE paid GROUP BY customer ORDER BY r DESC, customer LIMIT 3'],
  ];
}

// DuckDB values as /query returns them: integers and doubles as numbers, a boolean column as
// true/false (docs/protocol.md "Analytics queries").
function norm(v) {
  if (typeof v === 'bigint') return Number(v);
  if (v !== null && typeof v === 'object') return String(v);
  return v;
}

for (const profile of ['compat', 'modern']) {
  describe(`/query (SQLite) and DuckDB over the lake agree (${profile})`, () => {
    let srv, lake, conn, cols;
    before(async () => {
      const dir = tempDir();
      lake = path.join(dir, 'lake');
      srv = await startServer({ dataDir: path.join(dir, 'data'), lakeDir: lake, args: ['--lake-profile', profile, '--flush-interval', '60s', '--no-inbox', ...QT] });
      for (const b of seed()) await push(srv.url, DB, b);
      await flush(srv.url, DB);
      conn = await (await DuckDBInstance.create(':memory:', { threads: '1' })).connect();
      await conn.run("SET TimeZone='UTC'");
      const schema = JSON.parse(fs.readFileSync(path.join(lake, DB, '_idbsync', 'orders.json'), 'utf8'));
      cols = new Map(schema.columns.map((c) => [c.field, c.name]));
      for (const [view, table] of [['O', 'orders'], ['L', 'line_items']]) {
        await conn.run(`CREATE VIEW ${view} AS SELECT * FROM read_parquet('${lake}/${DB}/${table}/**/*.parquet', hive_partitioning=true)`);
      }
    });
    after(() => srv?.stop());

    test('the lake holds the synced state: one row per live key, users empty', async () => {
      const live = await post(`${srv.url}/v1/db/${DB}/query`, { sql: 'SELECT count(*) FROM orders' });
      const [[n, users, dupes]] = (await (await conn.runAndReadAll(
        "SELECT count(*), count(*) FILTER (WHERE idb_user <> ''), count(*) - count(DISTINCT idb_key) FROM O")).getRows()).map((r) => r.map(norm));
      assert.equal(n, live.rows[0][0]);
      assert.ok(n > 2600 && n < 3000, `some of 3000 deleted: ${n}`);
      assert.equal(users, 0);
      assert.equal(dupes, 0);
      // the names the questions rely on (docs/lake-layout.md "Names")
      assert.equal(cols.get('at'), 'at_');
      assert.equal(cols.get('Unit Price'), 'unit_price');
      assert.equal(cols.get('customer'), 'customer');
    });

    for (const q of questions(profile)) {
      const [name, sqlite, ...rest] = q;
      const params = Array.isArray(rest[0]) ? rest.shift() : [];
      test(name, async () => {
        const duckSql = rest[0].replace(/\{([^}]+)\}/g, (_, f) => {
          assert.ok(cols.has(f), `no lake column for field ${f}`);
          return `"${cols.get(f)}"`;
        });
        const a = await post(`${srv.url}/v1/db/${DB}/query`, { sql: sqlite, params });
        assert.equal(a.truncated, false);
        const b = (await (await conn.runAndReadAll(duckSql)).getRows()).map((r) => r.map(norm));
        assert.ok(b.length > 0);
        assert.deepStrictEqual(a.rows, b, `${name}\n  sqlite: ${sqlite}\n  duckdb: ${duckSql}`);
      });
    }
  });
}

// Regression: the /query views once took their columns from the newest 2000 rows only; they now
// come from the ledger's field registry, so a field only older rows have is a column too.
describe('a field only older rows have', () => {
  test('is queryable in /query as in the lake', async () => {
    const dir = tempDir();
    const lake = path.join(dir, 'lake');
    const srv = await startServer({ dataDir: path.join(dir, 'data'), lakeDir: lake, args: ['--flush-interval', '60s', '--no-inbox', ...QT] });
    try {
      const muts = [];
      for (let i = 1; i <= 2500; i++) muts.push({ id: i, store: 'events', op: 'put', key: i, value: i <= 100 ? { n: i, coupon: 'C' + (i % 7) } : { n: i } });
      await push(srv.url, DB, { client: 'e', mutations: muts });
      await flush(srv.url, DB);
      const conn = await (await DuckDBInstance.create(':memory:', { threads: '1' })).connect();
      const b = (await (await conn.runAndReadAll(`SELECT count(coupon) FROM read_parquet('${lake}/${DB}/events/**/*.parquet')`)).getRows()).map((r) => r.map(norm));
      assert.deepEqual(b, [[100]]);
      const r = await fetch(`${srv.url}/v1/db/${DB}/query`, { method: 'POST', body: JSON.stringify({ sql: 'SELECT count(coupon) FROM events' }) });
      const a = await r.json();
      assert.equal(r.status, 200, JSON.stringify(a));
      assert.deepEqual(a.rows, b);
    } finally {
      await srv.stop();
    }
  });
});
