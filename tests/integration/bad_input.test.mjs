// Bad input: every malformed request gets the right status and a JSON error naming what is
// wrong, the server keeps serving, and state is unchanged (a batch with one bad mutation
// applies nothing). Also: body/key/value limits, slow and broken connections, and the
// tombstone GC → 410 cursor_expired flow.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import {
  startServer, push, pull, pullAll, pushOk, stores, request, hlc, metrics, metricValue, openEvents, sleep,
} from '../lib/server.mjs';

const DB = 'bad';
let srv;
before(async () => {
  srv = await startServer({ args: ['--max-body', '1000', '--max-key', '64', '--max-value', '300'] });
  // some state that must survive every bad request below
  await pushOk(srv.url, DB, 'seed', [
    { id: 1, store: 's', op: 'put', key: 1, value: { v: 1 } },
    { id: 2, store: 's', op: 'put', key: 2, value: { v: 2 } },
    { id: 3, store: 's', op: 'delete', key: 2 },
  ]);
});
after(async () => { await srv.stop(); });

async function state(url = srv.url) {
  const h = await request(`${url}/healthz`);
  assert.equal(h.status, 200, 'server still serves');
  const p = await pull(url, DB, { since: 0 });
  const s = await stores(url, DB);
  const ack = await push(url, DB, { client: 'seed', mutations: [] }); // empty push: reads the ack
  return { head: h.json.head, pull: p.text.replace(/,"now":\d+/, ''), stores: s.text, ack: ack.json.ack };
}

function assertError(r, status, code, msgRe, what) {
  assert.equal(r.status, status, `${what}: status (${r.text})`);
  assert.match(r.headers.get('content-type') || '', /application\/json/, `${what}: JSON content type`);
  assert.ok(r.json && r.json.error, `${what}: {"error":...} body, got ${r.text}`);
  assert.equal(r.json.error.code, code, `${what}: code`);
  assert.equal(typeof r.json.error.message, 'string');
  if (msgRe) assert.match(r.json.error.message, msgRe, `${what}: message names the problem`);
}

const M = (over = {}) => ({ id: 1, store: 's', op: 'put', key: 'k', value: { ok: true }, ...over });
const raw = (s) => s; // a raw string body

