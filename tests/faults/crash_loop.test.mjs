// Crash loop: 16 clients push concurrently while the server is killed with SIGKILL at random
// instants and restarted on the same data dir. After every restart: each acknowledged mutation
// is in the pull feed exactly once with the value sent, nothing that was never sent appears,
// the server's ack per client lies between what the client saw acked and what it sent, and the
// head never falls below a cursor served before the crash. Clients retry their unacked batch with
// the same ids (idempotent), so every mutation ever sent ends up present exactly once.
// The server writes its Parquet lake all along (the default): every 10 kills and at every full
// check, the lake is flushed and read with DuckDB (checkLakeChangeLog): each change exactly once in
// the change log, the current-state tables equal to the pull state.
// Short form (make test): 50 kills. IDS_SOAK=1 (make soak): 1,000 kills. Every 50 kills the
// clients move to a new database (the old one is verified in full), so pulls stay small while
// the server's state keeps growing across the whole run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, pullAll, request, stores, sleep, postJson } from '../lib/server.mjs';
import { rng } from './lib/util.mjs';
import { duck, globU, pullState } from '../lake/lib.mjs';
import fs from 'node:fs';
import path from 'node:path';

const SOAK = !!process.env.IDS_SOAK;
const KILLS = Number(process.env.IDS_CRASH_KILLS || (SOAK ? 1000 : 50));
const EPOCH = 50; // kills per database
const CLIENTS = 16;
const SEED = Number(process.env.IDS_SEED || 20240611);
// kills between mid-run lake checks (each settle, every EPOCH kills and at the end, checks it too)
const LAKE_EVERY = Number(process.env.IDS_LAKE_EVERY ?? 10);

/**
 * The lake's view of a database after the crash loop (the server writes its lake all along, the
 * default `--lake DIR`). Flushes (`POST /v1/db/{db}/flush`), then reads with DuckDB:
 * - the change logs `LAKE/<db>/{log,meta}_changes/dt=DAY/part-A-B.parquet`: no seq twice (a re-flush
 *   after a crash must not append a change again), every change is a mutation a client sent
 *   (by idb_client/idb_mid, with its value), every acked mutation is there exactly once, and with
 *   `final` (all batches settled) every sent one; the log ends at the flushed seq;
 * - the current state `LAKE/<db>/{log,meta}/part-B.parquet`: the same keys, seqs and values as
 *   the server's pull feed.
 * Clients are paused while it runs, so the server is quiescent. Returns counts for diagnostics.
 */
