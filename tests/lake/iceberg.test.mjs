// --lake-format iceberg read by an independent Iceberg implementation (pyiceberg, in a venv that
// tests/engines/pyiceberg_env.sh creates once): the current state equals the pull feed in both
// profiles, the change log holds every change once, schema evolution by field id (a widened
// column keeps its old values under <name>__<type>), conflicts appended, time travel to an older
// snapshot (by its idbsync.seq) returns the state at that seq, and a reader in a loop during
// ingest sees no error, duplicate or gap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { serve, push, flush, tempDir, run } from './lib.mjs';
import { py, pullChanges, stateOf } from './iceberg_lib.mjs';

const iso = (d) => new Date(d).toISOString();

/** A lake row's user columns against the pushed value (both profiles' representations). */
function sameValue(row, v, profile) {
  for (const [f, x] of Object.entries(v)) {
    const got = row[f];
    if (x && typeof x === 'object' && '$date' in x) assert.equal(iso(got), iso(x.$date), f);
    else if (typeof x === 'number') assert.equal(Number(got ?? row[`${f}__long`]), x, f);
    else if (Array.isArray(x) || (x && typeof x === 'object')) {
      if (profile === 'modern') assert.deepEqual(got, x, f);
      else assert.deepEqual(JSON.parse(got), x, f);
    } else assert.equal(got, x, f);
  }
}

