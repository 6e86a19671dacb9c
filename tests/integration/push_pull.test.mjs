// Push/pull round trips against the real server: key types, tagged values (byte-exact),
// the compacted change feed, paging, idempotent retries, id gaps, long-poll, SSE and store
// counts.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, push, pull, pullAll, pushOk, stores, hlc, metrics, metricValue, openEvents, request, sleep,
} from '../lib/server.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv.stop(); });

describe('keys and values', () => {
  test('every key type round-trips and equal keys are one row', async () => {
    const db = 'keys';
    // [key as sent, key the server returns (canonical)]
    const keys = [
      [1, 1],
      [-2.5, -2.5],
      [0, 0],
      ['', ''],
      ['hello', 'hello'],
      ['ünï©ødé \u0000 nul', 'ünï©ødé \u0000 nul'],
      [{ $date: '2024-01-02T03:04:05.678Z' }, { $date: '2024-01-02T03:04:05.678Z' }],
      [{ $bin: 'AAECAwT/' }, { $bin: 'AAECAwT/' }],
      [{ $bin: '' }, { $bin: '' }],
      [{ $num: 'Infinity' }, { $num: 'Infinity' }],
      [{ $num: '-Infinity' }, { $num: '-Infinity' }],
      [[1, 'a', { $date: '2020-01-01T00:00:00.000Z' }], [1, 'a', { $date: '2020-01-01T00:00:00.000Z' }]],
      [[], []],
      [[[1, [2]], 'x'], [[1, [2]], 'x']],
    ];
    const mutations = keys.map(([k], i) => ({ id: i + 1, store: 'k', op: 'put', key: k, value: { i } }));
    const r = await pushOk(srv.url, db, 'c1', mutations);
    assert.equal(r.applied, keys.length);
    assert.equal(r.ack, keys.length);
    const { changes } = await pullAll(srv.url, db);
    assert.equal(changes.length, keys.length);
    for (const [, canon] of keys) {
      const c = changes.find((x) => JSON.stringify(x.key) === JSON.stringify(canon));
      assert.ok(c, `key ${JSON.stringify(canon)} is in the pull`);
    }
    // 1.0 is the same key as 1, -0 the same as 0: they overwrite, not add
    const raw = '{"client":"c1","mutations":[' +
      `{"id":${keys.length + 1},"store":"k","op":"put","key":1.0,"value":{"v":"one-point-oh"}},` +
      `{"id":${keys.length + 2},"store":"k","op":"put","key":-0,"value":{"v":"minus-zero"}},` +
      `{"id":${keys.length + 3},"store":"k","op":"put","key":1e0,"value":{"v":"1e0"}}]}`;
    const r2 = await push(srv.url, db, raw);
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.json.applied, 3);
    const after2 = await pullAll(srv.url, db);
    assert.equal(after2.changes.length, keys.length, 'no new rows for 1.0 / -0 / 1e0');
    const one = after2.changes.filter((x) => x.key === 1);
    assert.equal(one.length, 1);
    assert.deepEqual(one[0].value, { v: '1e0' });
    const zero = after2.changes.filter((x) => x.key === 0);
    assert.equal(zero.length, 1);
    assert.deepEqual(zero[0].value, { v: 'minus-zero' });
    // the same string key in a different store is a different row
    await pushOk(srv.url, db, 'c1', [{ id: keys.length + 4, store: 'k2', op: 'put', key: 'hello', value: 2 }]);
    const s = await stores(srv.url, db);
    assert.deepEqual(s.json.stores.map((x) => [x.name, x.rows]), [['k', keys.length], ['k2', 1]]);
  });

  test('tagged values come back byte-exact', async () => {
    const db = 'values';
    // raw JSON texts, deliberately with odd spacing, escapes, number spellings and key order
    const values = [
      '{"$date":"2024-02-29T23:59:59.999Z"}',
      '{"$date":null}',
      '{"$num":"NaN"}',
      '{"$num":"Infinity"}',
      '{"$num":"-Infinity"}',
      '{"$num":"-0"}',
      '{"$undefined":true}',
      '{"$bin":"3q2+7w=="}',
      '{"$bin":"AQID","$type":"Uint8Array"}',
      '{"$bigint":"-123456789012345678901234567890"}',
      '{"$map":[["a",1],[{"$date":"2020-01-01T00:00:00.000Z"},{"$set":[1,2]}]]}',
      '{"$set":["x",{"$bigint":"7"}]}',
      '{"$regexp":"^a.*b$","$flags":"gi"}',
      '{"$esc":{"$weird":1,"$date":"not a date"}}',
      '{ "z" : 1.50 , "a":[1,2 ,3],"nested":{"d":{"$date":"1970-01-01T00:00:00.000Z"},"u":{"$undefined":true}} }',
      '"just a string with \\"escapes\\" \\u00e9 \\n"',
      '12.0e+2',
      '-0.0',
      'null',
      'true',
      '[1,{"$undefined":true},3]',
      '{"emoji":"\\ud83d\\ude00","raw":"😀"}',
    ];
    const body = '{"client":"vals","mutations":[' +
      values.map((v, i) => `{"id":${i + 1},"store":"v","op":"put","key":${i},"value":${v}}`).join(',') + ']}';
    const r = await push(srv.url, db, body);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.applied, values.length);
    const res = await pull(srv.url, db, { since: 0 });
    assert.equal(res.status, 200);
    assert.equal(res.json.changes.length, values.length);
    for (let i = 0; i < values.length; i++) {
      const c = res.json.changes.find((x) => x.key === i);
      const expect = `"key":${i},"value":${values[i]},"hlc":`;
      assert.ok(res.text.includes(expect), `value ${i} is byte-exact: ${values[i]}`);
      assert.deepEqual(c.value, JSON.parse(values[i]));
    }
  });
});

