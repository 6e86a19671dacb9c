// `idbsync parquet write` cross-checked by DuckDB: generated NDJSON (every type the writer
// infers, nulls, nesting, lists of structs, unicode, extremes, huge and empty values) is
// written with every codec x page version x profile x dictionary on/off, read back with
// read_parquet() and compared value by value; parquet_metadata()/parquet_schema() must
// show the physical/logical types, encodings and codec each profile promises. A second
// part writes with --schema (decimals, dates, UUIDs, maps, JSON, time units). CLI error
// behaviour (exit codes, file:line:col messages, nothing left behind) is checked too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DuckDBInstance, DuckDBTimestampValue, DuckDBTimestampNanosecondsValue,
  DuckDBTimestampMillisecondsValue, DuckDBTimestampTZValue, DuckDBDateValue, DuckDBDecimalValue,
  DuckDBBlobValue, DuckDBListValue, DuckDBStructValue, DuckDBMapValue, DuckDBUUIDValue,
} from '@duckdb/node-api';

const BIN = process.env.IDBSYNC_BIN || join(process.cwd(), 'idbsync');
const dir = mkdtempSync(join(tmpdir(), 'pqw-duck-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

// ---- NDJSON text in the idbsync conventions ----
class Ts { constructor(iso) { this.iso = iso; } }
class Raw { constructor(text) { this.text = text; } } // emitted verbatim

function ser(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return '{"$num":"NaN"}';
    if (v === Infinity) return '{"$num":"Infinity"}';
    if (v === -Infinity) return '{"$num":"-Infinity"}';
    if (Object.is(v, -0)) return '{"$num":"-0"}';
    return JSON.stringify(v);
  }
  if (typeof v === 'string' || typeof v === 'boolean') return JSON.stringify(v);
  if (v instanceof Ts) return `{"$date":${JSON.stringify(v.iso)}}`;
  if (v instanceof Raw) return v.text;
  if (v instanceof Uint8Array) return `{"$bin":"${Buffer.from(v).toString('base64')}"}`;
  if (Array.isArray(v)) return '[' + v.map(ser).join(',') + ']';
  return '{' + Object.entries(v).filter(([, x]) => x !== undefined)
    .map(([k, x]) => JSON.stringify(k) + ':' + ser(x)).join(',') + '}';
}

// ISO-8601 with 0..9 fraction digits -> nanoseconds since the epoch (BigInt).
function isoNanos(iso) {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(iso);
  const frac = (m[2] || '').padEnd(9, '0');
  return BigInt(Date.parse(m[1] + 'Z')) * 1000000n + BigInt(frac);
}

// ---- canonical forms: what the input means vs what DuckDB returns ----
const num = (x) => ({ n: Object.is(x, -0) ? '-0' : String(x) });
function dropNulls(o, lower) {
  const out = {};
  for (const [k, x] of Object.entries(o)) if (x !== null) out[lower ? k.toLowerCase() : k] = x;
  return out;
}

// Expected canonical value of input v for a column of the given kind.
function canon(v, lower, asText = false) {
  if (v === null || v === undefined) return null;
  if (asText) return typeof v === 'string' ? v : ser(v);
  if (typeof v === 'bigint' || typeof v === 'number') return num(v);
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (v instanceof Ts) return { t: isoNanos(v.iso).toString() };
  if (v instanceof Uint8Array) return { b: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map((x) => canon(x, lower));
  return dropNulls(Object.fromEntries(Object.entries(v).map(([k, x]) => [k, canon(x, lower)])), lower);
}

function duck(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint' || typeof v === 'number') return num(v);
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (v instanceof DuckDBTimestampNanosecondsValue) return { t: v.nanos.toString() };
  if (v instanceof DuckDBTimestampMillisecondsValue) return { t: (v.millis * 1000000n).toString() };
  if (v instanceof DuckDBTimestampValue || v instanceof DuckDBTimestampTZValue) {
    return { t: (v.micros * 1000n).toString() };
  }
  if (v instanceof DuckDBDateValue) return { day: v.days };
  if (v instanceof DuckDBDecimalValue) return { dec: v.toString() };
  if (v instanceof DuckDBUUIDValue) return v.toString();
  if (v instanceof DuckDBBlobValue) return { b: Buffer.from(v.bytes).toString('hex') };
  if (v instanceof DuckDBListValue) return v.items.map(duck);
  if (v instanceof DuckDBMapValue) return { m: v.entries.map((e) => [duck(e.key), duck(e.value)]) };
  if (v instanceof DuckDBStructValue) {
    return dropNulls(Object.fromEntries(Object.entries(v.entries).map(([k, x]) => [k, duck(x)])));
  }
  throw new Error('unexpected DuckDB value ' + v?.constructor?.name);
}

// ---- generated rows ----
let seed = 1234;
const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000; };
const pick = (a) => a[Math.floor(rnd() * a.length)];
const huge = 'x'.repeat(70000) + 'é'.repeat(20000);
const strings = ['', 'a', 'hello world', 'ünïcödé ✓', '日本語テキスト', '😀 emoji 🎉', 'quote " back \\ slash',
  'new\nline\ttab', '\u0001ctl', 'A'.repeat(200), 'repeat-me'];
const doubles = [0, -0, 1.5, -2.25, 1e308, -1e-308, 5e-324, 0.1, 123456.789, Infinity, -Infinity, NaN];
const stamps = ['1970-01-01T00:00:00.000Z', '1969-12-31T23:59:59.999Z', '2024-02-29T12:34:56.789Z',
  '0001-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z', '2024-06-01T00:00:00.123456Z', '1900-03-01T01:02:03.000Z'];

function makeRow(i) {
  const r = {};
  r.id = i === 0 ? -9223372036854775808n : i === 1 ? 9223372036854775807n : BigInt(i * 7919 - 1000);
  if (rnd() < 0.9) r.f = i < doubles.length ? doubles[i] : Math.round(rnd() * 1e6) / 1e3;
  r.s = i === 5 || i === 77 ? huge : rnd() < 0.1 ? null : pick(strings);
  if (rnd() < 0.8) r.b = rnd() < 0.5;
  r.ts = rnd() < 0.15 ? null : new Ts(i < stamps.length ? stamps[i] : stamps[Math.floor(rnd() * stamps.length)]);
  if (rnd() < 0.7) r.bin = new Uint8Array(Array.from({ length: Math.floor(rnd() * 6) }, () => Math.floor(rnd() * 256)));
  if (rnd() < 0.8) {
    r.nested = { a: rnd() < 0.8 ? BigInt(Math.floor(rnd() * 100)) : null };
    if (rnd() < 0.7) r.nested.b = { c: pick(strings), d: rnd() < 0.3 ? [] : [BigInt(i), null, -1n] };
  }
  const tr = rnd();
  r.tags = tr < 0.2 ? null : tr < 0.35 ? [] : Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => (rnd() < 0.15 ? null : pick(strings)));
  if (rnd() < 0.7) r.pts = Array.from({ length: Math.floor(rnd() * 3) }, () => (rnd() < 0.1 ? null : { x: rnd() < 0.9 ? Math.round(rnd() * 100) / 4 : null, y: pick(strings) }));
  if (rnd() < 0.6) r.mat = [[BigInt(i), 2n], [], rnd() < 0.5 ? null : [3n]];
  const m = rnd();
  r.mixed = m < 0.3 ? 'text' : m < 0.5 ? 42 : m < 0.6 ? { k: [1, true] } : m < 0.7 ? [1, 'a'] : null;
  r.UserName = `User ${i % 13}`;
  r.nothing = null;
  return r;
}
const ROWS = Array.from({ length: 300 }, (_, i) => makeRow(i));
const TEXT_FIELDS = new Set(['mixed']);
const INPUT = join(dir, 'in.ndjson');
writeFileSync(INPUT, ROWS.map(ser).join('\n') + '\n');

