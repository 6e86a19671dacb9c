// Bearer-token auth (--auth tokens:FILE): 401s, and per-user scoping of push, pull, stores
// and events — user B can neither see nor change user A's rows.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  startServer, tempDir, push, pull, pullAll, stores, request, openEvents, sleep, metrics, metricValue,
} from '../lib/server.mjs';

const A = 'tok-alice-0123456789';
const B = 'tok-bob-9876543210';
const ADM = 'tok-ops-5555555555';
let srv;
before(async () => {
  const dir = tempDir();
  const file = path.join(dir, 'tokens');
  fs.writeFileSync(file, `# test tokens\n\n${A} alice\n  ${B}\tbob\n${ADM} ops admin\n`);
  srv = await startServer({ args: ['--auth', `tokens:${file}`] });
});
after(async () => { await srv.stop(); });

const put = (id, key, value, store = 's') => ({ id, store, op: 'put', key, value });

function assertUnauthorized(r, what) {
  assert.equal(r.status, 401, `${what}: ${r.status} ${r.text}`);
  assert.equal(r.json?.error?.code, 'unauthorized', what);
  assert.equal(typeof r.json.error.message, 'string');
}

describe('admin role', () => {
  test('lake statistics (counts over every user) need an admin token', async () => {
    const user = await request(`${srv.url}/v1/db/adm/lake`, { headers: { authorization: `Bearer ${A}` } });
    assert.equal(user.status, 403, user.text);
    assert.equal(user.json.error.code, 'forbidden');
    const ops = await request(`${srv.url}/v1/db/adm/lake`, { headers: { authorization: `Bearer ${ADM}` } });
    assert.equal(ops.status, 200, ops.text);
    assert.deepEqual(ops.json.tables, []);
  });

  test('only tokens marked admin may call /v1/admin/gc', async () => {
    const user = await request(`${srv.url}/v1/admin/gc`, { method: 'POST', headers: { authorization: `Bearer ${A}` } });
    assert.equal(user.status, 403, user.text);
    assert.equal(user.json.error.code, 'forbidden');
    const ops = await request(`${srv.url}/v1/admin/gc`, { method: 'POST', headers: { authorization: `Bearer ${ADM}` } });
    assert.equal(ops.status, 200, ops.text);
    assert.equal(typeof ops.json.collected, 'number');
  });
});

describe('tokens', () => {
  test('no token and unknown tokens are 401 on every data route; nothing is applied', async () => {
    const db = 'authdb';
    const body = { client: 'c', mutations: [put(1, 'x', 1)] };
    assertUnauthorized(await push(srv.url, db, body), 'push without token');
    assertUnauthorized(await push(srv.url, db, body, 'nope'), 'push, unknown token');
    assertUnauthorized(await push(srv.url, db, body, `${A}x`), 'push, token with a suffix');
    assertUnauthorized(await push(srv.url, db, body, A.slice(0, -1)), 'push, token prefix');
    assertUnauthorized(await push(srv.url, db, body, 'alice'), 'push, user name as token');
    assertUnauthorized(await pull(srv.url, db, {}), 'pull without token');
    assertUnauthorized(await pull(srv.url, db, {}, 'nope'), 'pull, unknown token');
    assertUnauthorized(await stores(srv.url, db), 'stores without token');
    assertUnauthorized(await request(`${srv.url}/v1/db/${db}/events`), 'events without token');
    assertUnauthorized(await request(`${srv.url}/v1/db/${db}/events?access_token=nope`), 'events, unknown token');
    assertUnauthorized(await request(`${srv.url}/v1/admin/gc`, { method: 'POST' }), 'gc without token');
    assertUnauthorized(await request(`${srv.url}/v1/db/${db}/pull`, { headers: { authorization: `Basic ${A}` } }), 'not a bearer token');
    assertUnauthorized(await request(`${srv.url}/v1/db/${db}/pull`, { headers: { authorization: 'Bearer ' } }), 'empty bearer token');
    // nothing was written by any of those
    const p = await pull(srv.url, db, {}, A);
    assert.equal(p.status, 200);
    assert.deepEqual(p.json.changes, []);
    const m = await metrics(srv.url);
    assert.ok(metricValue(m, 'idbsync_http_requests_total', { route: 'push', code: '4xx' }) >= 5);
  });

  test('valid tokens work in the header (any case of "Bearer") and as access_token', async () => {
    const db = 'authdb2';
    const r = await push(srv.url, db, { client: 'c', mutations: [put(1, 'x', 1)] }, A);
    assert.equal(r.status, 200, r.text);
    const lower = await request(`${srv.url}/v1/db/${db}/pull`, { headers: { authorization: `bearer ${A}` } });
    assert.equal(lower.status, 200);
    assert.equal(lower.json.changes.length, 1);
    const q = await request(`${srv.url}/v1/db/${db}/pull?access_token=${encodeURIComponent(A)}`);
    assert.equal(q.status, 200);
    assert.equal(q.json.changes.length, 1);
  });

  test('health and metrics stay open', async () => {
    assert.equal((await request(`${srv.url}/healthz`)).status, 200);
    assert.equal((await request(`${srv.url}/metrics`)).status, 200);
  });

  test('a malformed tokens file is refused at startup', async () => {
    const dir = tempDir();
    const bad = path.join(dir, 'bad');
    fs.writeFileSync(bad, 'tok alice extra-field\n');
    await assert.rejects(startServer({ args: ['--auth', `tokens:${bad}`] }), /expected "TOKEN USER( \[admin\])?"/);
    const empty = path.join(dir, 'empty');
    fs.writeFileSync(empty, '# nothing\n');
    await assert.rejects(startServer({ args: ['--auth', `tokens:${empty}`] }), /no tokens/);
    await assert.rejects(startServer({ args: ['--auth', `tokens:${path.join(dir, 'missing')}`] }), /cannot open/);
  });
});

