// Crash safety: a push is acknowledged only after it is durable, so kill -9 right after the
// last ack (or in the middle of pushes) loses nothing that was acknowledged, applies nothing
// twice, and keeps each client's mutation-id sequence.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, push, pull, pullAll, pushOk, stores, request, openEvents } from '../lib/server.mjs';
import { rng } from '../faults/lib/util.mjs';

/** The server's ack for a client, learned with an empty push (it applies nothing). */
async function serverAck(url, db, client) {
  const r = await push(url, db, { client, mutations: [] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.applied, 0);
  return r.json.ack;
}

describe('kill -9 after the last ack', () => {
  test('1,000 acknowledged mutations survive, exactly once, and ids continue', async (t) => {
    const srv = await startServer({ t });
    const db = 'dur';
    const CLIENTS = 5;
    const TOTAL = 1000;
    const rand = rng(42);
    // Plan: per client a sequence of mutations over its own 60 keys (overwrites and deletes),
    // cut into batches of 1..60. Expected final state = the client's sequence applied in order
    // (server-stamped hlcs, and each client pushes sequentially).
    const plans = [];
    const expected = new Map(); // `${store}|${key}` -> {op, value}
    for (let c = 0; c < CLIENTS; c++) {
      const client = `dev-${c}`;
      const muts = [];
      const n = TOTAL / CLIENTS;
      for (let id = 1; id <= n; id++) {
        const key = `${client}/${Math.floor(rand() * 60)}`;
        const store = rand() < 0.5 ? 'orders' : 'items';
        if (rand() < 0.15) {
          muts.push({ id, store, op: 'delete', key });
          expected.set(`${store}|${key}`, { op: 'delete' });
        } else {
          const value = { client, id, note: 'x'.repeat(Math.floor(rand() * 200)) };
          muts.push({ id, store, op: 'put', key, value });
          expected.set(`${store}|${key}`, { op: 'put', value });
        }
      }
      const batches = [];
      for (let i = 0; i < muts.length;) {
        const size = 1 + Math.floor(rand() * 60);
        batches.push(muts.slice(i, i + size));
        i += size;
      }
      plans.push({ client, muts, batches, ack: 0 });
    }
    // push: clients in parallel, each client's batches in order
    await Promise.all(plans.map(async (p) => {
      for (const b of p.batches) {
        const r = await pushOk(srv.url, db, p.client, b);
        assert.equal(r.ack, b[b.length - 1].id);
        assert.equal(r.applied + r.duplicates + (r.conflicts?.length ?? 0), b.length);
        p.ack = r.ack;
      }
    }));
    // crash right after the final ack
    const ex = await srv.kill9();
    assert.equal(ex.signal, 'SIGKILL');
    for (const p of plans) assert.equal(p.ack, TOTAL / CLIENTS);

    await srv.restart();
    const { changes } = await pullAll(srv.url, db, { limit: 137 });
    const seen = new Map();
    for (const c of changes) {
      const k = `${c.store}|${c.key}`;
      assert.ok(!seen.has(k), `${k} appears once`);
      seen.set(k, c);
    }
    assert.equal(seen.size, expected.size, 'every acked key is there and nothing else');
    for (const [k, e] of expected) {
      const c = seen.get(k);
      assert.ok(c, `${k} survived the crash`);
      assert.equal(c.op, e.op, `${k} op`);
      if (e.op === 'put') assert.deepEqual(c.value, e.value, `${k} value`);
    }
    const live = [...expected.values()].filter((e) => e.op === 'put').length;
    const st = await stores(srv.url, db);
    const rows = st.json.stores.reduce((a, s) => a + s.rows, 0);
    const tombs = st.json.stores.reduce((a, s) => a + s.tombstones, 0);
    assert.equal(rows, live, 'store row counts survived');
    assert.equal(tombs, expected.size - live, 'tombstone counts survived');

    // each client continues at ack+1; old ids are skipped
    for (const p of plans) {
      assert.equal(await serverAck(srv.url, db, p.client), p.ack);
      const last = p.batches[p.batches.length - 1];
      const resend = await pushOk(srv.url, db, p.client, last);
      assert.equal(resend.applied, 0, `${p.client}: resent ids skipped`);
      assert.equal(resend.duplicates, last.length);
      assert.equal(resend.ack, p.ack);
      const next = await pushOk(srv.url, db, p.client, [
        { id: p.ack + 1, store: 'orders', op: 'put', key: `${p.client}/after`, value: { after: true } },
      ]);
      assert.equal(next.applied, 1);
      assert.equal(next.ack, p.ack + 1);
    }
    const after = await pullAll(srv.url, db);
    assert.equal(after.changes.length, expected.size + CLIENTS);
    const h = await request(`${srv.url}/healthz`);
    assert.equal(h.json.head, after.cursor);
    await srv.stop();
  });
});

describe('kill -9 with pushes in flight', () => {
  test('everything up to each client\'s received ack is present, nothing twice', async (t) => {
    const srv = await startServer({ t });
    const db = 'inflight';
    const CLIENTS = 8;
    const rand = rng(7);
    const state = [];
    for (let c = 0; c < CLIENTS; c++) state.push({ client: `c${c}`, sent: 0, received: 0, errors: 0 });
    let totalAcked = 0;
    let crashed = false;
    let resolveEnough;
    const enough = new Promise((r) => { resolveEnough = r; });
    // every mutation writes its own key `${client}:${id}`, so presence = applied
    const mut = (client, id) => ({ id, store: 'log', op: 'put', key: `${client}:${id}`, value: { client, id } });
    const loops = state.map(async (s) => {
      while (!crashed) {
        const size = 1 + Math.floor(rand() * 25);
        const batch = [];
        for (let i = 0; i < size; i++) batch.push(mut(s.client, s.sent + 1 + i));
        s.sent += size;
        try {
          const r = await push(srv.url, db, { client: s.client, mutations: batch });
          if (r.status !== 200) throw new Error(`${r.status} ${r.text}`);
          assert.equal(r.json.ack, batch[batch.length - 1].id, 'ack covers the batch');
          s.received = Math.max(s.received, r.json.ack);
          totalAcked += size;
          if (totalAcked >= 400) resolveEnough();
        } catch (e) {
          if (!crashed) throw e;
          s.errors++;
          return;
        }
      }
    });
    await Promise.race([enough, Promise.all(loops)]);
    crashed = true;
    srv.proc.kill('SIGKILL'); // while other pushes are still in flight
    await srv.kill9();
    await Promise.allSettled(loops);
    for (const l of loops) await l; // surfaces assertion errors from before the crash
    const inFlight = state.reduce((a, s) => a + (s.sent - s.received), 0);
    t.diagnostic(`acked ${totalAcked}, in flight at the crash ${inFlight}`);

    await srv.restart();
    const { changes } = await pullAll(srv.url, db, { limit: 500 });
    const keys = new Set();
    for (const c of changes) {
      const k = JSON.stringify(c.key);
      assert.ok(!keys.has(k), `${k} appears once`);
      keys.add(k);
    }
    let expectTotal = 0;
    for (const s of state) {
      const ack = await serverAck(srv.url, db, s.client);
      assert.ok(ack >= s.received, `${s.client}: server ack ${ack} >= received ack ${s.received}`);
      assert.ok(ack <= s.sent, `${s.client}: server ack ${ack} <= sent ${s.sent}`);
      // atomic commits: ids <= the server's ack are all there, later ones are not
      for (let id = 1; id <= s.sent; id++) {
        const present = keys.has(JSON.stringify(`${s.client}:${id}`));
        if (id <= ack) assert.ok(present, `${s.client}:${id} (<= ack ${ack}) present`);
        else assert.ok(!present, `${s.client}:${id} (> ack ${ack}) absent`);
      }
      // the client retries everything it never saw acked: already-applied ids are skipped
      if (s.sent > s.received) {
        const retry = [];
        for (let id = s.received + 1; id <= s.sent; id++) retry.push(mut(s.client, id));
        const r = await pushOk(srv.url, db, s.client, retry);
        assert.equal(r.duplicates, ack - s.received, `${s.client}: committed-but-unacked ids are duplicates`);
        assert.equal(r.applied, s.sent - ack);
        assert.equal(r.ack, s.sent);
      }
      expectTotal += s.sent;
    }
    const after = await pullAll(srv.url, db, { limit: 1000 });
    assert.equal(after.changes.length, expectTotal, 'every sent mutation once after the retries');
    assert.equal(new Set(after.changes.map((c) => JSON.stringify(c.key))).size, expectTotal);
    const st = await stores(srv.url, db);
    assert.equal(st.json.stores[0].rows, expectTotal);
    await srv.stop();
  });

  test('repeated crashes keep acked data (3 rounds)', async (t) => {
    const srv = await startServer({ t });
    const db = 'rounds';
    let id = 0;
    const acked = [];
    for (let round = 0; round < 3; round++) {
      if (round) await srv.restart();
      // continue where the server says we are
      id = await serverAck(srv.url, db, 'solo');
      assert.equal(id, acked.length, `round ${round}: ack survived`);
      const inflight = [];
      for (let i = 0; i < 30; i++) {
        id++;
        const r = await pushOk(srv.url, db, 'solo', [{ id, store: 's', op: 'put', key: id, value: round }]);
        acked.push(r.ack);
      }
      // one more push not awaited, then crash
      inflight.push(push(srv.url, db, { client: 'solo', mutations: [{ id: id + 1, store: 's', op: 'put', key: id + 1, value: round }] }).catch(() => null));
      await srv.kill9();
      const res = await Promise.all(inflight);
      if (res[0] && res[0].status === 200) acked.push(res[0].json.ack);
      else {
        // not acked: it may or may not have committed; settle it before the next round
        await srv.restart();
        const a = await serverAck(srv.url, db, 'solo');
        assert.ok(a === id || a === id + 1);
        if (a === id) await pushOk(srv.url, db, 'solo', [{ id: id + 1, store: 's', op: 'put', key: id + 1, value: round }]);
        acked.push(id + 1);
        await srv.kill9();
      }
    }
    await srv.restart();
    const { changes } = await pullAll(srv.url, db);
    assert.deepEqual(changes.map((c) => c.key), acked.map((_, i) => i + 1));
    await srv.stop();
  });
});

describe('restart keeps the clock and the sequence', () => {
  test('server stamps after a restart are newer than every stored stamp; seqs continue; node id persists', async (t) => {
    const srv = await startServer({ t });
    const db = 'clock';
    const ahead = Date.now() + 120000; // inside --max-skew-ms, ahead of the wall clock
    const a = await pushOk(srv.url, db, 'c', [
      { id: 1, store: 's', op: 'put', key: 'client-stamped', value: 1, hlc: `${ahead}-00ff-zzz` },
      { id: 2, store: 's', op: 'put', key: 'server-stamped', value: 2 },
    ]);
    const before = (await pullAll(srv.url, db)).changes;
    const node = before.find((c) => c.key === 'server-stamped').hlc.split('-').slice(2).join('-');
    await srv.kill9();
    await srv.restart();
    const b = await pushOk(srv.url, db, 'c', [{ id: 3, store: 's', op: 'put', key: 'after', value: 3 }]);
    assert.equal(b.cursor, a.cursor + 1, 'seq continues after the crash');
    const after = (await pullAll(srv.url, db)).changes;
    const h = after.find((c) => c.key === 'after').hlc;
    assert.ok(h > `${ahead}-00ff-zzz`, `stamp ${h} is newer than the stored ${ahead}-00ff-zzz`);
    assert.equal(h.split('-').slice(2).join('-'), node, 'the server node id is persisted');
    await srv.stop();
  });
});

describe('graceful stop', () => {
  test('SIGTERM with an open long-poll and SSE stream exits promptly and cleanly', async (t) => {
    const srv = await startServer({ t });
    const db = 'term';
    const a = await pushOk(srv.url, db, 'c', [{ id: 1, store: 's', op: 'put', key: 1, value: 1 }]);
    const lp = pull(srv.url, db, { since: a.cursor, wait: 30 }).then((r) => r.status, () => 'closed');
    const es = await openEvents(srv.url, db, { since: a.cursor });
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const ex = await srv.stop();
    const took = Date.now() - t0;
    assert.deepEqual(ex, { code: 0, signal: null }, 'exit code 0');
    assert.ok(took < 5000, `stopped in ${took} ms despite the waiting requests`);
    const lpr = await lp;
    assert.ok(lpr === 200 || lpr === 'closed', `long-poll ended (${lpr})`);
    assert.ok(es.ended || (await es.next(2000)) === null, 'SSE stream ended');
    es.close();
    await srv.restart();
    const { changes } = await pullAll(srv.url, db);
    assert.equal(changes.length, 1);
    await srv.stop();
  });
});