describe('change feed', () => {
  test('a key updated three times appears once, with its latest value and seq', async () => {
    const db = 'compact';
    const r1 = await pushOk(srv.url, db, 'c', [
      { id: 1, store: 's', op: 'put', key: 'a', value: { v: 1 } },
      { id: 2, store: 's', op: 'put', key: 'b', value: { v: 1 } },
      { id: 3, store: 's', op: 'put', key: 'a', value: { v: 2 } },
    ]);
    const r2 = await pushOk(srv.url, db, 'c', [
      { id: 4, store: 's', op: 'put', key: 'a', value: { v: 3 } },
      { id: 5, store: 's', op: 'put', key: 'c', value: { v: 1 } },
      { id: 6, store: 's', op: 'delete', key: 'b' },
    ]);
    assert.equal(r1.applied + r2.applied, 6);
    const res = await pull(srv.url, db, { since: 0 });
    const ch = res.json.changes;
    assert.deepEqual(ch.map((c) => [c.key, c.op]), [['a', 'put'], ['c', 'put'], ['b', 'delete']]);
    assert.deepEqual(ch[0].value, { v: 3 });
    assert.ok(!('value' in ch[2]), 'a delete carries no value');
    for (let i = 1; i < ch.length; i++) assert.ok(ch[i].seq > ch[i - 1].seq, 'seq order');
    assert.equal(res.json.cursor, r2.cursor);
    assert.equal(res.json.cursor, ch[ch.length - 1].seq);
    assert.equal(res.json.more, false);
    for (const c of ch) assert.match(c.hlc, /^\d{13}-[0-9a-f]{4}-[A-Za-z0-9_.:~-]+$/);
    // pulling from the cursor returns nothing, with the same cursor
    const again = await pull(srv.url, db, { since: res.json.cursor });
    assert.deepEqual(again.json.changes, []);
    assert.equal(again.json.cursor, res.json.cursor);
    // from a middle cursor: only rows whose latest seq is after it
    const mid = await pull(srv.url, db, { since: ch[0].seq });
    assert.deepEqual(mid.json.changes.map((c) => c.key), ['c', 'b']);
  });

  test('paging with limit, more and cursor covers every row once, in seq order', async () => {
    const db = 'paging';
    const N = 57;
    const muts = [];
    for (let i = 1; i <= N; i++) muts.push({ id: i, store: 'p', op: 'put', key: i, value: { i } });
    await pushOk(srv.url, db, 'c', muts);
    let since = 0;
    const seen = [];
    let pages = 0;
    for (;;) {
      const r = await pull(srv.url, db, { since, limit: 10 });
      assert.equal(r.status, 200);
      pages++;
      const { changes, cursor, more } = r.json;
      assert.ok(changes.length <= 10);
      if (more) {
        assert.equal(changes.length, 10);
        assert.equal(cursor, changes[changes.length - 1].seq, 'cursor is the last seq returned');
      }
      seen.push(...changes);
      since = cursor;
      if (!more) break;
    }
    assert.equal(pages, 6);
    assert.equal(seen.length, N);
    assert.deepEqual(seen.map((c) => c.key), Array.from({ length: N }, (_, i) => i + 1));
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].seq > seen[i - 1].seq);
    // limit=1 pages too
    const one = await pull(srv.url, db, { since: 0, limit: 1 });
    assert.equal(one.json.changes.length, 1);
    assert.equal(one.json.more, true);
    // exactly-at-the-end page: more=false
    const last = await pull(srv.url, db, { since: seen[N - 11].seq, limit: 10 });
    assert.equal(last.json.changes.length, 10);
    assert.equal(last.json.more, false);
  });

  test('stores lists rows, tombstones and the conflict rule', async () => {
    const db = 'counts';
    await pushOk(srv.url, db, 'c', [
      { id: 1, store: 'a', op: 'put', key: 1, value: 1 },
      { id: 2, store: 'a', op: 'put', key: 2, value: 2 },
      { id: 3, store: 'a', op: 'put', key: 3, value: 3 },
      { id: 4, store: 'a', op: 'delete', key: 2 },
      { id: 5, store: 'b', op: 'delete', key: 'never-existed' },
      { id: 6, store: 'b', op: 'put', key: 'x', value: {} },
      { id: 7, store: 'a', op: 'put', key: 3, value: 33 },
    ]);
    const r = await stores(srv.url, db);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, {
      stores: [
        { name: 'a', rows: 2, tombstones: 1, conflict: 'lww' },
        { name: 'b', rows: 1, tombstones: 1, conflict: 'lww' },
      ],
    });
    // re-putting a deleted key turns the tombstone back into a row
    await pushOk(srv.url, db, 'c', [{ id: 8, store: 'a', op: 'put', key: 2, value: 'back' }]);
    const r2 = await stores(srv.url, db);
    assert.deepEqual(r2.json.stores[0], { name: 'a', rows: 3, tombstones: 0, conflict: 'lww' });
    // an unknown db has no stores
    const empty = await stores(srv.url, 'nothing-here');
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.json, { stores: [] });
  });
});