// [name, body, status, code, message regexp]
const pushCases = [
  ['empty body', raw(''), 400, 'invalid', /JSON/],
  ['truncated JSON', raw('{"client":'), 400, 'invalid', /JSON.*byte/],
  ['trailing garbage', raw('{"client":"c","mutations":[]} x'), 400, 'invalid', /JSON/],
  ['not JSON at all', raw('client=c&mutations=1'), 400, 'invalid', /JSON/],
  ['body is an array', [], 400, 'invalid', /body must be a JSON object/],
  ['body is a string', raw('"hi"'), 400, 'invalid', /body/],
  ['client missing', { mutations: [] }, 400, 'invalid', /client/],
  ['client empty', { client: '', mutations: [] }, 400, 'invalid', /client/],
  ['client with a space', { client: 'a b', mutations: [] }, 400, 'invalid', /client/],
  ['client not a string', { client: 7, mutations: [] }, 400, 'invalid', /client/],
  ['client too long', { client: 'c'.repeat(257), mutations: [] }, 400, 'invalid', /client/],
  ['mutations missing', { client: 'c' }, 400, 'invalid', /mutations/],
  ['mutations not an array', { client: 'c', mutations: {} }, 400, 'invalid', /mutations/],
  ['mutation not an object', { client: 'c', mutations: [1] }, 400, 'invalid', /mutations\[0\]/],
  ['id missing', { client: 'c', mutations: [M({ id: undefined })] }, 400, 'invalid', /mutations\[0\]\.id/],
  ['id 0', { client: 'c', mutations: [M({ id: 0 })] }, 400, 'invalid', /mutations\[0\]\.id/],
  ['id negative', { client: 'c', mutations: [M({ id: -3 })] }, 400, 'invalid', /mutations\[0\]\.id/],
  ['id fractional', { client: 'c', mutations: [M({ id: 1.5 })] }, 400, 'invalid', /mutations\[0\]\.id/],
  ['id a string', { client: 'c', mutations: [M({ id: '1' })] }, 400, 'invalid', /mutations\[0\]\.id/],
  ['ids not increasing', { client: 'c', mutations: [M({ id: 2 }), M({ id: 2 })] }, 400, 'invalid', /mutations\[1\]\.id.*increasing/],
  ['store missing', { client: 'c', mutations: [M({ store: undefined })] }, 400, 'invalid', /mutations\[0\]\.store/],
  ['store empty', { client: 'c', mutations: [M({ store: '' })] }, 400, 'invalid', /mutations\[0\]\.store/],
  ['store not a string', { client: 'c', mutations: [M({ store: 5 })] }, 400, 'invalid', /mutations\[0\]\.store/],
  ['store with a control char', { client: 'c', mutations: [M({ store: 'a\nb' })] }, 400, 'invalid', /mutations\[0\]\.store/],
  ['op unknown', { client: 'c', mutations: [M({ op: 'upsert' })] }, 400, 'invalid', /mutations\[0\]\.op/],
  ['op missing', { client: 'c', mutations: [M({ op: undefined })] }, 400, 'invalid', /mutations\[0\]\.op/],
  ['key missing', { client: 'c', mutations: [M({ key: undefined })] }, 400, 'invalid', /mutations\[0\]\.key/],
  ['key true', { client: 'c', mutations: [M({ key: true })] }, 400, 'invalid', /mutations\[0\]\.key/],
  ['key null', { client: 'c', mutations: [M({ key: null })] }, 400, 'invalid', /mutations\[0\]\.key/],
  ['key plain object', { client: 'c', mutations: [M({ key: { a: 1 } })] }, 400, 'invalid', /mutations\[0\]\.key/],
  ['key NaN', { client: 'c', mutations: [M({ key: { $num: 'NaN' } })] }, 400, 'invalid', /mutations\[0\]\.key.*NaN/],
  ['key bad $date', { client: 'c', mutations: [M({ key: { $date: 'yesterday' } })] }, 400, 'invalid', /mutations\[0\]\.key.*\$date/],
  ['key bad $bin', { client: 'c', mutations: [M({ key: { $bin: '!!' } })] }, 400, 'invalid', /mutations\[0\]\.key.*\$bin/],
  ['key 1e400', { client: 'c', mutations: [M({ key: raw('1e400') })] }, 400, 'invalid', /mutations\[0\]\.key/],
  ['key array with a bad item', { client: 'c', mutations: [M({ key: [1, null] })] }, 400, 'invalid', /mutations\[0\]\.key/],
  ['key nested too deep', { client: 'c', mutations: [M({ key: JSON.parse('['.repeat(18) + '1' + ']'.repeat(18)) })] }, 413, 'too_large', /mutations\[0\]\.key.*deeper/],
  ['value missing on put', { client: 'c', mutations: [M({ value: undefined })] }, 400, 'invalid', /mutations\[0\]\.value/],
  ['value on delete', { client: 'c', mutations: [M({ op: 'delete' })] }, 400, 'invalid', /mutations\[0\]\.value.*delete/],
  ['value unknown $tag', { client: 'c', mutations: [M({ value: { $foo: 1 } })] }, 400, 'invalid', /mutations\[0\]\.value.*tag/],
  ['value nested bad $date', { client: 'c', mutations: [M({ value: { a: [{ $date: 'x' }] } })] }, 400, 'invalid', /mutations\[0\]\.value.*\$date/],
  ['value bad $num', { client: 'c', mutations: [M({ value: { $num: '5' } })] }, 400, 'invalid', /\$num/],
  ['value $undefined false', { client: 'c', mutations: [M({ value: { $undefined: false } })] }, 400, 'invalid', /\$undefined/],
  ['value bad $bigint', { client: 'c', mutations: [M({ value: { $bigint: '12a' } })] }, 400, 'invalid', /\$bigint/],
  ['value bad $bin', { client: 'c', mutations: [M({ value: { $bin: '!!' } })] }, 400, 'invalid', /\$bin/],
  ['value bad $type', { client: 'c', mutations: [M({ value: { $bin: 'AQ==', $type: 'ImageBitmap' } })] }, 400, 'invalid', /\$type/],
  ['value bad $map', { client: 'c', mutations: [M({ value: { $map: 1 } })] }, 400, 'invalid', /\$map/],
  ['value bad $set', { client: 'c', mutations: [M({ value: { $set: {} } })] }, 400, 'invalid', /\$set/],
  ['value bad $regexp', { client: 'c', mutations: [M({ value: { $regexp: 1 } })] }, 400, 'invalid', /\$regexp/],
  ['value $esc not an object', { client: 'c', mutations: [M({ value: { $esc: 1 } })] }, 400, 'invalid', /\$esc/],
  // a browser cannot hold 2^53+1 as a number: storing it rounded would merge two keys silently
  ['key integer past 2^53', '{"client":"c","mutations":[{"id":1,"store":"s","op":"put","key":9007199254740993,"value":1}]}',
    400, 'invalid', /mutations\[0\]\.key: key 9007199254740993 is past 2\^53.*9007199254740992/],
  // no JavaScript object has a key twice; JSON.parse keeps the last, a reader of the first the first
  ['value with a key twice', '{"client":"c","mutations":[{"id":1,"store":"s","op":"put","key":1,"value":{"a":{"x":1,"x":2}}}]}',
    400, 'invalid', /mutations\[0\]\.value.*same key twice/],
  ['value with a key twice, once escaped', '{"client":"c","mutations":[{"id":1,"store":"s","op":"put","key":1,"value":{"$esc":{"$a":1,"\\u0024a":2}}}]}',
    400, 'invalid', /same key twice/],
  ['hlc not a string', { client: 'c', mutations: [M({ hlc: 12 })] }, 400, 'invalid', /mutations\[0\]\.hlc/],
  ['hlc malformed', { client: 'c', mutations: [M({ hlc: 'abc' })] }, 400, 'invalid', /mutations\[0\]\.hlc/],
  ['hlc bad node', { client: 'c', mutations: [M({ hlc: '1700000000000-0000-bad node' })] }, 400, 'invalid', /mutations\[0\]\.hlc/],
  ['hlc far in the future', { client: 'c', mutations: [M({ hlc: hlc(Date.now() + 3600000, 0, 'x') })] }, 400, 'invalid', /mutations\[0\]\.hlc.*ahead/],
  ['base negative', { client: 'c', mutations: [M({ base: -1 })] }, 400, 'invalid', /mutations\[0\]\.base/],
  ['base a string', { client: 'c', mutations: [M({ base: '7' })] }, 400, 'invalid', /mutations\[0\]\.base/],
  ['key over --max-key', { client: 'c', mutations: [M({ key: 'k'.repeat(100) })] }, 413, 'too_large', /mutations\[0\]\.key.*limit/],
  ['value over --max-value', { client: 'c', mutations: [M({ value: { s: 'v'.repeat(400) } })] }, 413, 'too_large', /mutations\[0\]\.value.*limit/],
];

