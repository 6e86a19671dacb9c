// DuckDB with its iceberg extension for tests/engines/test_duckdb_iceberg.py: runs the
// statements of `idbsync ddl --dialect duckdb` as printed, then the named queries, and prints
// {"name": [{column: value}]} as JSON: BIGINT as a decimal string (no 2^53 loss), TIMESTAMPTZ
// as ISO text in UTC, BLOB as base64, STRUCT as an object, LIST as an array. DuckDB and the
// extension come from the engines cache (tests/engines/run duckdb_iceberg): DuckDB cannot
// download extensions here, and an extension loads only into the release it was built for.
// usage: node duckdb_iceberg.mjs < {"statements": [..], "queries": {"name": sql}}
// or, for a reader in a loop, {"statements": [..], "loop": true} on the first line, then one SQL
// string (JSON) a line, each answered with one line: {"rows": [..]} or {"error": "message"}.
import path from 'node:path';
import readline from 'node:readline';

const home = process.env.IDBSYNC_DUCKDB_HOME;
if (!home) throw new Error('IDBSYNC_DUCKDB_HOME is not set: run through tests/engines/run duckdb_iceberg');
const api = await import(path.join(home, 'node_modules/@duckdb/node-api/lib/index.js'));
const { DuckDBInstance, DuckDBBlobValue, DuckDBTimestampTZValue, DuckDBStructValue, DuckDBListValue } = api;

function plain(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof DuckDBBlobValue) return Buffer.from(v.bytes).toString('base64');
  if (v instanceof DuckDBTimestampTZValue) {
    const us = ((v.micros % 1000n) + 1000n) % 1000n;   // floor division: before 1970 too
    const ms = (v.micros - us) / 1000n;
    return new Date(Number(ms)).toISOString().replace('Z', `${String(us).padStart(3, '0')}Z`);
  }
  if (v instanceof DuckDBStructValue) return Object.fromEntries(Object.entries(v.entries).map(([k, x]) => [k, plain(x)]));
  if (v instanceof DuckDBListValue) return v.items.map(plain);
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v;
}

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const job = JSON.parse((await lines.next()).value);
const inst = await DuckDBInstance.create(':memory:', {
  extension_directory: path.join(home, 'extensions'),
  autoinstall_known_extensions: 'false',
});
const conn = await inst.connect();
for (const st of job.statements) await conn.run(st);
const run = async (sql) => (await conn.runAndReadAll(sql)).getRowObjects().map(
  (row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, plain(v)])));
if (job.loop) {
  for (let l = await lines.next(); !l.done; l = await lines.next()) {
    let res;
    try {
      res = { rows: await run(JSON.parse(l.value)) };
    } catch (e) {   // a failed query is the loop's figure, not the end of the reader
      res = { error: String(e.message || e) };
    }
    process.stdout.write(JSON.stringify(res) + '\n');
  }
} else {
  const out = {};
  for (const [name, sql] of Object.entries(job.queries)) out[name] = await run(sql);
  process.stdout.write(JSON.stringify(out));
}
