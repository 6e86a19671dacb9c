// Reader cross-check against DuckDB: DuckDB writes Parquet files with every codec it offers,
// both page versions, with and without dictionaries, small row groups, nested and edge-case
// values; `idbsync parquet cat` must produce the same values DuckDB reads back (both sides
// normalised: DuckDB's to_json() text vs our JSON conventions), plus meta/schema and errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(join(process.env.IDBSYNC_SRC || process.cwd(), 'package.json'));
const { DuckDBInstance } = await import(require.resolve('@duckdb/node-api'));


function parseLossless(text) {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  function value() {
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++; const o = {}; ws();
      if (text[i] === '}') { i++; return o; }
      for (;;) { ws(); const k = str(); ws(); i++; /* : */ o[k] = value(); ws();
        if (text[i] === ',') { i++; continue; } i++; return o; }
    }
    if (ch === '[') {
      i++; const a = []; ws();
      if (text[i] === ']') { i++; return a; }
      for (;;) { a.push(value()); ws(); if (text[i] === ',') { i++; continue; } i++; return a; }
    }
    if (ch === '"') return str();
    if (text.startsWith('true', i)) { i += 4; return true; }
    if (text.startsWith('false', i)) { i += 5; return false; }
    if (text.startsWith('null', i)) { i += 4; return null; }
    const m = /^-?(?:NaN|Infinity|[0-9][0-9.eE+-]*)/.exec(text.slice(i, i + 400));
    if (!m) throw new Error(`bad JSON at ${i}: ${text.slice(i, i + 40)}`);
    i += m[0].length;
    return { num: m[0] };
  }
  function str() {
    const start = i; i++;
    while (text[i] !== '"') { if (text[i] === '\\') i++; i++; }
    i++;
    return JSON.parse(text.slice(start, i));
  }
  const v = value();
  return v;
}

const isNum = (v) => v !== null && typeof v === 'object' && typeof v.num === 'string' && Object.keys(v).length === 1;

function daysFromCivil(y, m, d) {
  y -= m <= 2 ? 1n : 0n;
  const era = (y >= 0n ? y : y - 399n) / 400n;
  const yoe = y - era * 400n;
  const mp = m > 2n ? m - 3n : m + 9n;
  const doy = (153n * mp + 2n) / 5n + d - 1n;
  const doe = yoe * 365n + yoe / 4n - yoe / 100n + doy;
  return era * 146097n + doe - 719468n;
}

function nanos(y, mo, d, h, mi, s, frac) {
  const days = daysFromCivil(BigInt(y), BigInt(mo), BigInt(d));
  const f = BigInt(((frac || '') + '000000000').slice(0, 9));
  return ((days * 86400n + BigInt(h || 0) * 3600n + BigInt(mi || 0) * 60n + BigInt(s || 0)) * 1000000000n) + f;
}

function ourDateNs(iso) {
  const m = /^([+-]?\d{4,6})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3}|\d{6}|\d{9})Z$/.exec(iso);
  if (!m) return null;
  return nanos(Number(m[1]), m[2], m[3], m[4], m[5], m[6], m[7]);
}

function duckDateNs(s) {
  const m = /^(\d{4,})-(\d\d)-(\d\d)(?: (\d\d):(\d\d):(\d\d)(?:\.(\d+))?)?(?:\+00)?$/.exec(s);
  if (!m) return null;
  return nanos(Number(m[1]), m[2], m[3], m[4], m[5], m[6], m[7]);
}

function duckBlob(s) {
  const out = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && s[i + 1] === 'x') { out.push(parseInt(s.slice(i + 2, i + 4), 16)); i += 3; }
    else out.push(...Buffer.from(s[i], 'utf8'));
  }
  return Buffer.from(out);
}

function normDecimal(s) {
  let neg = s.startsWith('-');
  if (neg) s = s.slice(1);
  let [ip, fp = ''] = s.split('.');
  ip = ip.replace(/^0+(?=\d)/, '');
  fp = fp.replace(/0+$/, '');
  if (ip === '0' && fp === '') neg = false;
  return (neg ? '-' : '') + ip + (fp ? '.' + fp : '');
}

