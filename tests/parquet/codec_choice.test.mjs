// The codec choices a column chunk makes on its first page (src/parquet/write/tune.c), on a
// fixed data set: random millisecond timestamps, two-decimal doubles, sequential ids, a nullable
// note and distinct text. Each choice is asserted on the file's own bytes (page headers walked
// with the test Thrift codec), and every file reads back row for row, against the generator's
// values, in our reader, DuckDB, hyparquet (lz4_raw through a block decoder below, snappy its
// own) and, when a Python with pyarrow is found, pyarrow.
//  - zstd at the default level: a chunk takes the match finder its first page compresses
//    smallest with; timestamps and doubles come out smaller than level 3's own finder
//    (`--compression-level 3` keeps it), sequential ids no larger;
//  - lz4_raw: PLAIN pages of random values are cut in pieces under 64 KiB (LZ4's finer hash
//    table), sequential ids are not (they lose the history), and the random timestamps,
//    which LZ4 used to write larger than their plain bytes, come out smaller than them;
//  - snappy, zstd and lz4_raw (when its first page did not pay in pieces): PLAIN text pages
//    are held back and written as one page per chunk (up to 16 MiB), gzip's are not
//    (src/parquet/write/page.c).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetReadObjects } from 'hyparquet';
import { decodeStruct, field, parseParquet } from '../lake/thrift.mjs';
import { findPython } from '../lib/pyarrow.mjs';

