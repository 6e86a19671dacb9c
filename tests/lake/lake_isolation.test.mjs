// The lake never stops: every value the push accepts flushes (in both profiles), a table whose
// files cannot be written is held while every other table and database goes on, a row the
// writer refuses waits alone, holds survive a restart and are retried (with backoff, then by the
// operator's `idbsync lake quarantine retry`), and shutdown stays quick while the lake fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer } from '../lib/server.mjs';
import { push, flush, duck, glob, tempDir, run, metrics } from './lib.mjs';

const put = (id, store, key, value) => ({ id, store, op: 'put', key, value });

async function postStatus(url) {
  const r = await fetch(url, { method: 'POST' });
  return { status: r.status, body: await r.json() };
}

async function ready(url) {
  const r = await fetch(`${url}/readyz`);
  return { status: r.status, body: await r.json() };
}

async function until(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function metric(text, name) {
  const m = new RegExp('^' + name.replace(/[{}"]/g, '\\$&') + ' (\\S+)$', 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

for (const profile of ['compat', 'modern']) {
  test(`${profile}: values at the edges of what a browser holds flush, with their documented fallbacks`, async () => {
    const dir = tempDir();
    const lake = path.join(dir, 'lake');
    const s = await startServer({ dataDir: path.join(dir, 'data'), lakeDir: lake, args: ['--lake-profile', profile] });
    try {
      // JSON.stringify writes lone surrogates as \ud800 escapes, as the client does
      await push(s.url, 'a', { client: 'c1', mutations: [
        put(1, 'edge', 1, { s: '\ud800', t: 'a\udc00b', ok: 'emoji 😀', d: { $date: '-271821-04-20T00:00:00.000Z' },
          late: { $date: '+275760-09-13T00:00:00.000Z' }, j: { $map: [['\ud800', 1]] } }),
        put(2, 'edge', '\ud83d', { s: 'x\ud83d', d: { $date: '-004713-11-24T00:00:00.000Z' } }),
      ] });
      await push(s.url, 'b', { client: 'c2', mutations: [put(1, 'plain', 1, { x: 1 })] });
      await flush(s.url, 'a');
      await flush(s.url, 'b');
      const d = await duck();
      const rows = await d.rows(`SELECT idb_key, s, t, ok, CAST(d AS VARCHAR) AS d, CAST(late AS VARCHAR) AS late, j
        FROM ${glob(lake, 'a', 'edge')} ORDER BY idb_seq`);
      assert.equal(rows.length, 2);
      assert.equal(rows[0].s, '\ufffd');
      assert.equal(rows[0].t, 'a\ufffdb');
      assert.equal(rows[0].ok, 'emoji 😀');
      assert.equal(rows[1].s, 'x\ufffd');
      assert.equal(rows[1].idb_key, '"\\ud83d"', 'keys keep their exact JSON text');
      assert.equal(JSON.parse(rows[0].j).$map[0][0], '\ud800', 'JSON text columns keep the exact value');
      if (profile === 'modern') {
        assert.match(rows[0].d, /^271822-04-20 \(BC\)/, 'INT64 micros hold all of JavaScript\'s range');
        assert.match(rows[0].late, /^275760-09-13/);
      } else {
        assert.equal(rows[0].d, null, 'before Julian day 0: null in INT96');
        assert.match(rows[1].d, /^-4713-11-24|^4714-11-24 \(BC\)/, 'Julian day 0 itself is held');
      }
      const m = await metrics(s.url);
      assert.ok(metric(m, 'idbsync_lake_fallbacks_total{kind="lone_surrogate"}') >= 3);
      assert.equal(metric(m, 'idbsync_lake_fallbacks_total{kind="date_range"}') > 0, profile === 'compat');
      assert.equal(metric(m, 'idbsync_lake_flush_errors_total'), 0);
      assert.equal((await ready(s.url)).status, 200);
      const b = await d.rows(`SELECT count(*) AS n FROM ${glob(lake, 'b', 'plain_changes')}`);
      assert.equal(Number(b[0].n), 1);
    } finally {
      await s.stop();
    }
  });
}

test('a table whose files fail is held; the other tables and databases go on; retry and quarantine', async () => {
  const dir = tempDir();
  const lake = path.join(dir, 'lake'), data = path.join(dir, 'data');
  // a file where the change log's dir must go: every write of a/s's change log fails
  fs.mkdirSync(path.join(lake, 'a'), { recursive: true });
  fs.writeFileSync(path.join(lake, 'a', 's_changes'), 'in the way');
  const args = ['--lake-retry-max', '3', '--lake-retry-base', '100ms'];
  let s = await startServer({ dataDir: data, lakeDir: lake, args });
  try {
    await push(s.url, 'a', { client: 'c1', mutations: [put(1, 's', 1, { v: 1 }), put(2, 't', 1, { v: 2 }), put(3, 's', 2, { v: 3 })] });
    await push(s.url, 'b', { client: 'c2', mutations: [put(1, 'u', 1, { v: 4 })] });
    assert.equal((await postStatus(`${s.url}/v1/db/b/flush`)).status, 200, 'another database flushes');
    const fa = await postStatus(`${s.url}/v1/db/a/flush`);
    assert.ok(fa.status >= 500, 'the held database is told');
    assert.match(fa.body.error.message, /table s \(s\) is held/);
    const d = await duck();
    const count = async (db, t) => Number((await d.rows(`SELECT count(*) AS n FROM ${glob(lake, db, t)}`))[0].n);
    assert.equal(await count('b', 'u_changes'), 1);
    assert.equal(await count('a', 't_changes'), 1, 'the other table of the same database goes on');
    assert.equal(await count('a', 't'), 1);
    assert.equal(await count('a', 's'), 2, 'the held table\'s current state still goes on');
    let r = await ready(s.url);
    assert.equal(r.status, 503);
    assert.equal(r.body.lake.held[0].store, 's');
    assert.equal(r.body.lake.held[0].changes_from, 1);
    assert.match(r.body.lake.held[0].error, /s_changes/);
    assert.equal(metric(await metrics(s.url), 'idbsync_lake_held_tables'), 1);
    // three attempts with backoff, then quarantined
    await until('quarantine', async () => (await ready(s.url)).body.lake.held[0]?.quarantined);
    const list = await run(['lake', 'quarantine', 'list', '--lake', lake]);
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /a\/s \(table s\): change log from seq 1;/);
    assert.match(list.out, /QUARANTINED after 3 attempts/);
    // held changes survive kill -9: the ledger keeps them, the lake knows where to resume
    await push(s.url, 'a', { client: 'c1', mutations: [put(4, 's', 3, { v: 5 })] });
    await s.kill9();
    s = await startServer({ dataDir: data, lakeDir: lake, args });
    r = await ready(s.url);
    assert.equal(r.body.lake.held[0].quarantined, true, 'still quarantined after a restart');
    // the operator fixes the cause and asks for a retry
    fs.rmSync(path.join(lake, 'a', 's_changes'));
    const retry = await run(['lake', 'quarantine', 'retry', '--lake', lake, '--wait', '20']);
    assert.equal(retry.code, 0, retry.out + retry.err);
    assert.match(retry.out, /nothing is held/);
    await flush(s.url, 'a');
    const log = await d.rows(`SELECT idb_seq, v FROM ${glob(lake, 'a', 's_changes')} ORDER BY idb_seq`);
    assert.deepEqual(log.map((x) => [Number(x.idb_seq), Number(x.v)]), [[1, 1], [3, 3], [5, 5]], 'each change once');
    assert.equal((await ready(s.url)).status, 200);
    assert.equal(metric(await metrics(s.url), 'idbsync_lake_held_tables'), 0);
  } finally {
    await s.stop();
  }
});

test('a row the writer refuses waits alone; a restart that can write it does, once', async () => {
  const dir = tempDir();
  const lake = path.join(dir, 'lake'), data = path.join(dir, 'data');
  let s = await startServer({ dataDir: data, lakeDir: lake, env: { IDBSYNC_TEST_LAKE_REFUSE: 'poison' } });
  try {
    await push(s.url, 'a', { client: 'c1', mutations: [put(1, 's', 1, { v: 'ok1' }), put(2, 's', 2, { v: 'poison' }), put(3, 's', 3, { v: 'ok3' })] });
    const fa = await postStatus(`${s.url}/v1/db/a/flush`);
    assert.ok(fa.status >= 500);
    assert.match(fa.body.error.message, /key 2 seq 2/);
    const d = await duck();
    const vals = async (t) => (await d.rows(`SELECT v FROM ${glob(lake, 'a', t)} ORDER BY v`)).map((x) => x.v);
    assert.deepEqual(await vals('s_changes'), ['ok1', 'ok3'], 'the rest of the change log is written');
    assert.deepEqual(await vals('s'), ['ok1', 'ok3'], 'the rest of the current state is written');
    const r = await ready(s.url);
    assert.equal(r.status, 503);
    assert.deepEqual(r.body.lake.quarantine.map((q) => [q.kind, q.key, q.seq]).sort(), [['change', '2', 2], ['state', '2', 2]]);
    assert.match(r.body.lake.quarantine[0].error, /IDBSYNC_TEST_LAKE_REFUSE/);
    const list = await run(['lake', 'quarantine', 'list', '--lake', lake]);
    assert.match(list.out, /a\/s key 2 seq 2: left out of the change log/);
    assert.match(list.out, /a\/s key 2 seq 2: left out of the current state/);
    // more pushes keep flowing while the row waits
    await push(s.url, 'a', { client: 'c1', mutations: [put(4, 's', 4, { v: 'ok4' })] });
    await s.stop();
    s = await startServer({ dataDir: data, lakeDir: lake });   // a fixed writer
    await flush(s.url, 'a');
    await until('the held row', async () => (await ready(s.url)).status === 200);
    assert.deepEqual(await vals('s_changes'), ['ok1', 'ok3', 'ok4', 'poison']);
    assert.deepEqual(await vals('s'), ['ok1', 'ok3', 'ok4', 'poison']);
    const files = fs.readdirSync(path.join(lake, 'a', 's_changes'), { recursive: true }).filter((f) => f.endsWith('.parquet'));
    assert.ok(files.some((f) => f.endsWith('part-00000000000000000002-00000000000000000002.parquet')), files.join());
  } finally {
    await s.stop();
  }
});

test('shutdown with a failing lake and a flush waiting takes under 5 s', async () => {
  const dir = tempDir();
  const lake = path.join(dir, 'lake');
  fs.mkdirSync(path.join(lake, 'a'), { recursive: true });
  fs.writeFileSync(path.join(lake, 'a', 's_changes'), 'in the way');
  fs.writeFileSync(path.join(lake, 'a', 's'), 'in the way');
  const s = await startServer({ dataDir: path.join(dir, 'data'), lakeDir: lake, env: { IDBSYNC_TEST_LAKE_REFUSE: 'poison' } });
  await push(s.url, 'a', { client: 'c1', mutations: [put(1, 's', 1, { v: 1 }), put(2, 't', 1, { v: 'poison' })] });
  const waiting = fetch(`${s.url}/v1/db/a/flush`, { method: 'POST' }).catch(() => null);
  await new Promise((r) => setTimeout(r, 500));
  const t0 = Date.now();
  const { code } = await s.stop();
  const took = Date.now() - t0;
  await waiting;
  assert.equal(code, 0);
  assert.ok(took < 5000, `shutdown took ${took} ms`);
});