function bodyText(b) {
  if (typeof b === 'string') return b;
  // undefined fields are dropped by JSON.stringify; raw('1e400') keys are spliced in
  return JSON.stringify(b, (k, v) => v).replace(/"key":"1e400"/, '"key":1e400');
}

describe('push validation', () => {
  for (const [name, body, status, code, re] of pushCases) {
    test(`${name} → ${status}`, async () => {
      const before = await state();
      const r = await push(srv.url, DB, bodyText(body));
      assertError(r, status, code, re, name);
      assert.deepEqual(await state(), before, 'state unchanged');
    });
  }

  test('a batch whose 3rd mutation is invalid applies nothing', async () => {
    const bad3 = [
      { store: 's', op: 'put', key: 1, value: { $nope: 1 } },
      { store: 's', op: 'bogus', key: 1 },
      { store: 's', op: 'put', key: true, value: 1 },
      { store: 's', op: 'put', key: 'x'.repeat(80), value: 1 },
      { store: 's', op: 'put', key: 1, value: 1, hlc: hlc(Date.now() + 3600000, 0, 'x') },
    ];
    for (const third of bad3) {
      const before = await state();
      const body = {
        client: 'seed',
        mutations: [
          { id: 4, store: 's', op: 'put', key: 1, value: { v: 'overwritten?' } },
          { id: 5, store: 's', op: 'delete', key: 1 },
          { id: 6, ...third },
          { id: 7, store: 's', op: 'put', key: 3, value: { v: 3 } },
        ],
      };
      const r = await push(srv.url, DB, body);
      assert.ok(r.status === 400 || r.status === 413, `${JSON.stringify(third)}: ${r.status} ${r.text}`);
      assert.match(r.json.error.message, /^mutations\[2\]/, 'the message points at the 3rd mutation');
      assert.deepEqual(await state(), before, 'nothing of the batch was applied, ack unchanged');
    }
    // the same batch, fixed, applies in full
    const ok = await pushOk(srv.url, DB, 'seed', [
      { id: 4, store: 's', op: 'put', key: 10, value: { v: 10 } },
      { id: 5, store: 's', op: 'put', key: 11, value: { v: 11 } },
    ]);
    assert.equal(ok.applied, 2);
  });

  test('an hlc just inside --max-skew-ms is accepted', async () => {
    const r = await pushOk(srv.url, 'skew', 'c', [M({ hlc: hlc(Date.now() + 60000, 0, 'x') })]);
    assert.equal(r.applied, 1);
  });

  test('lone UTF-16 surrogates in string keys stay distinct keys (or are refused)', async () => {
    const body = '{"client":"sur","mutations":[' +
      '{"id":1,"store":"s","op":"put","key":"\\ud800","value":1},' +
      '{"id":2,"store":"s","op":"put","key":"\\udc00","value":2},' +
      '{"id":3,"store":"s","op":"put","key":"\\ufffd","value":3}]}';
    const r = await push(srv.url, 'surrogates', body);
    if (r.status === 400) return; // refusing them is fine too
    assert.equal(r.status, 200);
    const { changes } = await pullAll(srv.url, 'surrogates');
    assert.deepEqual(changes.map((c) => c.key).sort(), ['\ud800', '\udc00', '\ufffd'].sort());
  });
});

