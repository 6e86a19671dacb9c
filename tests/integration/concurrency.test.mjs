// 50 concurrent clients push and pull overlapping keys; afterwards all replicas built from
// the pulled change feed agree with each other and with the server, and under lww each key
// holds the write with the greatest hlc.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, pull, pullAll, push, pushOk, hlc, applyChanges, rowKey, metrics, metricValue } from '../lib/server.mjs';
import { rng } from '../faults/lib/util.mjs';

function snapshot(map) {
  return JSON.stringify([...map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}

async function runClients({ url, db, clients, rounds, keys, seed, explicitHlc }) {
  const rand = rng(seed);
  const base = Date.now() - 120000;
  const writes = new Map(); // rowKey -> [{hlc, op, value}] every accepted write
  let conflictsSeen = 0;
  const cs = [];
  for (let c = 0; c < clients; c++) cs.push({ name: `w${String(c).padStart(2, '0')}`, nextId: 1, cursor: 0, replica: new Map(), counter: 0 });
  await Promise.all(cs.map(async (c) => {
    for (let r = 0; r < rounds; r++) {
      const size = 1 + Math.floor(rand() * 8);
      const batch = [];
      for (let i = 0; i < size; i++) {
        const store = rand() < 0.7 ? 'shared' : 'other';
        const key = Math.floor(rand() * keys);
        const stamp = explicitHlc ? hlc(base + r * 6000 + Math.floor(rand() * 10000), c.counter++, c.name) : undefined;
        const del = rand() < 0.1;
        const m = { id: c.nextId++, store, op: del ? 'delete' : 'put', key };
        if (!del) m.value = { by: c.name, n: m.id, h: stamp ?? null };
        if (stamp) m.hlc = stamp;
        batch.push(m);
      }
      const res = await push(url, db, { client: c.name, mutations: batch });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.ack, c.nextId - 1);
      assert.equal(res.json.applied + res.json.conflicts.length, batch.length, 'every mutation applied or lost');
      for (const cf of res.json.conflicts) {
        conflictsSeen++;
        const m = batch.find((x) => x.id === cf.id);
        assert.ok(m, 'conflict names a mutation of the batch');
        assert.equal(cf.rule, 'lww');
        assert.equal(cf.store, m.store);
        assert.deepEqual(cf.key, m.key);
        assert.ok(cf.winner.hlc > m.hlc, `winner ${cf.winner.hlc} is newer than the loser ${m.hlc}`);
      }
      for (const m of batch) {
        const k = rowKey(m.store, m.key);
        if (!writes.has(k)) writes.set(k, []);
        writes.get(k).push({ hlc: m.hlc, op: m.op, value: m.value });
      }
      // pull what the others did (sometimes in small pages)
      const limit = rand() < 0.3 ? 3 : 1000;
      for (;;) {
        const p = await pull(url, db, { since: c.cursor, limit, client: c.name });
        assert.equal(p.status, 200, p.text);
        applyChanges(c.replica, p.json.changes);
        assert.ok(p.json.cursor >= c.cursor, 'cursor never goes back');
        c.cursor = p.json.cursor;
        if (!p.json.more) break;
      }
    }
  }));
  // everyone pulls to the head
  await Promise.all(cs.map(async (c) => {
    const { changes, cursor } = await pullAll(url, db, { since: c.cursor, client: c.name });
    applyChanges(c.replica, changes);
    c.cursor = cursor;
  }));
  return { cs, writes, conflictsSeen };
}

describe('50 concurrent clients', () => {
  test('lww: all replicas converge on the greatest-hlc write of every key', async (t) => {
    const srv = await startServer({ t });
    const db = 'conc';
    const t0 = Date.now();
    const { cs, writes, conflictsSeen } = await runClients({
      url: srv.url, db, clients: 50, rounds: 8, keys: 40, seed: 1234, explicitHlc: true,
    });
    t.diagnostic(`${[...writes.values()].reduce((a, w) => a + w.length, 0)} writes, ${conflictsSeen} conflicts, ${Date.now() - t0} ms`);
    assert.ok(conflictsSeen > 0, 'the workload does produce conflicts');

    const server = applyChanges(new Map(), (await pullAll(srv.url, db)).changes);
    const ref = snapshot(server);
    const heads = new Set(cs.map((c) => c.cursor));
    assert.equal(heads.size, 1, 'all clients end at the same cursor');
    for (const c of cs) assert.equal(snapshot(c.replica), ref, `${c.name}'s replica equals the server`);

    // lww: each key's final state is its greatest-hlc write
    let live = 0;
    for (const [k, ws] of writes) {
      const win = ws.reduce((a, b) => (b.hlc > a.hlc ? b : a));
      const got = server.get(k);
      if (win.op === 'delete') {
        assert.equal(got, undefined, `${k}: the winning write is a delete`);
      } else {
        live++;
        assert.ok(got, `${k} exists`);
        assert.equal(got.hlc, win.hlc, `${k}: hlc of the winner`);
        assert.deepEqual(got.value, win.value, `${k}: value of the winner`);
      }
    }
    assert.equal(server.size, live, 'no extra keys');
    const m = await metrics(srv.url);
    assert.equal(metricValue(m, 'idbsync_conflicts_total'), conflictsSeen);
    await srv.stop();
  });

  test('server-stamped writes: replicas converge and the latest commit wins', async (t) => {
    const srv = await startServer({ t });
    const db = 'conc2';
    const { cs } = await runClients({ url: srv.url, db, clients: 50, rounds: 5, keys: 15, seed: 99, explicitHlc: false });
    const { changes } = await pullAll(srv.url, db);
    const server = applyChanges(new Map(), changes);
    const ref = snapshot(server);
    for (const c of cs) assert.equal(snapshot(c.replica), ref, `${c.name}'s replica equals the server`);
    // server stamps follow commit order: a key's hlc order equals its seq order
    const sorted = [...changes].sort((a, b) => a.seq - b.seq);
    for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i].hlc > sorted[i - 1].hlc, 'stamps increase with seq');
    await srv.stop();
  });

  test('the same batch sent 10 times at once is applied exactly once', async (t) => {
    const srv = await startServer({ t });
    const db = 'samebatch';
    const batch = { client: 'x', mutations: [1, 2, 3, 4, 5].map((id) => ({ id, store: 's', op: 'put', key: `x${id}`, value: id })) };
    const rs = await Promise.all(Array.from({ length: 10 }, () => push(srv.url, db, batch)));
    for (const r of rs) {
      assert.equal(r.status, 200);
      assert.equal(r.json.ack, 5);
    }
    assert.equal(rs.reduce((a, r) => a + r.json.applied, 0), 5);
    assert.equal(rs.reduce((a, r) => a + r.json.duplicates, 0), 45);
    const { changes } = await pullAll(srv.url, db);
    assert.equal(changes.length, 5);
    assert.equal(changes[changes.length - 1].seq, 5, 'exactly five changes were ever written');
    // a client's consecutive batches sent concurrently: either order ends with everything applied once
    const b1 = { client: 'y', mutations: [1, 2].map((id) => ({ id, store: 's', op: 'put', key: `y${id}`, value: id })) };
    const b2 = { client: 'y', mutations: [3, 4].map((id) => ({ id, store: 's', op: 'put', key: `y${id}`, value: id })) };
    const [r1, r2] = await Promise.all([push(srv.url, db, b1), push(srv.url, db, b2)]);
    assert.equal(r1.json.applied, 2);
    if (r2.json.gap) {
      assert.equal(r2.json.applied, 0);
      const again = await pushOk(srv.url, db, 'y', b2.mutations);
      assert.equal(again.applied, 2);
    } else {
      assert.equal(r2.json.applied, 2);
    }
    assert.equal((await pullAll(srv.url, db)).changes.length, 9);
    await srv.stop();
  });
});
