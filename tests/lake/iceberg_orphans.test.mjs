// Orphan files of --lake-format iceberg: a kill -9 after a commit's data links, manifest and
// manifest list were written but before its metadata leaves files that no snapshot names. The
// restart removes them once they are older than --iceberg-keep (a commit another writer has in
// progress keeps its files), and only them: afterwards every data file, manifest and manifest
// list on disk is one that pyiceberg finds named by a snapshot, and every change is in the
// change log once. A restart killed in the middle of that removal leaves the same to the next.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { serve, push, flush, tempDir, BIN } from './lib.mjs';
import { py, checkRestart, KILLS } from './iceberg_lib.mjs';

const ARGS = ['--lake-format', 'iceberg', '--flush-interval', '30ms', '--iceberg-keep', '1s'];

function files(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => d.isDirectory() ? files(path.join(dir, d.name))
    : /\.(avro|parquet)$/.test(d.name) ? [path.join(dir, d.name)] : []);
}

/** A server on new dirs (args), fed pushes until it kills itself at step (IDBSYNC_TEST_ICEBERG_KILL). */
async function killedAt(args, step) {
  const lake = tempDir(), data = tempDir();
  const srv = await serve({ data, lake, args, env: { IDBSYNC_TEST_ICEBERG_KILL: step } });
  srv.proc.ref();   // its exit is what this test waits for
  let alive = true, id = 1;
  srv.exited.then(() => { alive = false; });
  for (let b = 0; alive && b < 400; b++) {
    const muts = Array.from({ length: 20 }, (_, j) => ({ id: id++, store: 'docs', op: 'put', key: (b * 20 + j) % 150, value: { v: b } }));
    await push(srv.url, 'app', { client: 'c1', mutations: muts }).catch(() => null);
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal((await srv.exited).sig, 'SIGKILL');
  return { lake, data };
}

test('kill -9 between a commit\'s files and its metadata: the restart removes the orphans, only them', async () => {
  const { lake, data } = await killedAt(ARGS, 'list:5');
  const root = `${lake}/_iceberg/app`;
  const tables = ['docs', 'docs_changes'].map((t) => `${root}/${t}`);
  const orphaned = [];
  for (const t of tables) {
    const { refs } = await py('refs', t);
    orphaned.push(...files(t).filter((f) => !refs.includes(f)));
  }
  assert.ok(orphaned.length > 0, 'the kill left no orphan');
  await new Promise((r) => setTimeout(r, 1500));   // older than --iceberg-keep now
  const srv = await serve({ data, lake, args: ARGS });
  const { flushed } = await flush(srv.url, 'app');
  await srv.stop();
  assert.match(srv.stderr(), /removed \d+ orphan file\(s\)/);
  for (const f of orphaned) assert.ok(!fs.existsSync(f), `${f} is still there`);
  for (const t of tables) {
    const { refs } = await py('refs', t);
    assert.deepEqual(files(t).filter((f) => !refs.includes(f)), [], `${t}: files no snapshot names`);
    // the change log only appends: each data file a snapshot names is there
    if (t.endsWith('_changes')) for (const f of refs.filter((x) => x.endsWith('.parquet'))) assert.ok(fs.existsSync(f), `${f} missing`);
  }
  const [log] = await py('scan', `${root}/docs_changes`);
  assert.deepEqual(log.rows.map((x) => x.idb_seq).sort((a, b) => a - b), Array.from({ length: flushed }, (_, i) => i + 1));
});

test('kill -9 while the restart removes orphan files: the next restart finishes, every change once', async () => {
  const { args, n, steps, restart } = KILLS.orphans;
  const { lake, data } = await killedAt(args, `${steps[0]}:${n}`);
  await new Promise((r) => setTimeout(r, 2500));   // older than --iceberg-keep (whole seconds) now
  // the restart dies after removing its first orphan, before it listens
  const cut = spawnSync(BIN, ['serve', '--data', data, '--lake', lake, '--listen', '127.0.0.1:0', ...args],
    { env: { ...process.env, IDBSYNC_TEST_ICEBERG_KILL: restart }, timeout: 120000, encoding: 'utf8' });
  assert.equal(cut.signal, 'SIGKILL', `the restart did not die removing orphans: ${cut.stderr}`);
  await checkRestart(lake, data, args);
  for (const t of ['docs', 'docs_changes'].map((x) => `${lake}/_iceberg/app/${x}`)) {
    const { refs } = await py('refs', t);
    assert.deepEqual(files(t).filter((f) => !refs.includes(f)), [], `${t}: files no snapshot names`);
  }
});
