// The current state's delta files (src/lake/state_delta.c): rows created since the last
// rebuild go to part-<65536+>-<gen>.parquet by ledger id range instead of rewriting every bucket.
// Asserts with a real server and DuckDB: new keys leave the bucket files untouched (same
// inode), small deltas are merged so files stay few, updates and deletes of keys in buckets
// and in deltas land in the right file, a kill -9 between passes and a restart leave each key
// exactly once, and the state equals the server's pull feed after every step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer } from '../lib/server.mjs';
import { push, flush, pullState, duck, glob, tempDir, metrics } from './lib.mjs';

const dirOf = (lake) => `${lake}/app/items`;
const files = (lake) => fs.readdirSync(dirOf(lake)).filter((f) => f.endsWith('.parquet')).sort();
const deltas = (lake) => files(lake).filter((f) => Number(/^part-(\d+)-\d+\.parquet$/.exec(f)[1]) >= 65536);
const buckets = (lake) => files(lake).filter((f) => Number(/^part-(\d+)-\d+\.parquet$/.exec(f)[1]) < 65536);
const inodes = (lake, names) => names.map((f) => fs.statSync(`${dirOf(lake)}/${f}`).ino);
const meta = (lake) => JSON.parse(fs.readFileSync(`${dirOf(lake)}/_buckets`, 'utf8'));

async function sameAsServer(d, srv, lake, what) {
  const want = (await pullState(srv.url, 'app')).get('items') || new Map();
  const rows = await d.rows(`SELECT idb_key, idb_seq, n FROM ${glob(lake, 'app', 'items')}`);
  const seen = new Set();
  for (const r of rows) {
    assert.ok(!seen.has(r.idb_key), `${what}: key ${r.idb_key} twice`);
    seen.add(r.idb_key);
    const w = want.get(r.idb_key);
    assert.ok(w, `${what}: key ${r.idb_key} is not live on the server`);
    assert.equal(Number(r.idb_seq), w.seq, `${what}: key ${r.idb_key} seq`);
    assert.equal(Number(r.n), w.value.n, `${what}: key ${r.idb_key} value`);
  }
  assert.equal(rows.length, want.size, `${what}: row count`);
}

test('new rows go to delta files; updates, deletes, merges and a crash keep each key once', async (t) => {
  const lake = tempDir(), data = tempDir();
  const srv = await startServer({ t, dataDir: data, lakeDir: lake, args: ['--flush-interval', '100000s'] });
  const d = await duck();
  let id = 1;
  const put = (keys, n) => push(srv.url, 'app', { client: 'c', mutations: keys.map((k) => ({ id: id++, store: 'items', op: 'put', key: k, value: { n: n + k, name: 'x'.repeat(40) } })) });
  const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);
  try {
    await put(range(0, 2000), 0);
    await flush(srv.url, 'app');
    assert.deepEqual(deltas(lake), [], 'a fresh table is rebuilt into buckets');
    const m0 = meta(lake);
    assert.ok(m0.upto >= 2000, JSON.stringify(m0));
    const base = buckets(lake), baseIno = inodes(lake, base);

    // eight passes of new keys only: no bucket file is written again
    for (let p = 1; p <= 8; p++) {
      await put(range(2000 * p, 2000 * p + 500), p);
      await flush(srv.url, 'app');
      assert.deepEqual(inodes(lake, base), baseIno, `pass ${p}: the buckets stay as they were`);
      await sameAsServer(d, srv, lake, `pass ${p}`);
    }
    const m1 = meta(lake);
    console.log(`# after 8 passes: upto ${m1.upto}, deltas ${JSON.stringify(m1.deltas)}`);
    assert.ok(m1.deltas.length >= 1 && m1.deltas.length <= 4, `merged: ${JSON.stringify(m1.deltas)}`);
    assert.equal(deltas(lake).length, m1.deltas.length, files(lake).join(' '));
    // the ranges follow each other from upto on
    let lo = m1.upto;
    for (const [, a, b] of m1.deltas) { assert.equal(a, lo); assert.ok(b > a); lo = b; }

    // updates of keys in buckets and in deltas, deletes in both, and new keys, in one pass
    await put([5, 900, 2001, 16400, 99999], 7000);
    await push(srv.url, 'app', { client: 'c', mutations: [10, 2002, 16401].map((k) => ({ id: id++, store: 'items', op: 'delete', key: k })) });
    await flush(srv.url, 'app');
    await sameAsServer(d, srv, lake, 'updates and deletes');

    // a crash after pushes the lake has not written, then more passes
    await put(range(30000, 30300), 3);
    await srv.restart({ kill9: true });
    await put(range(31000, 31300), 4);
    await put([2003, 7], 9000);
    await flush(srv.url, 'app');
    await sameAsServer(d, srv, lake, 'after kill -9 and restart');
    assert.deepEqual(files(lake).filter((f) => !/^part-\d+-\d+\.parquet$/.test(f)), [], 'no temp files visible');
  } finally {
    await srv.stop();
  }
});