for (const profile of ['compat', 'modern']) {
  test(`pyiceberg reads state, change log, conflicts; time travel (${profile})`, async () => {
    const lake = tempDir(), data = tempDir();
    const srv = await serve({ data, lake, args: ['--lake-format', 'iceberg', '--lake-profile', profile, '--flush-interval', '100ms'] });
    let id = 1;
    const put = (store, key, value, hlc) => ({ id: id++, store, op: 'put', key, value, ...(hlc ? { hlc } : {}) });
    const del = (store, key) => ({ id: id++, store, op: 'delete', key });
    // round 1: the types a browser writes
    const m1 = [];
    for (let k = 0; k < 40; k++) {
      m1.push(put('docs', k, { n: k, s: `s${k}`, b: k % 2 === 0, d: { $date: new Date(Date.UTC(2024, 0, 1 + k)).toISOString() },
        o: { x: k, y: 'why' }, l: [k, k + 1] }));
    }
    m1.push(put('notes', 'a', { text: 'hello' }), put('notes', ['compound', 2], { text: 'key is an array' }));
    await push(srv.url, 'app', { client: 'c1', mutations: m1 });
    const f1 = (await flush(srv.url, 'app')).flushed;
    // round 2: deletes, updates, a widening (n becomes a double), a new field, a conflict
    const m2 = [];
    for (let k = 0; k < 40; k += 3) m2.push(del('docs', k));
    for (let k = 1; k < 40; k += 3) m2.push(put('docs', k, { n: k + 0.5, s: `t${k}`, extra: 'new' }));
    m2.push(put('docs', 2, { n: 99, s: 'loser' }, '1000000000000-0000-c1'));   // older hlc: a conflict
    await push(srv.url, 'app', { client: 'c1', mutations: m2 });
    const f2 = (await flush(srv.url, 'app')).flushed;
    assert.ok(f2 > f1);

    const changes = await pullChanges(srv.url, 'app');   // the newest change of each key
    const root = `${lake}/_iceberg/app`;
    const stores = ['docs', 'notes'];
    const res = await py('scan', ...stores.flatMap((s) => [`${root}/${s}`, `${root}/${s}_changes`, `${root}/${s}@${f1}`]),
      `${root}/docs_conflicts`);
    const all = [];
    stores.forEach((store, i) => {
      const [st, log, old] = res.slice(3 * i, 3 * i + 3);
      // the current state equals the pull feed
      const want = stateOf(changes).get(store);
      assert.equal(st.rows.length, want.size, `${store}: rows`);
      for (const r of st.rows) {
        const w = want.get(r.idb_key);
        assert.ok(w, `${store}: ${r.idb_key} is not live`);
        assert.equal(r.idb_seq, w.seq);
        assert.equal(r.idb_hlc, w.hlc);
        sameValue(r, w.value, profile);
      }
      // the change log: every change once, each of the feed's equal
      const seqs = log.rows.map((r) => r.idb_seq);
      assert.equal(new Set(seqs).size, seqs.length, 'a change twice');
      all.push(...seqs);
      const bySeq = new Map(log.rows.map((r) => [r.idb_seq, r]));
      for (const c of changes.filter((x) => x.store === store)) {
        const r = bySeq.get(c.seq);
        assert.ok(r, `change ${c.seq} missing`);
        assert.equal(r.idb_op, c.op);
        assert.equal(r.idb_key, JSON.stringify(c.key));
        if (c.op === 'put') sameValue(r, c.value, profile);
      }
      // one snapshot per flush that touched the table, each carrying its seq
      assert.ok(log.snapshots.length >= (store === 'docs' ? 2 : 1) && log.snapshots.every((s) => s.op === 'append' && s.seq > 0));
      // time travel: the state snapshot of the first flush is the state at f1 (its rows were
      // replaced or deleted since, but that snapshot still has them)
      const then = stateOf(changes, f1).get(store);   // the keys not changed since
      assert.ok(old.snapshot && (store === 'notes' || old.snapshot !== st.snapshot));
      assert.equal(old.rows.length, store === 'docs' ? 40 : 2, `${store}: rows as of seq ${f1}`);
      for (const r of old.rows) assert.ok(r.idb_seq <= f1);
      if (then) for (const [k, c] of then) assert.equal(old.rows.find((r) => r.idb_key === k)?.idb_seq, c.seq);
    });
    // every seq of the two flushes once across the stores' change logs
    assert.deepEqual(all.sort((a, b) => a - b), Array.from({ length: f2 }, (_, i) => i + 1));
    // schema evolution by field id: the widened column is a new id, the old one stays readable
    const log = res[1];
    assert.ok(log.schema.includes('n') && log.schema.includes('n__long') && log.schema.includes('extra'));
    assert.equal(log.rows.find((r) => r.idb_seq === 1).n__long, 0);
    assert.equal(log.rows.find((r) => r.idb_key === '1' && r.s === 't1').n, 1.5);
    // conflicts appended
    const conf = res[6];
    assert.equal(conf.rows.length, 1);
    assert.equal(conf.rows[0].idb_key, '2');
    assert.equal(conf.rows[0].s, 'loser');
    // the manifests' column metrics prune: the first flush's file alone holds seqs <= f1, one
    // state file holds the docs key "3" (bounds of idb_key), and the rows are still right
    const [early, one, none] = await py('scan', `${root}/docs_changes#idb_seq <= ${f1}`, `${root}/docs#idb_key == '3'`,
      `${root}/docs#n > 1000`);
    assert.equal(early.files, 1);
    assert.deepEqual(early.rows.map((r) => r.idb_seq).sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i + 1));
    assert.equal(one.rows.length, 0, 'key 3 was deleted');
    assert.equal(none.files, 0, 'n > 1000: pruned by its upper bound');
    // idbsync ddl attaches the Iceberg tables
    const duck = await run(['ddl', '--lake', lake, '--dialect', 'duckdb']);
    assert.equal(duck.code, 0, duck.err);
    assert.match(duck.out, new RegExp(`CREATE OR REPLACE VIEW app_docs_changes AS SELECT \\* FROM iceberg_scan\\('${root}/docs_changes'\\);`));
    const spark = await run(['ddl', '--lake', lake, '--dialect', 'spark', '--store', 'notes']);
    assert.match(spark.out, /spark\.sql\.catalog\.idbsync\.type=hadoop/);
    assert.match(spark.out, /idbsync\.`app`\.notes_changes/);
    assert.doesNotMatch(spark.out, /docs/);
    const hive = await run(['ddl', '--lake', lake, '--dialect', 'hive', '--db', 'app']);
    assert.match(hive.out, /STORED BY ICEBERG LOCATION 'file:\/\/.*\/_iceberg\/app\/docs_conflicts'/);
    // the plain layout is still there beside it
    assert.ok(fs.readdirSync(`${lake}/app/docs`).some((f) => /^part-0-\d+\.parquet$/.test(f)));
    await srv.stop();
    // the lake stays an Iceberg lake: opening it as a plain one would leave Iceberg behind
    await assert.rejects(serve({ data, lake, args: ['--lake-profile', profile] }), /written with --lake-format iceberg/);
  });
}

