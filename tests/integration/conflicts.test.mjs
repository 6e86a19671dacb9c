// Conflict rules through HTTP: lww, client-wins, server-wins (client vs client), merge; the
// conflicts listed in the push response with their winner, the metrics counter, and rules
// scoped to one store (and one database).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, push, pull, pullAll, stores, hlc, metrics, metricValue } from '../lib/server.mjs';

const T = Date.now() - 200000; // all explicit stamps are in the (recent) past
const H = (dt, node = 'n') => hlc(T + dt, 0, node);

let srv;
before(async () => {
  srv = await startServer({
    args: [
      '--conflict', 'orders=merge',
      '--conflict', 'cw=client-wins',
      '--conflict', 'sw=server-wins',
      '--conflict', 'shop/items=client-wins',
    ],
  });
});
after(async () => { await srv.stop(); });

// per (db, client) mutation ids
const ids = new Map();
async function put1(db, client, store, key, value, stamp, extra = {}) {
  const k = `${db}|${client}`;
  const id = (ids.get(k) ?? 0) + 1;
  ids.set(k, id);
  const m = { id, store, op: value === undefined ? 'delete' : 'put', key, hlc: stamp, ...extra };
  if (value !== undefined) m.value = value;
  const r = await push(srv.url, db, { client, mutations: [m] });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.ack, id);
  return r.json;
}
const del1 = (db, client, store, key, stamp, extra) => put1(db, client, store, key, undefined, stamp, extra);

async function row(db, store, key) {
  const { changes } = await pullAll(srv.url, db);
  return changes.find((c) => c.store === store && JSON.stringify(c.key) === JSON.stringify(key));
}

async function conflictsTotal() {
  return metricValue(await metrics(srv.url), 'idbsync_conflicts_total');
}

describe('lww (the default)', () => {
  const db = 'lww';
  test('an older put loses; the response names the winner', async () => {
    const c0 = await conflictsTotal();
    const w = await put1(db, 'a', 'items', 'k1', { v: 'new' }, H(10, 'a'));
    assert.equal(w.applied, 1);
    const l = await put1(db, 'b', 'items', 'k1', { v: 'old' }, H(5, 'b'));
    assert.equal(l.applied, 0);
    assert.equal(l.conflicts.length, 1);
    const cf = l.conflicts[0];
    assert.deepEqual(cf, {
      id: 1, store: 'items', key: 'k1', op: 'put', rule: 'lww', reason: cf.reason,
      winner: { seq: w.cursor, op: 'put', hlc: H(10, 'a'), value: { v: 'new' } },
    });
    assert.match(cf.reason, /older|last-writer/);
    const r = await row(db, 'items', 'k1');
    assert.deepEqual(r.value, { v: 'new' });
    assert.equal(r.hlc, H(10, 'a'));
    assert.equal(r.seq, w.cursor, 'the losing push did not create a change');
    assert.equal(await conflictsTotal(), c0 + 1, 'conflicts counter');
  });

  test('deletes obey hlc order too', async () => {
    await put1(db, 'a', 'items', 'k2', { v: 1 }, H(10, 'a'));
    // an older delete loses against the newer put
    const l = await del1(db, 'b', 'items', 'k2', H(3, 'b'));
    assert.equal(l.conflicts.length, 1);
    assert.equal(l.conflicts[0].op, 'delete');
    assert.deepEqual(l.conflicts[0].winner.value, { v: 1 });
    assert.equal((await row(db, 'items', 'k2')).op, 'put');
    // a newer delete wins
    const d = await del1(db, 'b', 'items', 'k2', H(20, 'b'));
    assert.equal(d.applied, 1);
    assert.deepEqual(d.conflicts, []);
    // and then an older put loses against the tombstone; the winner has no value
    const l2 = await put1(db, 'a', 'items', 'k2', { v: 'zombie' }, H(15, 'a'));
    assert.equal(l2.applied, 0);
    assert.equal(l2.conflicts.length, 1);
    assert.deepEqual(l2.conflicts[0].winner, { seq: d.cursor, op: 'delete', hlc: H(20, 'b') });
    const r = await row(db, 'items', 'k2');
    assert.equal(r.op, 'delete');
    assert.equal(r.hlc, H(20, 'b'));
  });

  test('equal stamps: node id breaks the tie; the identical stamp is a no-op', async () => {
    await put1(db, 'a', 'items', 'k3', { v: 'a' }, H(10, 'a'));
    const b = await put1(db, 'b', 'items', 'k3', { v: 'b' }, H(10, 'b')); // same ms+counter, node b > a
    assert.equal(b.applied, 1);
    const again = await put1(db, 'c', 'items', 'k3', { v: 'c' }, H(10, 'b')); // exactly the same stamp
    assert.equal(again.applied, 0);
    assert.equal(again.duplicates, 1, 'identical stamp counts as already applied');
    assert.deepEqual(again.conflicts, []);
    assert.deepEqual((await row(db, 'items', 'k3')).value, { v: 'b' });
  });

  test('a conflict within one batch', async () => {
    const r = await push(srv.url, db, {
      client: 'batchy',
      mutations: [
        { id: 1, store: 'items', op: 'put', key: 'k4', value: 2, hlc: H(50, 'z') },
        { id: 2, store: 'items', op: 'put', key: 'k4', value: 1, hlc: H(40, 'z') },
      ],
    });
    assert.equal(r.json.applied, 1);
    assert.equal(r.json.ack, 2);
    assert.equal(r.json.conflicts.length, 1);
    assert.equal(r.json.conflicts[0].id, 2);
    assert.equal(r.json.conflicts[0].winner.value, 2);
  });
});

