// Crash safety: kill -9 the server while flushes run (at several points), restart it on the
// same data and lake dirs, and check the lake converges: state equals the pull feed, and the
// change log holds every change exactly once (no file past the recorded progress survives).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer } from '../lib/server.mjs';
import { push, flush, pullState, duck, glob, globU, tempDir, rng } from './lib.mjs';

test('kill -9 mid-flush, restart, converge', async () => {
  const lake = tempDir(), data = tempDir();
  const args = ['--flush-interval', '50ms', '--lake-bucket-bytes', '16k'];
  const r = rng(7);
  let id = 1;
  const srv = await startServer({ dataDir: data, lakeDir: lake, args });
  for (let cycle = 0; cycle < 4; cycle++) {
    if (cycle) await srv.restart();
    const pushes = [];
    for (let b = 0; b < 10; b++) {
      const muts = [];
      for (let j = 0; j < 200; j++) {
        const key = Math.floor(r() * 3000);
        muts.push(r() < 0.15 ? { id: id++, store: 'docs', op: 'delete', key }
          : { id: id++, store: 'docs', op: 'put', key, value: { v: Math.floor(r() * 1e6), s: 'x'.repeat(Math.floor(r() * 40)), [`f${cycle}`]: cycle } });
      }
      pushes.push(push(srv.url, 'app', { client: 'crashy', mutations: muts }));
    }
    await Promise.all(pushes);
    // die somewhere inside the flushes that are now running
    await new Promise((res) => setTimeout(res, 5 + Math.floor(r() * 60)));
    await srv.kill9();
  }
  await srv.restart();
  const { flushed } = await flush(srv.url, 'app');
  const d = await duck();
  const want = (await pullState(srv.url, 'app')).get('docs');
  const rows = await d.rows(`SELECT idb_key, idb_seq, v FROM ${glob(lake, 'app', 'docs')}`);
  assert.equal(rows.length, want.size);
  for (const row of rows) {
    const w = want.get(row.idb_key);
    assert.ok(w, `key ${row.idb_key} deleted or unknown`);
    assert.equal(Number(row.idb_seq), w.seq);
    assert.equal(Number(row.v), w.value.v);
  }
  const log = await d.rows(`SELECT count(*) n, count(DISTINCT idb_seq) d, max(idb_seq) hi FROM ${globU(lake, 'app', 'docs_changes')}`);
  assert.equal(Number(log[0].n), Number(log[0].d), 'a change appears twice');
  assert.equal(Number(log[0].n), flushed, 'a change is missing');
  assert.equal(Number(log[0].hi), flushed);
  await srv.stop();
});

// The change log is recorded per round, the current state when its pass is due: a crash in
// between leaves progress.json with state_seq < changes_seq. The restarted server gets no new
// change, so only the recovery (the changes after state_seq touch their buckets again) can
// bring the state up to date.
test('kill -9 after the change log was recorded and before the state pass', async () => {
  const lake = tempDir(), data = tempDir();
  const args = ['--flush-interval', '20ms'];
  const srv = await startServer({ dataDir: data, lakeDir: lake, args });
  const big = 'y'.repeat(300);
  let id = 1;
  for (let b = 0; b < 10; b++) {   // a state pass of a few MB: a window the poll below sees
    const muts = [];
    for (let j = 0; j < 2000; j++) muts.push({ id: id++, store: 'docs', op: 'put', key: b * 2000 + j, value: { v: j, s: big } });
    await push(srv.url, 'app', { client: 'c', mutations: muts });
  }
  await flush(srv.url, 'app');
  const prog = `${lake}/_idbsync/progress.json`;
  let caught = null;
  for (let attempt = 0; attempt < 40 && !caught; attempt++) {
    await push(srv.url, 'app', { client: 'c', mutations: [
      { id: id++, store: 'docs', op: 'put', key: attempt, value: { v: -attempt, s: 'changed' } },
      { id: id++, store: 'docs', op: 'delete', key: 10000 + attempt }] });
    const t0 = Date.now();
    while (Date.now() - t0 < 1000) {
      let p;
      try { p = JSON.parse(fs.readFileSync(prog, 'utf8')); } catch { continue; }
      if (p.state_seq < p.changes_seq) { caught = p; break; }
      if (p.state_seq === p.changes_seq && p.changes_seq >= id - 1) break;  // this attempt missed the window
    }
  }
  assert.ok(caught, 'never saw the change log ahead of the state');
  await srv.kill9();
  const p = JSON.parse(fs.readFileSync(prog, 'utf8'));
  assert.ok(p.state_seq <= p.changes_seq);

  const again = await srv.restart();
  await flush(again.url, 'app');
  const d = await duck();
  const want = (await pullState(again.url, 'app')).get('docs');
  const rows = await d.rows(`SELECT idb_key, idb_seq, v FROM ${glob(lake, 'app', 'docs')}`);
  assert.equal(rows.length, want.size, 'row count after recovery');
  for (const row of rows) {
    const w = want.get(row.idb_key);
    assert.ok(w, `key ${row.idb_key} deleted or unknown`);
    assert.equal(Number(row.idb_seq), w.seq, `key ${row.idb_key}: stale row after recovery`);
  }
  await again.stop();
});
