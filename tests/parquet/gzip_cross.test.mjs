// GZIP pages across writers (issue #20: ours come from libdeflate, everyone else's from zlib or
// miniz). Our gzip files, both profiles, 1 and 2 threads, many small pages, are read back row
// for row by DuckDB, by our reader, by hyparquet (the pure-JS reader a browser would use; gzip
// through node:zlib, since hyparquet itself only decodes snappy) and (when a Python with
// pyarrow is found) by pyarrow; the same for snappy files, hyparquet's own codec; and
// our reader reads a pyarrow-written (zlib) gzip file with many pages: the committed
// tests/golden/parquet/pyarrow_gzip_pages.parquet always, and a freshly written one when
// pyarrow is here. Rows are compared with the generator's own values, not with our output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetReadObjects, parquetMetadata } from 'hyparquet';
import { findPython } from '../lib/pyarrow.mjs';

const BIN = process.env.IDBSYNC_BIN || join(process.cwd(), 'idbsync');
const SRC = process.env.IDBSYNC_SRC || process.cwd();
const GOLDEN = join(SRC, 'tests', 'golden', 'parquet', 'pyarrow_gzip_pages.parquet');
const dir = mkdtempSync(join(tmpdir(), 'pq-gzip-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

// The golden file was written by pyarrow from rows(3000) (see pyarrowWrite below).
export function rows(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push({
      id: i,
      s: i % 11 === 0 ? null : `city${i % 13} ✓`,
      x: i / 8,
      b: i % 3 === 0,
      note: i % 5 === 0 ? `note ${i} `.repeat(1 + (i % 17)) : null,
    });
  }
  return out;
}
const ndjson = (rs) => rs.map((r) => JSON.stringify(r)).join('\n') + '\n';

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const ourRows = (file) => run(BIN, ['parquet', 'cat', file]).trim().split('\n').map((l) => JSON.parse(l));

// hyparquet: every page decoded by it (gzip members through node:zlib, which reads
// concatenated members as one stream, as the format allows); INT64 comes back as BigInt.
async function hypRead(file) {
  const buf = readFileSync(file);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const codecs = new Set(parquetMetadata(ab).row_groups.flatMap((g) => g.columns.map((c) => c.meta_data.codec)));
  const rs = await parquetReadObjects({ file: ab, compressors: { GZIP: (b) => new Uint8Array(gunzipSync(b)) } });
  return { codecs: [...codecs], rows: rs.map(({ id, s, x, b, note }) => ({ id: Number(id), s, x, b, note })) };
}

const PY = findPython();
const pyRead = (file) => JSON.parse(run(PY, ['-c', `import sys, json, pyarrow.parquet as pq
f = pq.ParquetFile(sys.argv[1])
assert all(f.metadata.row_group(g).column(c).compression in ('GZIP', 'SNAPPY')
           for g in range(f.metadata.num_row_groups) for c in range(f.metadata.num_columns))
print(json.dumps(f.read().to_pylist()))`, file]));
function pyarrowWrite(src, out) {
  run(PY, ['-c', `import sys, pyarrow as pa, pyarrow.json as pj, pyarrow.parquet as pq
t = pj.read_json(sys.argv[1], parse_options=pj.ParseOptions(explicit_schema=pa.schema([
    ('id', pa.int64()), ('s', pa.string()), ('x', pa.float64()), ('b', pa.bool_()), ('note', pa.string())])))
pq.write_table(t, sys.argv[2], compression='gzip', data_page_size=2048, use_dictionary=['s'],
               row_group_size=1200)`, src, out]);
}

test('our reader reads the pyarrow-written gzip golden file (zlib pages, many per column)', () => {
  assert.deepEqual(ourRows(GOLDEN), rows(3000));
});

const want = rows(20000);
const src = join(dir, 'in.ndjson');
writeFileSync(src, ndjson(want));

for (const [profile, threads, codec] of [['compat', 1, 'gzip'], ['compat', 2, 'gzip'], ['modern', 2, 'gzip'],
  ['compat', 2, 'snappy'], ['modern', 1, 'snappy']]) {
  test(`our ${codec} file (${profile}, ${threads} thread(s)) reads back in DuckDB, our reader, hyparquet and pyarrow`, async (t) => {
    const out = join(dir, `ours.${profile}.${threads}.${codec}.parquet`);
    run(BIN, ['parquet', 'write', '--profile', profile, '--compression', codec, '--threads', String(threads),
      '--page-size', '4096', '--row-group-rows', '7000', src, out]);
    assert.deepEqual(ourRows(out), want);

    const hyp = await hypRead(out);
    assert.deepEqual(hyp.codecs, [codec.toUpperCase()]);
    assert.deepEqual(hyp.rows, want);

    const db = await (await DuckDBInstance.create(':memory:')).connect();
    const meta = (await db.runAndReadAll(`SELECT DISTINCT compression FROM parquet_metadata('${out}')`)).getRows();
    assert.deepEqual(meta, [[codec.toUpperCase()]]);
    const got = (await db.runAndReadAll(`SELECT id, s, x, b, note FROM read_parquet('${out}') ORDER BY id`)).getRows()
      .map(([id, s, x, b, note]) => ({ id: Number(id), s, x, b, note }));
    assert.deepEqual(got, want);

    if (!PY) return t.skip('no Python with pyarrow (set PYARROW_PYTHON or run the engine suite once)');
    assert.deepEqual(pyRead(out), want);
  });
}

test('our reader reads a gzip file pyarrow writes now', (t) => {
  if (!PY) return t.skip('no Python with pyarrow (set PYARROW_PYTHON or run the engine suite once)');
  const out = join(dir, 'pyarrow.parquet');
  pyarrowWrite(src, out);
  assert.deepEqual(ourRows(out), want);
});

// node tests/parquet/gzip_cross.test.mjs --golden: rewrites the golden file with pyarrow
if (process.argv.includes('--golden')) {
  const g = join(dir, 'golden.ndjson');
  writeFileSync(g, ndjson(rows(3000)));
  pyarrowWrite(g, GOLDEN);
}