async function checkLakeChangeLog(srv, db, clients, { final = false } = {}) {
  const t0 = Date.now();
  const f = await request(`${srv.url}/v1/db/${db}/flush`, { method: 'POST' });
  assert.equal(f.status, 200, `${db}: flush ${f.text}`);
  const flushed = f.json.flushed;
  lakeDuck ||= await duck();
  const base = path.join(srv.lakeDir, db);
  const byName = new Map(clients.map((c) => [c.name, c]));

  // field -> column of each table, from the lake's own schema files (docs/lake-layout.md)
  const schema = (t) => JSON.parse(fs.readFileSync(path.join(base, '_idbsync', `${t}.json`), 'utf8')).columns;
  const valueOf = (row, cols) => {
    const v = {};
    for (const c of cols) {
      if (row[c.name] === null || row[c.name] === undefined) continue;
      v[c.field] = c.type === 'bigint' ? Number(row[c.name]) : row[c.name];
    }
    return v;
  };

  // ---- change log: exactly once, by seq and by (client, mutation id)
  const seqs = new Set();
  const mids = new Map(clients.map((c) => [c.name, new Set()]));
  let changes = 0;
  let maxSeq = 0;
  for (const t of ['log', 'meta']) {
    const cols = schema(t);
    const rows = await lakeDuck.rows(`SELECT * EXCLUDE (dt) FROM ${globU(srv.lakeDir, db, `${t}_changes`)}`);
    for (const r of rows) {
      const seq = Number(r.idb_seq), mid = Number(r.idb_mid);
      assert.ok(!seqs.has(seq), `${db}: lake change log holds seq ${seq} twice (${t}_changes)`);
      seqs.add(seq);
      if (seq > maxSeq) maxSeq = seq;
      assert.equal(r.idb_op, 'put', `${db}: seq ${seq}: only puts were sent`);
      assert.equal(r.idb_origin, 'client', `${db}: seq ${seq} origin`);
      const cl = byName.get(r.idb_client);
      assert.ok(cl, `${db}: seq ${seq}: client ${r.idb_client} never pushed`);
      assert.ok(mid >= 1 && mid <= cl.sent, `${db}: seq ${seq}: ${cl.name} mutation ${mid} was never sent (sent up to ${cl.sent})`);
      assert.ok(!mids.get(cl.name).has(mid), `${db}: ${cl.name} mutation ${mid} is twice in the lake change log`);
      mids.get(cl.name).add(mid);
      const key = JSON.parse(r.idb_key);
      if (t === 'meta') {
        assert.ok(cl.isMetaId(mid), `${db}: seq ${seq}: meta change from log mutation ${mid}`);
        assert.equal(key, `${cl.name}/last`);
        assert.deepEqual(valueOf(r, cols), { id: mid }, `${db}: seq ${seq}: meta value`);
      } else {
        assert.ok(!cl.isMetaId(mid), `${db}: seq ${seq}: log change from meta mutation ${mid}`);
        assert.equal(key, `${cl.name}/${mid}`, `${db}: seq ${seq}: key`);
        assert.deepEqual(valueOf(r, cols), { c: cl.name, id: mid, pad: 'p'.repeat(mid % 50) }, `${db}: seq ${seq}: value as sent`);
      }
      changes++;
    }
  }
  assert.equal(maxSeq, flushed, `${db}: lake change log ends at the flushed seq`);
  for (const cl of clients) {
    const got = mids.get(cl.name);
    const upTo = final ? cl.sent : cl.acked;
    let missing = 0, first = 0;
    for (let id = 1; id <= upTo; id++) if (!got.has(id)) { missing++; first ||= id; }
    assert.equal(missing, 0, `${db}: ${cl.name}: ${missing} ${final ? 'sent' : 'acked'} mutations missing from the lake change log (first id ${first}, up to ${upTo})`);
  }

  // ---- current state: equal to the server's pull state (keys, seqs, values)
  const want = await pullState(srv.url, db);
  let stateRows = 0;
  for (const t of ['log', 'meta']) {
    const cols = schema(t);
    const w = want.get(t) ?? new Map();
    const rows = await lakeDuck.rows(`SELECT * FROM ${globU(srv.lakeDir, db, t)}`);
    assert.equal(rows.length, w.size, `${db}: lake ${t} has ${rows.length} rows, the server ${w.size}`);
    const keys = new Set();
    for (const r of rows) {
      assert.ok(!keys.has(r.idb_key), `${db}: lake ${t}: key ${r.idb_key} twice`);
      keys.add(r.idb_key);
      const s = w.get(r.idb_key);
      assert.ok(s, `${db}: lake ${t}: key ${r.idb_key} is not live on the server`);
      assert.equal(Number(r.idb_seq), s.seq, `${db}: lake ${t}: key ${r.idb_key} seq`);
      assert.equal(r.idb_hlc, s.hlc, `${db}: lake ${t}: key ${r.idb_key} hlc`);
      assert.deepEqual(valueOf(r, cols), s.value, `${db}: lake ${t}: key ${r.idb_key} value`);
    }
    stateRows += rows.length;
  }
  return { flushed, changes, stateRows, ms: Date.now() - t0 };
}
let lakeDuck = null;