describe('body limit (--max-body 1000)', () => {
  test('a body over the limit is 413 (Content-Length known)', async () => {
    const before = await state();
    const big = JSON.stringify({ client: 'c', mutations: [M({ value: { s: 'x'.repeat(1200) } })] });
    assert.ok(big.length > 1000);
    const r = await push(srv.url, DB, big);
    assertError(r, 413, 'too_large', /max-body|limit/, 'oversized body');
    assert.deepEqual(await state(), before);
  });

  test('a chunked body over the limit is 413 too', async () => {
    const before = await state();
    const u = new URL(`${srv.url}/v1/db/${DB}/push`);
    const r = await new Promise((resolve, reject) => {
      const req = http.request(u, { method: 'POST', headers: { 'content-type': 'application/json' }, agent: false }, (res) => {
        let t = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { t += d; });
        res.on('end', () => resolve({ status: res.statusCode, text: t }));
      });
      req.on('error', reject);
      // no Content-Length: chunked
      req.write('{"client":"c","mutations":[{"id":1,"store":"s","op":"put","key":1,"value":"');
      for (let i = 0; i < 10; i++) req.write('y'.repeat(200));
      req.end('"}]}');
    });
    assert.equal(r.status, 413, r.text);
    assert.equal(JSON.parse(r.text).error.code, 'too_large');
    assert.deepEqual(await state(), before);
  });

  test('a body of exactly the limit is accepted', async () => {
    const prefix = '{"client":"exact","mutations":[{"id":1,"store":"s","op":"put","key":1,"value":"';
    const suffix = '"}]}';
    const body = prefix + 'z'.repeat(1000 - prefix.length - suffix.length) + suffix;
    assert.equal(body.length, 1000);
    // the value is > --max-value 300, so use a separate small-value db check: expect 413 for the value, not the body
    const r = await push(srv.url, 'exact', body);
    assertError(r, 413, 'too_large', /mutations\[0\]\.value/, 'value limit, not the body limit');
    const pad = ' '.repeat(1000 - '{"client":"exact","mutations":[]}'.length);
    const r2 = await push(srv.url, 'exact', `{"client":"exact","mutations":[]}${pad}`);
    assert.equal(r2.status, 200, r2.text);
    const r3 = await push(srv.url, 'exact', `{"client":"exact","mutations":[]}${pad} `);
    assertError(r3, 413, 'too_large', /max-body/, '1001 bytes');
  });
});