function numEq(a, b) {
  if (/^-?\d+$/.test(a) && /^-?\d+$/.test(b)) return BigInt(a) === BigInt(b);
  const x = Number(a), y = Number(b);
  if (Number.isNaN(x) && Number.isNaN(y)) return true;
  if (x === y) return true;
  // FLOAT columns: DuckDB prints the double expansion, we print the shortest float digits
  return Math.fround(x) === Math.fround(y) && Math.fround(y) === y;
}

// Returns null when equal, else a description of the first difference.
function compare(ours, theirs, path = '$') {
  if (ours === null || theirs === null)
    return ours === theirs ? null : `${path}: ours ${JSON.stringify(ours)} vs duckdb ${JSON.stringify(theirs)}`;
  const diff = (why) => `${path}: ${why}: ours ${JSON.stringify(ours)} vs duckdb ${JSON.stringify(theirs)}`;
  if (typeof ours === 'boolean') return ours === theirs ? null : diff('bool');
  if (isNum(ours)) return isNum(theirs) && numEq(ours.num, theirs.num) ? null : diff('number');
  if (typeof ours === 'string') {
    if (typeof theirs === 'string') {
      const tm = (x) => (/^\d\d:\d\d:\d\d(\.\d+)?$/.test(x) ? x.replace(/\.(\d*?)0+$/, '.$1').replace(/\.$/, '') : x);
      return ours === theirs || tm(ours) === tm(theirs) ? null : diff('string');
    }
    if (isNum(theirs)) return normDecimal(ours) === normDecimal(theirs.num) ? null : diff('decimal');
    return diff('type');
  }
  if (Array.isArray(ours)) {
    if (!Array.isArray(theirs)) {
      // MAP with non-string keys: ours [{key,value}], DuckDB {"key": value}
      if (typeof theirs === 'object' && ours.every((e) => e && 'key' in e && 'value' in e)) {
        const keys = Object.keys(theirs);
        if (keys.length !== ours.length) return diff('map size');
        for (let i = 0; i < ours.length; i++) {
          const k = ours[i].key;
          const ks = isNum(k) ? k.num : typeof k === 'string' ? k : JSON.stringify(k);
          if (!(ks in theirs)) return diff(`map key ${ks}`);
          const d = compare(ours[i].value, theirs[ks], `${path}[${ks}]`);
          if (d) return d;
        }
        return null;
      }
      return diff('array');
    }
    if (ours.length !== theirs.length) return diff('length');
    for (let i = 0; i < ours.length; i++) {
      const d = compare(ours[i], theirs[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if ('$date' in ours) {
    const a = ourDateNs(ours.$date), b = typeof theirs === 'string' ? duckDateNs(theirs) : null;
    return a !== null && a === b ? null : diff('date');
  }
  if ('$num' in ours) {
    const map = { NaN: 'NaN', Infinity: 'Infinity', '-Infinity': '-Infinity', '-0': '-0.0' };
    return isNum(theirs) && (theirs.num === map[ours.$num] || (ours.$num === '-0' && Number(theirs.num) === 0))
      ? null : diff('$num');
  }
  if ('$bin' in ours) {
    if (typeof theirs !== 'string') return diff('blob type');
    return Buffer.from(ours.$bin, 'base64').equals(duckBlob(theirs)) ? null : diff('blob');
  }
  if (typeof theirs !== 'object' || Array.isArray(theirs) || isNum(theirs)) return diff('object');
  const ka = Object.keys(ours), kb = Object.keys(theirs);
  if (ka.join('\u0000') !== kb.join('\u0000')) return diff('keys');
  for (const k of ka) {
    const d = compare(ours[k], theirs[k], `${path}.${k}`);
    if (d) return d;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------

const BIN = process.env.IDBSYNC_BIN || join(process.env.IDBSYNC_SRC || '.', 'build', 'idbsync');

function cat(file) {
  const r = spawnSync(BIN, ['parquet', 'cat', file], { encoding: 'utf8', maxBuffer: 1 << 30 });
  return r;
}

// A table covering the types DuckDB writes: every physical type, the common logical types,
// nulls everywhere, nesting (structs, lists, lists of structs, maps), unicode and blobs.
const RICH = `
SELECT i AS id,
  CASE WHEN i % 5 = 0 THEN NULL ELSE 'str' || (i % 17) || ' ✓ü日本' END AS s,
  CASE WHEN i % 11 = 0 THEN '' ELSE repeat('x', i % 40) END AS s2,
  (i * 7919) % 1000003 - 500000 AS i64,
  (i % 100 - 50)::INTEGER AS i32, (i % 100)::SMALLINT AS i16, (i % 100 - 50)::TINYINT AS i8,
  (i % 200)::UTINYINT AS u8, ((i * 1000) % 65536)::USMALLINT AS u16, ((i * 100003) % 4294967296)::UINTEGER AS u32,
  (18446744073709551615 - i)::UBIGINT AS u64,
  CASE WHEN i % 13 = 0 THEN NULL ELSE i / 7.0 END::DOUBLE AS dbl,
  (i / 3.0)::FLOAT AS flt,
  i % 2 = 0 AS bool,
  CASE WHEN i % 3 = 0 THEN NULL ELSE i % 2 = 1 END AS obool,
  (((i % 9999) - 5000) / 100)::DECIMAL(4,2) AS dec4,
  (((i * 12345) % 100000000 - 50000000) / 1000)::DECIMAL(18,6) AS dec18,
  ((i * 987654321) - 4000000000)::DECIMAL(38,10) * 1000.5 AS dec38,
  DATE '1970-01-01' + (i * 37 - 20000)::INT AS dt,
  TIMESTAMP '2024-02-29 12:34:56.789012' + INTERVAL (i * 3600123) MILLISECOND AS ts_us,
  (TIMESTAMP '1960-01-01 00:00:00' + INTERVAL (i * 1000) SECOND)::TIMESTAMP_MS AS ts_ms,
  make_timestamp_ns(1704067200123456789 + i * 1001) AS ts_ns,
  TIMESTAMPTZ '2024-06-01 10:00:00+00' + INTERVAL (i) MINUTE AS ts_tz,
  TIME '00:00:00' + INTERVAL (i * 1234567) MILLISECOND AS tm,
  ('00000000-0000-4000-8000-' || lpad(i::VARCHAR, 12, '0'))::UUID AS uid,
  CASE WHEN i % 7 = 0 THEN NULL ELSE unhex(printf('%02x00ff5c', i % 256)) END AS blob,
  {'a': i, 'b': {'c': CASE WHEN i % 4 = 0 THEN NULL ELSE 'c' || i END, 'd': [i, NULL, i * 2]}} AS st,
  CASE WHEN i % 6 = 0 THEN NULL ELSE {'x': i % 3} END AS ost,
  CASE WHEN i % 5 = 0 THEN NULL WHEN i % 5 = 1 THEN [] ELSE range(i % 4)::BIGINT[] END AS lst,
  [{'k': i, 'v': 'v' || i}, NULL, {'k': NULL, 'v': NULL}] AS lst_st,
  [[i], [], NULL, [i + 1, i + 2]] AS lst_lst,
  CASE WHEN i % 3 = 0 THEN NULL ELSE MAP {'k' || i: i, 'z': NULL} END AS mp,
  MAP {i: 'v' || i} AS mp_int,
  ['a' || i, NULL, 'ü'] AS lst_s
FROM range(%N%) t(i)`;

// Values at the edges of their types.
const EXTREMES = `
SELECT * FROM (VALUES
  ((-9223372036854775807 - 1)::BIGINT, (-2147483647 - 1)::INTEGER, 'nan'::DOUBLE, 'inf'::FLOAT, ''::VARCHAR,
   (-99999999999999999999999999999999999999)::DECIMAL(38,0), DATE '0001-01-01', TIMESTAMP '0001-01-01 00:00:00', 0::UBIGINT, []::INT[]),
  (9223372036854775807::BIGINT, 2147483647::INTEGER, '-inf'::DOUBLE, '-0.0'::FLOAT, repeat('long ✓', 20000),
   99999999999999999999999999999999999999::DECIMAL(38,0), DATE '9999-12-31', TIMESTAMP '9999-12-31 23:59:59.999999', 18446744073709551615::UBIGINT, [NULL]::INT[]),
  (0, 0, -0.0::DOUBLE, 1.17549435e-38::FLOAT, 'tab' || chr(9) || 'quote"back\\slash' || chr(10) || 'nl' || chr(1), 0.0::DECIMAL(38,0), DATE '1969-12-31', TIMESTAMP '1969-12-31 23:59:59.999999', 1::UBIGINT, NULL),
  (1, -1, 5e-324::DOUBLE, 3.4028235e38::FLOAT, NULL, NULL, NULL, NULL, NULL, [1,2,3])
) t(a, b, c, d, e, f, g, h, u, l)`;

async function duckRows(conn, file) {
  const r = await conn.runAndReadAll(`SELECT to_json(t)::VARCHAR AS j FROM read_parquet('${file}') t`);
  return r.getRows().map((row) => parseLossless(row[0]));
}

function compareFile(file, expected, label) {
  const r = cat(file);
  assert.equal(r.status, 0, `${label}: exit ${r.status}: ${r.stderr}`);
  const lines = r.stdout.split('\n');
  assert.equal(lines.pop(), '', `${label}: output ends with a newline`);
  assert.equal(lines.length, expected.length, `${label}: row count`);
  for (let i = 0; i < lines.length; i++) {
    const ours = parseLossless(lines[i]);
    JSON.parse(lines[i]); // each line must also be standard JSON
    const d = compare(ours, expected[i]);
    assert.equal(d, null, `${label}: row ${i}: ${d}`);
  }
}

let dir, db, conn;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'idbsync-pqread-'));
  db = await DuckDBInstance.create(':memory:');
  conn = await db.connect();
  await conn.run("SET TimeZone='UTC'");
});
after(() => { rmSync(dir, { recursive: true, force: true }); });

const CODECS = ['uncompressed', 'snappy', 'gzip', 'zstd', 'lz4_raw', 'brotli'];
for (const codec of CODECS) {
  for (const version of ['V1', 'V2']) {
    test(`rich table, ${codec}, ${version}`, async () => {
      const file = join(dir, `rich_${codec}_${version}.parquet`);
      await conn.run(`COPY (${RICH.replace('%N%', '3000')}) TO '${file}' (FORMAT parquet, COMPRESSION ${codec}, PARQUET_VERSION ${version}, ROW_GROUP_SIZE 2048)`);
      compareFile(file, await duckRows(conn, file), `${codec}/${version}`);
    });
  }
}

for (const version of ['V1', 'V2']) {
  test(`no dictionary, ${version}`, async () => {
    const file = join(dir, `nodict_${version}.parquet`);
    await conn.run(`COPY (${RICH.replace('%N%', '500')}) TO '${file}' (FORMAT parquet, PARQUET_VERSION ${version}, DICTIONARY_SIZE_LIMIT 0)`);
    const meta = await conn.runAndReadAll(`SELECT DISTINCT encodings FROM parquet_metadata('${file}')`);
    assert.ok(!meta.getRows().some((r) => /DICTIONARY/.test(r[0])), 'no dictionary encodings');
    compareFile(file, await duckRows(conn, file), `nodict/${version}`);
  });
}

test('many small row groups and pages', async () => {
  const file = join(dir, 'small_rg.parquet');
  await conn.run(`COPY (${RICH.replace('%N%', '9000')}) TO '${file}' (FORMAT parquet, ROW_GROUP_SIZE 2048, COMPRESSION zstd)`);
  const rg = await conn.runAndReadAll(`SELECT count(DISTINCT row_group_id) FROM parquet_metadata('${file}')`);
  assert.ok(Number(rg.getRows()[0][0]) >= 4, 'several row groups');
  compareFile(file, await duckRows(conn, file), 'small row groups');
});

for (const version of ['V1', 'V2']) {
  test(`extremes, ${version}`, async () => {
    const file = join(dir, `extremes_${version}.parquet`);
    await conn.run(`COPY (${EXTREMES}) TO '${file}' (FORMAT parquet, PARQUET_VERSION ${version})`);
    compareFile(file, await duckRows(conn, file), `extremes/${version}`);
    const lines = cat(file).stdout.split('\n');
    // exact digits for 64-bit integers and decimals, tagged non-finite floats
    assert.match(lines[0], /"a":-9223372036854775808,/);
    assert.match(lines[1], /"a":9223372036854775807,/);
    assert.match(lines[1], /"u":18446744073709551615/);
    assert.match(lines[0], /"c":\{"\$num":"NaN"\}/);
    assert.match(lines[1], /"d":\{"\$num":"-0"\}/);
    assert.match(lines[2], /"c":\{"\$num":"-0"\}/);
    assert.match(lines[1], /"f":"99999999999999999999999999999999999999"/);
    assert.match(lines[1], /"h":\{"\$date":"9999-12-31T23:59:59.999999Z"\}/);
    assert.match(lines[3], /"c":5e-324,/);
    assert.match(lines[3], /"d":3.4028235e\+38,/);
  });
}

test('doubles print the shortest round-trip digits', async () => {
  const file = join(dir, 'doubles.parquet');
  await conn.run(`COPY (SELECT * FROM (VALUES (0.1::DOUBLE, 0.1::FLOAT), (1/3::DOUBLE, (1/3)::FLOAT), (1e21::DOUBLE, 1e10::FLOAT), (123456789.125::DOUBLE, 16777217::FLOAT)) t(d, f)) TO '${file}' (FORMAT parquet)`);
  const lines = cat(file).stdout.trim().split('\n');
  assert.deepEqual(lines, [
    '{"d":0.1,"f":0.1}',
    '{"d":0.3333333333333333,"f":0.33333334}',
    '{"d":1e+21,"f":10000000000}',
    '{"d":123456789.125,"f":16777216}',
  ]);
});

test('errors name the file and exit 1; usage errors exit 2', async () => {
  const file = join(dir, 'trunc.parquet');
  await conn.run(`COPY (${RICH.replace('%N%', '100')}) TO '${file}' (FORMAT parquet)`);
  const bytes = readFileSync(file);
  const bad = join(dir, 'bad.parquet');
  writeFileSync(bad, bytes.subarray(0, bytes.length - 10));
  let r = cat(bad);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.parquet/);
  // corrupt a data page in the middle: must fail cleanly (or, rarely, decode garbage) but not crash
  const flipped = Buffer.from(bytes);
  for (let i = 200; i < 400; i += 3) flipped[i] ^= 0xff;
  writeFileSync(bad, flipped);
  r = cat(bad);
  assert.ok(r.status === 0 || r.status === 1, `status ${r.status}: ${r.stderr}`);
  if (r.status === 1) assert.match(r.stderr, /bad\.parquet/);
  r = spawnSync(BIN, ['parquet', 'cat', join(dir, 'missing.parquet')], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /missing\.parquet/);
  r = spawnSync(BIN, ['parquet', 'cat'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  r = spawnSync(BIN, ['parquet', 'meta', file, '--bogus'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
});

test('schema and meta agree with DuckDB', async () => {
  const file = join(dir, 'meta.parquet');
  await conn.run(`COPY (${RICH.replace('%N%', '5000')}) TO '${file}' (FORMAT parquet, ROW_GROUP_SIZE 2048, COMPRESSION zstd)`);
  const r = spawnSync(BIN, ['parquet', 'meta', file, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const m = JSON.parse(r.stdout);
  const dm = (await conn.runAndReadAll(
    `SELECT row_group_id, row_group_num_rows, path_in_schema, compression, num_values, total_compressed_size,
            stats_null_count FROM parquet_metadata('${file}') ORDER BY row_group_id, column_id`)).getRowObjectsJson();
  assert.equal(m.num_rows, 5000);
  let k = 0;
  for (const [g, rg] of m.row_groups.entries()) {
    for (const c of rg.columns) {
      const d = dm[k++];
      assert.equal(Number(d.row_group_id), g);
      assert.equal(rg.num_rows, Number(d.row_group_num_rows));
      assert.equal(c.path, d.path_in_schema.replaceAll(', ', '.'));
      assert.equal(c.codec, d.compression);
      assert.equal(c.num_values, Number(d.num_values));
      assert.equal(c.total_compressed_size, Number(d.total_compressed_size));
      if (d.stats_null_count !== null) assert.equal(c.statistics.null_count, Number(d.stats_null_count));
    }
  }
  assert.equal(k, dm.length);
  const s = spawnSync(BIN, ['parquet', 'schema', file], { encoding: 'utf8' });
  assert.equal(s.status, 0);
  assert.match(s.stdout, /optional int64 ts_ns \(TIMESTAMP\(NANOS,false\)\);/);
  assert.match(s.stdout, /optional int64 ts_us \(TIMESTAMP\(MICROS,false\)\);/);
  assert.match(s.stdout, /optional group lst \(LIST\) \{\n\s+repeated group list \{/);
  assert.match(s.stdout, /optional int32 dec4 \(DECIMAL\(4,2\)\);/);
});