test(`crash loop: ${CLIENTS} clients, ${KILLS} kill -9s, acked data exactly once`, async (t) => {
  const rand = rng(SEED);
  let srv = await startServer({ t });
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS * 2 });
  t.after(() => agent.destroy());

  // Per client and database: next id, in-flight batch (kept until acked), highest acked id,
  // highest sent id. Keys are unique per mutation (`${client}/${id}` in store `log`); each batch
  // also overwrites `${client}/last` in store `meta` with {id: <the batch's last id>}.
  const clients = Array.from({ length: CLIENTS }, (_, c) => ({
    name: `crash-${c}`, db: 'crash-0', nextId: 1, acked: 0, sent: 0, batch: null, metaIds: new Set(),
    isMetaId(id) { return this.metaIds.has(id); },
    retries: 0, dupSeen: 0, pushes: 0, logAcked: 0,
  }));
  let gate = { url: srv.url, promise: Promise.resolve(srv.url) };
  let stopping = false;
  const failures = [];

  function makeBatch(cl) {
    const n = 1 + Math.floor(rand() * 12);
    const muts = [];
    for (let i = 0; i < n; i++) {
      const id = cl.nextId++;
      muts.push({ id, store: 'log', op: 'put', key: `${cl.name}/${id}`, value: logValue(cl.name, id) });
    }
    const last = cl.nextId++;
    muts.push({ id: last, store: 'meta', op: 'put', key: `${cl.name}/last`, value: { id: last } });
    cl.metaIds.add(last);
    return muts;
  }
  const logValue = (name, id) => ({ c: name, id, pad: 'p'.repeat(id % 50) });

  function accept(cl, b, r) {
    const lastId = b[b.length - 1].id;
    if (r.status !== 200) return `${cl.name}@${cl.db}: push ${r.status} ${r.text.slice(0, 300)}`;
    if (r.json.ack !== lastId || r.json.applied + r.json.duplicates !== b.length) {
      return `${cl.name}@${cl.db}: batch ${b[0].id}..${lastId} answered ${r.text.slice(0, 300)}`;
    }
    cl.dupSeen += r.json.duplicates;
    cl.pushes++;
    cl.logAcked += b.length - 1;
    cl.acked = lastId;
    cl.batch = null;
    return null;
  }

  async function clientLoop(cl) {
    while (!stopping) {
      const url = await gate.promise;
      if (stopping) break;
      if (!cl.batch) cl.batch = makeBatch(cl);
      const b = cl.batch;
      cl.sent = Math.max(cl.sent, b[b.length - 1].id);
      let r;
      try {
        r = await postJson(agent, `${url}/v1/db/${cl.db}/push`, { client: cl.name, mutations: b });
      } catch {
        // the server died under us: wait for the restart, then resend the same batch
        cl.retries++;
        if (gate.url === url) await sleep(5);
        continue;
      }
      const f = accept(cl, b, r);
      if (f) { failures.push(f); stopping = true; }
    }
  }

  /** Full pull of the clients' database; asserts the feed against what the clients know. */
  async function checkPull(url, db, { final = false } = {}) {
    const { changes, cursor } = await pullAll(url, db, { limit: 10000 });
    const seen = new Set();
    const per = new Map(clients.map((c) => [c.name, { ids: new Set(), last: 0 }]));
    for (const ch of changes) {
      const k = `${ch.store}|${ch.key}`;
      assert.ok(!seen.has(k), `${db}: ${k} appears once in the compacted feed`);
      seen.add(k);
      assert.equal(ch.op, 'put', `${k}: only puts were sent`);
      const [name, tail] = String(ch.key).split('/');
      const pc = per.get(name);
      assert.ok(pc, `${db}: ${k} is a key no client sent`);
      const cl = clients.find((c) => c.name === name);
      if (ch.store === 'meta') {
        assert.equal(tail, 'last');
        pc.last = ch.value.id;
        continue;
      }
      const id = Number(tail);
      assert.equal(ch.store, 'log');
      assert.ok(id >= 1 && id <= cl.sent && !cl.isMetaId(id), `${db}: ${k} was never sent (client sent up to ${cl.sent})`);
      assert.deepEqual(ch.value, logValue(name, id), `${db}: ${k} value as sent`);
      pc.ids.add(id);
    }
    for (const cl of clients) {
      const pc = per.get(cl.name);
      let missing = 0;
      let firstMissing = 0;
      for (let id = 1; id <= cl.acked; id++) {
        if (!pc.ids.has(id) && !cl.isMetaId(id)) { missing++; firstMissing ||= id; }
      }
      assert.equal(missing, 0, `${db}: ${cl.name} lost ${missing} acked mutations (first id ${firstMissing}, acked ${cl.acked})`);
      assert.ok(cl.acked === 0 || pc.last >= cl.acked, `${db}: ${cl.name} meta/last ${pc.last} < acked ${cl.acked}`);
      assert.ok(pc.last <= cl.sent, `${db}: ${cl.name} meta/last ${pc.last} > sent ${cl.sent}`);
      if (final) assert.equal(pc.ids.size + cl.metaIds.size, cl.acked, `${db}: ${cl.name}: every sent mutation present`);
    }
    return { cursor, rows: changes.length };
  }

  /** The server's ack for a client (an empty push applies nothing). */
  async function serverAck(url, cl) {
    const r = await postJson(agent, `${url}/v1/db/${cl.db}/push`, { client: cl.name, mutations: [] });
    assert.equal(r.status, 200, r.text);
    return r.json.ack;
  }

  /** With the clients paused: push their in-flight batches, then verify the database in full. */
  async function settle(url) {
    for (const cl of clients) {
      if (!cl.batch) continue;
      cl.sent = Math.max(cl.sent, cl.batch[cl.batch.length - 1].id);
      const f = accept(cl, cl.batch, await postJson(agent, `${url}/v1/db/${cl.db}/push`, { client: cl.name, mutations: cl.batch }));
      assert.equal(f, null);
    }
    const db = clients[0].db;
    await checkPull(url, db, { final: true });
    lakeLast = await checkLakeChangeLog(srv, db, clients, { final: true });
    lakeChecks++;
    lakeMs += lakeLast.ms;
    const st = await stores(url, db);
    const logRows = st.json.stores.find((s) => s.name === 'log')?.rows ?? 0;
    assert.equal(logRows, clients.reduce((a, c) => a + c.acked - c.metaIds.size, 0), `${db}: /stores row count`);
  }

  const loops = clients.map(clientLoop);
  let lakeChecks = 0;
  let lakeMs = 0;
  let lakeLast = null;
  let maxHeadServed = 0;
  const restartMs = [];
  const t0 = Date.now();
  let k = 0;
  try {
    for (; k < KILLS && !stopping; k++) {
      await sleep(20 + Math.floor(rand() * 200));
      // a head the server reported just before the crash must not be lost with it
      const h = await request(`${srv.url}/healthz`).catch(() => null);
      if (h && h.status === 200) maxHeadServed = Math.max(maxHeadServed, h.json.head);
      let release;
      gate = { url: null, promise: new Promise((r) => { release = r; }) };
      const ex = await srv.kill9();
      assert.equal(ex.signal, 'SIGKILL', `kill ${k}: server died of SIGKILL`);
      const snap = clients.map((c) => ({ acked: c.acked, sent: c.sent }));
      const r0 = Date.now();
      await srv.restart();
      restartMs.push(Date.now() - r0);
      const db = clients[0].db;
      const { cursor } = await checkPull(srv.url, db);
      const hz = await request(`${srv.url}/healthz`);
      assert.ok(hz.json.head >= maxHeadServed, `kill ${k}: head ${hz.json.head} fell below ${maxHeadServed} served before the crash`);
      assert.ok(hz.json.head >= cursor);
      for (let i = 0; i < CLIENTS; i++) {
        const a = await serverAck(srv.url, clients[i]);
        assert.ok(a >= snap[i].acked && a <= snap[i].sent,
          `kill ${k}: ${clients[i].name} server ack ${a} outside [acked ${snap[i].acked}, sent ${snap[i].sent}]`);
      }
      // the lake mid-run too (a flush right after a crash must not re-append what was flushed)
      if (LAKE_EVERY && (k + 1) % LAKE_EVERY === 0 && (k + 1) % EPOCH !== 0) {
        lakeMs += (await checkLakeChangeLog(srv, db, clients)).ms;
        lakeChecks++;
      }
      if ((k + 1) % EPOCH === 0 && k + 1 < KILLS) {
        await settle(srv.url);
        if (SOAK) console.log(`# ${k + 1} kills in ${((Date.now() - t0) / 1000).toFixed(0)} s, ${db} verified`);
        for (const cl of clients) {
          Object.assign(cl, { db: `crash-${(k + 1) / EPOCH}`, nextId: 1, acked: 0, sent: 0, batch: null });
          cl.metaIds.clear();
        }
      }
      gate.url = srv.url;
      release(srv.url);
    }
    assert.deepEqual(failures, []);
    await sleep(300);
  } finally {
    stopping = true;
    if (!gate.url) { gate.url = srv.url; gate.promise = Promise.resolve(srv.url); }
  }
  await Promise.all(loops);
  assert.deepEqual(failures, []);
  await srv.kill9();
  await srv.restart();
  await settle(srv.url);
  const totalRetries = clients.reduce((a, c) => a + c.retries, 0);
  const totalDup = clients.reduce((a, c) => a + c.dupSeen, 0);
  const totalLog = clients.reduce((a, c) => a + c.logAcked, 0);
  assert.equal(k, KILLS);
  assert.ok(totalRetries > 0, 'kills happened while pushes were in flight');
  restartMs.sort((a, b) => a - b);
  t.diagnostic(`${KILLS} kills in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${totalLog} log mutations acked; ` +
    `${clients.reduce((a, c) => a + c.pushes, 0)} pushes; ${totalRetries} batches retried after a crash; ` +
    `${totalDup} mutations answered as duplicates on retry (committed before the crash, ack lost); ` +
    `restart p50 ${restartMs[restartMs.length >> 1]} ms, max ${restartMs[restartMs.length - 1]} ms; ` +
    `lake checked ${lakeChecks} times (${(lakeMs / 1000).toFixed(1)} s), last: ${lakeLast.changes} changes exactly once up to seq ${lakeLast.flushed}, ` +
    `${lakeLast.stateRows} state rows equal to the pull state`);
  await srv.stop();
});