describe('routes, methods and query parameters', () => {
  const cases = [
    ['GET', '/nope', 404, 'not_found', /\/nope/],
    ['GET', '/v1/db/x/bogus', 404, 'not_found', /bogus/],
    ['GET', '/v1/db/x', 404, 'not_found', null],
    ['GET', '/v1/db//pull', 404, 'not_found', null],
    ['GET', '/v1/admin/nothing', 404, 'not_found', null],
    ['GET', '/v1/db/_hidden/pull', 400, 'invalid', /database name/],
    ['GET', '/v1/db/.dot/pull', 400, 'invalid', /database name/],
    ['GET', `/v1/db/${'d'.repeat(65)}/pull`, 400, 'invalid', /database name/],
    ['GET', '/v1/db/b$d/pull', 400, 'invalid', /database name/],
    ['POST', '/v1/db/_hidden/push', 400, 'invalid', /database name/],
    ['GET', '/v1/db/x/push', 405, 'method_not_allowed', /POST/],
    ['PUT', '/v1/db/x/push', 405, 'method_not_allowed', /POST/],
    ['POST', '/v1/db/x/pull', 405, 'method_not_allowed', /GET/],
    ['DELETE', '/v1/db/x/stores', 405, 'method_not_allowed', /GET/],
    ['POST', '/v1/db/x/events', 405, 'method_not_allowed', /GET/],
    ['GET', '/v1/admin/gc', 405, 'method_not_allowed', /POST/],
    ['GET', '/v1/db/x/pull?since=-1', 400, 'invalid', /since/],
    ['GET', '/v1/db/x/pull?since=abc', 400, 'invalid', /since/],
    ['GET', '/v1/db/x/pull?since=', 400, 'invalid', /since/],
    ['GET', '/v1/db/x/pull?since=1.5', 400, 'invalid', /since/],
    ['GET', '/v1/db/x/pull?limit=0', 400, 'invalid', /limit/],
    ['GET', '/v1/db/x/pull?limit=10001', 400, 'invalid', /limit/],
    ['GET', '/v1/db/x/pull?limit=ten', 400, 'invalid', /limit/],
    ['GET', '/v1/db/x/pull?wait=61', 400, 'invalid', /wait/],
    ['GET', '/v1/db/x/pull?wait=-1', 400, 'invalid', /wait/],
    ['GET', '/v1/db/x/pull?client=', 400, 'invalid', /client/],
    ['GET', '/v1/db/x/pull?client=a%20b', 400, 'invalid', /client/],
    ['GET', '/v1/db/x/events?since=abc', 400, 'invalid', /since/],
    ['GET', '/v1/db/x/events?client=%01', 400, 'invalid', /client/],
  ];
  for (const [method, p, status, code, re] of cases) {
    test(`${method} ${p.length > 60 ? p.slice(0, 60) + '…' : p} → ${status}`, async () => {
      const before = await state();
      const r = await request(`${srv.url}${p}`, { method, body: method === 'POST' || method === 'PUT' ? '{}' : undefined });
      assertError(r, status, code, re, `${method} ${p}`);
      assert.deepEqual(await state(), before);
    });
  }

  test('a db name far over 64 characters is refused', async () => {
    const r = await request(`${srv.url}/v1/db/${'d'.repeat(200)}/pull`);
    // 400 (name) or 404 (no route) are both acceptable refusals
    assert.ok(r.status === 400 || r.status === 404, r.text);
    assert.ok(r.json.error.code === 'invalid' || r.json.error.code === 'not_found');
  });

  test('since beyond int64 is 400, not clamped', async () => {
    const r = await request(`${srv.url}/v1/db/${DB}/pull?since=99999999999999999999999`);
    assertError(r, 400, 'invalid', /since/, 'since overflow');
  });

  test('OPTIONS preflight is 204 with CORS headers', async () => {
    const r = await fetch(`${srv.url}/v1/db/x/push`, { method: 'OPTIONS' });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.match(r.headers.get('access-control-allow-headers'), /Authorization/);
  });

  test('4xx responses are counted in the metrics', async () => {
    const m = await metrics(srv.url);
    assert.ok(metricValue(m, 'idbsync_http_requests_total', { route: 'push', code: '4xx' }) >= pushCases.length);
    assert.ok(metricValue(m, 'idbsync_http_requests_total', { route: 'pull', code: '4xx' }) >= 10);
    assert.ok(metricValue(m, 'idbsync_http_requests_total', { route: 'other', code: '4xx' }) >= 4);
  });
});

