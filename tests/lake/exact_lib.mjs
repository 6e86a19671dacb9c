// Every Iceberg state snapshot is exactly the state at its idbsync.seq (issue #16, time travel):
// a server ingests from several clients while one of them calls flush after each push, then pyiceberg scans
// EVERY snapshot of each state table and each is compared, key by key and value by value, with
// the newest change per key at or below the snapshot's idbsync.seq in the change log (itself
// checked: every seq once, its newest changes the pull feed). Shared by the SQLite
// (tests/lake/iceberg_exact.test.mjs) and PostgreSQL (tests/pg/lake_exact.test.mjs) suites.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { serve, push, flush, rng, duck, glob } from './lib.mjs';
import { py, pullChanges, stateOf } from './iceberg_lib.mjs';

export const STORES = ['docs', 'notes', 'events'];
const FIELDS = ['n', 's', 't', 'region'];
const SYS = new Set(['idb_key', 'idb_user', 'idb_seq', 'idb_hlc']);

/** Pushes of one client: hot keys updated and deleted (docs), new keys only (notes), keys
 * moving between partitions (events, partitioned by region). Client 0 makes `pushes` pushes,
 * each followed by a flush call (a state pass of every store, while the others push); the
 * others push until it is done. */
async function writer(url, w, pushes, stop, afterFlush) {
  const r = rng(100 + w);
  let id = 1;
  for (let p = 0; w ? !stop.done : p < pushes; p++) {
    const m = [];
    for (let k = 0; k < 6; k++) {
      const x = Math.floor(r() * 1e6);
      const key = Math.floor(r() * 30);
      if (k % 3 === 0) m.push(r() < 0.15 ? { id: id++, store: 'docs', op: 'delete', key }
        : { id: id++, store: 'docs', op: 'put', key, value: { n: x, s: `w${w}-${p}-${k}` } });
      else if (k % 3 === 1) m.push({ id: id++, store: 'notes', op: 'put', key: `${w}-${p}-${k}`, value: { t: `t${x}` } });
      else m.push({ id: id++, store: 'events', op: 'put', key: key % 20, value: { region: ['eu', 'us', 'ap'][x % 3], n: x } });
    }
    const res = await push(url, 'app', { client: `c${w}`, mutations: m });
    if (res.gap) throw new Error(`client c${w}: the server expected id ${res.expected}`);
    if (!w && afterFlush) await afterFlush(await flush(url, 'app'));
    else if (!w) await flush(url, 'app');
    else await new Promise((res) => setTimeout(res, 5));   // pacing only: the lake's files stay few
  }
}

/** The state of store at seq upto from its change-log rows: Map idb_key -> change row. */
function stateAt(log, upto) {
  const m = new Map();
  for (const c of log) {
    if (c.idb_seq > upto) break;
    if (c.idb_op === 'delete') m.delete(c.idb_key); else m.set(c.idb_key, c);
  }
  return m;
}

/** Differences between one state snapshot and the state at its idbsync.seq (at most 5). */
function diff(store, snap, log) {
  const want = stateAt(log, snap.seq);
  const out = [];
  const seen = new Set();
  for (const row of snap.rows) {
    const at = `${store} ${snap.id} (seq ${snap.seq}) key ${row.idb_key}`;
    if (seen.has(row.idb_key)) out.push(`${at}: twice`);
    seen.add(row.idb_key);
    const c = want.get(row.idb_key);
    if (!c) out.push(`${at}: seq ${row.idb_seq}, which at ${snap.seq} is ${row.idb_seq > snap.seq ? 'not yet written' : 'deleted'}`);
    else if (row.idb_seq !== c.idb_seq) out.push(`${at}: seq ${row.idb_seq}, at ${snap.seq} it is ${c.idb_seq}`);
    else {
      for (const f of FIELDS) if ((row[f] ?? null) !== (c[f] ?? null)) out.push(`${at}: ${f} ${row[f]}, the change log ${c[f]}`);
      for (const f of Object.keys(row)) if (!SYS.has(f) && !FIELDS.includes(f)) out.push(`${at}: unexpected column ${f}`);
    }
  }
  for (const k of want.keys()) if (!seen.has(k)) out.push(`${store} ${snap.id} (seq ${snap.seq}): key ${k} (seq ${want.get(k).idb_seq}) missing`);
  return out;
}

/**
 * Runs the ingest with server flags args (env: its environment) on data/lake and checks every
 * state snapshot. Resolves {snapshots, flushed} (snapshots checked per store: at least
 * `pushes`, one per flush call of client 0).
 */
