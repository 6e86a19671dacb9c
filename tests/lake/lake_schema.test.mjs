// Schema inference and evolution, name sanitizing, conflicts, notifications and the DDL of
// every dialect checked against the files actually written (names, types, order via DuckDB).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer } from '../lib/server.mjs';
import { push, flush, duck, glob, globU, tempDir, run, metrics } from './lib.mjs';

const TYPE = { // DDL type -> DuckDB type of the column read from the file
  BOOLEAN: 'BOOLEAN', BIGINT: 'BIGINT', DOUBLE: 'DOUBLE', STRING: 'VARCHAR', VARCHAR: 'VARCHAR',
  BINARY: 'BLOB', VARBINARY: 'BLOB', TIMESTAMP: 'TIMESTAMP', 'TIMESTAMP(3)': 'TIMESTAMP',
};
let tsType = 'TIMESTAMP'; // modern writes isAdjustedToUTC timestamps: DuckDB's TIMESTAMPTZ
function duckType(t) {
  t = t.trim();
  if (t.startsWith('TIMESTAMP')) return tsType;
  if (TYPE[t]) return TYPE[t];
  let m = /^(?:STRUCT<|ROW\()(.*)[>)]$/.exec(t);
  if (m) return 'STRUCT(' + splitTop(m[1]).map((f) => { const [, n, ty] = /^(\w+)[: ](.*)$/.exec(f.trim()); return `${n} ${duckType(ty)}`; }).join(', ') + ')';
  m = /^ARRAY[<(](.*)[>)]$/.exec(t);
  if (m) return duckType(m[1]) + '[]';
  throw new Error('unknown DDL type ' + t);
}
function splitTop(s) {
  const out = []; let depth = 0, cur = '';
  for (const ch of s) {
    if ('<('.includes(ch)) depth++;
    if ('>)'.includes(ch)) depth--;
    if (ch === ',' && depth === 0) { out.push(cur); cur = ''; } else cur += ch;
  }
  if (cur.trim()) out.push(cur);
  return out;
}
/** Column lists of every CREATE statement: {table -> [[name, duckType], ...]} */
function parseDDL(text, dialect) {
  const out = {};
  const re = dialect === 'drill' ? /CREATE OR REPLACE VIEW dfs\.tmp\.`(\w+)` AS SELECT\n([\s\S]*?)\nFROM/g
    : /CREATE (?:EXTERNAL )?TABLE IF NOT EXISTS (?:hive\.)?[\w]+\.(\w+) \(\n([\s\S]*?)\n\)/g;
  for (const m of text.matchAll(re)) {
    out[m[1]] = m[2].split(',\n').map((line) => {
      line = line.trim();
      if (dialect === 'drill') {
        let c = /^CAST\(t\.`(\w+)` AS (.*)\) AS `\w+`$/.exec(line);
        if (c) return [c[1], duckType(c[2])];
        c = /^t\.`(\w+)` AS `\w+`$/.exec(line);
        if (c) return [c[1], null];
        c = /AS `(\w+)`$/.exec(line);
        return [c[1], 'VARCHAR'];
      }
      const c = /^(\w+) (.*)$/.exec(line);
      return [c[1], duckType(c[2])];
    });
  }
  return out;
}

async function fileColumns(d, lake, db, table, partCol) {
  const rows = await d.rows(`DESCRIBE SELECT * FROM ${glob(lake, db, table)}`);
  return rows.map((r) => [r.column_name, r.column_type]).filter(([n]) => n !== partCol);
}