function expectedRows(lower) {
  return ROWS.map((r) => {
    const out = {};
    for (const [k, v] of Object.entries(r)) {
      const c = canon(v, lower, TEXT_FIELDS.has(k));
      if (c !== null) out[lower ? k.toLowerCase() : k] = c;
    }
    return out;
  });
}

const db = await (await DuckDBInstance.create(':memory:')).connect();
async function rows(sql) { return (await db.runAndReadAll(sql)).getRowObjects(); }
async function plain(sql) { return (await db.runAndReadAll(sql)).getRowObjectsJson(); }

function run(args, input) {
  return spawnSync(BIN, ['parquet', 'write', ...args], { input, encoding: 'utf8' });
}

const CODECS = { none: 'UNCOMPRESSED', snappy: 'SNAPPY', gzip: 'GZIP', zstd: 'ZSTD', lz4_raw: 'LZ4_RAW' };

for (const profile of ['compat', 'modern']) {
  for (const codec of Object.keys(CODECS)) {
    for (const pv of ['1', '2']) {
      for (const dict of [true, false]) {
        const name = `${profile} ${codec} v${pv} ${dict ? 'dict' : 'plain'}`;
        test(`write ${name}: DuckDB reads back every value`, async () => {
          const out = join(dir, `${profile}-${codec}-${pv}-${dict}.parquet`);
          // small row groups and pages, and a tiny dictionary limit so chunks fall back to PLAIN
          // part way (gzip); many slices and pages (zstd)
          const small = codec === 'gzip' ? ['--row-group-rows', '37', '--page-size', '2000', '--dictionary-limit', '300']
            : codec === 'zstd' ? ['--page-size', '500', '--row-group-rows', '120'] : [];
          const r = run(['--profile', profile, '--compression', codec, '--page-version', pv,
            ...(dict ? [] : ['--no-dictionary']), ...small, INPUT, out]);
          assert.equal(r.status, 0, r.stderr);
          const got = (await rows(`SELECT * FROM read_parquet('${out}')`)).map((row) => dropNulls(
            Object.fromEntries(Object.entries(row).map(([k, v]) => [k, duck(v)]))));
          const want = expectedRows(profile === 'compat');
          assert.equal(got.length, want.length);
          for (let i = 0; i < want.length; i++) assert.deepEqual(got[i], want[i], `row ${i}`);

          const meta = await plain(`SELECT * FROM parquet_metadata('${out}')`);
          assert.ok(meta.length > 0);
          for (const c of meta) {
            assert.equal(c.compression, CODECS[codec], `codec of ${c.path_in_schema}`);
            const enc = c.encodings.split(', ');
            if (!dict) assert.ok(!enc.some((e) => e.includes('DICTIONARY')), `${c.path_in_schema}: ${c.encodings}`);
            if (profile === 'compat' && pv === '1') {
              for (const e of enc) assert.ok(['PLAIN', 'PLAIN_DICTIONARY', 'RLE'].includes(e), `compat encoding ${e}`);
            } else {
              // V2 pages (an override in compat) use RLE_DICTIONARY as the format requires
              assert.ok(!enc.includes('PLAIN_DICTIONARY'), `modern encodings ${c.encodings}`);
            }
          }
          if (codec === 'gzip') assert.ok(new Set(meta.map((c) => c.row_group_id)).size >= 8);
          if (dict) {
            const s = meta.find((c) => c.path_in_schema === (profile === 'compat' ? 'username' : 'UserName'));
            assert.match(s.encodings, /DICTIONARY/);
          }
          const schema = Object.fromEntries((await plain(`SELECT * FROM parquet_schema('${out}')`)).map((e) => [e.name, e]));
          if (profile === 'compat') {
            assert.equal(schema.ts.type, 'INT96');
            assert.ok(schema.username && !schema.UserName);
          } else {
            assert.equal(schema.ts.type, 'INT64');
            assert.match(schema.ts.logical_type, /TimestampType\(isAdjustedToUTC=1, unit=TimeUnit\(MILLIS=<null>, MICROS=MicroSeconds\(\)/);
            assert.equal(schema.ts.converted_type, 'TIMESTAMP_MICROS');
            assert.ok(schema.UserName);
          }
          assert.equal(schema.id.type, 'INT64');
          assert.equal(schema.f.type, 'DOUBLE');
          assert.equal(schema.s.converted_type, 'UTF8');
          assert.equal(schema.tags.converted_type, 'LIST');
          assert.equal(schema.list.repetition_type, 'REPEATED');
          assert.equal(schema.bin.type, 'BYTE_ARRAY');
          assert.equal(schema.bin.converted_type, null);
          assert.equal(schema.mixed.converted_type, 'UTF8');
          // statistics are trusted by DuckDB for filters: check they agree with the data
          const [agg] = await plain(`SELECT min(id) AS lo, max(id) AS hi, count(*) FILTER (WHERE s = 'repeat-me') AS rep
            FROM read_parquet('${out}') WHERE id BETWEEN -9223372036854775808 AND 9223372036854775807`);
          assert.equal(agg.lo, '-9223372036854775808');
          assert.equal(agg.hi, '9223372036854775807');
          assert.equal(Number(agg.rep), ROWS.filter((r) => r.s === 'repeat-me').length);
        });
      }
    }
  }
}

// ---- --schema: types inference never produces ----
const SCHEMA = {
  fields: [
    { name: 'id', type: 'int64', required: true },
    { name: 'i32', type: 'int32' },
    { name: 'f32', type: 'float' },
    { name: 'day', type: 'date' },
    { name: 'ms', type: 'timestamp', unit: 'millis' },
    { name: 'us_local', type: 'timestamp', unit: 'micros', utc: false },
    { name: 'ns', type: 'timestamp', unit: 'nanos' },
    { name: 'price', type: 'decimal', precision: 12, scale: 2 },
    { name: 'small', type: 'decimal', precision: 4, scale: 1 },
    { name: 'wide', type: 'decimal', precision: 38, scale: 10 },
    { name: 'u', type: 'uuid' },
    { name: 'j', type: 'json' },
    { name: 'm', type: 'map', key: { type: 'string' }, value: { type: 'int64' } },
    { name: 'people', type: 'list', element: { type: 'struct', fields: [{ name: 'name', type: 'string' }, { name: 'age', type: 'int32' }] } },
  ],
};
const SROWS = [
  { id: 1n, i32: -2147483648n, f32: 1.5, day: new Ts('2024-02-29T00:00:00.000Z'), ms: new Ts('1969-12-31T23:59:59.999Z'),
    us_local: new Ts('2024-01-01T10:00:00.123456Z'), ns: new Ts('2024-01-01T00:00:00.123456789Z'), price: '-1234567890.12',
    small: '99.9', wide: '-1234567890123456789012345678.0123456789', u: '123e4567-e89b-12d3-a456-426614174000',
    j: { a: [1, 2], b: null }, m: { k1: 1n, k2: null }, people: [{ name: 'x', age: 3n }, { name: null }] },
  { id: 2n, i32: 2147483647n, f32: -0.25, day: new Ts('1970-01-01T00:00:00.000Z'), price: '0.01', small: '-0.5',
    wide: '0.0000000001', m: {}, people: [] },
  { id: 3n },
];
const SEXPECT = [
  { id: { n: '1' }, i32: { n: '-2147483648' }, f32: { n: '1.5' }, day: { day: 19782 }, ms: { t: '-1000000' },
    us_local: { t: isoNanos('2024-01-01T10:00:00.123456Z').toString() },
    // DuckDB maps UTC-adjusted NANOS to TIMESTAMP WITH TIME ZONE, which holds micros: it
    // drops the last 3 digits (the file keeps them; the unit tests read them back)
    ns: { t: isoNanos('2024-01-01T00:00:00.123456000Z').toString() },
    price: { dec: '-1234567890.12' }, small: { dec: '99.9' }, wide: { dec: '-1234567890123456789012345678.0123456789' },
    u: '123e4567-e89b-12d3-a456-426614174000', j: '{"a":[1,2],"b":null}', m: { m: [['k1', { n: '1' }], ['k2', null]] },
    people: [{ name: 'x', age: { n: '3' } }, {}] },
  { id: { n: '2' }, i32: { n: '2147483647' }, f32: { n: '-0.25' }, day: { day: 0 }, price: { dec: '0.01' },
    small: { dec: '-0.5' }, wide: { dec: '0.0000000001' }, m: { m: [] }, people: [] },
  { id: { n: '3' } },
];

for (const profile of ['compat', 'modern']) {
  test(`--schema ${profile}: decimals, dates, time units, UUID, JSON, maps`, async () => {
    const sp = join(dir, 'schema.json');
    writeFileSync(sp, JSON.stringify(SCHEMA));
    const out = join(dir, `schema-${profile}.parquet`);
    const r = run(['--profile', profile, '--schema', sp, '-', out], SROWS.map(ser).join('\n'));
    assert.equal(r.status, 0, r.stderr);
    const got = (await rows(`SELECT * FROM read_parquet('${out}')`)).map((row) => dropNulls(
      Object.fromEntries(Object.entries(row).map(([k, v]) => [k, duck(v)]))));
    assert.deepEqual(got, SEXPECT);
    const schema = Object.fromEntries((await plain(`SELECT * FROM parquet_schema('${out}')`)).map((e) => [e.name, e]));
    assert.equal(schema.id.repetition_type, 'REQUIRED');
    assert.equal(schema.price.converted_type, 'DECIMAL');
    assert.equal(schema.price.type, profile === 'compat' ? 'FIXED_LEN_BYTE_ARRAY' : 'INT64');
    assert.equal(schema.small.type, profile === 'compat' ? 'FIXED_LEN_BYTE_ARRAY' : 'INT32');
    assert.equal(schema.wide.type, 'FIXED_LEN_BYTE_ARRAY');
    assert.equal(schema.wide.type_length, '16');
    assert.equal(schema.day.converted_type, 'DATE');
    assert.equal(schema.u.type_length, '16');
    assert.match(schema.u.logical_type, /UUID/);
    assert.equal(schema.j.converted_type, 'JSON');
    assert.equal(schema.m.converted_type, 'MAP');
    assert.equal(schema.key_value.repetition_type, 'REPEATED');
    assert.equal(schema.ms.converted_type, 'TIMESTAMP_MILLIS');
    assert.equal(schema.us_local.converted_type, null);
    assert.match(schema.us_local.logical_type, /isAdjustedToUTC=0/);
    assert.match(schema.ns.logical_type, /NANOS/);
  });
}

test('CLI: bad NDJSON names file:line:col, exits 1, leaves nothing', () => {
  const sub = mkdtempSync(join(dir, 'bad-'));
  const bad = join(sub, 'bad.ndjson');
  writeFileSync(bad, '{"a":1}\n{"a":2}\n\n{"a":3 "b":4}\n');
  const out = join(sub, 'out.parquet');
  const r = run([bad, out]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.ndjson:4:8: expected ',' or '}'/);
  assert.deepEqual(readdirSync(sub), ['bad.ndjson']);
  // a type error found while writing (with --schema) also removes the temp file
  const sp = join(sub, 's.json');
  writeFileSync(sp, '{"fields":[{"name":"a","type":"int32"}]}');
  writeFileSync(bad, '{"a":1}\n{"a":"x"}\n');
  const r2 = run(['--schema', sp, bad, out]);
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /bad\.ndjson:2:6: field 'a': expected an integer/);
  assert.deepEqual(readdirSync(sub).sort(), ['bad.ndjson', 's.json']);
  // stdin is spooled so the schema can be inferred from it
  const ok = run(['-', out], ROWS.slice(0, 50).map(ser).join('\n'));
  assert.equal(ok.status, 0, ok.stderr);
  assert.ok(existsSync(out));
  rmSync(out);
  // stdin errors are named <stdin>
  const r3 = run(['-', out], '{"a":1}\n{');
  assert.equal(r3.status, 1);
  assert.match(r3.stderr, /<stdin>:2:2: expected a string key/);
  assert.ok(!existsSync(out));
});

test('CLI: the output does not depend on the thread count', () => {
  const outs = [1, 2, 5].map((t) => {
    const out = join(dir, `threads-${t}.parquet`);
    const r = run(['--threads', String(t), '--row-group-rows', '50', '--page-size', '3000', INPUT, out]);
    assert.equal(r.status, 0, r.stderr);
    return readFileSync(out);
  });
  assert.ok(outs[0].equals(outs[1]) && outs[0].equals(outs[2]));
});

test('CLI: big inputs use the schema of the first rows only when every row fits it', async () => {
  // > 4 MiB (twice the 2 MiB prefix) so the CLI infers from a prefix first; the late rows decide which path wins
  const base = [];
  for (let i = 0; i < 170000; i++) {
    base.push(`{"id":${i},"name":"row number ${i % 1000}","v":${i % 7 === 0 ? 0.5 : 2},"t":{"$date":"2024-01-01T00:00:00.000Z"},"tags":["a","b"]}`);
  }
  const variants = {
    uniform: [],
    newField: ['{"id":-1,"late":{"x":true}}'],
    widened: ['{"id":"not an int"}'],
    finerTime: ['{"id":-2,"t":{"$date":"2024-01-01T00:00:00.000001Z"}}'],
  };
  for (const [name, tail] of Object.entries(variants)) {
    const input = join(dir, `big-${name}.ndjson`);
    writeFileSync(input, base.concat(tail).join('\n') + '\n');
    const outs = [1, 2].map((t) => {
      const out = join(dir, `big-${name}-${t}.parquet`);
      const r = run(['--profile', 'modern', '--threads', String(t), input, out]);
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      return out;
    });
    assert.ok(readFileSync(outs[0]).equals(readFileSync(outs[1])), name);
    const [agg] = await plain(`SELECT count(*) AS n FROM read_parquet('${outs[0]}')`);
    assert.equal(Number(agg.n), base.length + tail.length);
    const schema = Object.fromEntries((await plain(`SELECT * FROM parquet_schema('${outs[0]}')`)).map((e) => [e.name, e]));
    if (name === 'newField') assert.ok(schema.late && schema.x, 'late field present');
    if (name === 'widened') assert.equal(schema.id.converted_type, 'UTF8');
    if (name === 'finerTime') assert.match(schema.t.logical_type, /NANOS/);
    if (name === 'uniform') {
      assert.equal(schema.id.type, 'INT64');
      assert.match(schema.t.logical_type, /MICROS/);
    }
  }
});

test('CLI: usage errors exit 2', () => {
  for (const args of [[], ['only-one'], ['--compression', 'nope', 'a', 'b'], ['--page-version', '3', 'a', 'b'],
    ['--bogus', 'a', 'b'], ['--row-group-rows', '0', 'a', 'b'], ['a', 'b', 'c'], ['--profile']]) {
    const r = run(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /usage: idbsync parquet write/);
  }
  // OUT is renamed into place at the end: it must never replace a directory or device
  const sub = mkdtempSync(join(dir, 'target-'));
  const r = run([INPUT, sub]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not a regular file/);
  assert.deepEqual(readdirSync(sub), []);
  const missing = run([join(dir, 'does-not-exist.ndjson'), join(dir, 'x.parquet')]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /does-not-exist\.ndjson: No such file/);
});
