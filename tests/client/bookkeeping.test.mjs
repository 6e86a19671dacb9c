// The outbox's pure bookkeeping in Node (client/bookkeeping.js: ids over records, acks, pending, the
// push body) and the push's memory of acked writes (client/acks.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FIRST_BASE, ackRecord, pendingOf, pushBody } from '../../client/bookkeeping.js';
import { Acks, plain, sameJson } from '../../client/acks.js';

const put = (k, v, h = 'h') => ['s', JSON.stringify(k), h, JSON.stringify(v)];
const del = (k, h = 'h') => ['s', JSON.stringify(k), h];

test('ackRecord: acks drop whole records or move base inside one, ids stay gap-free', () => {
  const recs = [[put(1, 1), put(2, 2), put(3, 3)], [del(4)], [put(5, 5), put(6, 6)]];
  const base = { ...FIRST_BASE };
  // ack 2: two of the first record's three.
  assert.deepEqual(ackRecord(base, recs[0].length, 2), { dropped: 2, whole: false });
  assert.deepEqual(base, { idx: 2, id: 3 });
  assert.deepEqual(pendingOf(base, recs, false).count, 4);
  // ack 5: the rest of record 0, all of record 1, then one of record 2.
  const r0 = ackRecord(base, recs[0].length, 5);
  const r1 = ackRecord(base, recs[1].length, 5);
  const r2 = ackRecord(base, recs[2].length, 5);
  assert.deepEqual([r0, r1, r2], [{ dropped: 1, whole: true }, { dropped: 1, whole: true }, { dropped: 1, whole: false }]);
  assert.deepEqual(base, { idx: 1, id: 6 }, 'entry #1 of the (new) head record has id 6');
  const left = pendingOf(base, [recs[2]], true);
  assert.equal(left.count, 1);
  assert.deepEqual([...left.keys], ['s\u00006']);
  assert.deepEqual(ackRecord(base, recs[2].length, 5), { dropped: 0, whole: false }, 'an old ack drops nothing');
});

test('pendingOf: counts from base.idx in the head record only, keys as "store\\0keyJSON"', () => {
  const recs = [[put('a', 1), put('b', 2)], [put('a', 3), del('c')]];
  const p = pendingOf({ idx: 1, id: 10 }, recs, true);
  assert.equal(p.count, 3);
  assert.deepEqual([...p.keys].sort(), ['s\u0000"a"', 's\u0000"b"', 's\u0000"c"']);
  assert.equal(pendingOf(FIRST_BASE, [], true).count, 0);
});

test('pushBody: the exact JSON the server parses, ids counted from first, base where known', () => {
  const body = pushBody('c1', 7, [put(1, { x: 1 }, 'h1'), del('k', 'h2')], [41, undefined]);
  assert.deepEqual(JSON.parse(body), {
    client: 'c1',
    mutations: [
      { id: 7, store: 's', op: 'put', key: 1, value: { x: 1 }, hlc: 'h1', base: 41 },
      { id: 8, store: 's', op: 'delete', key: 'k', hlc: 'h2' },
    ],
  });
});

test('Acks: acked writes minus conflict losers; kept runs give seqs up to the ack; clear forgets', () => {
  const muts = [put(1, { v: 1 }, 'h1'), put(2, { v: 2 }, 'h2'), del(3, 'h3'), put(4, { v: 4 }, 'h4')];
  const b = { first: 10, muts };
  const a = new Acks();
  a.note(b, 12, [{ id: 11 }], [[10, 500, 1], [12, 502, 2], ['bad']]);
  const id = (m) => m[0] + '\0' + m[1];
  assert.equal(a.keptSeq(id(muts[0])), 500);
  assert.equal(a.keptSeq(id(muts[2])), 502);
  assert.equal(a.keptSeq(id(muts[3])), undefined, 'id 13 is beyond the ack');
  assert.equal(a.acked.has(id(muts[1])), false, 'a conflict loser is not kept as sent');
  assert.equal(a.keptAsSent({ op: 'put', hlc: 'h1', value: { v: 1 } }, id(muts[0]), 'merge'), true);
  assert.equal(a.keptAsSent({ op: 'put', hlc: 'h1', value: { v: 9 } }, id(muts[0]), 'merge'), false, 'merge changed it');
  assert.equal(a.keptAsSent({ op: 'put', hlc: 'h1', value: { v: 9 } }, id(muts[0]), 'lww'), true, 'lww stores as sent');
  assert.equal(a.keptAsSent({ op: 'delete', hlc: 'h3' }, id(muts[2]), 'lww'), true);
  assert.equal(a.keptAsSent({ op: 'put', hlc: 'other', value: { v: 1 } }, id(muts[0]), 'lww'), false);
  a.clear();
  assert.equal(a.keptSeq(id(muts[0])), undefined);
});

test('sameJson and plain', () => {
  assert.ok(sameJson({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 }));
  assert.ok(!sameJson({ a: 1 }, { a: 1, b: undefined }));
  assert.ok(!sameJson([1], { 0: 1 }));
  assert.deepEqual(['lww', 'client-wins', 'server-wins', 'lake-wins', 'merge', undefined].map(plain), [true, true, true, true, false, false]);
});