for (const profile of ['compat', 'modern']) {
  test(`schema evolution, names, conflicts, DDL (${profile})`, async () => {
    tsType = profile === 'modern' ? 'TIMESTAMP WITH TIME ZONE' : 'TIMESTAMP';
    const lake = tempDir(), data = tempDir();
    const log = `${tempDir()}/notify.log`;
    const srv = await startServer({ dataDir: data, lakeDir: lake, args: ['--lake-profile', profile, '--flush-interval', '100ms',
      '--on-flush', `echo "$IDBSYNC_DB.$IDBSYNC_TABLE [$IDBSYNC_PARTITIONS] $IDBSYNC_KIND" >> ${log}`,
      '--drill-url', 'http://127.0.0.1:9', '--lake-partition', 'shop/orders=Region'] });
    const d = await duck();
    const put = (id, store, key, value, hlc) => push(srv.url, 'shop', { client: 'c1', mutations: [
      { id, store, op: 'put', key, value, ...(hlc ? { hlc } : {}) }] });
    // version 1: a and the partition field; odd names
    await put(1, 'My Orders', 1, { a: 1, 'Order': 'x', 'my field': true, idb_key: 'user data', select: 2, Name: 'n1', name: 'n2',
      when: { $date: '2024-05-06T07:08:09.010Z' }, bin: { $bin: 'AQID' }, big: { $bigint: '123456789012345678901234' },
      addr: { city: 'Oslo', zip: 150 }, list: [1, 2], empty: { note: null } });
    await put(2, 'orders', 'k1', { Region: 'eu', total: 5 });
    await flush(srv.url, 'shop');
    // version 2: a new column; then widening bigint -> double; then to string
    await put(3, 'My Orders', 2, { a: 2, extra: 'new', empty: { note: 'later' } });
    await flush(srv.url, 'shop');
    await put(4, 'My Orders', 3, { a: 2.5 });
    await put(5, 'orders', 'k2', { Region: 'us', total: 7.5 });
    await flush(srv.url, 'shop');
    await put(6, 'My Orders', 4, { a: 'text', addr: { city: 'Rome', country: 'IT' } });
    // a conflict: an older hlc than the row's loses
    await put(7, 'orders', 'k1', { Region: 'ap', total: 1 }, '1000000000000-0000-c1');
    // dates the push accepts in other forms than JS writes them (a date alone, no seconds, more
    // fraction digits than a MICROS column holds: the fuzzer's finding) land as milliseconds
    const forms = ['2024-05-06', '2024-05-06T07:08Z', '2024-05-06T07:08:09.0101234Z'];
    for (let i = 0; i < forms.length; i++) await put(8 + i, 'dates', i, { d: { $date: forms[i] } });
    await flush(srv.url, 'shop');

    const meta = JSON.parse(fs.readFileSync(`${lake}/shop/_idbsync/my_orders.json`, 'utf8'));
    const names = Object.fromEntries(meta.columns.map((c) => [c.field, c.name]));
    assert.equal(names['Order'], 'order_');
    assert.equal(names['my field'], 'my_field');
    assert.equal(names['idb_key'], 'idb_key_2');
    assert.equal(names['select'], 'select_');
    assert.equal(names['Name'], 'name');
    assert.equal(names['name'], 'name_2');
    assert.equal(meta.columns.find((c) => c.field === 'a').type, 'string');
    assert.ok(meta.history.length >= 4, 'schema history kept');

    // the current state is uniform (rebuilt), readable without union_by_name, widened to text
    const st = await d.rows(`SELECT idb_key, a, extra, "order_", name, name_2, idb_key_2 FROM ${glob(lake, 'shop', 'my_orders')} ORDER BY idb_key`);
    assert.deepEqual(st.map((r) => [r.idb_key, r.a]), [['1', '1'], ['2', '2'], ['3', '2.5'], ['4', 'text']]);
    assert.equal(st[0].idb_key_2, 'user data');
    assert.equal(st[1].extra, 'new');
    // the change log keeps old files' types: union_by_name reads them together
    const ch = await d.rows(`SELECT idb_seq, CAST(a AS VARCHAR) a FROM ${globU(lake, 'shop', 'my_orders_changes')} ORDER BY 1`);
    assert.deepEqual(ch.map((r) => r.a), ['1', '2', '2.5', 'text']);
    const first = fs.readdirSync(fs.readdirSync(`${lake}/shop/my_orders_changes`).map((p) => `${lake}/shop/my_orders_changes/${p}`)[0])[0];
    assert.match(first, /^part-\d{20}-\d{20}\.parquet$/);
    // typed columns
    const typed = await d.rows(`SELECT CAST(when_ AS VARCHAR) w, bin, big, addr, list FROM ${glob(lake, 'shop', 'my_orders')} WHERE idb_key = '1'`);
    assert.match(typed[0].w, /^2024-05-06 07:08:09\.01(\+00)?$/);
    assert.equal(typed[0].big, '123456789012345678901234');
    if (profile === 'modern') assert.deepEqual(typed[0].addr, { city: 'Oslo', zip: '150', country: null });
    else assert.equal(JSON.parse(typed[0].addr).city, 'Oslo');
    // conflicts: the loser with its winner
    const cf = await d.rows(`SELECT idb_key, idb_rule, idb_winner_seq, region, total FROM ${glob(lake, 'shop', 'orders_conflicts')}`);
    assert.equal(cf.length, 1);
    assert.equal(cf[0].idb_key, '"k1"');
    assert.equal(cf[0].idb_rule, 'lww');
    // partitioned state: the partition column comes from the path only
    const po = await d.rows(`SELECT idb_key, region, total FROM ${glob(lake, 'shop', 'orders')} ORDER BY 1`);
    assert.deepEqual(po.map((r) => [r.idb_key, r.region]), [['"k1"', 'eu'], ['"k2"', 'us']]);

    // DDL of every dialect agrees with the files (names, order, types)
    for (const dialect of ['hive', 'impala', 'spark', 'trino', 'drill']) {
      const r = await run(['ddl', '--lake', lake, '--dialect', dialect, '--db', 'shop']);
      assert.equal(r.code, 0, r.err);
      const tables = parseDDL(r.out, dialect);
      const key = (t) => (dialect === 'drill' ? `shop_${t}` : t);
      for (const [t, part] of [['my_orders', null], ['my_orders_changes', 'dt'], ['my_orders_conflicts', null],
        ['orders', 'region'], ['orders_changes', 'dt'], ['orders_conflicts', null]]) {
        if (t === 'my_orders_conflicts') continue; // no conflicts there: no files
        let cols = tables[key(t)];
        assert.ok(cols, `${dialect}: no statement for ${t}\n${r.out}`);
        if (part && (dialect === 'trino' || dialect === 'spark' || dialect === 'drill')) {
          assert.equal(cols.at(-1)[0], part);
          cols = cols.slice(0, -1);
        }
        const files = await fileColumns(d, lake, 'shop', t, part);
        const byName = (cs) => cs.map(([n, ty]) => (ty === null ? n : `${n} ${ty}`));
        // Impala reads un-annotated BYTE_ARRAY as STRING (BINARY only exists since Impala 4.1)
        const fileSide = files.map(([n, ty]) => (cols.find((c) => c[0] === n)?.[1] === null ? n
          : `${n} ${dialect === 'impala' && ty === 'BLOB' ? 'VARCHAR' : ty}`));
        if (t.endsWith('_changes')) // the log's files differ by version; the DDL names the latest
          assert.deepEqual(byName(cols).slice(0, fileSide.length).map((x) => x.split(' ')[0]), fileSide.map((x) => x.split(' ')[0]));
        else assert.deepEqual(byName(cols), fileSide, `${dialect} ${t}`);
      }
      if (dialect === 'hive') assert.match(r.out, /MSCK REPAIR TABLE shop\.my_orders_changes;/);
      if (dialect === 'impala') assert.match(r.out, /REFRESH shop\.my_orders;/);
      if (dialect === 'trino') assert.match(r.out, /sync_partition_metadata\('shop', 'orders', 'FULL'\)/);
      if (dialect === 'drill') assert.match(r.out, /"workspaces": \{"lake"/);
      if (dialect === 'spark') { // runs in DuckDB once the Spark-only clauses are cut
        const ddl = r.out.match(/CREATE TABLE IF NOT EXISTS shop\.my_orders \([\s\S]*?\n\)/)[0]
          .replace('shop.my_orders', 'spark_t').replace(/STRUCT<([^>]*)>/g, (_, f) => `STRUCT(${f.replace(/:/g, ' ')})`)
          .replace(/ARRAY<(\w+)>/g, '$1[]');
        await d.conn.run(ddl);
        await d.conn.run(`INSERT INTO spark_t SELECT * FROM ${glob(lake, 'shop', 'my_orders')}`);
        assert.equal((await d.rows('SELECT count(*) n FROM spark_t'))[0].n, '4');
      }
    }
    // notifications: the command ran per touched table with its partitions; Drill is down:
    // failures are counted and retried, syncing goes on
    for (let i = 0; i < 50 && !(fs.existsSync(log) && /my_orders_changes/.test(fs.readFileSync(log, 'utf8'))); i++)
      await new Promise((res) => setTimeout(res, 100));
    const lines = fs.readFileSync(log, 'utf8');
    assert.match(lines, /shop\.my_orders_changes \[dt=\d{4}-\d\d-\d\d\] changes/);
    assert.match(lines, /shop\.orders \[\] state/);
    // an object whose fields were all null gets no column (a struct needs a field: the fuzzer
    // found that one made the modern profile's writer refuse the schema and every flush fail)
    const note = profile === 'modern' ? 'empty.note' : `json_extract_string(empty, '$.note')`;
    const em = await d.rows(`SELECT idb_key, ${note} AS n FROM ${glob(lake, 'shop', 'my_orders')} ORDER BY idb_key`);
    assert.deepEqual(em.map((r) => r.n), [null, 'later', null, null]);
    const dates = await d.rows(`SELECT strftime(d, '%Y-%m-%dT%H:%M:%S.%g') d FROM ${glob(lake, 'shop', 'dates')} ORDER BY idb_key`);
    assert.deepEqual(dates.map((r) => r.d), ['2024-05-06T00:00:00.000', '2024-05-06T07:08:00.000', '2024-05-06T07:08:09.010']);
    // GET /lake: what an engine finds in each table's files (footers' row counts)
    const stats = await fetch(`${srv.url}/v1/db/shop/lake`).then((r) => r.json());
    const mo = stats.tables.find((t) => t.store === 'My Orders');
    assert.deepEqual([mo.table, mo.rows, mo.changes], ['my_orders', 4, 4]);
    assert.deepEqual(stats.tables.find((t) => t.store === 'dates').rows, 3);
    const m = await metrics(srv.url);
    assert.match(m, /idbsync_lake_flush_errors_total 0/);
    assert.match(m, /idbsync_lake_notify_total\{result="failed"\} [1-9]/);
    await srv.stop();
  });
}