// --------------------------------------------------------------- slow and broken clients

function rawConnect(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves with the ms until the server closes socket s, or null after timeoutMs. */
function closedWithin(s, timeoutMs) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    let data = '';
    s.setEncoding('utf8');
    s.on('data', (d) => { data += d; });
    s.on('error', () => {});
    const timer = setTimeout(() => resolve(null), timeoutMs);
    s.once('close', () => { clearTimeout(timer); resolve({ ms: Date.now() - t0, data }); });
  });
}

describe('slow and broken connections (--conn-timeout 2)', { concurrency: true }, () => {
  let slow;
  before(async () => { slow = await startServer({ args: ['--conn-timeout', '2'] }); });
  after(async () => { await slow.stop(); });

  test('slowloris: headers trickled then stalled do not block others, and get closed', async () => {
    const socks = [];
    for (let i = 0; i < 20; i++) socks.push(await rawConnect(slow.port));
    // trickle a few header bytes per connection, then stall
    for (const s of socks) s.write('GET /v1/db/x/pull HTTP/1.1\r\n');
    await sleep(300);
    for (const s of socks) s.write('Host: 127.0.0.1\r\nX-Slow: ');
    const closing = socks.map((s) => closedWithin(s, 9000));
    // meanwhile the server answers everyone else promptly
    for (let i = 0; i < 10; i++) {
      const t0 = Date.now();
      const h = await request(`${slow.url}/healthz`);
      assert.equal(h.status, 200);
      assert.ok(Date.now() - t0 < 1500, 'healthz answered promptly next to stalled connections');
      const p = await pushOk(slow.url, 'slow', 'fast', [{ id: i + 1, store: 's', op: 'put', key: i, value: i }]);
      assert.equal(p.applied, 1);
    }
    const res = await Promise.all(closing);
    for (const r of res) {
      assert.ok(r, 'the server closed the stalled connection');
      assert.ok(r.ms < 8000, `closed after ${r.ms} ms`);
      assert.ok(!/^HTTP\/1\.1 200/.test(r.data), 'no successful response to an incomplete request');
    }
  });

  test('an idle connection that sends nothing is closed', async () => {
    const s = await rawConnect(slow.port);
    const r = await closedWithin(s, 9000);
    assert.ok(r, 'closed');
    assert.ok(r.ms >= 1500, `not before the timeout (${r.ms} ms)`);
    assert.equal(r.data, '');
  });

  test('half a body then disconnect: nothing applied, server fine', async () => {
    const full = JSON.stringify({ client: 'half', mutations: [{ id: 1, store: 's', op: 'put', key: 'h', value: { v: 'x'.repeat(200) } }] });
    for (let i = 0; i < 5; i++) {
      const s = await rawConnect(slow.port);
      s.write(`POST /v1/db/half/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${full.length}\r\n\r\n`);
      s.write(full.slice(0, Math.floor(full.length / 2)));
      await sleep(50);
      s.destroy();
    }
    // and one that stalls mid-body is timed out
    const s = await rawConnect(slow.port);
    s.write(`POST /v1/db/half/push HTTP/1.1\r\nHost: x\r\nContent-Length: ${full.length}\r\n\r\n${full.slice(0, 40)}`);
    const closed = await closedWithin(s, 9000);
    assert.ok(closed, 'stalled body connection closed');
    assert.ok(!/^HTTP\/1\.1 200/.test(closed.data), 'no 200 for a partial body');
    const h1 = await request(`${slow.url}/healthz`);
    assert.equal(h1.status, 200);
    const p = await pullAll(slow.url, 'half');
    assert.deepEqual(p.changes, [], 'nothing applied');
    const ack = await push(slow.url, 'half', { client: 'half', mutations: [] });
    assert.equal(ack.json.ack, 0, 'no ack recorded for the broken pushes');
    // the full request still works afterwards
    const ok = await push(slow.url, 'half', full);
    assert.equal(ok.status, 200);
    assert.equal(ok.json.applied, 1);
  });

  test('garbage instead of HTTP gets closed; the server keeps serving', async () => {
    const s = await rawConnect(slow.port);
    s.write('\x00\x01\x02 this is not http\r\n\r\n');
    const r = await closedWithin(s, 9000);
    assert.ok(r, 'closed');
    assert.ok(!/^HTTP\/1\.[01] 2/.test(r.data), `no 2xx answer: ${r.data.slice(0, 40)}`);
    const h = await request(`${slow.url}/healthz`);
    assert.equal(h.status, 200);
  });
});