describe('client-wins', () => {
  const db = 'rules';
  test('the latest arrival wins even with an older stamp; the row stamp never goes back', async () => {
    const c0 = await conflictsTotal();
    await put1(db, 'a', 'cw', 1, { v: 'first' }, H(100, 'a'));
    const r = await put1(db, 'b', 'cw', 1, { v: 'second' }, H(50, 'b'));
    assert.equal(r.applied, 1);
    assert.deepEqual(r.conflicts, []);
    const got = await row(db, 'cw', 1);
    assert.deepEqual(got.value, { v: 'second' });
    assert.equal(got.hlc, H(100, 'a'), 'stamp kept at the max');
    // an older delete wins as well
    const d = await del1(db, 'c', 'cw', 1, H(1, 'c'));
    assert.equal(d.applied, 1);
    assert.equal((await row(db, 'cw', 1)).op, 'delete');
    assert.equal(await conflictsTotal(), c0);
  });

  test('--conflict DB/STORE applies to that database only', async () => {
    const s = await stores(srv.url, 'shop');
    assert.equal(s.json.stores.length, 0);
    await put1('shop', 'a', 'items', 'x', 1, H(10, 'a'));
    const r = await put1('shop', 'b', 'items', 'x', 2, H(5, 'b'));
    assert.equal(r.applied, 1, 'client-wins in shop/items');
    assert.equal((await row('shop', 'items', 'x')).value, 2);
    await put1('notshop', 'a', 'items', 'x', 1, H(10, 'a'));
    const r2 = await put1('notshop', 'b', 'items', 'x', 2, H(5, 'b'));
    assert.equal(r2.applied, 0, 'lww for items in other databases');
    assert.equal(r2.conflicts[0].rule, 'lww');
    const ss = await stores(srv.url, 'shop');
    assert.equal(ss.json.stores.find((x) => x.name === 'items').conflict, 'client-wins');
    const ns = await stores(srv.url, 'notshop');
    assert.equal(ns.json.stores.find((x) => x.name === 'items').conflict, 'lww');
  });
});

