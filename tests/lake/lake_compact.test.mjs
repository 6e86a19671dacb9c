// Compaction of the change log: many small flushes leave many small files in a day directory;
// the server merges them (in place of the small ones, in one directory exchange) and the
// change log still holds every change exactly once with every value intact, across a schema
// change (files of two schemas are merged separately). A reader queries in a loop meanwhile:
// it must never see a duplicate change or fewer changes than before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer } from '../lib/server.mjs';
import { push, flush, duck, globU, tempDir, metrics } from './lib.mjs';

const files = (dir) => fs.readdirSync(dir).filter((n) => n.endsWith('.parquet'));
const dayFiles = (lake) => fs.readdirSync(`${lake}/app/notes_changes`).filter((n) => n.startsWith('dt='))
  .flatMap((d) => files(`${lake}/app/notes_changes/${d}`));

test('small change-log files are merged, nothing lost or doubled', async () => {
  const lake = tempDir(), data = tempDir();
  const srv = await startServer({ dataDir: data, lakeDir: lake, args: ['--flush-interval', '20ms'] });
  const d = await duck();
  const want = new Map();   // seq -> value
  let id = 1;
  let stop = false, queries = 0, last = 0, torn = 0, m = "";
  const problems = [];
  const reader = (async () => {
    while (!stop) {
      await new Promise((r) => setTimeout(r, 3));
      if (!fs.existsSync(`${lake}/app/notes_changes`)) continue;
      try {
        const [r] = await d.rows(`SELECT count(*) n, count(DISTINCT idb_seq) s FROM ${globU(lake, 'app', 'notes_changes')}`);
        if (Number(r.n) !== Number(r.s)) problems.push(`duplicate changes: ${r.n} rows, ${r.s} seqs`);
        if (Number(r.n) < last) problems.push(`changes went from ${last} to ${r.n}`);
        last = Number(r.n);
        queries++;
      } catch (e) {
        // a file merged away between DuckDB's listing and its open (docs/lake-layout.md)
        if (/No such file|Could not|Failed to read|don't know what type|TProtocolException/.test(e.message)) torn++;
        else if (!/No files found/.test(e.message)) problems.push(e.message);
      }
    }
  })();
  try {
    for (let b = 0; b < 60; b++) {
      const muts = [];
      for (let j = 0; j < 5; j++) {
        const i = b * 5 + j;
        const value = { n: i, x: i / 4, s: `note ${i} ü`, ok: i % 2 === 0, stamp: { $date: new Date(1.7e12 + i * 60000).toISOString() }, tags: ['a', String(i)] };
        if (b >= 30) value.extra = `v2-${i}`;   // a new column: a second schema
        muts.push(i % 7 === 6 ? { id: id++, store: 'notes', op: 'delete', key: i - 1 } : { id: id++, store: 'notes', op: 'put', key: i, value });
      }
      const res = await push(srv.url, 'app', { client: 'c1', mutations: muts });
      assert.ok(res.acked ?? true);
      await flush(srv.url, 'app');   // one file per push
    }
    const t0 = Date.now();

    do {
      await new Promise((r) => setTimeout(r, 100));
      m = await metrics(srv.url);
    } while (!(/idbsync_lake_compactions_total [1-9]/.test(m) && dayFiles(lake).length < 16) && Date.now() - t0 < 15000);
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    // the reader runs at least a few queries whatever the machine's speed (the writes may end first)
    for (const until = Date.now() + 30000; queries <= 10 && Date.now() < until;) await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await reader;
  }
  assert.deepEqual(problems, []);
  assert.ok(queries > 10, `reader ran ${queries} queries`);
  console.log(`# reader: ${queries} queries, ${torn} reads of a merged-away file`);
  assert.match(m, /idbsync_lake_compactions_total [1-9]/, 'no compaction ran');
  const day = fs.readdirSync(`${lake}/app/notes_changes`).filter((n) => n.startsWith('dt='));
  assert.equal(day.length, 1);
  const left = files(`${lake}/app/notes_changes/${day[0]}`);
  assert.ok(left.length < 16, `still ${left.length} files: ${left.join(' ')}`);
  assert.ok(!fs.readdirSync(`${lake}/app/notes_changes`).some((n) => n.startsWith('.')), 'a hidden compaction dir was left');

  const rows = await d.rows(`SELECT idb_seq, idb_op, idb_key, n, x, s, ok, strftime(stamp, '%Y-%m-%dT%H:%M:%S') at_s, tags, extra FROM ${globU(lake, 'app', 'notes_changes')} ORDER BY idb_seq`);
  assert.equal(rows.length, 300, 'every change once');
  rows.forEach((r, k) => {
    assert.equal(Number(r.idb_seq), k + 1);
    const i = k;
    if (i % 7 === 6) {
      assert.equal(r.idb_op, 'delete');
      assert.equal(r.idb_key, String(i - 1));
      return;
    }
    assert.equal(r.idb_op, 'put');
    assert.equal(r.idb_key, String(i));
    assert.equal(Number(r.n), i);
    assert.equal(Number(r.x), i / 4);
    assert.equal(r.s, `note ${i} ü`);
    assert.equal(r.ok, i % 2 === 0);
    assert.equal(r.at_s, new Date(1.7e12 + i * 60000).toISOString().slice(0, 19));
    assert.equal(String(r.tags).replace(/\s/g, ''), JSON.stringify(['a', String(i)]));
    assert.equal(r.extra, i >= 150 ? `v2-${i}` : null);
  });
  await srv.stop();
});

// Size tiers: a file of a larger tier (>= 256 KiB) is not rewritten with the small ones that
// follow it (else a day's merged file would be copied at every compaction).
test('a larger file is left as it is (same inode) while the small files after it are merged', async () => {
  const lake = tempDir(), data = tempDir();
  const srv = await startServer({ dataDir: data, lakeDir: lake, args: ['--flush-interval', '20ms'] });
  let id = 1;
  const noise = (i) => Array.from({ length: 12 }, (_, k) => ((i * 2654435761 + k * 40503) >>> 0).toString(36)).join('');
  const big = [];
  for (let i = 0; i < 4000; i++) big.push({ id: id++, store: 'notes', op: 'put', key: i, value: { n: i, s: noise(i) } });
  await push(srv.url, 'app', { client: 'c1', mutations: big });
  await flush(srv.url, 'app');
  const [dt] = fs.readdirSync(`${lake}/app/notes_changes`);
  const dir = `${lake}/app/notes_changes/${dt}`;
  const [bigName] = files(dir);
  const { size, ino } = fs.statSync(`${dir}/${bigName}`);
  assert.ok(size >= 256 * 1024, `the first file is ${size} bytes`);
  for (let b = 0; b < 30; b++) {
    await push(srv.url, 'app', { client: 'c1', mutations: [{ id: id++, store: 'notes', op: 'put', key: 10000 + b, value: { n: b, s: 'x' } }] });
    await flush(srv.url, 'app');
  }
  const t0 = Date.now();
  const merged = (names) => names.filter((n) => n !== bigName && /part-0*(\d+)-0*(\d+)/.exec(n).slice(1).reduce((a, b) => b - a) > 0);
  while (!(files(dir).length < 16 && merged(files(dir)).length) && Date.now() - t0 < 15000) await new Promise((r) => setTimeout(r, 100));
  const left = files(dir);
  assert.ok(left.length < 16, `still ${left.length} files`);
  assert.ok(merged(left).length > 0, `no small files were merged: ${left.join(' ')}`);
  assert.ok(left.includes(bigName), 'the large file kept its name');
  assert.equal(fs.statSync(`${dir}/${bigName}`).ino, ino, 'the large file was not rewritten');
  const d = await duck();
  const [r] = await d.rows(`SELECT count(*) n, count(DISTINCT idb_seq) s FROM ${globU(lake, 'app', 'notes_changes')}`);
  assert.equal(Number(r.n), 4030);
  assert.equal(Number(r.s), 4030);
  await srv.stop();
});
