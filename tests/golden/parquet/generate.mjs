// Regenerates the golden Parquet fixtures with DuckDB and their expected NDJSON with the reader:
//   node tests/golden/parquet/generate.mjs [path/to/idbsync]
// The expected files are only rewritten from our reader's output, so inspect the diff (and
// run tests/parquet/read_duckdb.test.mjs, which checks the same shapes against DuckDB) before
// committing changes.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const require = createRequire(join(root, 'package.json'));
const { DuckDBInstance } = await import(require.resolve('@duckdb/node-api'));
const bin = process.argv[2] || join(root, 'build', 'idbsync');

const FLAT = `SELECT i AS id, CASE WHEN i % 5 = 0 THEN NULL ELSE 'str' || (i % 7) || ' ✓ü' END AS s,
  (i * 7919) % 1000003 - 500000 AS i64, (i % 100 - 50)::INTEGER AS i32, (i % 200)::UTINYINT AS u8,
  (18446744073709551615 - i)::UBIGINT AS u64, CASE WHEN i % 13 = 0 THEN NULL ELSE i / 7.0 END::DOUBLE AS dbl,
  (i / 3.0)::FLOAT AS flt, i % 2 = 0 AS bool, (((i % 9999) - 5000) / 100)::DECIMAL(4,2) AS dec4,
  ((i * 12345 - 50000000) / 1000)::DECIMAL(18,6) AS dec18, ((i * 987654321) - 4000000000)::DECIMAL(38,10) AS dec38,
  DATE '1970-01-01' + (i * 37 - 200)::INT AS dt, TIMESTAMP '2024-02-29 12:34:56.789012' + INTERVAL (i * 3600123) MILLISECOND AS ts_us,
  (TIMESTAMP '1960-01-01 00:00:00' + INTERVAL (i * 1000) SECOND)::TIMESTAMP_MS AS ts_ms,
  make_timestamp_ns(1704067200123456789 + i * 1001) AS ts_ns, TIMESTAMPTZ '2024-06-01 10:00:00+00' + INTERVAL (i) MINUTE AS ts_tz,
  TIME '00:00:00' + INTERVAL (i * 1234567) MILLISECOND AS tm,
  ('00000000-0000-4000-8000-' || lpad(i::VARCHAR, 12, '0'))::UUID AS uid,
  CASE WHEN i % 7 = 0 THEN NULL ELSE unhex(printf('%02x00ff5c', i % 256)) END AS blob
FROM range(40) t(i)`;

const NESTED = `SELECT i AS id,
  {'a': i, 'b': {'c': CASE WHEN i % 4 = 0 THEN NULL ELSE 'c' || i END, 'd': [i, NULL, i * 2]}} AS st,
  CASE WHEN i % 6 = 0 THEN NULL ELSE {'x': i % 3} END AS ost,
  CASE WHEN i % 5 = 0 THEN NULL WHEN i % 5 = 1 THEN [] ELSE range(i % 4)::BIGINT[] END AS lst,
  [{'k': i, 'v': 'v' || i}, NULL, {'k': NULL, 'v': NULL}] AS lst_st,
  [[i], [], NULL, [i + 1, i + 2]] AS lst_lst,
  CASE WHEN i % 3 = 0 THEN NULL ELSE MAP {'k' || i: i, 'z': NULL} END AS mp,
  MAP {i: 'v' || i} AS mp_int, ['a' || i, NULL, 'ü'] AS lst_s
FROM range(30) t(i)`;

const EXTREMES = `SELECT * FROM (VALUES
  ((-9223372036854775807 - 1)::BIGINT, (-2147483647 - 1)::INTEGER, 'nan'::DOUBLE, 'inf'::FLOAT, ''::VARCHAR,
   (-99999999999999999999999999999999999999)::DECIMAL(38,0), DATE '0001-01-01', TIMESTAMP '0001-01-01 00:00:00'),
  (9223372036854775807::BIGINT, 2147483647::INTEGER, '-inf'::DOUBLE, '-0.0'::FLOAT, repeat('long ✓', 300),
   99999999999999999999999999999999999999::DECIMAL(38,0), DATE '9999-12-31', TIMESTAMP '9999-12-31 23:59:59.999999'),
  (0, 0, -0.0::DOUBLE, 1.17549435e-38::FLOAT, 'tab' || chr(9) || 'quote"back\\slash' || chr(10) || chr(1),
   0.0::DECIMAL(38,0), DATE '1969-12-31', TIMESTAMP '1969-12-31 23:59:59.999999'),
  (1, -1, 5e-324::DOUBLE, 3.4028235e38::FLOAT, NULL, NULL, NULL, NULL)) t(a, b, c, d, e, f, g, h)`;

const FIXTURES = [
  ['flat_v1_snappy', FLAT, 'COMPRESSION snappy, PARQUET_VERSION V1'],
  ['flat_v2_zstd', FLAT, 'COMPRESSION zstd, PARQUET_VERSION V2'],
  ['flat_v1_gzip_nodict', FLAT, 'COMPRESSION gzip, PARQUET_VERSION V1, DICTIONARY_SIZE_LIMIT 0'],
  ['nested_v1_uncompressed', NESTED, 'COMPRESSION uncompressed, PARQUET_VERSION V1'],
  ['nested_v2_lz4raw', NESTED, 'COMPRESSION lz4_raw, PARQUET_VERSION V2'],
  ['extremes_v1_brotli', EXTREMES, 'COMPRESSION brotli, PARQUET_VERSION V1'],
  ['extremes_v2_snappy', EXTREMES, 'COMPRESSION snappy, PARQUET_VERSION V2'],
];

const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
await conn.run("SET TimeZone='UTC'");
for (const [name, sql, opts] of FIXTURES) {
  const file = join(here, `${name}.parquet`);
  await conn.run(`COPY (${sql}) TO '${file}' (FORMAT parquet, ${opts})`);
  const r = spawnSync(bin, ['parquet', 'cat', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${name}: ${r.stderr}`);
  writeFileSync(join(here, `${name}.ndjson`), r.stdout);
  console.log(`${name}: ${r.stdout.split('\n').length - 1} rows`);
}