describe('server-wins', () => {
  const db = 'rules';
  test('between two clients it behaves like lww', async () => {
    await put1(db, 'a', 'sw', 'k', { v: 'newer' }, H(30, 'a'));
    const l = await put1(db, 'b', 'sw', 'k', { v: 'older' }, H(20, 'b'));
    assert.equal(l.applied, 0);
    assert.equal(l.conflicts.length, 1);
    assert.equal(l.conflicts[0].rule, 'server-wins');
    assert.deepEqual(l.conflicts[0].winner.value, { v: 'newer' });
    const w = await put1(db, 'b', 'sw', 'k', { v: 'newest' }, H(40, 'b'));
    assert.equal(w.applied, 1);
    assert.deepEqual((await row(db, 'sw', 'k')).value, { v: 'newest' });
    const s = await stores(srv.url, db);
    assert.equal(s.json.stores.find((x) => x.name === 'sw').conflict, 'server-wins');
  });

  // Server-side (lake) changes arrive as pushes with "origin":"server" (what the importer sends).
  async function lakePut(db, key, value) {
    const k = `${db}|lake`;
    const id = (ids.get(k) ?? 0) + 1;
    ids.set(k, id);
    const r = await push(srv.url, db, { client: 'lake', origin: 'server',
      mutations: [{ id, store: 'sw', op: 'put', key, value }] });
    assert.equal(r.status, 200, r.text);
    return r.json;
  }

  test('a lake-side change beats client edits based on older versions', async () => {
    const db = 'swlake';
    const a = await put1(db, 'a', 'sw', 'k', { v: 'client' }, H(10, 'a'));
    const seqClient = (await row(db, 'sw', 'k')).seq;
    assert.ok(a.applied === 1 && seqClient > 0);
    // the lake overwrites (server-stamped, so its hlc is "now": a client stamp from the
    // future would still lose because its base is older)
    await lakePut(db, 'k', { v: 'lake' });
    const seqLake = (await row(db, 'sw', 'k')).seq;
    // a client edit based on the version before the lake change loses, even with a newer hlc
    const stale = await put1(db, 'a', 'sw', 'k', { v: 'stale edit' }, hlc(Date.now() + 60000, 0, 'a'), { base: seqClient });
    assert.equal(stale.applied, 0);
    assert.equal(stale.conflicts.length, 1);
    assert.equal(stale.conflicts[0].rule, 'server-wins');
    assert.deepEqual(stale.conflicts[0].winner.value, { v: 'lake' });
    // without any base the client never saw the lake version either: it loses
    const blind = await put1(db, 'b', 'sw', 'k', { v: 'blind' }, hlc(Date.now() + 60000, 1, 'b'));
    assert.equal(blind.applied, 0);
    // an edit based on the lake version applies, whatever the client's clock says
    const ok = await put1(db, 'a', 'sw', 'k', { v: 'after lake' }, H(11, 'a'), { base: seqLake });
    assert.equal(ok.applied, 1);
    assert.deepEqual((await row(db, 'sw', 'k')).value, { v: 'after lake' });
  });

  test('origin "server" is refused from a user token when auth is on (see auth suite) and validated', async () => {
    const r = await push(srv.url, 'swbad', { client: 'x', origin: 'lake', mutations: [] });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /origin/);
    const u = await push(srv.url, 'swbad', { client: 'x', user: 'bob', mutations: [] });
    assert.equal(u.status, 400);
    assert.match(u.json.error.message, /user/);
  });
});

