// client/codec.js in Node, no browser: every value kind round-trips through the tagged JSON
// (docs/protocol.md "Keys and values"), keys encode canonically, and what the wire cannot carry
// is an UnsupportedValueError naming why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeValue, encodeValueAsync, fromTagged, encodeKey, decodeKey, toTagged } from '../../client/codec.js';
import { UnsupportedValueError } from '../../client/errors.js';

const roundTrip = (v) => fromTagged(JSON.parse(encodeValue(v)));

test('plain JSON values are sent as JSON.stringify writes them', () => {
  for (const v of [null, true, 'text', 42, 1.5, [1, 'a', null], { a: { b: [1, { c: 'd' }] } }, {}]) {
    assert.equal(encodeValue(v), JSON.stringify(v));
    assert.deepEqual(roundTrip(v), v);
  }
});

test('every tagged kind round-trips exactly', () => {
  const d = new Date('2026-12-05T16:00:00.123Z');
  const v = {
    date: d, bad: new Date(NaN), big: 123456789012345678901234567890n, neg0: -0, nan: NaN, inf: -Infinity,
    map: new Map([[1, 'one'], ['k', new Set([1, 2])]]), set: new Set(['a', 'b']), re: /a+b/gi,
    bytes: new Uint8Array([0, 1, 255]), f32: new Float32Array([1.5, -2]), buf: new Uint8Array([9, 8]).buffer,
    '$dollar': { '$inner': 1 }, arr: [d, -0, undefined],
  };
  const r = roundTrip(v);
  assert.ok(r.date instanceof Date && r.date.getTime() === d.getTime());
  assert.ok(Number.isNaN(r.bad.getTime()));
  assert.equal(r.big, v.big);
  assert.ok(Object.is(r.neg0, -0));
  assert.ok(Number.isNaN(r.nan));
  assert.equal(r.inf, -Infinity);
  assert.deepEqual([...r.map.keys()], [1, 'k']);
  assert.deepEqual([...r.map.get('k')], [1, 2]);
  assert.deepEqual([...r.set], ['a', 'b']);
  assert.equal(r.re.source, 'a+b');
  assert.equal(r.re.flags, 'gi');
  assert.ok(r.bytes instanceof Uint8Array);
  assert.deepEqual([...r.bytes], [0, 1, 255]);
  assert.ok(r.f32 instanceof Float32Array);
  assert.deepEqual([...r.f32], [1.5, -2]);
  assert.ok(r.buf instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(r.buf)], [9, 8]);
  assert.deepEqual(r.$dollar, { $inner: 1 }, 'keys starting with $ are escaped, not read as tags');
  assert.ok(Object.is(r.arr[1], -0));
  assert.equal(r.arr[2], undefined);
});

test('Blobs need their bytes: encodeValue refuses, encodeValueAsync reads them and enforces the cap', async () => {
  const blob = new Blob(['hello'], { type: 'text/plain' });
  assert.throws(() => encodeValue({ blob }), UnsupportedValueError);
  const back = fromTagged(JSON.parse(await encodeValueAsync({ blob })));
  assert.equal(await back.blob.text(), 'hello');
  assert.equal(back.blob.type, 'text/plain');
  await assert.rejects(encodeValueAsync({ blob }, 4), (e) => e instanceof UnsupportedValueError && e.reason === 'too_large' && /5 bytes/.test(e.message));
});

test('values the wire cannot carry are UnsupportedValueError with the reason', () => {
  const cyc = { a: 1 };
  cyc.self = cyc;
  assert.throws(() => encodeValue(cyc), (e) => e instanceof UnsupportedValueError && /cycle/.test(e.message));
  let deep = 1;
  for (let i = 0; i < 70; i++) deep = [deep];
  assert.throws(() => encodeValue(deep), (e) => e instanceof UnsupportedValueError && /deeper than 64/.test(e.message));
  assert.throws(() => toTagged(new WeakMap()), /cannot be synced/);
});

test('keys: canonical text (0 for -0, $num for infinities), decoded back as IndexedDB returns them', () => {
  assert.equal(encodeKey(-0), '0');
  assert.equal(encodeKey(Infinity), '{"$num":"Infinity"}');
  assert.equal(encodeKey('a'), '"a"');
  const d = new Date('2026-01-02T03:04:05.000Z');
  const k = [1, 'x', d, [2]];
  const text = encodeKey(k);
  assert.equal(text, '[1,"x",{"$date":"2026-01-02T03:04:05.000Z"},[2]]');
  const back = decodeKey(JSON.parse(text));
  assert.equal(back[2].getTime(), d.getTime());
  assert.deepEqual(back[3], [2]);
  const bin = decodeKey(JSON.parse(encodeKey(new Uint8Array([1, 2, 3]))));
  assert.ok(bin instanceof ArrayBuffer, 'binary keys come back as ArrayBuffer');
  assert.deepEqual([...new Uint8Array(bin)], [1, 2, 3]);
  assert.throws(() => encodeKey({ not: 'a key' }), UnsupportedValueError);
});