describe('idempotency and gaps', () => {
  test('a retried batch is not applied twice', async () => {
    const db = 'retry';
    const batch = {
      client: 'r1',
      mutations: [1, 2, 3, 4, 5].map((id) => ({ id, store: 's', op: 'put', key: `k${id}`, value: { id } })),
    };
    const first = await push(srv.url, db, batch);
    assert.equal(first.status, 200);
    assert.equal(first.json.applied, 5);
    assert.equal(first.json.duplicates, 0);
    assert.equal(first.json.ack, 5);
    const before = await pull(srv.url, db, { since: 0 });
    const dupBefore = metricValue(await metrics(srv.url), 'idbsync_mutations_duplicate_total');
    const appliedBefore = metricValue(await metrics(srv.url), 'idbsync_mutations_applied_total');
    // the same batch again (e.g. the response was lost): nothing applied, all duplicates
    const again = await push(srv.url, db, batch);
    assert.equal(again.status, 200);
    assert.equal(again.json.applied, 0);
    assert.equal(again.json.duplicates, 5);
    assert.equal(again.json.ack, 5);
    assert.deepEqual(again.json.conflicts, []);
    const afterPull = await pull(srv.url, db, { since: 0 });
    const noNow = (t) => t.replace(/,"now":\d+/, '');
    assert.equal(noNow(afterPull.text), noNow(before.text), 'pull unchanged by the retry');
    const m = await metrics(srv.url);
    assert.equal(metricValue(m, 'idbsync_mutations_duplicate_total'), dupBefore + 5);
    assert.equal(metricValue(m, 'idbsync_mutations_applied_total'), appliedBefore);
    // a retry that overlaps: 4,5 are duplicates, 6,7 new
    const overlap = await push(srv.url, db, {
      client: 'r1',
      mutations: [4, 5, 6, 7].map((id) => ({ id, store: 's', op: 'put', key: `k${id}`, value: { id, v: 2 } })),
    });
    assert.equal(overlap.json.applied, 2);
    assert.equal(overlap.json.duplicates, 2);
    assert.equal(overlap.json.ack, 7);
    const rows = (await pullAll(srv.url, db)).changes;
    assert.deepEqual(rows.find((c) => c.key === 'k4').value, { id: 4 }, 'duplicate id 4 did not overwrite');
    assert.deepEqual(rows.find((c) => c.key === 'k6').value, { id: 6, v: 2 });
    // ids are per client: another client may use id 1 again
    const other = await push(srv.url, db, { client: 'r2', mutations: [{ id: 1, store: 's', op: 'put', key: 'k1', value: 'r2' }] });
    assert.equal(other.json.applied, 1);
    assert.equal(other.json.ack, 1);
    // ... and per database
    const otherDb = await push(srv.url, 'retry2', batch);
    assert.equal(otherDb.json.applied, 5);
  });

  test('the answer lists the mutations stored as sent ("kept") as runs of [first id, its seq, count]', async () => {
    const db = 'kept';
    await pushOk(srv.url, db, 'w', [{ id: 1, store: 's', op: 'put', key: 'x', value: 'newer', hlc: hlc(Date.now() + 1000) }]);
    const r = await pushOk(srv.url, db, 'k', [
      { id: 1, store: 's', op: 'put', key: 'a', value: 1 },
      { id: 2, store: 's', op: 'put', key: 'b', value: 2 },
      { id: 3, store: 's', op: 'put', key: 'x', value: 'older', hlc: hlc(Date.now() - 1000) },   // loses (lww)
      { id: 4, store: 's', op: 'delete', key: 'a' },
      { id: 5, store: 's', op: 'put', key: 'c', value: 3 },
    ]);
    assert.equal(r.applied, 4);
    assert.equal(r.conflicts.length, 1);
    const seq = Object.fromEntries((await pullAll(srv.url, db)).changes.map((c) => [c.key, c.seq]));
    assert.equal(seq.c, seq.a + 1, 'delete of a then put of c: consecutive seqs');
    assert.deepEqual(r.kept, [[1, seq.b - 1, 2], [4, seq.a, 2]]);
    // a retry: all duplicates, nothing kept anew
    const again = await push(srv.url, db, { client: 'k', mutations: [{ id: 5, store: 's', op: 'put', key: 'c', value: 3 }] });
    assert.deepEqual(again.json.kept, []);
  });

  test('a gap stops processing and leaves the ack', async () => {
    const db = 'gap';
    await pushOk(srv.url, db, 'g', [1, 2, 3].map((id) => ({ id, store: 's', op: 'put', key: id, value: id })));
    const head = (await pull(srv.url, db, { since: 0 })).json.cursor;
    const gap = await push(srv.url, db, {
      client: 'g', mutations: [5, 6].map((id) => ({ id, store: 's', op: 'put', key: id, value: id })),
    });
    assert.equal(gap.status, 200);
    assert.equal(gap.json.gap, true);
    assert.equal(gap.json.expected, 4);
    assert.equal(gap.json.ack, 3);
    assert.equal(gap.json.applied, 0);
    const p = await pull(srv.url, db, { since: head });
    assert.deepEqual(p.json.changes, [], 'nothing after the gap was applied');
    // applied up to the gap, then stop: 4 applies, 6 is a gap (5 missing)
    const part = await push(srv.url, db, {
      client: 'g', mutations: [4, 6, 7].map((id) => ({ id, store: 's', op: 'put', key: id, value: id })),
    });
    assert.equal(part.json.applied, 1);
    assert.equal(part.json.ack, 4);
    assert.equal(part.json.gap, true);
    assert.equal(part.json.expected, 5);
    const p2 = await pull(srv.url, db, { since: head });
    assert.deepEqual(p2.json.changes.map((c) => c.key), [4]);
    // a fresh client must start at 1
    const fresh = await push(srv.url, db, { client: 'new', mutations: [{ id: 2, store: 's', op: 'put', key: 'z', value: 1 }] });
    assert.equal(fresh.json.gap, true);
    assert.equal(fresh.json.expected, 1);
    assert.equal(fresh.json.ack, 0);
    // filling the gap works
    const fill = await push(srv.url, db, {
      client: 'g', mutations: [5, 6].map((id) => ({ id, store: 's', op: 'put', key: id, value: id })),
    });
    assert.equal(fill.json.applied, 2);
    assert.equal(fill.json.ack, 6);
    assert.ok(!('gap' in fill.json));
  });

  // One client's push is applied while it is still being checked (core/batch_stream.c): a
  // bad mutation after hundreds of good ones must still keep nothing, with the whole parse's
  // message, and bodies of other shapes must get their usual answers.
  test('a push checked while it is applied keeps nothing when a late mutation is bad', async () => {
    const db = 'streamed';
    const before = metricValue(await metrics(srv.url), 'idbsync_pushes_streamed_total');
    const muts = (n, bad) => Array.from({ length: n }, (_, i) => ({
      id: i + 1, store: 's', op: 'put', key: `k${i}`, value: i === bad ? { $nope: 1 } : { i },
    }));
    const r = await push(srv.url, db, { client: 's1', mutations: muts(500, 470) });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /^mutations\[470\]\.value: unknown tag/);
    const truncated = JSON.stringify({ client: 's1', mutations: muts(300, -1) }).slice(0, -2);
    const t = await request(`${srv.url}/v1/db/${db}/push`, { method: 'POST', body: truncated });
    assert.equal(t.status, 400);
    assert.match(t.json.error.message, /^invalid JSON at byte/);
    assert.deepEqual((await pullAll(srv.url, db)).changes, [], 'nothing of either push was kept');
    // the same client then pushes the batch whole, and a retry of it is all duplicates
    const ok = await pushOk(srv.url, db, 's1', muts(500, -1));
    assert.equal(ok.applied, 500);
    assert.equal((await pushOk(srv.url, db, 's1', muts(500, -1))).duplicates, 500);
    assert.equal((await pullAll(srv.url, db)).changes.length, 500);
    // a member after the mutations that is not origin/user is fine; origin after them needs the whole parse
    const late = await request(`${srv.url}/v1/db/${db}/push`, {
      method: 'POST', body: JSON.stringify({ client: 's2', mutations: muts(20, -1), note: [1, 2] }),
    });
    assert.equal(late.status, 200);
    assert.equal(late.json.applied, 20);
    const origin = await request(`${srv.url}/v1/db/${db}/push`, {
      method: 'POST', body: JSON.stringify({ client: 's3', mutations: muts(20, -1), origin: 'sideways' }),
    });
    assert.equal(origin.status, 400);
    assert.match(origin.json.error.message, /^origin: must be/);
    const after = metricValue(await metrics(srv.url), 'idbsync_pushes_streamed_total');
    assert.ok(after - before >= 5, `pushes went the streamed way (${after - before})`);
  });
});

