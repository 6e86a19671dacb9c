// What a reader of the plain layout sees while rows move between files (docs/lake-layout.md,
// "What a reader sees"). A state pass writes every new file under a name the table dir never
// had and swaps the whole dir in with one exchange, so a name, once visible, keeps its bytes.
// The server stops at every step of a pass that changes what a reader sees (before and after
// its exchange, IDBSYNC_TEST_LAKE_PAUSE) and the test checks, each time: a listing holds each
// live key exactly once, and every name seen before the pass is gone or holds the same bytes.
// Then a query that listed the files before a pass that moves every key to another partition
// and opens them after it: it fails with file-not-found (never a key twice or a torn row), the
// files still there hold the old state, and a file opened before the pass reads as it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer } from '../lib/server.mjs';
import { push, flush, duck, glob, tempDir } from './lib.mjs';

const KEYS = 60;
const pass = (lake) => {
  try { return BigInt(fs.readFileSync(`${lake}/app/_idbsync/events.pass`, 'utf8').trim()); } catch { return null; }
};
// every state file: relative name -> its bytes
const snapshot = (dir) => {
  const out = new Map();
  for (const e of fs.readdirSync(dir, { recursive: true })) {
    if (String(e).endsWith('.parquet')) out.set(String(e), fs.readFileSync(path.join(dir, String(e))));
  }
  return out;
};
// names of snap that now hold other bytes (a missing name is fine: it was replaced)
const changed = (dir, snap) => {
  const bad = [];
  for (const [name, bytes] of snap) {
    let now;
    try { now = fs.readFileSync(path.join(dir, name)); } catch (e) { if (e.code === 'ENOENT') continue; throw e; }
    if (!now.equals(bytes)) bad.push(name);
  }
  return bad;
};

test('a name never changes its bytes; every instant of a pass holds each key once; a query listed before a pass fails or reads the old state', async () => {
  const lake = tempDir(), data = tempDir(), gate = tempDir();
  const dir = `${lake}/app/events`;
  const srv = await startServer({ dataDir: data, lakeDir: lake, env: { IDBSYNC_TEST_LAKE_PAUSE: gate },
    args: ['--flush-interval', '60s', '--lake-bucket-bytes', '2k', '--lake-partition', 'app/events=region'] });
  const checker = await duck(), reader = await duck();
  const steps = [];   // {step, rows, keys, dups, odd, changed} at every pause
  let seen = null;    // names and bytes before the moving pass
  let stop = false;
  const pauser = (async () => {
    for (let n = 1; !stop; ) {
      if (!fs.existsSync(`${gate}/paused-${n}`)) { await new Promise((r) => setTimeout(r, 5)); continue; }
      const step = fs.readFileSync(`${gate}/paused-${n}`, 'utf8');
      const p = pass(lake);
      let rows = 0, keys = 0, dups = [], bad = [];
      if (fs.existsSync(dir)) {
        try {
          dups = await checker.rows(`SELECT idb_key, count(*) c FROM ${glob(lake, 'app', 'events')} GROUP BY ALL HAVING c > 1`);
          const r = (await checker.rows(`SELECT count(*) n, count(DISTINCT idb_key) d FROM ${glob(lake, 'app', 'events')}`))[0];
          rows = Number(r.n);
          keys = Number(r.d);
          if (seen) bad = changed(dir, seen);
        } catch (e) {
          dups = [e.message];   // the server is stopped: nothing may fail to read
        }
      } else {
        rows = keys = -1;      // a fresh table before its first exchange
      }
      steps.push({ step, rows, keys, dups, odd: p !== null && p % 2n === 1n, bad });
      fs.writeFileSync(`${gate}/go-${n++}`, '');
    }
  })();
  const put = (region, from) => push(srv.url, 'app', { client: 'c', mutations: Array.from({ length: KEYS }, (_, i) =>
    ({ id: from + i, store: 'events', op: 'put', key: i, value: { region, n: i, pad: 'x'.repeat(40) } })) });
  try {
    await put('a', 1);
    await flush(srv.url, 'app');
    const before = steps.length;
    assert.ok(before > 0, 'the first pass paused before its exchange');

    // a query that lists the table once, before a pass that moves every key to region b
    const g1 = pass(lake);
    assert.ok(g1 !== null && g1 % 2n === 0n, `no pass runs: ${g1}`);
    seen = snapshot(dir);
    const listed = [...seen.keys()].map((f) => `'${path.join(dir, f)}'`);
    const oneA = [...seen.keys()].find((f) => f.startsWith('region=a/') && seen.get(f).length > 100);
    const fd = fs.openSync(path.join(dir, oneA), 'r');   // a reader that opened a file before the pass
    const first = await reader.rows(`SELECT idb_key FROM read_parquet([${listed.join(',')}])`);
    assert.equal(first.length, KEYS);

    await put('b', 1 + KEYS);
    await flush(srv.url, 'app');
    const g2 = pass(lake);
    assert.ok(g2 > g1 && g2 % 2n === 0n, `pass ${g1} -> ${g2}`);

    // every name seen before the pass is gone or holds the same bytes
    assert.deepEqual(changed(dir, seen), [], 'a name changed its bytes');
    const gone = [...seen.keys()].filter((f) => !fs.existsSync(path.join(dir, f)));
    assert.ok(gone.some((f) => f.startsWith('region=a/')), `the moved rows' files are replaced: ${[...seen.keys()]}`);
    // the file opened before the pass still reads as it was
    const buf = Buffer.alloc(seen.get(oneA).length);
    assert.equal(fs.readSync(fd, buf, 0, buf.length, 0), buf.length);
    fs.closeSync(fd);
    assert.ok(buf.equals(seen.get(oneA)), `${oneA} read through a handle opened before the pass`);

    // the query as listed before the pass: file-not-found, never a key twice or a torn row ...
    await assert.rejects(reader.rows(`SELECT idb_key, region FROM read_parquet([${listed.join(',')}], hive_partitioning=true)`),
      /No files found|not exist|No such file/i);
    // ... and the listed files that are still there hold the old state: each key at most once, in a
    const left = listed.filter((f) => fs.existsSync(f.slice(1, -1)));
    if (left.length) {
      const old = await reader.rows(`SELECT idb_key, count(*) c, min(region) r FROM read_parquet([${left.join(',')}], hive_partitioning=true) GROUP BY ALL`);
      assert.ok(old.every((r) => Number(r.c) === 1 && r.r === 'a'), JSON.stringify(old.slice(0, 5)));
    }

    // every pause: each live key exactly once, no name changed, the pass number odd
    const moving = steps.slice(before);
    console.log(`# ${steps.length} pauses (${moving.map((s) => `${s.step}:${s.rows}`).join(' ')} in the moving pass)`);
    assert.ok(moving.some((s) => s.step === 'exchange') && moving.some((s) => s.step === 'exchanged'), JSON.stringify(moving));
    for (const s of steps) {
      assert.deepEqual(s.dups, [], `${s.step}: ${JSON.stringify(s)}`);
      assert.ok(s.rows === -1 || (s.rows === KEYS && s.keys === KEYS), `each key once: ${JSON.stringify(s)}`);
      assert.deepEqual(s.bad, [], `a name changed its bytes: ${JSON.stringify(s)}`);
      assert.ok(s.odd, `the pass number is odd while files are swapped: ${JSON.stringify(s)}`);
    }

    // a query between two equal even pass numbers: one state, each key once, all in b
    const g3 = pass(lake);
    const all = await reader.rows(`SELECT region, count(*) n, count(DISTINCT idb_key) d FROM ${glob(lake, 'app', 'events')} GROUP BY ALL`);
    assert.equal(pass(lake), g3);
    assert.deepEqual(all.map((r) => [r.region, Number(r.n), Number(r.d)]), [['b', KEYS, KEYS]]);
  } finally {
    await srv.stop();   // its last flush may pause too: the pauser lets it go
    stop = true;
    await pauser;
  }
});