// A merge concatenates the merged deltas' files; a file that is not there (a crash between
// listing its range in _buckets and writing it) makes that merge read its range from the ledger.
test('a merge reads its range from the ledger when a delta file is missing', async (t) => {
  const lake = tempDir(), data = tempDir();
  const srv = await startServer({ t, dataDir: data, lakeDir: lake, args: ['--flush-interval', '100000s'] });
  const d = await duck();
  let id = 1;
  const put = (keys, n) => push(srv.url, 'app', { client: 'c', mutations: keys.map((k) => ({ id: id++, store: 'items', op: 'put', key: k, value: { n: n + k, name: 'y'.repeat(40) } })) });
  const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);
  try {
    await put(range(0, 2000), 0);
    await flush(srv.url, 'app');
    for (let p = 1; p <= 7; p++) {
      await put(range(2000 * p, 2000 * p + 500), p);
      await flush(srv.url, 'app');
    }
    const before = meta(lake).deltas;
    assert.equal(before.length, 7, `no merge yet: ${JSON.stringify(before)}`);
    fs.unlinkSync(`${dirOf(lake)}/${files(lake).find((f) => f.startsWith(`part-${before[3][0]}-`))}`);
    await put(range(16000, 16500), 8);
    await flush(srv.url, 'app');
    const after = meta(lake).deltas;
    assert.ok(after.length < before.length, `merged: ${JSON.stringify(after)}`);
    assert.equal(deltas(lake).length, after.length, files(lake).join(' '));
    await sameAsServer(d, srv, lake, 'after a merge over a missing file');
  } finally {
    await srv.stop();
  }
});

test('Iceberg: delta files and their merges are committed; pyiceberg reads each key once', async (t) => {
  const { py, pullChanges, stateOf } = await import('./iceberg_lib.mjs');
  const lake = tempDir(), data = tempDir();
  const srv = await startServer({ t, dataDir: data, lakeDir: lake, args: ['--lake-format', 'iceberg', '--flush-interval', '100000s'] });
  let id = 1;
  const put = (keys, n) => push(srv.url, 'app', { client: 'c', mutations: keys.map((k) => ({ id: id++, store: 'items', op: 'put', key: k, value: { n: n + k } })) });
  const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);
  const check = async (what) => {
    const want = stateOf(await pullChanges(srv.url, 'app')).get('items');
    const [st] = await py('scan', `${lake}/_iceberg/app/items`);
    const got = new Map(st.rows.map((r) => [r.idb_key, r]));
    assert.equal(st.rows.length, got.size, `${what}: a key twice`);
    assert.equal(got.size, want.size, `${what}: row count`);
    for (const [k, c] of want) assert.equal(Number(got.get(k)?.idb_seq), c.seq, `${what}: key ${k}`);
  };
  try {
    await put(range(0, 300), 0);
    await flush(srv.url, 'app');
    for (let p = 1; p <= 9; p++) {
      await put(range(1000 * p, 1000 * p + 100), p);
      await flush(srv.url, 'app');
    }
    assert.ok(meta(lake).deltas.length < 9, JSON.stringify(meta(lake).deltas));
    await check('after merges');
    await put([3, 1001, 9050], 500);
    await flush(srv.url, 'app');
    await check('after updates');
  } finally {
    await srv.stop();
  }
});

// The tests below: a server on fresh dirs flushing only when asked, DuckDB, and a put of keys
// with the value {n: key, name: name(key)}.
async function items(t, env) {
  const x = { lake: tempDir(), data: tempDir(), args: ['--flush-interval', '100000s'], d: await duck(), id: 1 };
  x.srv = await startServer({ t, dataDir: x.data, lakeDir: x.lake, args: x.args, env });
  x.put = (keys, name = () => 'ok') => push(x.srv.url, 'app', { client: 'c', mutations: keys.map((k) => ({ id: x.id++, store: 'items', op: 'put', key: k, value: { n: k, name: name(k) } })) });
  x.metric = async (name) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await metrics(x.srv.url))[1]);
  return x;
}
const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);