test('a pyiceberg reader in a loop during ingest: no error, duplicate or gap', async () => {
  const lake = tempDir(), data = tempDir();
  // snapshots expire after 1 s: the reader's snapshot may lose its files right after it
  const srv = await serve({ data, lake, args: ['--lake-format', 'iceberg', '--flush-interval', '50ms', '--lake-bucket-bytes', '8k',
    '--iceberg-keep', '1s'] });
  const root = `${lake}/_iceberg/app`;
  const reader = py('loop', 6, `${root}/items_changes`, `${root}/items`);
  let id = 1;
  let readerDone = false;
  reader.then(() => { readerDone = true; }, () => { readerDone = true; });
  while (!readerDone) {   // written to until the reader has scanned enough: no scan count left to luck
    const muts = [];
    for (let j = 0; j < 50; j++) {
      const key = Math.floor(Math.random() * 500);
      muts.push(j % 7 === 0 ? { id: id++, store: 'items', op: 'delete', key }
        : { id: id++, store: 'items', op: 'put', key, value: { v: id, pad: 'p'.repeat(100) } });
    }
    await push(srv.url, 'app', { client: 'c', mutations: muts });
    await new Promise((r) => setTimeout(r, 20));
  }
  const { flushed } = await flush(srv.url, 'app');
  const res = await reader;
  assert.deepEqual(res.errors, [], 'reader errors');
  assert.equal(res.dups, 0, 'scans with a change twice');
  assert.equal(res.gaps, 0, 'scans missing a change');
  assert.equal(res.backwards, 0, 'a scan older than the one before');
  assert.equal(res.state_dups, 0, 'state scans with a key twice');
  assert.ok(res.scans > 5, `only ${res.scans} scans`);
  const [log, st] = await py('scan', `${root}/items_changes`, `${root}/items`);
  assert.equal(log.rows.length, flushed);
  // expiry: old snapshots left the metadata, the state files only they had left the disk
  const files = fs.readdirSync(`${root}/items/data`).length;
  const lists = fs.readdirSync(`${root}/items/metadata`).filter((n) => n.startsWith('snap-')).length;
  console.log(`state: ${st.snapshots.length} snapshots kept, ${lists} manifest lists, ${files} data files; change log: ${log.snapshots.length} snapshots; reader: ${res.scans} scans`);
  assert.ok(st.snapshots.length < 40, `${st.snapshots.length} state snapshots kept`);
  assert.equal(lists, st.snapshots.length, 'manifest lists of expired snapshots removed');
  await srv.stop();
  // every state data file left on disk is one a kept snapshot names (added or removed by it):
  // the files only expired snapshots had are gone. (A count bound said this loosely, and state
  // passes that write delta files make the count depend on timing.)
  const { refs } = await py('refs', `${root}/items`);
  const unnamed = fs.readdirSync(`${root}/items/data`).map((n) => `${root}/items/data/${n}`)
    .filter((f) => f.endsWith('.parquet') && !refs.includes(fs.realpathSync(f)) && !refs.includes(f));
  assert.deepEqual(unnamed, [], `state data files no kept snapshot names (of ${files} on disk)`);
});