export async function checkEverySnapshot({ data, lake, args = [], env = {}, writers = 3, pushes = 30 }) {
  const srv = await serve({
    data, lake, env,
    args: [...args, '--lake-format', 'iceberg', '--flush-interval', '60ms', '--iceberg-keep', '0',
      '--lake-partition', 'app/events=region'],
  });
  try {
    const stop = {};
    const others = Array.from({ length: writers - 1 }, (_, w) => writer(srv.url, w + 1, pushes, stop));
    try {
      await writer(srv.url, 0, pushes, stop);
    } finally {
      stop.done = true;
      await Promise.allSettled(others);
    }
    await Promise.all(others);
    const { flushed } = await flush(srv.url, 'app');
    const feed = stateOf(await pullChanges(srv.url, 'app'));
    const root = `${lake}/_iceberg/app`;
    const logs = await py('scan', ...STORES.map((s) => `${root}/${s}_changes`));
    const hist = await py('history', ...STORES.map((s) => `${root}/${s}`));
    const all = logs.flatMap((l) => l.rows.map((r) => r.idb_seq)).sort((a, b) => a - b);
    assert.deepEqual(all, Array.from({ length: flushed }, (_, i) => i + 1), 'the change logs: every change once');
    const snapshots = {};
    const problems = [];
    STORES.forEach((store, i) => {
      const log = logs[i].rows.sort((a, b) => a.idb_seq - b.idb_seq);
      // the change log's newest change per key is the pull feed
      const now = stateAt(log, Infinity), want = feed.get(store) ?? new Map();
      assert.deepEqual([...now.keys()].sort(), [...want.keys()].sort(), `${store}: the change log's keys are the pull feed's`);
      for (const [k, c] of now) assert.equal(c.idb_seq, want.get(k).seq, `${store} key ${k}`);
      const snaps = hist[i].snapshots.filter((s) => s.seq >= 0);
      assert.equal(snaps.length, hist[i].snapshots.length, `${store}: a state snapshot without idbsync.seq`);
      snapshots[store] = snaps.length;
      for (const s of snaps) problems.push(...diff(store, { ...s, id: `snapshot ${s.id}` }, log).slice(0, 5));
      // the newest state snapshot has the store's last change (so it is the final state)
      assert.ok(snaps.at(-1).seq >= log.at(-1).idb_seq, `${store}: the newest state snapshot is at ${snaps.at(-1).seq}, ` +
        `the store's last change at ${log.at(-1).idb_seq}`);
    });
    const n = Object.values(snapshots).reduce((a, b) => a + b, 0);
    assert.ok(!problems.length, `${problems.length} differences in ${n} state snapshots (${JSON.stringify(snapshots)}): ` +
      `a state snapshot is not the state at its idbsync.seq:\n${problems.slice(0, 12).join('\n')}`);
    return { snapshots, flushed };
  } finally {
    await srv.stop();
  }
}

/**
 * The plain layout (--lake-format hive, the default): no flush but the flush calls of client 0
 * (--flush-interval 3600s), so the files stay as its pass left them until the next call; after
 * each call DuckDB reads every state table's files (read_parquet over the directory) and
 * progress.json, and each state must be exactly the state at progress.json's state_seq.
 * Resolves {passes, flushed}.
 */
// The whole change log of store. The idle loop may compact it meanwhile, and a file merged away
// between DuckDB's listing and its open fails the query (docs/lake-layout.md, compaction): list
// again (the rows read are checked in full either way).
async function readLog(db, lake, store) {
  for (let i = 0; ; i++) {
    try {
      return await db.rows(`SELECT * FROM ${glob(lake, 'app', `${store}_changes`)}`);
    } catch (e) {
      if (i >= 5 || !/No such file|Cannot open file/.test(e.message)) throw e;
    }
  }
}

export async function checkPlainAfterEachFlush({ data, lake, args = [], env = {}, writers = 3, pushes = 30 }) {
  const srv = await serve({ data, lake, env, args: [...args, '--flush-interval', '3600s', '--lake-partition', 'app/events=region'] });
  const db = await duck();
  try {
    const reads = [];
    const read = async ({ flushed }) => {
      const prog = JSON.parse(fs.readFileSync(`${lake}/_idbsync/progress.json`, 'utf8'));
      assert.ok(prog.state_seq >= flushed, `state_seq ${prog.state_seq}: the flush call answered ${flushed}`);
      // (a flush whose pass was not due, such as the first call's after a flush at start,
      // leaves the change log ahead)
      assert.ok(prog.state_seq <= prog.changes_seq, `state_seq ${prog.state_seq} past changes_seq ${prog.changes_seq}`);
      const tables = [];
      for (const store of STORES) tables.push(await db.rows(`SELECT * FROM ${glob(lake, 'app', store)}`));
      reads.push({ seq: prog.state_seq, tables });
    };
    const stop = {};
    const others = Array.from({ length: writers - 1 }, (_, w) => writer(srv.url, w + 1, pushes, stop));
    try {
      await writer(srv.url, 0, pushes, stop, read);
    } finally {
      stop.done = true;
      await Promise.allSettled(others);
    }
    await Promise.all(others);
    const { flushed } = await flush(srv.url, 'app');
    await read({ flushed });
    const problems = [];
    for (const [i, store] of STORES.entries()) {
      const log = (await readLog(db, lake, store))
        .map((r) => ({ ...r, idb_seq: Number(r.idb_seq), n: r.n == null ? r.n : Number(r.n) }))
        .sort((a, b) => a.idb_seq - b.idb_seq);
      for (const [k, r] of reads.entries()) {
        const rows = r.tables[i].map((x) => ({ ...x, idb_seq: Number(x.idb_seq), n: x.n == null ? x.n : Number(x.n) }));
        problems.push(...diff(store, { id: `after flush call ${k + 1}`, seq: r.seq, rows }, log).slice(0, 5));
      }
    }
    assert.ok(!problems.length, `${problems.length} differences in ${reads.length} reads of ${STORES.length} tables: ` +
      `a state is not the state at its state_seq:\n${problems.slice(0, 12).join('\n')}`);
    return { passes: reads.length, flushed };
  } finally {
    db.conn.closeSync?.();
    await srv.stop();
  }
}
