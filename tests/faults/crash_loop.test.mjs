// Crash loop: 16 clients push concurrently while the server is killed with SIGKILL at random
// instants and restarted on the same data dir. After every restart: each acknowledged mutation
// is in the pull feed exactly once with the value sent, nothing that was never sent appears,
// the server's ack per client lies between what the client saw acked and what it sent, and the
// head never falls below a cursor served before the crash. Clients retry their unacked batch with
// the same ids (idempotent), so every mutation ever sent ends up present exactly once.
// Short form (make test): 50 kills. IDS_SOAK=1 (make soak): 1,000 kills. Every 50 kills the
// clients move to a new database (the old one is verified in full), so pulls stay small while
// the server's state keeps growing across the whole run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, pullAll, request, stores, sleep } from '../integration/lib/server.mjs';
import { rng, postJson } from './lib/util.mjs';

const SOAK = !!process.env.IDS_SOAK;
const KILLS = Number(process.env.IDS_CRASH_KILLS || (SOAK ? 1000 : 50));
const EPOCH = 50; // kills per database
const CLIENTS = 16;
const SEED = Number(process.env.IDS_SEED || 20240611);

/**
 * Hook for the lake writer's change log (lands later): after each restart, check that every
 * acknowledged mutation reaches the lake's change log exactly once (no duplicates from
 * re-flushing after a crash, nothing that was never sent). Gets the server, the database and
 * the clients ({name, acked, sent, isMetaId(id)}; log keys are `${name}/${id}` in store `log`).
 * TODO(lake): flush via POST /v1/db/{db}/flush, read LAKE/<db>/log/ change-log Parquet files (see
 * tests/lake/lib.mjs) and compare with the clients like checkPull() does.
 */
async function checkLakeChangeLog(/* srv, db, clients */) {
  // intentionally empty until the lake writer is merged
}

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
    await checkLakeChangeLog(srv, db, clients);
    const st = await stores(url, db);
    const logRows = st.json.stores.find((s) => s.name === 'log')?.rows ?? 0;
    assert.equal(logRows, clients.reduce((a, c) => a + c.acked - c.metaIds.size, 0), `${db}: /stores row count`);
  }

  const loops = clients.map(clientLoop);
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
      await checkLakeChangeLog(srv, db, clients);
      if ((k + 1) % EPOCH === 0 && k + 1 < KILLS) {
        await settle(srv.url);
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
    `restart p50 ${restartMs[restartMs.length >> 1]} ms, max ${restartMs[restartMs.length - 1]} ms`);
  await srv.stop();
});