// kill -9 at each step of a pass (before the exchange: the next version half-linked beside the
// visible one; after it: the old version not yet removed), then a restart: the table reads one
// complete version at the kill, the start removes what the pass left, and the next flush writes
// every change once.
for (const at of ['exchange', 'exchanged']) {
  test(`kill -9 at "${at}" of a pass: the table stays readable, the restart cleans up and catches up`, async (t) => {
    const lake = tempDir(), data = tempDir(), gate = tempDir();
    const srv = await startServer({ t, dataDir: data, lakeDir: lake, env: { IDBSYNC_TEST_LAKE_PAUSE: gate },
      args: ['--flush-interval', '60s', '--lake-partition', 'app/events=region'] });
    const d = await duck();
    let hold = false, stop = false, held = null;
    const pauser = (async () => {
      for (let n = 1; !stop; ) {
        if (!fs.existsSync(`${gate}/paused-${n}`)) { await new Promise((r) => setTimeout(r, 5)); continue; }
        const step = fs.readFileSync(`${gate}/paused-${n}`, 'utf8');
        if (hold && step === at) { held = step; return; }   // the server waits here until it is killed
        fs.writeFileSync(`${gate}/go-${n++}`, '');
      }
    })();
    const put = (v, from) => push(srv.url, 'app', { client: 'c', mutations: [
      ...Array.from({ length: KEYS }, (_, i) => ({ id: from + i, store: 'events', op: 'put', key: i, value: { region: v, n: i } })),
      ...Array.from({ length: KEYS }, (_, i) => ({ id: from + KEYS + i, store: 'items', op: 'put', key: i, value: { v, n: i } }))] });
    // each table as one complete version: every key once, all of them a or all b (v: which)
    const read = async (v) => {
      const got = [];
      for (const [tbl, col] of [['events', 'region'], ['items', 'v']]) {
        const r = await d.rows(`SELECT count(*) n, count(DISTINCT idb_key) k, min(${col}) lo, max(${col}) hi FROM ${glob(lake, 'app', tbl)}`);
        assert.deepEqual([Number(r[0].n), Number(r[0].k), r[0].lo], [KEYS, KEYS, r[0].hi], `${tbl} at ${at}: ${JSON.stringify(r)}`);
        got.push(r[0].lo);
      }
      return got;
    };
    try {
      await put('a', 1);
      await flush(srv.url, 'app');
      hold = true;
      await put('b', 1 + 2 * KEYS);
      flush(srv.url, 'app').catch(() => {});   // answered by no one: the server is killed
      for (let i = 0; i < 6000 && !held; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(held, at, 'the pass stopped at its step');
      // what a reader sees at the kill: one complete version of each table; the table the pass
      // stopped in is still a before its exchange and b after it (the tables pass one by one)
      const seen = await read();
      assert.equal(seen.includes('b'), at === 'exchanged', JSON.stringify(seen));
      assert.ok(fs.existsSync(`${lake}/app/.events.next`) || fs.existsSync(`${lake}/app/.items.next`), 'a version beside the visible one');
      await srv.kill9();
      srv.env = {};
      await srv.restart();
      await flush(srv.url, 'app');   // (the restart's own first pass may be building a .next now)
      assert.deepEqual(fs.readdirSync(`${lake}/app`).filter((f) => f.startsWith('.')), [], 'nothing the killed pass left');
      assert.deepEqual(await read(), ['b', 'b']);
    } finally {
      stop = true;
      await pauser;
      await srv.stop();
    }
  });
}