// The change-log pass writes the next delta itself (src/lake/state_feed.c) when a pass's keys
// are all new: the state pass then renames that file in instead of reading the rows again.
// Counted in idbsync_lake_state_fed_rows_total; any other pass reads the ledger as before.
test('a pass of new keys only takes the delta the change log wrote; other passes read the ledger', async (t) => {
  const x = await items(t);
  const { lake, d, put } = x;
  const fed = () => x.metric('idbsync_lake_state_fed_rows_total');
  await put(range(0, 1000));
  await flush(x.srv.url, 'app');
  assert.equal(await fed(), 0, 'the first pass builds the buckets');
  await put(range(1000, 1400));
  await put(range(1400, 1500));
  await flush(x.srv.url, 'app');
  assert.equal(await fed(), 500, 'new keys only: the change log wrote the delta');
  await sameAsServer(d, x.srv, lake, 'fed delta');
  // a key created and updated in one pass, an update of a fed key, a delete: the ledger decides
  await put([2000, 2001]);
  await put([2000], () => 'again');
  await flush(x.srv.url, 'app');
  await sameAsServer(d, x.srv, lake, 'created then updated');
  await put([1200, 3000], () => 'updated');
  await push(x.srv.url, 'app', { client: 'c', mutations: [{ id: x.id++, store: 'items', op: 'delete', key: 1300 }] });
  await flush(x.srv.url, 'app');
  assert.equal(await fed(), 500, 'passes with older keys read the ledger');
  await sameAsServer(d, x.srv, lake, 'update and delete');
  // and the next pass of new keys is fed again, also after a restart
  await put(range(4000, 4100));
  await flush(x.srv.url, 'app');
  assert.equal(await fed(), 600);
  await x.srv.restart({ kill9: true });
  await put(range(5000, 5050));
  await flush(x.srv.url, 'app');
  await put(range(6000, 6050));
  await flush(x.srv.url, 'app');
  assert.equal(await fed(), 50, 'after the restart: its first pass reads the ledger, the next is fed');
  await sameAsServer(d, x.srv, lake, 'after kill -9');
  assert.deepEqual(files(lake).filter((f) => !/^part-\d+-\d+\.parquet$/.test(f)), [], 'no temp files visible');
});

// A row the writer refuses in a delta table waits alone (docs/lake-layout.md, "held rows"): the
// passes while it waits write only what they touch, and its retry writes the file it belongs in
// (its user is kept with it), where every pass used to rebuild the whole table until it settled.
test('a held row of a delta table costs its own file, not a rebuild per pass', async (t) => {
  const x = await items(t, { IDBSYNC_TEST_LAKE_REFUSE: 'poison' });
  const { lake, d } = x;
  const put = (keys) => x.put(keys, (k) => (k === 1050 ? 'poison' : 'ok'));
  const rebuilds = () => x.metric('idbsync_lake_table_rebuilds_total');
  const flushStatus = async () => (await fetch(`${x.srv.url}/v1/db/app/flush`, { method: 'POST' })).status;
  const keys = async () => new Set((await d.rows(`SELECT idb_key FROM ${glob(lake, 'app', 'items')}`)).map((r) => r.idb_key));
  await put(range(0, 1000));
  await flush(x.srv.url, 'app');
  assert.equal(await rebuilds(), 1, 'the first pass builds the buckets');
  const base = buckets(lake), baseIno = inodes(lake, base);
  await put(range(1000, 1100));
  assert.ok((await flushStatus()) >= 500, 'a held row: the flush names it');
  let k = await keys();
  assert.ok(!k.has('1050') && k.has('1049') && k.has('1051'), 'the refused row alone is left out');
  for (let p = 2; p <= 4; p++) {
    await put(range(1000 * p, 1000 * p + 100));
    assert.ok((await flushStatus()) >= 500);
  }
  assert.equal(await rebuilds(), 1, 'the passes while it waits rebuild nothing');
  assert.deepEqual(inodes(lake, base), baseIno, 'the buckets stay as they were');
  // the writer takes it again: the retry at start writes the delta it belongs in
  await x.srv.stop();
  x.srv = await startServer({ t, dataDir: x.data, lakeDir: lake, args: x.args });
  await flush(x.srv.url, 'app');
  k = await keys();
  assert.ok(k.has('1050'), 'the held row is back');
  assert.equal(await rebuilds(), 0, 'without a rebuild');
  assert.deepEqual(inodes(lake, base), baseIno, 'the buckets stay as they were');
  await sameAsServer(d, x.srv, lake, 'after the retry');
  const prog = JSON.parse(fs.readFileSync(`${lake}/_idbsync/progress.json`, 'utf8'));
  assert.deepEqual(prog.quarantine ?? [], [], 'nothing held');
});
