// `idbsync import` as analysts use it (issue 19): names checked before any request, --dry-run,
// errors that name the user's file, duplicate keys counted, a progress bar on a terminal only;
// the Parquet types of docs/types.md as they reach IndexedDB; the inbox rejecting only the bad
// file of a job. Parquet files are written by a real DuckDB.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startServer, tempDir, pullAll, request, BIN, sleep } from '../lib/server.mjs';
import { writeParquet, run, byKey, duckRows } from './lib/parquet.mjs';

/** An HTTP server that only counts the requests it gets (to prove none was sent). */
async function counter() {
  let n = 0;
  const s = http.createServer((req, res) => { n++; res.writeHead(500); res.end('{}'); });
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${s.address().port}`, count: () => n, close: () => new Promise((r) => s.close(r)) };
}

describe('idbsync import: checks before sending', () => {
  let dir, c;
  before(async () => {
    dir = tempDir();
    c = await counter();
    await writeParquet(path.join(dir, 'dups.parquet'),
      'SELECT i % 7 AS id, i AS v FROM range(0, 20) t(i)'); // 20 rows, 7 keys, 13 repeats
  });
  after(() => c.close());

  test('a bad --db or --store is refused here, before any request (no retries)', () => {
    const t0 = Date.now();
    for (const [flag, bad] of [['--db', 'my db'], ['--db', '_hidden'], ['--db', 'x'.repeat(65)], ['--store', 'a\tb'], ['--store', '']]) {
      const args = { '--db': 'shop', '--store': 'orders' };
      args[flag] = bad;
      const r = run(['import', '--db', args['--db'], '--store', args['--store'], '--server', c.url, path.join(dir, 'dups.parquet')]);
      assert.equal(r.code, 2, `${flag} ${JSON.stringify(bad)}: ${r.err}`);
      assert.match(r.err, new RegExp(flag === '--db' ? '--db .*database name' : '--store: an object store name'));
      assert.doesNotMatch(r.err, /retrying/);
    }
    assert.equal(c.count(), 0, 'no request reached the server');
    assert.ok(Date.now() - t0 < 5000, 'no retry pauses');
  });

  test('--dry-run reads and converts everything, reports rows/keys/duplicates, sends nothing', () => {
    let r = run(['import', '--db', 'shop', '--store', 'orders', '--dry-run', '--server', c.url, path.join(dir, 'dups.parquet')]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /dry run: would import 20 rows from 1 file\(s\) into shop\/orders: 20 puts, 0 deletes, 7 keys, 13 duplicate keys/);
    assert.match(r.out, /nothing was sent/);
    assert.match(r.err, /13 row\(s\) repeat a key of an earlier row \(the last row wins\); first: key 0: .*dups\.parquet row 8/);
    // no server needed at all; errors still found
    r = run(['import', '--db', 'shop', '--store', 'orders', '--dry-run', path.join(dir, 'dups.parquet')]);
    assert.equal(r.code, 0, r.err);
    fs.writeFileSync(path.join(dir, 'junk.parquet'), 'PAR1 not parquet PAR1');
    r = run(['import', '--db', 'shop', '--store', 'orders', '--dry-run', path.join(dir, 'junk.parquet')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /junk\.parquet/);
    assert.equal(c.count(), 0, 'nothing was sent');
  });
});

describe('idbsync import --server: answers', () => {
  let srv, dir;
  before(async () => {
    srv = await startServer();
    dir = tempDir();
  });
  after(() => srv.stop());

  test('errors name the file as the user typed it, never the server\'s upload path', async () => {
    fs.writeFileSync(path.join(dir, 'mine.parquet'), 'PAR1 this is not parquet at all PAR1');
    let r = run(['import', '--db', 'shop', '--store', 'o', '--server', srv.url, path.join(dir, 'mine.parquet')]);
    assert.equal(r.code, 1);
    assert.ok(r.err.includes(path.join(dir, 'mine.parquet')), r.err);
    assert.doesNotMatch(r.err, /upload-|-part\d/);
    // several files travel as a bundle: each still has its own name
    await writeParquet(path.join(dir, 'ok.parquet'), 'SELECT 1 AS id');
    await writeParquet(path.join(dir, 'badop.parquet'), "SELECT 2 AS id, 'frob' AS _op");
    r = run(['import', '--db', 'shop', '--store', 'o', '--server', srv.url, path.join(dir, 'ok.parquet'), path.join(dir, 'badop.parquet')]);
    assert.equal(r.code, 1);
    assert.ok(r.err.includes(`${path.join(dir, 'badop.parquet')}: row 1: _op must be`), r.err);
    assert.doesNotMatch(r.err, /upload-|-part\d/);
    // a missing key column: the columns the file has, and --key
    await writeParquet(path.join(dir, 'sku.parquet'), "SELECT 'a' AS sku, 1 AS eur");
    r = run(['import', '--db', 'shop', '--store', 'o', '--server', srv.url, path.join(dir, 'sku.parquet')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /sku\.parquet: no column "id" to take the key from; the file has the columns sku, eur \(choose the key column with --key COLUMN/);
    r = run(['import', '--db', 'shop', '--store', 'o', '--key', 'sku', '--server', srv.url, path.join(dir, 'sku.parquet')]);
    assert.equal(r.code, 0, r.err);
  });

  test('duplicate keys within a file are counted and reported (the last row wins)', async () => {
    await writeParquet(path.join(dir, 'd.parquet'), "SELECT i % 3 AS id, 'v' || i AS v FROM range(0, 10) t(i)");
    const r = run(['import', '--db', 'dup', '--store', 's', '--server', srv.url, path.join(dir, 'd.parquet')]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /imported 10 rows .* 3 keys, 7 duplicate keys/);
    assert.match(r.err, /7 row\(s\) repeat a key .*first: key 0: .*d\.parquet row 4/);
    const rows = byKey((await pullAll(srv.url, 'dup')).changes, 's');
    assert.deepEqual(rows.get('0'), { id: 0, v: 'v9' });
    // the HTTP answer carries them too
    const body = fs.readFileSync(path.join(dir, 'd.parquet'));
    const h = await request(`${srv.url}/v1/admin/db/dup/import?store=s2`, { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(h.status, 200, h.text);
    assert.equal(h.json.rows, 10);
    assert.equal(h.json.keys, 3);
    assert.equal(h.json.duplicate_keys, 7);
    assert.match(h.json.first_duplicate, /^key 0: the upload row 4$/);
  });

  test('a progress bar on a terminal (percent, rows/s), nothing when stderr is not one', async () => {
    await writeParquet(path.join(dir, 'big.parquet'), 'SELECT i AS id, md5(i::VARCHAR) AS h FROM range(0, 30000) t(i)');
    const args = ['import', '--db', 'big', '--store', 'e', '--server', srv.url, path.join(dir, 'big.parquet')];
    const plain = run(args);
    assert.equal(plain.code, 0, plain.err);
    assert.equal(plain.err, '', 'no bar without a terminal');
    // script(1) gives the command a pseudo-terminal
    const quoted = [BIN, ...args].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qec', quoted, '/dev/null'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /importing +\[#+ *\] +\d+% \d+\/30000 rows +\d+ rows\/s/);
    assert.match(r.stdout, /100% 30000\/30000 rows/);
    assert.match(r.stdout, /imported 30000 rows/);
  });
});

describe('types from Parquet to IndexedDB (docs/types.md)', () => {
  test('DECIMAL, HUGEINT, UUID, TIME, INTERVAL as decided', async () => {
    const srv = await startServer();
    try {
      const dir = tempDir();
      await writeParquet(path.join(dir, 't.parquet'), `
        SELECT 1 AS id,
          63.0::DECIMAL(10,1) AS d_small, -0.05::DECIMAL(4,2) AS d_neg, 12345678901234.5::DECIMAL(15,1) AS d_p15,
          '12345678901234567.89'::DECIMAL(20,2) AS d_wide, 42::DECIMAL(38,0) AS d_int,
          '123456789012345678901234567890'::DECIMAL(38,0) AS d_bigint,
          5::HUGEINT AS h_small, 170141183460469231731687303715884105727::HUGEINT AS h_big,
          '550e8400-e29b-41d4-a716-446655440000'::UUID AS u, TIME '12:34:56.789' AS t, TIME '08:00:00' AS t0,
          INTERVAL '1 year 2 months 3 days 04:05:06.789' AS iv, INTERVAL '90 minutes' AS iv_m, INTERVAL '0 seconds' AS iv0
        UNION ALL SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL`);
      await writeParquet(path.join(dir, 'k.parquet'), 'SELECT 7::DECIMAL(9,0) AS id, 1 AS x');
      let r = run(['import', '--db', 'ty', '--store', 't', '--server', srv.url, path.join(dir, 't.parquet')]);
      assert.equal(r.code, 0, r.err);
      r = run(['import', '--db', 'ty', '--store', 'k', '--server', srv.url, path.join(dir, 'k.parquet')]);
      assert.equal(r.code, 0, r.err);
      const changes = (await pullAll(srv.url, 'ty')).changes;
      const v = byKey(changes, 't').get('1');
      assert.deepEqual(v, {
        id: 1,
        d_small: 63, d_neg: -0.05, d_p15: 12345678901234.5, // precision <= 15: exact as a number
        d_wide: '12345678901234567.89', // wider: an exact string
        d_int: 42, d_bigint: { $bigint: '123456789012345678901234567890' }, // scale 0: an integer
        h_small: 5, h_big: 1.7014118346046923e+38, // DuckDB writes HUGEINT as DOUBLE
        u: '550e8400-e29b-41d4-a716-446655440000',
        t: '12:34:56.789', t0: '08:00:00.000',
        iv: 'P1Y2M3DT4H5M6.789S', iv_m: 'PT1H30M', iv0: 'PT0S',
      });
      const nulls = byKey(changes, 't').get('2');
      assert.equal(nulls.d_small, null);
      assert.equal(nulls.iv, null);
      // a DECIMAL key is the same number as the value holds
      assert.deepEqual(byKey(changes, 'k').get('7'), { id: 7, x: 1 });
      // and on to the lake as docs/types.md says (lake-layout.md's rules for the JSON values)
      const f = await request(`${srv.url}/v1/db/ty/flush`, { method: 'POST' });
      assert.equal(f.status, 200, f.text);
      const cols = new Map((await duckRows(`DESCRIBE SELECT * FROM read_parquet('${srv.lakeDir}/ty/t/**/*.parquet', hive_partitioning=false)`))
        .map((r) => [r[0], r[1]]));
      assert.deepEqual(['d_small', 'd_wide', 'd_int', 'd_bigint', 'u', 't', 'iv'].map((c) => [c, cols.get(c)]), [
        ['d_small', 'DOUBLE'], ['d_wide', 'VARCHAR'], ['d_int', 'BIGINT'], ['d_bigint', 'VARCHAR'], ['u', 'VARCHAR'],
        ['t', 'VARCHAR'], ['iv', 'VARCHAR']]);
    } finally {
      await srv.stop();
    }
  });
});

describe('inbox: one bad file of a job', () => {
  test('only the bad file is rejected, with its own error; the others are imported and moved to _done', async () => {
    const srv = await startServer({ args: ['--inbox-interval', '100', '--inbox-settle', '200'] });
    try {
      const inbox = path.join(srv.lakeDir, 'shop', '_inbox', 'prices');
      fs.mkdirSync(inbox, { recursive: true });
      fs.writeFileSync(path.join(inbox, '_import.json'), JSON.stringify({ key: 'sku' }));
      await writeParquet(path.join(inbox, 'part-0'), "SELECT 'a' || i AS sku, i AS eur FROM range(0, 5) t(i)");
      await writeParquet(path.join(inbox, 'part-1'), "SELECT 'b' || i AS sku, i AS eur, CASE WHEN i = 3 THEN 'oops' ELSE 'put' END AS _op FROM range(0, 5) t(i)");
      fs.writeFileSync(path.join(inbox, 'part-2'), 'PAR1 broken PAR1');
      await writeParquet(path.join(inbox, 'part-3'), "SELECT 'c' || i AS sku, i AS eur FROM range(0, 5) t(i)");
      fs.writeFileSync(path.join(inbox, '_SUCCESS'), '');
      const deadline = Date.now() + 15000;
      while (Date.now() < deadline && !fs.existsSync(path.join(inbox, '_done', 'part-3'))) await sleep(100);
      for (const f of ['part-0', 'part-3']) assert.ok(fs.existsSync(path.join(inbox, '_done', f)), `${f} in _done`);
      for (const f of ['part-1', 'part-2']) assert.ok(fs.existsSync(path.join(inbox, '_rejected', f)), `${f} in _rejected`);
      const r1 = fs.readFileSync(path.join(inbox, '_rejected', 'part-1.error.txt'), 'utf8');
      assert.match(r1, /could not import part-1 .*\n.*part-1: row 4: _op must be/);
      assert.doesNotMatch(r1, /part-[023]/);
      const r2 = fs.readFileSync(path.join(inbox, '_rejected', 'part-2.error.txt'), 'utf8');
      assert.match(r2, /part-2/);
      assert.doesNotMatch(r2, /part-[013]/);
      const rows = byKey((await pullAll(srv.url, 'shop')).changes, 'prices');
      assert.deepEqual([...rows.keys()].sort(), ['"a0"', '"a1"', '"a2"', '"a3"', '"a4"', '"c0"', '"c1"', '"c2"', '"c3"', '"c4"']);
      assert.ok(fs.readdirSync(path.join(inbox, '_done')).some((f) => f.startsWith('_SUCCESS')), 'the marker is done too');
    } finally {
      await srv.stop();
    }
  });
});