describe('per-user scoping', () => {
  const db = 'shared-db';
  test('the same key is a different row per user; each sees only their own', async () => {
    // both use client id "laptop" and mutation id 1: acks are per user too
    const ra = await push(srv.url, db, { client: 'laptop', mutations: [put(1, 1, { owner: 'alice' }), put(2, 'a-only', 1)] }, A);
    assert.equal(ra.status, 200);
    assert.equal(ra.json.applied, 2);
    const rb = await push(srv.url, db, { client: 'laptop', mutations: [put(1, 1, { owner: 'bob' })] }, B);
    assert.equal(rb.status, 200);
    assert.equal(rb.json.applied, 1, "bob's id 1 is not a duplicate of alice's");
    assert.equal(rb.json.ack, 1);
    assert.deepEqual(rb.json.conflicts, [], "bob's key 1 does not conflict with alice's");

    const pa = (await pullAll(srv.url, db, {}, A)).changes;
    const pb = (await pullAll(srv.url, db, {}, B)).changes;
    assert.deepEqual(pa.map((c) => [c.key, c.value]), [[1, { owner: 'alice' }], ['a-only', 1]]);
    assert.deepEqual(pb.map((c) => [c.key, c.value]), [[1, { owner: 'bob' }]]);

    const sa = await stores(srv.url, db, A);
    const sb = await stores(srv.url, db, B);
    assert.deepEqual(sa.json.stores, [{ name: 's', rows: 2, tombstones: 0, conflict: 'lww' }]);
    assert.deepEqual(sb.json.stores, [{ name: 's', rows: 1, tombstones: 0, conflict: 'lww' }]);
  });

  test("user B cannot change or delete user A's rows", async () => {
    const before = await pull(srv.url, db, {}, A);
    const far = Date.now() + 60000; // a newer stamp than anything alice wrote
    const hb = `${far}-0000-bob`;
    const r = await push(srv.url, db, {
      client: 'laptop',
      mutations: [
        { id: 2, store: 's', op: 'delete', key: 'a-only', hlc: hb },
        { id: 3, store: 's', op: 'put', key: 1, value: { owner: 'bob', v: 2 }, hlc: hb },
      ],
    }, B);
    assert.equal(r.status, 200, r.text);
    const after = await pull(srv.url, db, {}, A);
    assert.deepEqual(after.json.changes, before.json.changes, "alice's rows are untouched");
    // bob's delete of a key he never had made only his own tombstone
    const pb = (await pullAll(srv.url, db, {}, B)).changes;
    assert.deepEqual(pb.map((c) => [c.key, c.op]), [['a-only', 'delete'], [1, 'put']]);
    const sa = await stores(srv.url, db, A);
    assert.deepEqual(sa.json.stores[0], { name: 's', rows: 2, tombstones: 0, conflict: 'lww' });
    const sb = await stores(srv.url, db, B);
    assert.deepEqual(sb.json.stores[0], { name: 's', rows: 1, tombstones: 1, conflict: 'lww' });
  });

  test('a long-poll is not woken with the other user\'s changes', async () => {
    const head = (await pull(srv.url, db, {}, A)).json.cursor;
    const t0 = Date.now();
    const waiting = pull(srv.url, db, { since: head, wait: 1 }, A);
    await sleep(150);
    const r = await push(srv.url, db, { client: 'laptop', mutations: [put(4, 'bob-new', 1)] }, B);
    assert.equal(r.status, 200);
    const res = await waiting;
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.changes, [], "alice does not see bob's push");
    assert.ok(Date.now() - t0 >= 900, 'waited for its own changes until the timeout');
  });

  test('SSE streams only the caller\'s changes (access_token in the query)', async () => {
    const headA = (await pull(srv.url, db, {}, A)).json.cursor;
    const es = await openEvents(srv.url, db, { since: headA, access_token: A });
    try {
      assert.equal(es.status, 200);
      await push(srv.url, db, { client: 'laptop', mutations: [put(5, 'bob-sse', 1)] }, B);
      const none = await es.next(700);
      assert.equal(none, null, "no frame for bob's change");
      const ra = await push(srv.url, db, { client: 'laptop', mutations: [put(3, 'alice-sse', { a: 1 })] }, A);
      const f = await es.next(5000);
      assert.ok(f, 'frame for alice');
      assert.deepEqual(f.json.changes.map((c) => c.key), ['alice-sse']);
      assert.equal(f.json.cursor, ra.json.cursor);
    } finally {
      es.close();
    }
    // bob's stream from 0 never contains alice's keys
    const eb = await openEvents(srv.url, db, { since: 0 }, { token: B });
    try {
      const f = await eb.next(5000);
      assert.ok(f);
      const keys = f.json.changes.map((c) => c.key);
      assert.ok(keys.includes('bob-sse'));
      assert.ok(!keys.includes('alice-sse'));
      // exactly what bob's own pull returns (his own tombstone for 'a-only' included)
      assert.deepEqual(f.json.changes, (await pull(srv.url, db, {}, B)).json.changes);
    } finally {
      eb.close();
    }
  });

  test('a user with no rows sees empty pulls and stores', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'tokens');
    fs.writeFileSync(file, `${A} alice\ntok-carol carol\n`);
    const s2 = await startServer({ args: ['--auth', `tokens:${file}`] });
    try {
      assert.equal((await push(s2.url, 'x', { client: 'c', mutations: [put(1, 1, 1)] }, A)).status, 200);
      const p = await pull(s2.url, 'x', {}, 'tok-carol');
      assert.equal(p.status, 200);
      assert.deepEqual(p.json.changes, []);
      const st = await stores(s2.url, 'x', 'tok-carol');
      assert.equal(st.status, 200);
      for (const s of st.json.stores) {
        assert.equal(s.rows, 0, 'store names may show, but no rows of other users');
        assert.equal(s.tombstones, 0);
      }
      assertUnauthorized(await pull(s2.url, 'x', {}, B), "bob's token is not in this server's file");
    } finally {
      await s2.stop();
    }
  });

  // Shared rows (no owner) are written server-side: pushes with "origin":"server" from an admin.
  test('server-side pushes need an admin token; shared rows reach every user and are read-only to them', async () => {
    const db = 'shared';
    const mk = (id, key, value) => ({ id, store: 's', op: 'put', key, value });
    const denied = await push(srv.url, db, { client: 'lake', origin: 'server', mutations: [mk(1, 'price', 1)] }, A);
    assert.equal(denied.status, 403, denied.text);
    const ok = await push(srv.url, db, { client: 'lake', origin: 'server', mutations: [mk(1, 'price', { eur: 5 })] }, ADM);
    assert.equal(ok.status, 200, ok.text);
    // an admin can also write rows owned by one user
    const own = await push(srv.url, db, { client: 'lake', origin: 'server', user: 'alice', mutations: [mk(1, 'alice-only', 1)] }, ADM); // ids count per (db, user, client)
    assert.equal(own.status, 200, own.text);
    const pa = await pull(srv.url, db, {}, A);
    const pb = await pull(srv.url, db, {}, B);
    assert.deepEqual(pa.json.changes.map((c) => c.key).sort(), ['alice-only', 'price']);
    assert.deepEqual(pb.json.changes.map((c) => c.key), ['price']);
    // bob may not modify the shared row: 403, and nothing of his batch is applied
    const r = await push(srv.url, db, { client: 'bob', mutations: [mk(1, 'mine', 1), mk(2, 'price', { eur: 0 })] }, B);
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.error.code, 'forbidden');
    assert.match(r.json.error.message, /price/);
    const after = await pull(srv.url, db, {}, B);
    assert.deepEqual(after.json.changes.map((c) => [c.key, c.value]), [['price', { eur: 5 }]]);
  });
});
