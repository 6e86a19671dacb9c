// DuckDB with its iceberg extension for tests/engines/test_duckdb_iceberg.py: runs the
// statements of `idbsync ddl --dialect duckdb` as printed, then the named queries, and prints
// {"name": [{column: value}]} as JSON: BIGINT as a decimal string (no 2^53 loss), TIMESTAMPTZ
// as ISO text in UTC, BLOB as base64, STRUCT as an object, LIST as an array. DuckDB and the
// extension come from the engines cache (tests/engines/run duckdb_iceberg): DuckDB cannot
// download extensions here, and an extension loads only into the release it was built for.
// usage: node duckdb_iceberg.mjs < {"statements": [..], "queries": {"name": sql}}
import fs from 'node:fs';
import path from 'node:path';

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

const job = JSON.parse(fs.readFileSync(0, 'utf8'));
const inst = await DuckDBInstance.create(':memory:', {
  extension_directory: path.join(home, 'extensions'),
  autoinstall_known_extensions: 'false',
});
const conn = await inst.connect();
for (const st of job.statements) await conn.run(st);
const out = {};
for (const [name, sql] of Object.entries(job.queries)) {
  const r = await conn.runAndReadAll(sql);
  out[name] = r.getRowObjects().map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, plain(v)])));
}
process.stdout.write(JSON.stringify(out));
