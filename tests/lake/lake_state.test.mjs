// The lake under random load: several clients push thousands of puts, updates and deletes to a
// real server while a DuckDB reader queries the lake in a loop: no query ever sees a duplicate
// key or a file read as garbage (a state pass never writes over a name and swaps the whole dir
// in at once); one that spanned a pass may fail with file-not-found (a name it listed was
// replaced) and is run again, one that read one state (by _idbsync/<t>.pass) never fails;
// afterwards the current state equals the server's pull feed exactly
// and the change log holds every applied change once. One store is Hive-partitioned by a field
// whose value changes (rows move between partitions); small buckets force doublings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer } from '../lib/server.mjs';
import { push, flush, pullState, duck, glob, globU, tempDir, rng, metrics } from './lib.mjs';

const CLIENTS = 4, ROUNDS = 30, PER = 40, KEYS = 700;

function value(r, i) {
  const v = { n: Math.floor(r() * 1000), name: 'item-' + Math.floor(r() * 50), region: ['eu', 'us', 'ap/x', null][Math.floor(r() * 4)] };
  if (i > 1500) v.price = r() < 0.5 ? Math.floor(r() * 100) : r() * 100;  // new column, widened later
  if (r() < 0.2) v.when = { $date: new Date(1700000000000 + Math.floor(r() * 1e10)).toISOString() };
  if (r() < 0.1) v.tags = ['a', 'b'];
  return v;
}

test('random load: state equals the pull feed, change log exact, a reader never sees duplicates or torn files', async () => {
  const lake = tempDir(), data = tempDir();
  const srv = await startServer({ dataDir: data, lakeDir: lake, args: ['--flush-interval', '200ms', '--lake-bucket-bytes', '8k',
    '--lake-partition', 'app/events=region'] });
  const d = await duck();
  let stop = false, queries = 0, skewed = 0, notFound = 0;
  const problems = [];
  // _idbsync/<t>.pass is odd while a state pass changes the table and grows with each pass: a
  // query between two equal even numbers read one state of the table (docs/lake-layout.md,
  // "What a reader sees"). One that spanned a pass read the state it listed, or fails when a
  // name it listed was replaced before it opened it: counted, and retried.
  const passOf = (t) => { try { return fs.readFileSync(`${lake}/app/_idbsync/${t}.pass`, 'utf8').trim(); } catch { return null; } };
  const query = async (t) => {
    const before = passOf(t);
    let dup = null, err = null;
    try {
      dup = await d.rows(`SELECT idb_user, idb_key, count(*) c FROM ${glob(lake, 'app', t)} GROUP BY ALL HAVING c > 1 LIMIT 3`);
    } catch (e) {
      err = e;
    }
    const after = passOf(t);
    return { dup, err, steady: before !== null && before === after && BigInt(before) % 2n === 0n };
  };
  const gone_re = /No files found|No such file or directory|does not exist/;
  const reader = (async () => {
    while (!stop) {
      await new Promise((r) => setTimeout(r, 5));
      for (const t of ['items', 'events']) {
        if (!fs.existsSync(`${lake}/app/${t}`)) continue;
        let q = await query(t);
        if (q.dup?.length) problems.push(`${t}: duplicate keys${q.steady ? '' : ' (query spanned a pass)'} ${JSON.stringify(q.dup)}`);
        if (q.err && (q.steady || !gone_re.test(q.err.message))) problems.push(`${t}: ${q.err.message}`);
        if (!q.steady) {
          skewed++;
          notFound += !!q.err;
          // the reader's remedy: the same query again until it reads one state
          for (let i = 0; i < 100 && !q.steady; i++) q = await query(t);
          if (!q.steady) continue;   // the writer never paused for 100 queries: nothing to check
          if (q.dup?.length) problems.push(`${t}: duplicate keys ${JSON.stringify(q.dup)}`);
          if (q.err) problems.push(`${t}: ${q.err.message}`);
        }
        if (q.dup) queries++;
      }
    }
  })();
  let total = 0;
  try {
  await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
    const r = rng(1000 + c);
    let id = 1;
    for (let round = 0; round < ROUNDS; round++) {
      const muts = [];
      for (let j = 0; j < PER; j++, total++) {
        const store = r() < 0.6 ? 'items' : 'events';
        const key = Math.floor(r() * KEYS);
        const del = r() < 0.2;
        muts.push(del ? { id: id++, store, op: 'delete', key } : { id: id++, store, op: 'put', key, value: value(r, total) });
      }
      await push(srv.url, 'app', { client: `client-${c}`, mutations: muts });
    }
  }));
  } finally {
    // the reader runs at least a few queries whatever the machine's speed (the writes may end first)
    for (const until = Date.now() + 30000; queries <= 5 && Date.now() < until;) await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await reader;
  }
  const { flushed } = await flush(srv.url, 'app');
  assert.deepEqual(problems, [], problems.join('\n'));
  assert.ok(queries > 5, `reader ran ${queries} queries`);
  console.log(`# reader: ${queries} queries of one state, ${skewed} spanned a pass (${notFound} of them failed with file-not-found), ` +
    `0 duplicates, 0 torn reads`);

  const state = await pullState(srv.url, 'app');
  for (const t of ['items', 'events']) {
    const want = state.get(t);
    const rows = await d.rows(`SELECT idb_key, idb_seq, idb_hlc, n, name FROM ${glob(lake, 'app', t)}`);
    assert.equal(rows.length, want.size, `${t}: row count`);
    for (const row of rows) {
      const w = want.get(row.idb_key);
      assert.ok(w, `${t}: key ${row.idb_key} is not live on the server`);
      assert.equal(Number(row.idb_seq), w.seq, `${t}: key ${row.idb_key} seq`);
      assert.equal(row.idb_hlc, w.hlc);
      assert.equal(Number(row.n), w.value.n);
      assert.equal(row.name, w.value.name);
    }
  }
  // partition column from the path: Hive-escaped on disk, null in __HIVE_DEFAULT_PARTITION__
  const parts = await d.rows(`SELECT DISTINCT region FROM ${glob(lake, 'app', 'events')} ORDER BY 1`);
  assert.deepEqual(parts.map((p) => p.region), ['ap/x', 'eu', 'us', null]);
  assert.ok(fs.existsSync(`${lake}/app/events/region=ap%2Fx`));
  assert.ok(fs.existsSync(`${lake}/app/events/region=__HIVE_DEFAULT_PARTITION__`));
  // the change log: every applied seq exactly once
  const log = await d.rows(`SELECT count(*) n, count(DISTINCT idb_seq) d, min(idb_seq) lo, max(idb_seq) hi FROM (
    SELECT idb_seq FROM ${globU(lake, 'app', 'items_changes')} UNION ALL SELECT idb_seq FROM ${globU(lake, 'app', 'events_changes')})`);
  assert.equal(Number(log[0].n), Number(log[0].d), 'no change twice');
  assert.equal(Number(log[0].hi), flushed);
  assert.equal(Number(log[0].n), flushed, 'every change once (seqs 1..head)');
  // buckets doubled with the small target; names stable, no temp files visible
  const files = fs.readdirSync(`${lake}/app/items`);
  assert.ok(files.filter((f) => /^part-\d+-\d+\.parquet$/.test(f)).length >= 2, files.join(' '));
  assert.deepEqual(files.filter((f) => !/^part-\d+-\d+\.parquet$/.test(f) && !f.startsWith('_')), []);
  const m = await metrics(srv.url);
  assert.match(m, /idbsync_lake_flushes_total [1-9]/);
  assert.match(m, /idbsync_lake_flush_errors_total 0/);
  await srv.stop();
});