describe('live updates', () => {
  test('long-poll returns as soon as another client pushes', async () => {
    const db = 'longpoll';
    await pushOk(srv.url, db, 'a', [{ id: 1, store: 's', op: 'put', key: 1, value: 1 }]);
    const head = (await pull(srv.url, db, { since: 0 })).json.cursor;
    const t0 = Date.now();
    const waiting = pull(srv.url, db, { since: head, wait: 20, client: 'watcher' });
    await sleep(300);
    const pushed = await pushOk(srv.url, db, 'b', [{ id: 1, store: 's', op: 'put', key: 'live', value: { hot: true } }]);
    const r = await waiting;
    const took = Date.now() - t0;
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.changes.map((c) => [c.key, c.value]), [['live', { hot: true }]]);
    assert.equal(r.json.cursor, pushed.cursor);
    assert.ok(took < 5000, `long-poll answered after ${took} ms, not at the 20 s timeout`);
    assert.ok(took >= 250, 'it did wait for the push');
  });

  test('long-poll on another db is not woken by this push; it times out empty', async () => {
    const db = 'longpoll-quiet';
    const head = (await pull(srv.url, db, { since: 0 })).json.cursor;
    const t0 = Date.now();
    const waiting = pull(srv.url, db, { since: head, wait: 1 });
    await sleep(200);
    await pushOk(srv.url, 'longpoll-noise', 'n', [{ id: 1, store: 's', op: 'put', key: 1, value: 1 }]);
    const r = await waiting;
    const took = Date.now() - t0;
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.changes, []);
    assert.equal(r.json.more, false);
    assert.ok(took >= 900, `waited ${took} ms (~1 s)`);
    assert.ok(took < 6000, `returned at the timeout (${took} ms)`);
    assert.ok(r.json.cursor >= head);
  });

  test('wait=0 returns immediately', async () => {
    const t0 = Date.now();
    const r = await pull(srv.url, 'longpoll-quiet', { since: 0, wait: 0 });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.changes, []);
    assert.ok(Date.now() - t0 < 1000);
  });

  test('SSE delivers pushed changes as frames with the cursor as id', async () => {
    const db = 'sse';
    await pushOk(srv.url, db, 'a', [{ id: 1, store: 's', op: 'put', key: 'before', value: 0 }]);
    const es = await openEvents(srv.url, db, { since: 0, client: 'sse-client' });
    try {
      assert.equal(es.status, 200);
      assert.match(es.headers['content-type'], /^text\/event-stream/);
      // first: the backlog since=0
      const f1 = await es.next(5000);
      assert.ok(f1, 'backlog frame');
      assert.equal(f1.event, 'changes');
      assert.deepEqual(f1.json.changes.map((c) => c.key), ['before']);
      assert.equal(f1.id, String(f1.json.cursor));
      const m = await metrics(srv.url);
      assert.ok(metricValue(m, 'idbsync_sse_clients') >= 1, 'sse client gauge');
      // then: live
      const pushed = await pushOk(srv.url, db, 'b', [
        { id: 1, store: 's', op: 'put', key: 'live1', value: { n: 1 } },
        { id: 2, store: 's', op: 'delete', key: 'before' },
      ]);
      const f2 = await es.next(5000);
      assert.ok(f2, 'live frame arrives');
      assert.equal(f2.event, 'changes');
      assert.deepEqual(f2.json.changes.map((c) => [c.key, c.op]), [['live1', 'put'], ['before', 'delete']]);
      assert.deepEqual(f2.json.changes[0].value, { n: 1 });
      assert.equal(f2.json.cursor, pushed.cursor);
      assert.equal(f2.id, String(pushed.cursor));
    } finally {
      es.close();
    }
  });

  test('SSE delivers a large backlog in several frames, in order, each key once', async () => {
    const db = 'sse-big';
    const muts = [];
    for (let i = 1; i <= 1200; i++) muts.push({ id: i, store: 's', op: 'put', key: i, value: { i } });
    const r = await pushOk(srv.url, db, 'a', muts);
    const es = await openEvents(srv.url, db, { since: 0 });
    try {
      const got = [];
      let frames = 0;
      while (got.length < 1200) {
        const f = await es.next(5000);
        assert.ok(f, `frame ${frames + 1}`);
        frames++;
        got.push(...f.json.changes);
        assert.equal(f.id, String(f.json.cursor));
      }
      assert.ok(frames >= 3, `${frames} frames for 1200 changes`);
      assert.deepEqual(got.map((c) => c.key), muts.map((m) => m.key));
      assert.equal(got[got.length - 1].seq, r.cursor);
    } finally {
      es.close();
    }
  });

  test('SSE resumes from Last-Event-ID', async () => {
    const db = 'sse-resume';
    const a = await pushOk(srv.url, db, 'a', [{ id: 1, store: 's', op: 'put', key: 'old', value: 0 }]);
    await pushOk(srv.url, db, 'a', [{ id: 2, store: 's', op: 'put', key: 'new', value: 1 }]);
    const es = await openEvents(srv.url, db, {}, { headers: { 'last-event-id': String(a.cursor) } });
    try {
      const f = await es.next(5000);
      assert.ok(f);
      assert.deepEqual(f.json.changes.map((c) => c.key), ['new']);
    } finally {
      es.close();
    }
  });
});

