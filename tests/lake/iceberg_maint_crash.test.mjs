// Crash safety of Iceberg maintenance: the server is killed (SIGKILL through
// IDBSYNC_TEST_ICEBERG_KILL) at each step of a snapshot expiry (by --iceberg-keep-snapshots N
// and by age) and of a compaction's replace commit, restarted on the same dirs, and pyiceberg
// then finds every change once in the change log, the state equal to the pull feed, every
// metadata version on disk readable, and no file that no snapshot names (the orphans the kill
// left are removed by the restart). A compaction cut off before its replace commit is redone by
// the first flush after the restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { serve, push, flush, tempDir, rng } from './lib.mjs';
import { py, checkRestart, KILLS } from './iceberg_lib.mjs';

const BASE = KILLS.compaction.args;
const KEEP_N = KILLS.expiry.args;
const AGE = KILLS['expiry by age'];

function files(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => d.isDirectory() ? files(path.join(dir, d.name))
    : /\.(avro|parquet)$/.test(d.name) ? [path.join(dir, d.name)] : []);
}

/** Pushes small batches (10 keys rewritten, so the change log gets many small files to compact,
 * and 800 others, so state buckets are replaced) until the server kills itself at the step. */
async function runToKill(args, step) {
  const lake = tempDir(), data = tempDir();
  const srv = await serve({ data, lake, args, env: { IDBSYNC_TEST_ICEBERG_KILL: step } });
  srv.proc.ref();   // its exit is what this test waits for
  let alive = true, id = 1;
  srv.exited.then(() => { alive = false; });
  const r = rng(7);
  for (let b = 0; alive && b < 1500; b++) {
    const muts = Array.from({ length: 10 }, (_, j) => ({ id: id++, store: 'docs', op: 'put',
      key: j < 5 ? j : Math.floor(r() * 800), value: { v: b, s: 'x'.repeat(Math.floor(r() * 40)) } }));
    await push(srv.url, 'app', { client: 'c1', mutations: muts }).catch(() => null);
    await new Promise((res) => setTimeout(res, 10));
  }
  assert.equal(alive, false, `the server did not reach "${step}"`);
  assert.equal((await srv.exited).sig, 'SIGKILL');
  await new Promise((res) => setTimeout(res, 2500));   // what it left is older than --iceberg-keep (whole seconds) now
  return { lake, data };
}

async function checkAll(lake, data, args) {
  const log = await checkRestart(lake, data, args);
  const root = `${lake}/_iceberg/app`;
  for (const t of ['docs', 'docs_changes'].map((x) => `${root}/${x}`)) {
    const { refs, errors } = await py('refs', t);
    assert.deepEqual(files(t).filter((f) => !refs.includes(f)), [], `${t}: files no snapshot names`);
    assert.deepEqual(errors, [], `${t}: kept snapshots that do not read`);
  }
  return log;
}

for (const step of KILLS.expiry.steps) {
  test(`kill -9 at the expiry step "${step}" (keep the last 3 snapshots), restart, consistent`, async () => {
    const { lake, data } = await runToKill(KEEP_N, `${step}:${KILLS.expiry.n}`);
    const log = await checkAll(lake, data, KEEP_N);
    // expiry works after the restart too: at most N + one batch of 16 + the current's parent
    assert.ok(log.snapshots.length <= 3 + 16 + 1, `${log.snapshots.length} snapshots kept`);
  });
}

test('kill -9 during an expiry by age (--iceberg-keep 1s), restart, consistent', async () => {
  const { lake, data } = await runToKill(AGE.args, `${AGE.steps[0]}:${AGE.n}`);
  await checkAll(lake, data, AGE.args);
});

for (const step of KILLS.compaction.steps) {
  test(`kill -9 at the compaction step "${step}", restart, every change once`, async () => {
    const { lake, data } = await runToKill(BASE, `${step}:${KILLS.compaction.n}`);
    await checkAll(lake, data, BASE);
  });
}

/** The seq ranges ("first-last") of change-log files (plain names, or Iceberg's links of them). */
const ranges = (paths) => paths.map((p) => path.basename(p).match(/^part-0*(\d+)-0*(\d+)/).slice(1).join('-')).sort();

for (const step of ['compact-link', 'replace-list']) {
  test(`a compaction cut off at "${step}" is redone by the first flush after the restart`, async () => {
    const { lake, data } = await runToKill(BASE, `${step}:1`);
    const log = `${lake}/_iceberg/app/docs_changes`;
    // what the kill left: the plain layout's merged file (recorded changes only), and Iceberg
    // still listing the small files it replaced
    const done = JSON.parse(fs.readFileSync(`${lake}/_idbsync/progress.json`, 'utf8')).changes_seq;
    const plain = ranges(files(`${lake}/app/docs_changes`)).filter((r) => Number(r.split('-')[1]) <= done);
    const [before] = await py('scan', log);
    const merged = plain.filter((r) => !ranges(before.paths).includes(r));
    assert.ok(merged.length > 0, `no merged file left out: plain ${plain}, iceberg ${ranges(before.paths)}`);
    // restarted without timed flushes: the one flush below is the first commit
    const srv = await serve({ data, lake, args: [...BASE, '--flush-interval', '3600s'] });
    await push(srv.url, 'app', { client: 'c2', mutations: [{ id: 1, store: 'docs', op: 'put', key: 'after', value: { v: 1 } }] });
    await flush(srv.url, 'app');
    const [after] = await py('scan', log);   // before the stop's own flush
    await srv.stop();
    const now = ranges(after.paths), within = (r, m) => {
      const [a, b] = r.split('-').map(Number), [c, d] = m.split('-').map(Number);
      return a >= c && b <= d;
    };
    for (const m of merged) {
      assert.ok(now.includes(m), `${m}: not swapped in: ${now}`);
      assert.deepEqual(now.filter((r) => r !== m && within(r, m)), [], `${m}: small files left beside it`);
    }
    await checkAll(lake, data, BASE);
  });
}
