// `idbsync lake check` (Impala's reader rules): a lake the server writes in the compat profile
// passes with --profile compat, a modern one passes the Impala 4 rules and fails the compat
// ones, and every rule is named on a file crafted to break it (written with the project's
// writer, then one field of a footer or page header changed with a thrift codec).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer } from '../lib/server.mjs';
import { push, flush, tempDir, run } from './lib.mjs';
import { decodeStruct, encodeStruct, field, setField, parseParquet, writeParquet, columnMeta, columnChunk } from './thrift.mjs';

async function check(target, profile) {
  const args = ['lake', 'check', '--max-per-file', '100'];
  if (profile) args.push('--profile', profile);
  const r = await run([...args, ...[target].flat()]);
  const v = r.out.split('\n').filter(Boolean).map((l) => {
    const m = /^(.*?): (.*?): ([a-z0-9-]+): (.*)$/.exec(l);
    return m ? { file: m[1], column: m[2], rule: m[3], msg: m[4] } : { line: l };
  });
  return { code: r.code, v, out: r.out, err: r.err };
}

const dir = tempDir('idbsync-check-');
let seq = 0;
async function pqWrite(rows, args = [], schema) {
  const n = ++seq;
  const inp = path.join(dir, `in${n}.ndjson`), out = path.join(dir, `f${n}.parquet`);
  fs.writeFileSync(inp, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  if (schema) {
    fs.writeFileSync(path.join(dir, `s${n}.json`), JSON.stringify({ fields: schema }));
    args = [...args, '--schema', path.join(dir, `s${n}.json`)];
  }
  const r = await run(['parquet', 'write', ...args, inp, out]);
  assert.equal(r.code, 0, r.err);
  return out;
}

function save(buf) {
  const p = path.join(dir, `crafted${++seq}.parquet`);
  fs.writeFileSync(p, buf);
  return p;
}

/** Changes the page header at byte off of file buf in place (it must keep its length). */
function patchPage(buf, off, fn) {
  const { value: h, end } = decodeStruct(buf, off);
  fn(h);
  const e = encodeStruct(h);
  assert.equal(e.length, end - off, 'the patched page header keeps its size');
  const out = Buffer.from(buf);
  e.copy(out, off);
  return out;
}

const pageOffsets = (buf, g = 0, c = 0) => {
  const m = columnMeta(parseParquet(buf).footer, g, c);
  return { data: Number(field(m, 9).value), dict: field(m, 11) ? Number(field(m, 11).value) : -1 };
};

async function expectRule(file, rule, profile) {
  const r = await check(file, profile);
  assert.equal(r.code, 1, `exit 1 for ${rule}: ${r.out}${r.err}`);
  assert.ok(r.v.some((x) => x.rule === rule), `rule ${rule} named; got:\n${r.out}`);
  return r;
}

const ROWS = Array.from({ length: 40 }, (_, i) => ({ id: i, s: 'v' + (i % 3), b: i % 2 === 0, k: i % 4 }));

test('lakes the server writes: compat passes --profile compat; modern passes impala4 and fails compat', async () => {
  for (const profile of ['compat', 'modern']) {
    const lake = tempDir(), data = tempDir();
    const srv = await startServer({ dataDir: data, lakeDir: lake, args: ['--lake-profile', profile, '--lake-partition', 'app/events=region'] });
    try {
      const muts = [];
      let id = 1;
      for (let k = 0; k < 30; k++) {
        muts.push({ id: id++, store: 'items', op: 'put', key: k, value: {
          n: k, big: { $bigint: '9007199254740993' }, d: k / 3, ok: k % 2 === 0, name: `név ${k} 🎉`,
          at: { $date: new Date(Date.UTC(2024, 0, 1 + k)).toISOString() }, bin: { $bin: 'AAEC/w==' },
          nested: { a: k, tags: ['x', 'y'] }, list: [1, 2, k], maybe: k % 3 ? null : 'x' } });
        muts.push({ id: id++, store: 'events', op: 'put', key: `e${k}`, value: { region: ['eu', 'us', null][k % 3], v: k } });
      }
      muts.push({ id: id++, store: 'items', op: 'delete', key: 3 });
      await push(srv.url, 'app', { client: 'c1', mutations: muts });
      await flush(srv.url, 'app');
    } finally {
      await srv.stop();
    }
    const files = fs.readdirSync(lake, { recursive: true }).filter((f) => f.endsWith('.parquet') && !f.includes('_idbsync'));
    assert.ok(files.length >= 4, `lake has files: ${files}`);
    const four = await check(lake);
    assert.equal(four.code, 0, `${profile} lake passes the Impala 4 rules:\n${four.out}${four.err}`);
    assert.match(four.err, /violations/);
    const compat = await check(lake, 'compat');
    if (profile === 'compat') {
      assert.equal(compat.code, 0, `compat lake passes --profile compat:\n${compat.out}${compat.err}`);
    } else {
      assert.equal(compat.code, 1, 'a modern lake is not for Impala 3');
      const rules = new Set(compat.v.map((x) => x.rule));
      for (const r of ['codec', 'encoding', 'timestamp-utc']) assert.ok(rules.has(r), `modern lake: ${r} named:\n${compat.out}`);
    }
    // column-order: a file whose columns are in another order than the table's metadata
    const wrong = await pqWrite([{ idb_user: '', idb_key: '1', idb_seq: 1, idb_hlc: 'x' }]);
    fs.copyFileSync(wrong, path.join(lake, 'app', 'items', 'part-zz.parquet'));
    const r = await expectRule(path.join(lake, 'app', 'items'), 'column-order');
    assert.ok(r.v.some((x) => x.file.endsWith('part-zz.parquet') && x.column === 'idb_user'), r.out);
    // partition-column: a file under region=eu/ that stores region
    const pdir = fs.readdirSync(path.join(lake, 'app', 'events')).find((d) => d.startsWith('region='));
    const withPart = await pqWrite([{ idb_key: '"z"', idb_user: '', idb_seq: 1, idb_hlc: 'x', region: 'eu' }]);
    fs.copyFileSync(withPart, path.join(lake, 'app', 'events', pdir, 'part-zz.parquet'));
    await expectRule(path.join(lake, 'app', 'events'), 'partition-column');
  }
});

test('every rule is named on a crafted file', async (t) => {
  const plain = await pqWrite(ROWS, ['--no-dictionary']);
  const dict = await pqWrite(ROWS);
  const base = fs.readFileSync(dict);

  await t.test('a clean file passes', async () => {
    for (const f of [plain, dict]) assert.equal((await check(f, 'compat')).code, 0);
  });
  await t.test('unreadable', async () => expectRule(save(base.subarray(0, base.length - 30)), 'unreadable'));
  await t.test('version', async () => {
    const p = parseParquet(base);
    setField(p.footer, 1, 5, 3);
    await expectRule(save(writeParquet(p)), 'version');
  });
  await t.test('codec', async () => {
    await expectRule(await pqWrite(ROWS, ['--compression', 'brotli']), 'codec');
    await expectRule(await pqWrite(ROWS, ['--compression', 'zstd']), 'codec', 'compat');
    assert.equal((await check(await pqWrite(ROWS, ['--compression', 'zstd']))).code, 0, 'zstd is fine for Impala 4');
  });
  await t.test('encoding', async () => {
    const p = parseParquet(base);
    field(columnMeta(p.footer, 0, 0), 2).value.items.push(5);   // DELTA_BINARY_PACKED
    await expectRule(save(writeParquet(p)), 'encoding');
    await expectRule(await pqWrite(ROWS, ['--profile', 'modern']), 'encoding', 'compat');   // RLE_DICTIONARY
  });
  await t.test('type', async () => {
    const f = await pqWrite([{ u: '123e4567-e89b-12d3-a456-426614174000' }], [], [{ name: 'u', type: 'uuid' }]);
    await expectRule(f, 'type');
  });
  await t.test('offsets', async () => {
    const p = parseParquet(base);
    const m = columnMeta(p.footer, 0, 1);   // s: dictionary-encoded
    assert.ok(field(m, 11), 'column s has a dictionary page');
    setField(m, 11, 6, field(m, 9).value + 1n);
    await expectRule(save(writeParquet(p)), 'offsets');
  });
  await t.test('page-header-size', async () => {
    // one column, no dictionary: grow the first page header past 8 MiB with an unknown field
    const one = fs.readFileSync(await pqWrite([{ x: 1 }, { x: 2 }], ['--no-dictionary']));
    const p = parseParquet(one);
    const off = pageOffsets(one).data;
    const { value: h, end } = decodeStruct(one, off);
    h.push({ id: 99, type: 8, value: Buffer.alloc((8 << 20) + 16) });
    const e = encodeStruct(h);
    const grow = BigInt(e.length - (end - off));
    const m = columnMeta(p.footer);
    setField(m, 7, 6, field(m, 7).value + grow);   // total_compressed_size
    p.body = Buffer.concat([p.body.subarray(0, off), e, p.body.subarray(end)]);
    await expectRule(save(writeParquet(p)), 'page-header-size');
  });
  await t.test('page-v2', async () => {
    const f = await pqWrite(ROWS, ['--page-version', '2']);
    await expectRule(f, 'page-v2', 'compat');
    assert.equal((await check(f)).code, 0, 'V2 pages are fine for Impala 4.3+');
  });
  await t.test('page-encoding', async () => {
    const b = fs.readFileSync(plain);
    const out = patchPage(b, pageOffsets(b).data, (h) => { field(field(h, 5).value, 2).value = 5; });
    await expectRule(save(out), 'page-encoding');
  });
  await t.test('level-encoding', async () => {
    const b = fs.readFileSync(plain);
    const out = patchPage(b, pageOffsets(b).data, (h) => { field(field(h, 5).value, 3).value = 4; }); // BIT_PACKED
    await expectRule(save(out), 'level-encoding');
  });
  await t.test('dict-encoding', async () => {
    const off = pageOffsets(base, 0, 1).dict;
    const out = patchPage(base, off, (h) => { field(field(h, 7).value, 2).value = 8; });
    await expectRule(save(out), 'dict-encoding');
  });
  await t.test('dict-first', async () => {
    const { data } = pageOffsets(base, 0, 1);
    const out = patchPage(base, data, (h) => { field(h, 1).value = 2; });
    await expectRule(save(out), 'dict-first');
  });
  await t.test('dict-bool', async () => {
    const b = fs.readFileSync(plain);
    const out = patchPage(b, pageOffsets(b, 0, 2).data, (h) => { field(h, 1).value = 2; });
    await expectRule(save(out), 'dict-bool');
  });
  await t.test('dict-missing', async () => {
    const b = fs.readFileSync(plain);
    const out = patchPage(b, pageOffsets(b, 0, 1).data, (h) => { field(field(h, 5).value, 2).value = 2; });
    await expectRule(save(out), 'dict-missing');
  });
  await t.test('dict-count', async () => {
    const off = pageOffsets(base, 0, 3).dict;   // k: INT64 dictionary
    assert.ok(off >= 0, 'k has a dictionary');
    const out = patchPage(base, off, (h) => { field(field(h, 7).value, 1).value += 1; });
    await expectRule(save(out), 'dict-count');
  });
  await t.test('encoding-stats', async () => {
    const p = parseParquet(base);
    const stats = field(columnMeta(p.footer, 0, 1), 13).value.items;
    const dataDict = stats.find((s) => field(s, 1).value === 0 && field(s, 2).value !== 0);
    assert.ok(dataDict, 'encoding_stats list the dictionary data pages');
    field(dataDict, 2).value = 0;   // claims PLAIN data pages
    await expectRule(save(writeParquet(p)), 'encoding-stats');
  });
  await t.test('page-index', async () => {
    const p = parseParquet(base);
    const cc = columnChunk(p.footer, 0, 0);
    setField(cc, 4, 6, 20n); setField(cc, 5, 5, 10);   // OffsetIndex at 20
    setField(cc, 6, 6, 40n); setField(cc, 7, 5, 10);   // ColumnIndex at 40: after it
    await expectRule(save(writeParquet(p)), 'page-index');
  });
  await t.test('timestamp-range', async () => {
    const f = await pqWrite([{ at: { $date: '1399-12-31T23:59:59.000Z' } }, { at: { $date: '2024-01-01T00:00:00.000Z' } }]);
    const r = await expectRule(f, 'timestamp-range');
    assert.ok(r.v.some((x) => x.column === 'at'), r.out);
    const ok = await pqWrite([{ at: { $date: '1400-01-01T00:00:00.000Z' } }, { at: { $date: '9999-12-31T23:59:59.999Z' } }]);
    assert.equal((await check(ok)).code, 0, 'the bounds themselves are in range');
  });
  await t.test('timestamp-utc', async () => {
    const f = await pqWrite([{ at: { $date: '2024-01-01T00:00:00.000Z' } }], ['--profile', 'modern']);
    await expectRule(f, 'timestamp-utc', 'compat');
  });
  await t.test('list-levels', async () => {
    // a struct group annotated LIST: not the 3-level form
    const b = fs.readFileSync(await pqWrite([{ st: { a: 1 } }]));
    const p = parseParquet(b);
    const st = field(p.footer, 2).value.items.find((e) => field(e, 4)?.value.toString() === 'st');
    setField(st, 6, 5, 3);   // converted_type LIST
    await expectRule(save(writeParquet(p)), 'list-levels');
  });
  await t.test('names file, column and rule; exit 2 on a missing path', async () => {
    const r = await check(path.join(dir, 'nope'));
    assert.equal(r.code, 2);
    assert.match(r.err, /nope/);
  });
});
