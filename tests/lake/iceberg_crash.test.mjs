// Crash safety of --lake-format iceberg: the server is killed (SIGKILL, at an exact step through
// IDBSYNC_TEST_ICEBERG_KILL, and at random moments of ingest), restarted on the same dirs, and
// pyiceberg then finds every change of the change log exactly once, the state equal to the pull
// feed, and every metadata version that was ever committed readable (orphan files allowed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serve, push, flush, tempDir, rng } from './lib.mjs';
import { py, checkRestart, KILLS } from './iceberg_lib.mjs';

const ARGS = KILLS.commit.args;

function batch(r, id, n) {
  const muts = [];
  for (let j = 0; j < n; j++) {
    const key = Math.floor(r() * 800);
    muts.push(r() < 0.15 ? { id: id.n++, store: 'docs', op: 'delete', key }
      : { id: id.n++, store: 'docs', op: 'put', key, value: { v: Math.floor(r() * 1e6), s: 'x'.repeat(Math.floor(r() * 40)) } });
  }
  return { client: 'crashy', mutations: muts };
}

/** Concurrent pushes, some of them cut off by the kill (their failure is expected). */
async function ingest(srv, r, id, batches) {
  const pushes = [];
  for (let b = 0; b < batches; b++) {
    pushes.push(push(srv.url, 'app', batch(r, id, 100)).catch(() => null));
    await new Promise((res) => setTimeout(res, 15));
  }
  return Promise.all(pushes);
}

for (const step of KILLS.commit.steps) {
  test(`kill -9 at the iceberg step "${step}", restart, every change once`, async () => {
    const lake = tempDir(), data = tempDir();
    const r = rng(11), id = { n: 1 };
    const srv = await serve({ data, lake, args: ARGS, env: { IDBSYNC_TEST_ICEBERG_KILL: `${step}:${KILLS.commit.n}` } });
    srv.proc.ref();   // its exit is what this test waits for: keep the event loop on it
    let alive = true;
    srv.exited.then(() => { alive = false; });
    const errors = [];
    // pushes until the server reaches the step and kills itself (each flush commits)
    for (let b = 0; alive && b < 400; b++) {
      try { await push(srv.url, 'app', batch(r, id, 50)); } catch (e) { if (alive) errors.push(e.message); }
      await new Promise((res) => setTimeout(res, 10));
    }
    assert.equal(alive, false, `the server did not reach "${step}"; push errors: ${errors.slice(0, 3).join('; ')}`);
    const { sig } = await srv.exited;
    assert.equal(sig, 'SIGKILL');
    const log = await checkRestart(lake, data, ARGS);
    if (step === 'commit') {
      // Iceberg had that flush, progress.json did not: the restart took it back out first
      assert.ok(log.snapshots.some((s) => s.op === 'delete'), 'no recovery snapshot');
    }
  });
}

test('kill -9 at random moments of ingest, restart, converge', async () => {
  const lake = tempDir(), data = tempDir();
  const r = rng(5), id = { n: 1 };
  for (let cycle = 0; cycle < 3; cycle++) {
    const srv = await serve({ data, lake, args: ARGS });
    await ingest(srv, r, id, 8);
    await new Promise((res) => setTimeout(res, 5 + Math.floor(r() * 60)));
    await srv.kill();
  }
  await checkRestart(lake, data, ARGS);
});

test('a row the writer refuses waits alone and reaches the Iceberg change log and state once', async () => {
  const lake = tempDir(), data = tempDir();
  const put = (id, key, v) => ({ id, store: 's', op: 'put', key, value: { v } });
  let srv = await serve({ data, lake, args: ARGS, env: { IDBSYNC_TEST_LAKE_REFUSE: 'poison' } });
  await push(srv.url, 'a', { client: 'c1', mutations: [put(1, 1, 'ok1'), put(2, 2, 'poison'), put(3, 3, 'ok3')] });
  await assert.rejects(flush(srv.url, 'a'), /key 2 seq 2/);
  const root = `${lake}/_iceberg/a`;
  const vals = async () => (await py('scan', `${root}/s_changes`, `${root}/s`)).map((t) => t.rows.map((x) => x.v).sort());
  assert.deepEqual(await vals(), [['ok1', 'ok3'], ['ok1', 'ok3']]);
  await push(srv.url, 'a', { client: 'c1', mutations: [put(4, 4, 'ok4')] });
  await srv.kill();
  srv = await serve({ data, lake, args: ARGS });   // a writer that takes it
  for (let i = 0; i < 50; i++) {
    try { await flush(srv.url, 'a'); break; } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  assert.deepEqual(await vals(), [['ok1', 'ok3', 'ok4', 'poison'], ['ok1', 'ok3', 'ok4', 'poison']]);
  await srv.stop();
});