describe('merge (--conflict orders=merge)', () => {
  const db = 'merge';
  test('disjoint field edits from two clients both survive', async () => {
    await put1(db, 'a', 'orders', 'o1', { x: 1, y: 1, z: 1 }, H(1, 'a'));
    // each client sends the fields it changed; a edits x (newest stamp), b edits y with an
    // older stamp than a's edit: both edits stay
    const ea = await put1(db, 'a', 'orders', 'o1', { x: 2 }, H(10, 'a'));
    assert.equal(ea.applied, 1);
    assert.deepEqual(ea.conflicts, []);
    const eb = await put1(db, 'b', 'orders', 'o1', { y: 2 }, H(5, 'b'));
    assert.equal(eb.applied, 1, 'merged, not rejected');
    assert.deepEqual(eb.conflicts, []);
    const r = await row(db, 'orders', 'o1');
    assert.deepEqual(r.value, { x: 2, y: 2, z: 1 });
    assert.equal(r.seq, eb.cursor);
    assert.equal(r.hlc, H(10, 'a'), 'row stamp is the newest field stamp');
  });

  test('a stale edit of one field loses that field only; the response lists it', async () => {
    await put1(db, 'a', 'orders', 'o1b', { x: 1, y: 1, z: 1 }, H(1, 'a'));
    await put1(db, 'a', 'orders', 'o1b', { x: 2 }, H(10, 'a'));
    const c0 = await conflictsTotal();
    const eb = await put1(db, 'b', 'orders', 'o1b', { x: 3, z: 3 }, H(5, 'b'));
    assert.equal(eb.applied, 1, 'z applied');
    assert.equal(eb.conflicts.length, 1, 'x reported');
    const cf = eb.conflicts[0];
    assert.equal(cf.id, ids.get(`${db}|b`));
    assert.equal(cf.rule, 'merge');
    assert.equal(cf.op, 'put');
    assert.deepEqual(cf.key, 'o1b');
    assert.deepEqual(cf.fields, ['x']);
    assert.equal(cf.winner.op, 'put');
    assert.equal(cf.winner.seq, eb.cursor);
    assert.deepEqual(cf.winner.value, { x: 2, y: 1, z: 3 });
    assert.equal(cf.winner.hlc, H(10, 'a'));
    assert.equal(await conflictsTotal(), c0 + 1);
    assert.deepEqual((await row(db, 'orders', 'o1b')).value, { x: 2, y: 1, z: 3 });
  });

  // Two clients holding the same version (seq s1) each put the whole object back with one
  // field changed and base=s1, as an IndexedDB put does. The server restamps every field the
  // put contains, so the second put's unchanged copy of x/y competes with the first's edit.
  test('disjoint edits as whole-object puts with a shared base both survive', async () => {
    const base = await put1(db, 'a', 'orders', 'o1c', { x: 1, y: 1, z: 1 }, H(1, 'a'));
    await put1(db, 'a', 'orders', 'o1c', { x: 2, y: 1, z: 1 }, H(10, 'a'), { base: base.cursor });
    const eb = await put1(db, 'b', 'orders', 'o1c', { x: 1, y: 2, z: 1 }, H(5, 'b'), { base: base.cursor });
    assert.deepEqual((await row(db, 'orders', 'o1c')).value, { x: 2, y: 2, z: 1 });
    assert.equal(eb.applied, 1);
  });

  test('a put whose every field is older loses entirely', async () => {
    await put1(db, 'a', 'orders', 'o2', { x: 1, y: 1 }, H(20, 'a'));
    const l = await put1(db, 'b', 'orders', 'o2', { x: 9, y: 9 }, H(10, 'b'));
    assert.equal(l.applied, 0);
    assert.equal(l.conflicts.length, 1);
    assert.equal(l.conflicts[0].rule, 'merge');
    assert.deepEqual(l.conflicts[0].fields, ['x', 'y']);
    assert.deepEqual(l.conflicts[0].winner.value, { x: 1, y: 1 });
    assert.deepEqual((await row(db, 'orders', 'o2')).value, { x: 1, y: 1 });
  });

  test('a missing field is removed only if the push saw that field (base >= its seq)', async () => {
    // removed: the client saw the field's version
    const a = await put1(db, 'a', 'orders', 'o3', { a: 1, b: 1 }, H(1, 'a'));
    await put1(db, 'a', 'orders', 'o3', { a: 1 }, H(2, 'a'), { base: a.cursor });
    assert.deepEqual((await row(db, 'orders', 'o3')).value, { a: 1 });

    // kept: the field was written after the client's base
    const b0 = await put1(db, 'a', 'orders', 'o4', { a: 1 }, H(1, 'a'));
    const b1 = await put1(db, 'b', 'orders', 'o4', { a: 1, b: 2 }, H(2, 'b'), { base: b0.cursor });
    await put1(db, 'a', 'orders', 'o4', { a: 3 }, H(3, 'a'), { base: b0.cursor });
    assert.deepEqual((await row(db, 'orders', 'o4')).value, { a: 3, b: 2 }, 'b kept: base < its seq');
    // without a base a missing field is never removed
    await put1(db, 'a', 'orders', 'o4', { a: 4 }, H(4, 'a'));
    assert.deepEqual((await row(db, 'orders', 'o4')).value, { a: 4, b: 2 }, 'b kept: no base');
    // base exactly the field's seq: removed
    await put1(db, 'b', 'orders', 'o4', { a: 5 }, H(5, 'b'), { base: b1.cursor });
    assert.deepEqual((await row(db, 'orders', 'o4')).value, { a: 5 });
  });

  test('deletes: older fields go, newer fields survive (reported)', async () => {
    await put1(db, 'a', 'orders', 'o5', { a: 1, b: 1 }, H(1, 'a'));
    await put1(db, 'b', 'orders', 'o5', { b: 2 }, H(50, 'b')); // no base: a is kept, b restamped at 50
    assert.deepEqual((await row(db, 'orders', 'o5')).value, { a: 1, b: 2 });
    const d = await del1(db, 'c', 'orders', 'o5', H(30, 'c'));
    assert.equal(d.applied, 1);
    assert.equal(d.conflicts.length, 1);
    assert.equal(d.conflicts[0].op, 'delete');
    assert.deepEqual(d.conflicts[0].fields, ['b']);
    assert.deepEqual(d.conflicts[0].winner.value, { b: 2 });
    const r = await row(db, 'orders', 'o5');
    assert.equal(r.op, 'put');
    assert.deepEqual(r.value, { b: 2 });

    // a full delete makes a tombstone; an older put then loses against it; a newer one revives
    await put1(db, 'a', 'orders', 'o6', { a: 1 }, H(1, 'a'));
    await del1(db, 'a', 'orders', 'o6', H(10, 'a'));
    assert.equal((await row(db, 'orders', 'o6')).op, 'delete');
    const l = await put1(db, 'b', 'orders', 'o6', { a: 2 }, H(5, 'b'));
    assert.equal(l.applied, 0);
    assert.equal(l.conflicts.length, 1);
    assert.equal((await row(db, 'orders', 'o6')).op, 'delete');
    const v = await put1(db, 'b', 'orders', 'o6', { c: 3 }, H(20, 'b'));
    assert.equal(v.applied, 1);
    assert.deepEqual((await row(db, 'orders', 'o6')).value, { c: 3 });
  });

  test('non-object values fall back to whole-value lww', async () => {
    await put1(db, 'a', 'orders', 'o7', [1, 2], H(10, 'a'));
    const l = await put1(db, 'b', 'orders', 'o7', { x: 1 }, H(5, 'b'));
    assert.equal(l.applied, 0);
    const w = await put1(db, 'b', 'orders', 'o7', 'str', H(15, 'b'));
    assert.equal(w.applied, 1);
    assert.equal((await row(db, 'orders', 'o7')).value, 'str');
  });

  test('merge applies only to orders: the same edits on another store are whole-value lww', async () => {
    const base = await put1(db, 'a', 'items', 'i1', { x: 1, y: 1 }, H(1, 'a'));
    await put1(db, 'a', 'items', 'i1', { x: 2, y: 1 }, H(10, 'a'), { base: base.cursor });
    const l = await put1(db, 'b', 'items', 'i1', { x: 1, y: 2 }, H(5, 'b'), { base: base.cursor });
    assert.equal(l.applied, 0);
    assert.equal(l.conflicts[0].rule, 'lww');
    assert.ok(!('fields' in l.conflicts[0]));
    assert.deepEqual((await row(db, 'items', 'i1')).value, { x: 2, y: 1 }, "b's y edit is lost under lww");
    const s = await stores(srv.url, db);
    assert.deepEqual(s.json.stores.map((x) => [x.name, x.conflict]), [['items', 'lww'], ['orders', 'merge']]);
  });
});

