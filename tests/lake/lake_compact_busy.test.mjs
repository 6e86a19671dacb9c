// Compaction while an ingest runs (src/lake/lake.c, compact.c): a busy flush (a change-log round
// of it was full) merges no small change-log files, unless a table holds COMPACT_OVERDUE (128)
// of them; then it merges at most COMPACT_BUSY_FILES (32) of a day directory, and the idle flush
// thread merges the rest, all of them, once the writes stop. Rounds of 10 changes
// (IDBSYNC_TEST_LAKE_ROUND) make one busy flush of 100 or 130 small files from one push; the
// server stops at the end of every flush (IDBSYNC_TEST_LAKE_PAUSE_FLUSH), where the test counts
// the files on disk and reads the change log with DuckDB; then it waits for the idle merge and
// reads every change back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer } from '../lib/server.mjs';
import { push, duck, globU, tempDir, metrics } from './lib.mjs';

const ROUND = 10, OVERDUE = 128, BUSY_FILES = 32, COMPACT_MIN = 16;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dayFiles = (lake) => {
  const base = `${lake}/app/events_changes`;
  if (!fs.existsSync(base)) return [];
  return fs.readdirSync(base).filter((n) => n.startsWith('dt='))
    .flatMap((d) => fs.readdirSync(`${base}/${d}`).filter((n) => n.endsWith('.parquet')));
};
const compactions = (m) => Number(/^idbsync_lake_compactions_total (\d+)/m.exec(m)?.[1] ?? NaN);

// Pushes `changes` changes in one push (one head move: one flush writes all its rounds), records
// every flush's end and, once that flush's small files are merged, reads the change log back.
async function ingest(t, changes) {
  const lake = tempDir(), data = tempDir(), gate = tempDir();
  const srv = await startServer({ t, dataDir: data, lakeDir: lake, args: ['--flush-interval', '100ms'],
    env: { IDBSYNC_TEST_LAKE_ROUND: String(ROUND), IDBSYNC_TEST_LAKE_PAUSE_FLUSH: gate } });
  const d = await duck();
  const log = globU(lake, 'app', 'events_changes');
  const count = async () => {
    const [r] = await d.rows(`SELECT count(*) n, count(DISTINCT idb_seq) s FROM ${log}`);
    return [Number(r.n), Number(r.s)];
  };
  const flushes = [];   // each flush's end: its step, the files and compactions then, the rows
  let stop = false;
  const pauser = (async () => {
    for (let n = 1; !stop;) {
      if (!fs.existsSync(`${gate}/paused-${n}`)) { await sleep(5); continue; }
      const at = { step: fs.readFileSync(`${gate}/paused-${n}`, 'utf8'), files: dayFiles(lake).length };
      at.compactions = compactions(await metrics(srv.url));
      at.rows = at.files ? await count() : [0, 0];
      flushes.push(at);
      fs.writeFileSync(`${gate}/go-${n++}`, '');
    }
  })();
  try {
    const mutations = Array.from({ length: changes }, (_, i) =>
      ({ id: i + 1, store: 'events', op: 'put', key: i, value: { n: i, s: `v${i} ü` } }));
    await push(srv.url, 'app', { client: 'c1', mutations });
    for (const until = Date.now() + 120000; !flushes.length && Date.now() < until;) await sleep(20);
    // the idle loop's merge (after COMPACT_MIN files it stops: fewer never merge)
    for (const until = Date.now() + 120000; dayFiles(lake).length >= COMPACT_MIN && Date.now() < until;) await sleep(50);
    const after = { files: dayFiles(lake), compactions: compactions(await metrics(srv.url)), rows: await count() };
    const values = await d.rows(`SELECT idb_seq, idb_key, n, s FROM ${log} ORDER BY idb_seq`);
    return { flushes, after, values };
  } finally {
    await srv.stop();   // its last flush may pause too: the pauser lets it go
    stop = true;
    await pauser;
  }
}

function assertEveryChange(values, changes) {
  assert.equal(values.length, changes, 'every change once');
  values.forEach((r, i) => {
    assert.equal(Number(r.idb_seq), i + 1);
    assert.equal(r.idb_key, String(i));
    assert.equal(Number(r.n), i);
    assert.equal(r.s, `v${i} ü`);
  });
}

test(`below ${OVERDUE} small files a busy flush compacts nothing; the idle loop merges them all`, async (t) => {
  const changes = 100 * ROUND;   // 100 rounds, each full: 100 files, one busy flush
  const { flushes, after, values } = await ingest(t, changes);
  console.log(`# flush ends: ${JSON.stringify(flushes)}; after: ${after.files.length} files, ${after.compactions} compactions`);
  assert.equal(flushes.length, 1, JSON.stringify(flushes));
  assert.deepEqual(flushes[0], { step: 'busy', files: 100, compactions: 0, rows: [changes, changes] });
  assert.equal(after.files.length, 1, `the idle loop merged ${after.files.join(' ')}`);
  assert.equal(after.compactions, 1);
  assert.deepEqual(after.rows, [changes, changes]);
  assertEveryChange(values, changes);
});

test(`at ${OVERDUE} small files a busy flush merges ${BUSY_FILES} of them; the idle loop the rest`, async (t) => {
  const changes = 130 * ROUND;   // 130 files in one busy flush: past the bound
  const { flushes, after, values } = await ingest(t, changes);
  console.log(`# flush ends: ${JSON.stringify(flushes)}; after: ${after.files.length} files, ${after.compactions} compactions`);
  assert.equal(flushes.length, 1, JSON.stringify(flushes));
  // 32 files became one: 130 - 31 left, every change still once
  assert.deepEqual(flushes[0], { step: 'busy', files: 130 - (BUSY_FILES - 1), compactions: 1, rows: [changes, changes] });
  assert.equal(after.files.length, 1, `the idle loop merged ${after.files.join(' ')}`);
  assert.equal(after.compactions, 2);
  assert.deepEqual(after.rows, [changes, changes]);
  assertEveryChange(values, changes);
});