const BIN = process.env.IDBSYNC_BIN || join(process.cwd(), 'idbsync');
const dir = mkdtempSync(join(tmpdir(), 'pq-choice-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function mulberry32(a) {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const WORDS = 'lake page frame column chunk row group codec value dictionary level header index footer'.split(' ');
function rows(n) {
  const r = mulberry32(20), ru = mulberry32(21);   // ru: the URLs, so the other columns stay as they were
  const t0 = Date.UTC(2024, 0, 1);
  const out = [];
  for (let i = 0; i < n; i++) {
    const words = [];
    for (let k = 3 + Math.floor(r() * 6); k > 0; k--) words.push(WORDS[Math.floor(r() * r() * WORDS.length)]);
    out.push({
      id: i + 1,
      ts: new Date(t0 + Math.floor(r() * 366 * 86400e3)).toISOString(),
      amount: Math.round(r() * 999999) / 100,
      note: r() < 0.1 ? `note ${Math.floor(r() * 500)}` : null,
      body: r() < 0.05 ? null : `${words.join(' ')} ${Math.floor(r() * 1e9)}`,
      url: `https://example.org/${WORDS[Math.floor(ru() * ru() * WORDS.length)]}/${WORDS[Math.floor(ru() * WORDS.length)]}-${i.toString(36)}`,
    });
  }
  return out;
}
const N = 100000;
const want = rows(N);
const src = join(dir, 'in.ndjson');
writeFileSync(src, want.map((x) => JSON.stringify(x)).join('\n') + '\n');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
function write(codec, extra = []) {
  const out = join(dir, `${codec}${extra.join('')}.parquet`);
  run(BIN, ['parquet', 'write', '--profile', 'modern', '--compression', codec, ...extra, src, out]);
  return out;
}

// Per column: compressed bytes and the data pages' headers (type, sizes, values, encoding).
function chunks(file) {
  const buf = readFileSync(file);
  const { footer } = parseParquet(buf);
  const cols = {};
  for (const rg of field(footer, 4).value.items) {
    for (const cc of field(rg, 1).value.items) {
      const md = field(cc, 3).value;
      const name = field(md, 3).value.items.map((b) => b.toString()).join('.');
      const c = (cols[name] ??= { bytes: 0, pages: [] });
      const size = Number(field(md, 7).value);
      c.bytes += size;
      const dict = field(md, 11) ? Number(field(md, 11).value) : 0;
      let p = dict > 0 && dict < Number(field(md, 9).value) ? dict : Number(field(md, 9).value);
      const end = p + size;
      while (p < end) {
        const { value: h, end: body } = decodeStruct(buf, p);
        const type = field(h, 1).value, comp = field(h, 3).value;
        if (type === 0 || type === 3) {   // DataPage V1 / V2
          const dp = field(h, type === 0 ? 5 : 8).value;
          c.pages.push({ unc: field(h, 2).value, comp, n: field(dp, 1).value, enc: field(dp, type === 0 ? 2 : 4).value });
        }
        p = body + comp;
      }
      assert.equal(p, end, `${file} ${name}: pages end where the chunk does`);
    }
  }
  return cols;
}

// An LZ4 block (what LZ4_RAW pages hold), for hyparquet, which has no LZ4 of its own.
function lz4Block(input, outputLength) {
  const out = new Uint8Array(outputLength);
  let i = 0, o = 0;
  while (i < input.length) {
    const token = input[i++];
    let lit = token >> 4;
    if (lit === 15) for (let b = 255; b === 255;) lit += (b = input[i++]);
    out.set(input.subarray(i, i + lit), o);
    i += lit;
    o += lit;
    if (i >= input.length) break;
    const off = input[i] | (input[i + 1] << 8);
    i += 2;
    let len = (token & 15) + 4;
    if ((token & 15) === 15) for (let b = 255; b === 255;) len += (b = input[i++]);
    for (let k = 0; k < len; k++, o++) out[o] = out[o - off];
  }
  assert.equal(o, outputLength, 'lz4 block decodes to the page size');
  return out;
}

const asWant = (r) => ({ id: Number(r.id), ts: r.ts, amount: r.amount, note: r.note, body: r.body, url: r.url });
const ours = (file) => run(BIN, ['parquet', 'cat', file]).trim().split('\n').map((l) => {
  const r = JSON.parse(l);
  return asWant({ ...r, ts: r.ts.$date });
});
async function duck(file) {
  const db = await (await DuckDBInstance.create(':memory:')).connect();
  const q = `SELECT id, strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%gZ') ts, amount, note, body, url
             FROM read_parquet('${file}') ORDER BY id`;
  return (await db.runAndReadAll(q)).getRows().map(([id, ts, amount, note, body, url]) => asWant({ id, ts, amount, note, body, url }));
}
async function hyp(file) {
  const buf = readFileSync(file);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const rs = await parquetReadObjects({ file: ab, utf8: true, compressors: { LZ4_RAW: lz4Block } });
  return rs.map((r) => asWant({ ...r, ts: (r.ts instanceof Date ? r.ts : new Date(Number(r.ts / 1000n))).toISOString() }));
}
const PY = findPython();
const py = (file) => JSON.parse(run(PY, ['-c', `import sys, json, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
print(json.dumps([{**r, 'ts': r['ts'].strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'} for r in t.to_pylist()]))`, file]))
  .map(asWant);

async function readsBack(t, file, { hyparquet = true } = {}) {
  assert.deepEqual(ours(file), want, 'our reader');
  assert.deepEqual(await duck(file), want, 'DuckDB');
  if (hyparquet) assert.deepEqual(await hyp(file), want, 'hyparquet');
  if (!PY) return t.diagnostic('no Python with pyarrow: pyarrow not checked');
  assert.deepEqual(py(file), want, 'pyarrow');
}

test('zstd: each chunk keeps the match finder its first page compresses smallest with', async (t) => {
  const tuned = chunks(write('zstd')), level3 = chunks(write('zstd', ['--compression-level', '3']));
  for (const col of ['ts', 'amount'])
    assert.ok(tuned[col].bytes < level3[col].bytes * 0.99,
      `${col}: ${tuned[col].bytes} B with the chosen finder, ${level3[col].bytes} B with level 3's`);
  for (const col of ['id', 'note', 'body'])
    assert.ok(tuned[col].bytes <= level3[col].bytes, `${col}: ${tuned[col].bytes} <= ${level3[col].bytes}`);
  // same encodings and pages: only the frames differ
  assert.deepEqual(tuned.ts.pages.map((p) => [p.n, p.enc]), level3.ts.pages.map((p) => [p.n, p.enc]));
  await readsBack(t, join(dir, 'zstd.parquet'), { hyparquet: false });
});

test('lz4_raw: PLAIN pages of random values in pieces under 64 KiB, sequential ids whole', async (t) => {
  const file = write('lz4_raw');
  const c = chunks(file);
  for (const col of ['ts', 'amount']) {
    const pages = c[col].pages;
    assert.ok(pages.length >= 8, `${col}: ${pages.length} pages`);
    for (const p of pages) {
      assert.equal(p.enc, 0, `${col}: PLAIN`);
      assert.ok(p.unc <= 65536, `${col}: a page of ${p.unc} B`);
    }
  }
  assert.equal(c.ts.pages.reduce((s, p) => s + p.n, 0), N);
  assert.ok(c.ts.bytes < 8 * N, `ts: ${c.ts.bytes} B, under its ${8 * N} plain bytes`);
  assert.ok(c.id.pages.length <= 2 && c.id.pages[0].unc > 65536, `id: ${c.id.pages.length} pages`);
  await readsBack(t, file);
  // the same pieces with V2 pages (levels outside the compressed body)
  const v2 = write('lz4_raw', ['--page-version', '2']);
  assert.deepEqual(ours(v2), want, 'our reader, V2 pages');
  assert.deepEqual(await duck(v2), want, 'DuckDB, V2 pages');
});

test('snappy, zstd and lz4_raw (not cutting) hold PLAIN text pages back and write them as one; gzip does not', async (t) => {
  for (const [codec, extra] of [['snappy', []], ['zstd', []], ['snappy', ['--page-version', '2']], ['lz4_raw', []], ['gzip', []]]) {
    const c = chunks(write(codec, extra));
    if (codec !== 'lz4_raw') assert.ok(c.ts.pages.every((p) => p.unc > 65536), `${codec}: ts pages are not cut`);
    const body = c.body.pages;
    assert.ok(body.every((p) => p.enc === 0), `${codec}: body PLAIN`);
    assert.equal(body.reduce((s, p) => s + p.n, 0), N, `${codec}: every body entry once`);
    if (codec === 'gzip') assert.ok(body.length >= 4, `gzip: ${body.length} body pages`);
    else assert.equal(body.length, 1, `${codec} ${extra.join(' ')}: the body's ${c.body.bytes} B in one page`);
  }
  await readsBack(t, join(dir, 'snappy.parquet'));
  await readsBack(t, join(dir, 'snappy--page-version2.parquet'));
  assert.deepEqual(ours(join(dir, 'gzip.parquet')), want, 'our reader, gzip');
});

test('gzip: a chunk takes level 9 where its first page comes out much smaller so, the rest stay at 6', async (t) => {
  const tuned = chunks(write('gzip')), l6 = chunks(write('gzip', ['--compression-level', '6']));
  const l9 = chunks(write('gzip', ['--compression-level', '9']));
  // the URLs: their frames are level 9's, byte for byte the same size, and well under level 6's
  assert.equal(tuned.url.bytes, l9.url.bytes, `url: ${tuned.url.bytes} B, level 9 ${l9.url.bytes}`);
  assert.ok(tuned.url.bytes < l6.url.bytes * 0.95, `url: ${tuned.url.bytes} B, level 6 ${l6.url.bytes}`);
  // numbers level 9 hardly shrinks keep level 6 (and its CPU)
  for (const col of ['id', 'ts', 'amount'])
    assert.equal(tuned[col].bytes, l6[col].bytes, `${col}: ${tuned[col].bytes} B, level 6 ${l6[col].bytes}`);
  assert.deepEqual(tuned.url.pages.map((p) => [p.n, p.enc]), l6.url.pages.map((p) => [p.n, p.enc]));
  await readsBack(t, join(dir, 'gzip.parquet'), { hyparquet: false });   // hyparquet has no gzip of its own
});

test('snappy: PLAIN pages of fixed-width values fill the whole 64 KiB fragments of twice the page size', async (t) => {
  // 100,000 values of 8 bytes: pages of 200,000 B make 6 fragments (393,216 B), of 100,000 B 3
  for (const extra of [['--page-size', '200000'], ['--page-size', '200000', '--page-version', '2'], ['--page-size', '100000']]) {
    const file = write('snappy', extra), c = chunks(file);
    const frag = Math.floor((2 * Number(extra[1])) / 65536) * 65536, v2 = extra.includes('--page-version');
    for (const col of ['id', 'ts', 'amount']) {
      const pages = c[col].pages, last = pages.length - 1;
      assert.equal(pages.reduce((s, p) => s + p.n, 0), N, `${col} ${extra.join(' ')}: every entry once`);
      assert.equal(pages.length, Math.ceil((8 * N) / (frag - 8)), `${col} ${extra.join(' ')}: ${pages.length} pages`);
      // V1: levels and values fill the fragments but for less than a value; V2: the values
      // do, and the page's size counts its few bytes of levels too
      pages.forEach((p, i) => {
        assert.equal(p.enc, 0, `${col}: PLAIN`);
        if (i < last)
          assert.ok(v2 ? p.unc >= frag && p.unc < frag + 8 : p.unc <= frag && p.unc > frag - 8,
            `${col} ${extra.join(' ')} page ${i}: ${p.unc} B`);
      });
    }
    await readsBack(t, file);
  }
});
