// Tombstone collection with the state on PostgreSQL and two servers (src/ledger/pg_gc.c): the pull
// progress each server noted counts wherever it was noted, collections run one at a time (the
// head lock), a cursor below the collected horizon gets 410 from either server, and no live row
// or change a client has not taken yet is lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres } from './lib/pg.mjs';
import { startServers } from './lib/cluster.mjs';
import { request, pull, pullAll, pushOk, stores, metrics, metricValue } from '../integration/lib/server.mjs';

const gc = async (url) => {
  const r = await request(`${url}/v1/admin/gc`, { method: 'POST', fresh: true });
  assert.equal(r.status, 200, r.text);
  return r.json.collected;
};

const live = async (url, db) => (await pullAll(url, db)).changes.map((c) => [c.key, c.op]).sort();

test('tombstones on PostgreSQL: collected once across two servers, old cursors get 410 from either', { timeout: 300000 }, async (t) => {
  const pg = await startPostgres({ t });
  // no periodic collection: the test says when each server collects
  const { servers: [a, b] } = await startServers(pg, 2, { t, args: ['--gc-interval', '3600'] });
  const db = 'gc';
  await pushOk(a.url, db, 'c1', [
    { id: 1, store: 's', op: 'put', key: 'a', value: 1 },
    { id: 2, store: 's', op: 'put', key: 'b', value: 2 },
    { id: 3, store: 's', op: 'put', key: 'c', value: 3 },
  ]);
  const del = await pushOk(b.url, db, 'c1', [
    { id: 4, store: 's', op: 'delete', key: 'a' },
    { id: 5, store: 's', op: 'delete', key: 'b' },
  ]);
  const tombTop = del.cursor;
  // c2 has pushed (it is a recent client) but not pulled: it holds the tombstones
  const z = await pushOk(a.url, db, 'c2', [{ id: 1, store: 's', op: 'put', key: 'z', value: 26 }]);
  const head = z.cursor;
  await pull(a.url, db, { since: 0, client: 'c1' });
  await pull(a.url, db, { since: head, client: 'c1' });
  assert.equal(await gc(a.url), 0, 'c2 has not pulled');
  assert.equal(await gc(b.url), 0, 'c2 has not pulled');

  // c2 catches up on b: its progress is noted on b only, so a's collection still keeps them
  await pull(b.url, db, { since: 0, client: 'c2' });
  await pull(b.url, db, { since: head, client: 'c2' });
  assert.equal(await gc(a.url), 0, "c2's progress is not written before b's collection");
  assert.equal(await gc(b.url), 2, 'b writes the progress it noted and collects');
  assert.equal(await gc(a.url), 0, 'nothing is collected twice');
  const total = async () => metricValue(await metrics(a.url), 'idbsync_tombstones_collected_total') +
    metricValue(await metrics(b.url), 'idbsync_tombstones_collected_total');
  assert.equal(await total(), 2);

  for (const s of [a, b]) {
    for (const since of [1, 3, tombTop - 1]) {
      const r = await pull(s.url, db, { since });
      assert.equal(r.status, 410, `since=${since}: ${r.text}`);
      assert.equal(r.json.error.code, 'cursor_expired');
      assert.match(r.json.error.message, /since=0/);
    }
    assert.equal((await pull(s.url, db, { since: tombTop })).status, 200);
    assert.equal((await pull(s.url, db, { since: head })).status, 200);
    assert.equal((await pull(s.url, 'other', { since: 1 })).status, 200, 'other databases are not affected');
    assert.deepEqual(await live(s.url, db), [['c', 'put'], ['z', 'put']], 'a resync has every live row and no collected tombstone');
    assert.deepEqual((await stores(s.url, db)).json.stores, [{ name: 's', rows: 2, tombstones: 0, conflict: 'lww' }]);
  }

  // a delete c2 has not taken yet stays, whoever collects, while the two servers collect at once
  // and pushes go on
  const d2 = await pushOk(a.url, db, 'c1', [{ id: 6, store: 's', op: 'delete', key: 'c' }]);
  const pushes = [];
  for (let i = 0; i < 20; i++) pushes.push(pushOk(i % 2 ? a.url : b.url, db, `p${i}`, [{ id: 1, store: 's', op: 'put', key: `p${i}`, value: i }]));
  const [ga, gb] = await Promise.all([gc(a.url), gc(b.url), ...pushes]);
  assert.equal(ga + gb, 0, 'the new tombstone is above c2\'s cursor');
  for (const s of [a, b]) {
    const r = await pull(s.url, db, { since: head });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.changes.filter((c) => c.key === 'c').map((c) => [c.seq, c.op]), [[d2.cursor, 'delete']]);
    const keys = (await live(s.url, db)).filter(([, op]) => op === 'put').map(([k]) => k);
    assert.deepEqual(keys, ['p0', 'p1', 'p10', 'p11', 'p12', 'p13', 'p14', 'p15', 'p16', 'p17', 'p18', 'p19', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9', 'z']);
  }
  // c1 and c2 take everything (on different servers), the p* clients never pulled: the last
  // tombstone stays until they do
  const end = (await pullAll(a.url, db)).cursor;
  await pull(a.url, db, { since: end, client: 'c1' });
  await pull(b.url, db, { since: end, client: 'c2' });
  assert.equal((await gc(a.url)) + (await gc(b.url)), 0, 'the p* clients hold the tombstone');
  for (let i = 0; i < 20; i++) await pull(i % 2 ? a.url : b.url, db, { since: end, client: `p${i}` });
  const [g1, g2] = await Promise.all([gc(a.url), gc(b.url)]);
  assert.equal(g1 + g2, 1, `exactly one collection takes the tombstone (a ${g1}, b ${g2})`);
  assert.equal(await total(), 3);
  for (const s of [a, b]) {
    const r = await pull(s.url, db, { since: head });
    assert.equal(r.status, 410, `a cursor below the new horizon: ${r.text}`);
    assert.equal((await pull(s.url, db, { since: d2.cursor })).status, 200);
  }
});