describe('server-side hlc stamps', () => {
  test('a mutation without hlc is stamped by the server, later than the client stamps it saw', async () => {
    const db = 'stamps';
    const past = Date.now() - 60000;
    const r = await pushOk(srv.url, db, 'c', [
      { id: 1, store: 's', op: 'put', key: 'given', value: 1, hlc: hlc(past, 3, 'clientA') },
      { id: 2, store: 's', op: 'put', key: 'stamped', value: 2 },
    ]);
    assert.equal(r.applied, 2);
    const ch = (await pull(srv.url, db, { since: 0 })).json.changes;
    assert.equal(ch.find((c) => c.key === 'given').hlc, hlc(past, 3, 'clientA'));
    const stamped = ch.find((c) => c.key === 'stamped').hlc;
    assert.match(stamped, /^\d{13}-[0-9a-f]{4}-/);
    assert.ok(stamped > hlc(past, 3, 'clientA'));
    assert.ok(Math.abs(Number(stamped.slice(0, 13)) - Date.now()) < 60000, 'stamp near the wall clock');
  });

  test('metrics expose the push/pull counters and the commit histogram', async () => {
    const m = await metrics(srv.url);
    assert.ok(metricValue(m, 'idbsync_mutations_applied_total') > 0);
    assert.ok(metricValue(m, 'idbsync_http_requests_total', { route: 'push', code: '2xx' }) > 0);
    assert.ok(metricValue(m, 'idbsync_http_requests_total', { route: 'pull', code: '2xx' }) > 0);
    const count = metricValue(m, 'idbsync_commit_seconds_count');
    assert.ok(count > 0);
    assert.equal(metricValue(m, 'idbsync_commit_seconds_bucket', { le: '+Inf' }), count);
    assert.ok(metricValue(m, 'idbsync_commit_seconds_sum') >= 0);
    const h = await request(`${srv.url}/healthz`);
    assert.equal(h.status, 200);
    assert.equal(h.json.ok, true);
    assert.equal(h.json.head, metricValue(m, 'idbsync_head_seq'));
  });
});
