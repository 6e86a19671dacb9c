// `idbsync ddl --dialect duckdb`: the views it prints run in DuckDB as printed and return the
// server's rows (state, change log across a schema change, partitions), so DuckDB users need
// not hand-write read_parquet(..., union_by_name=true).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer } from '../lib/server.mjs';
import { push, flush, duck, tempDir, run } from './lib.mjs';

test('the DuckDB DDL runs as printed and returns the server\'s rows', async () => {
  const dir = tempDir();
  const lake = path.join(dir, 'lake');
  const s = await startServer({ dataDir: path.join(dir, 'data'), lakeDir: lake, args: ['--lake-partition', 'shop/orders=city'] });
  try {
    await push(s.url, 'shop', { client: 'c1', mutations: [
      { id: 1, store: 'orders', op: 'put', key: 1, value: { city: 'Oslo', qty: 1 } },
      { id: 2, store: 'orders', op: 'put', key: 2, value: { city: 'Lima', qty: 2 } },
      { id: 3, store: 'notes', op: 'put', key: 'a', value: { text: 'hi' } },
    ] });
    await flush(s.url, 'shop');
    // a new column in a later file of the change log
    await push(s.url, 'shop', { client: 'c1', mutations: [{ id: 4, store: 'orders', op: 'put', key: 3, value: { city: 'Oslo', qty: 3, note: 'new' } }] });
    await flush(s.url, 'shop');
    const ddl = await run(['ddl', '--lake', lake, '--dialect', 'duckdb']);
    assert.equal(ddl.code, 0, ddl.err);
    assert.match(ddl.out, /no files yet/, 'tables without files are named, not broken views');
    const d = await duck();
    for (const stmt of ddl.out.split(';').map((x) => x.replace(/^--.*$/gm, '').trim()).filter(Boolean)) await d.conn.run(stmt);
    const state = await d.rows('SELECT city, count(*) AS n, sum(qty) AS q FROM shop.orders GROUP BY city ORDER BY city');
    assert.deepEqual(state.map((r) => [r.city, Number(r.n), Number(r.q)]), [['Lima', 1, 2], ['Oslo', 2, 4]]);
    const log = await d.rows('SELECT idb_seq, note FROM shop.orders_changes ORDER BY idb_seq');
    assert.deepEqual(log.map((r) => [Number(r.idb_seq), r.note]), [[1, null], [2, null], [4, 'new']]);
    assert.equal(Number((await d.rows('SELECT count(*) AS n FROM shop.notes'))[0].n), 1);
  } finally {
    await s.stop();
  }
});