// --------------------------------------------------------------- GC and cursor_expired

describe('tombstone GC → 410 cursor_expired', () => {
  let g;
  const db = 'gc';
  let firstCursor, tombTop, head;
  before(async () => {
    g = await startServer();
    const w = await pushOk(g.url, db, 'c1', [
      { id: 1, store: 's', op: 'put', key: 'a', value: 1 },
      { id: 2, store: 's', op: 'put', key: 'b', value: 2 },
      { id: 3, store: 's', op: 'put', key: 'c', value: 3 },
    ]);
    const d = await pushOk(g.url, db, 'c1', [
      { id: 4, store: 's', op: 'delete', key: 'a' },
      { id: 5, store: 's', op: 'delete', key: 'b' },
    ]);
    firstCursor = w.cursor; // 3
    tombTop = d.cursor;     // 5: the highest tombstone seq
  });
  after(async () => { await g.stop(); });

  test('tombstones are collected once every client pulled past them; older cursors get 410', async () => {
    // c2 exists (pushed) but has not pulled: it holds the tombstones
    await pushOk(g.url, db, 'c2', [{ id: 1, store: 's', op: 'put', key: 'z', value: 26 }]);
    head = (await pull(g.url, db, { since: 0, client: 'c1' })).json.cursor;
    await pull(g.url, db, { since: head, client: 'c1' }); // c1 has now pulled past everything
    const gc0 = await request(`${g.url}/v1/admin/gc`, { method: 'POST' });
    assert.equal(gc0.status, 200);
    assert.deepEqual(gc0.json, { collected: 0 }, 'c2 has not pulled yet');
    assert.equal((await pull(g.url, db, { since: 1 })).status, 200);

    // c2 catches up: now both tombstones can go
    await pull(g.url, db, { since: 0, client: 'c2' });
    await pull(g.url, db, { since: head, client: 'c2' });
    const gc1 = await request(`${g.url}/v1/admin/gc`, { method: 'POST' });
    assert.equal(gc1.status, 200);
    assert.deepEqual(gc1.json, { collected: 2 });
    const m = await metrics(g.url);
    assert.equal(metricValue(m, 'idbsync_tombstones_collected_total'), 2);
    const st = await stores(g.url, db);
    assert.deepEqual(st.json.stores, [{ name: 's', rows: 2, tombstones: 0, conflict: 'lww' }]);

    // cursors before the highest collected seq are expired
    for (const since of [1, firstCursor, tombTop - 1]) {
      const r = await pull(g.url, db, { since });
      assertError(r, 410, 'cursor_expired', /since=0|resync/, `since=${since}`);
    }
    // since=0 (a full resync) and cursors at/after the floor are fine
    const full = await pull(g.url, db, { since: 0 });
    assert.equal(full.status, 200);
    assert.deepEqual(full.json.changes.map((c) => [c.key, c.op]), [['c', 'put'], ['z', 'put']], 'collected tombstones are gone');
    assert.equal((await pull(g.url, db, { since: tombTop })).status, 200);
    assert.equal((await pull(g.url, db, { since: head })).status, 200);
    // other databases are not affected
    assert.equal((await pull(g.url, 'other-db', { since: 1 })).status, 200);
  });

  test('SSE from an expired cursor sends an error frame', async () => {
    const es = await openEvents(g.url, db, { since: 1 });
    try {
      assert.equal(es.status, 200);
      const f = await es.next(5000);
      assert.ok(f, 'error frame');
      assert.equal(f.event, 'error');
      assert.equal(f.json.error.code, 'cursor_expired');
    } finally {
      es.close();
    }
  });

  test('... and then ends the stream', async () => {
    const es = await openEvents(g.url, db, { since: 1 });
    try {
      await sleep(200);
      const frames = [];
      for (let f; frames.length < 50 && (f = await es.next(50));) frames.push(f);
      es.close(); // (the bug streams error frames as fast as we read them)
      assert.equal(frames.length, 1, `exactly one error frame (got ${frames.length >= 50 ? '50+' : frames.length})`);
      assert.ok(es.ended, 'stream closed after the error');
    } finally {
      es.close();
    }
  });

  test('a new tombstone after the horizon stays; GC state survives a restart', async () => {
    const d2 = await pushOk(g.url, db, 'c1', [{ id: 6, store: 's', op: 'delete', key: 'c' }]);
    const gc2 = await request(`${g.url}/v1/admin/gc`, { method: 'POST' });
    assert.deepEqual(gc2.json, { collected: 0 });
    const since = await pull(g.url, db, { since: head });
    assert.deepEqual(since.json.changes.map((c) => [c.key, c.op]), [['c', 'delete']]);
    assert.equal(since.json.cursor, d2.cursor);
    await g.restart();
    assertError(await pull(g.url, db, { since: 2 }), 410, 'cursor_expired', null, 'after restart');
    assert.equal((await pull(g.url, db, { since: tombTop })).status, 200);
  });
});

describe('tombstone retention', () => {
  test('clients idle longer than --tombstone-retention stop holding tombstones', async (t) => {
    const g = await startServer({ t, args: ['--tombstone-retention', '1'] });
    const db = 'gc-ret';
    await pushOk(g.url, db, 'idle', [{ id: 1, store: 's', op: 'put', key: 'x', value: 1 }]);
    await pushOk(g.url, db, 'active', [
      { id: 1, store: 's', op: 'put', key: 'y', value: 1 },
      { id: 2, store: 's', op: 'delete', key: 'y' },
    ]);
    const head = (await pull(g.url, db, { since: 0, client: 'active' })).json.cursor;
    await sleep(1300); // 'idle' falls out of the retention window
    await pull(g.url, db, { since: head, client: 'active' }); // 'active' is seen again, past the tombstone
    const r = await request(`${g.url}/v1/admin/gc`, { method: 'POST' });
    assert.deepEqual(r.json, { collected: 1 });
    assertError(await pull(g.url, db, { since: 1 }), 410, 'cursor_expired', null, 'idle client must resync');
    await g.stop();
  });
});