describe('--default-conflict', () => {
  test('--default-conflict merge applies to every store not named', async (t) => {
    const s2 = await startServer({ t, args: ['--default-conflict', 'merge', '--conflict', 'plain=lww'] });
    const db = 'd';
    const m = (client, id, store, value, dt, base) => push(s2.url, db, {
      client, mutations: [{ id, store, op: 'put', key: 1, value, hlc: H(dt, client), base }],
    });
    await m('a', 1, 'anything', { x: 1, y: 1 }, 1);
    await m('a', 2, 'anything', { x: 2 }, 10);
    await m('b', 1, 'anything', { y: 2 }, 5);
    const p = await pull(s2.url, db, { since: 0 });
    assert.deepEqual(p.json.changes[0].value, { x: 2, y: 2 });
    await m('a', 3, 'plain', { v: 1 }, 1);
    const st = await stores(s2.url, db);
    assert.deepEqual(st.json.stores.map((x) => [x.name, x.conflict]), [['anything', 'merge'], ['plain', 'lww']]);
    await s2.stop();
  });

  test('an unknown rule is refused at startup', async () => {
    await assert.rejects(startServer({ args: ['--conflict', 'x=bogus'] }), /exited \(code 2/);
    await assert.rejects(startServer({ args: ['--default-conflict', 'nope'] }), /unknown rule/);
  });
});
