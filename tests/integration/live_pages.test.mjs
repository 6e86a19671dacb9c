// Live clients at the same cursor share one page (src/server/fanout.c): a commit that wakes many
// long-polls and SSE streams builds their answer once per (database, user, cursor, page size),
// and each still gets exactly its own scope's changes. Also the pull bookkeeping (one count per
// answered pull) and which workers build large pages and frames (the bulk ones), and a large
// page that --max-inflight would refuse is refused before it is built.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startServer, tempDir, pushOk, pull, request, metrics, metricValue, openEvents, sleep } from '../lib/server.mjs';
import { openLongPoll, openSse, openMany } from '../faults/lib/live.mjs';
import { waitFor } from '../faults/lib/util.mjs';

const SCALE = Number(process.env.IDS_TIME_SCALE || 1);
const put = (id, key, value, store = 's') => ({ id, store, op: 'put', key, value });
const metric = async (url, name) => metricValue(await metrics(url), name);
const head = async (url) => (await request(`${url}/healthz`)).json.head;

/** A long-poll with a bearer token on a raw socket: {status, json} once answered. */
function longPollAs(port, db, since, token, wait) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    s.on('error', reject);
    s.on('data', (d) => {
      buf += d.toString('utf8');
      const end = buf.indexOf('\r\n\r\n');
      const len = Number((/content-length:\s*(\d+)/i.exec(buf) || [])[1] ?? -1);
      if (end < 0 || len < 0 || Buffer.byteLength(buf.slice(end + 4)) < len) return;
      s.destroy();
      resolve({ status: Number(buf.split(' ')[1]), json: JSON.parse(buf.slice(end + 4)) });
    });
    s.write(`GET /v1/db/${db}/pull?since=${since}&wait=${wait} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  });
}

describe('one page for many waiters', () => {
  test('long-polls and streams at one cursor get one shared page with the change', async (t) => {
    const N = 60;
    const srv = await startServer({ t, args: ['--no-lake'] });
    await pushOk(srv.url, 'fan', 'seed', [put(1, 'seed', 1)]);
    const since = await head(srv.url);
    const polls = await openMany(N, (i) => openLongPoll(srv.port, 'fan', since, { client: `lp${i}` }));
    const streams = await openMany(N, () => openSse(srv.port, 'fan', since));
    t.after(() => { for (const c of [...polls, ...streams]) c.sock.destroy(); });
    assert.ok(await waitFor(async () => (await metric(srv.url, 'idbsync_waiting_requests')) >= 2 * N, 30000 * SCALE, 50));
    const built0 = await metric(srv.url, 'idbsync_live_pages_built_total');
    const shared0 = await metric(srv.url, 'idbsync_live_pages_shared_total');
    const ack = await pushOk(srv.url, 'fan', 'writer', [put(1, 'wave', 'w')]);
    const answers = await Promise.all(polls.map((p) => p.done));
    for (const a of answers) {
      assert.equal(a.status, 200, a.text);
      assert.deepEqual(a.json.changes.map((c) => [c.seq, c.key, c.value]), [[ack.cursor, 'wave', 'w']]);
      assert.equal(a.json.cursor, ack.cursor);
      assert.equal(a.text, answers[0].text, 'the same bytes for every long-poll at that cursor');
    }
    const seen = await Promise.all(streams.map((x) => x.seen('"wave"')));
    assert.ok(seen.every((x) => !x.closed), 'every stream got the change');
    // one pull page and one SSE frame for the wave (a few more if a look raced the commit)
    const built = (await metric(srv.url, 'idbsync_live_pages_built_total')) - built0;
    const shared = (await metric(srv.url, 'idbsync_live_pages_shared_total')) - shared0;
    assert.ok(built <= 6, `pages built for ${2 * N} waiters: ${built}`);
    assert.ok(shared >= 2 * N - 6, `answers that shared a page: ${shared}`);
    await srv.stop();
  });

  test('users at the same cursor never share a page: each sees its own rows', async (t) => {
    const dir = tempDir();
    const file = path.join(dir, 'tokens');
    fs.writeFileSync(file, 'tok-a-0123456789 alice\ntok-b-0123456789 bob\n');
    const srv = await startServer({ t, args: ['--no-lake', '--auth', `tokens:${file}`] });
    await pushOk(srv.url, 'scoped', 'a0', [put(1, 'seed', 1)], 'tok-a-0123456789');
    const since = await head(srv.url);
    const alice = Array.from({ length: 10 }, () => longPollAs(srv.port, 'scoped', since, 'tok-a-0123456789', 30));
    const bob = Array.from({ length: 10 }, () => longPollAs(srv.port, 'scoped', since, 'tok-b-0123456789', 2));
    assert.ok(await waitFor(async () => (await metric(srv.url, 'idbsync_waiting_requests')) >= 20, 30000 * SCALE, 50));
    await pushOk(srv.url, 'scoped', 'a1', [put(1, 'private', 'alice only')], 'tok-a-0123456789');
    for (const r of await Promise.all(alice)) {
      assert.equal(r.status, 200);
      assert.deepEqual(r.json.changes.map((c) => c.key), ['private']);
    }
    for (const r of await Promise.all(bob)) {
      assert.equal(r.status, 200);
      assert.deepEqual(r.json.changes, [], 'bob sees none of alice\'s rows');
    }
    await srv.stop();
  });
});

describe('pull bookkeeping and large pages', () => {
  // ~4 MB of rows: more than a first look (256 KiB), so a full page is built on the bulk workers
  async function bigDb(url, db, rows = 200) {
    const blob = 'x'.repeat(20000);
    for (let b = 0; b < rows / 100; b++)
      await pushOk(url, db, 'big', Array.from({ length: 100 }, (_, i) => put(b * 100 + i + 1, b * 100 + i, { blob })));
  }

  test('idbsync_pulls_total counts each answered pull once', async (t) => {
    const srv = await startServer({ t, args: ['--no-lake'] });
    await bigDb(srv.url, 'big');
    let before = await metric(srv.url, 'idbsync_pulls_total');
    // a large page: a first look on a request worker, then the page on the bulk workers
    const r = await pull(srv.url, 'big', { since: 0, limit: 10000 });
    assert.equal(r.status, 200);
    assert.equal(r.json.changes.length, 200);
    assert.equal((await metric(srv.url, 'idbsync_pulls_total')) - before, 1, 'a large pull is one pull');
    // a long-poll that waited, then was answered: also one
    before = await metric(srv.url, 'idbsync_pulls_total');
    const since = await head(srv.url);
    const lp = pull(srv.url, 'big', { since, wait: 30, client: 'waiter' });
    assert.ok(await waitFor(async () => (await metric(srv.url, 'idbsync_waiting_requests')) >= 1, 30000 * SCALE, 20));
    await pushOk(srv.url, 'big', 'w', [put(1, 'late', 1)]);
    assert.equal((await lp).json.changes.length, 1);
    assert.equal((await metric(srv.url, 'idbsync_pulls_total')) - before, 1, 'a long-poll is one pull');
    await srv.stop();
  });

  test('an SSE stream far behind gets its frames from the bulk workers', async (t) => {
    const srv = await startServer({ t, args: ['--no-lake'] });
    await bigDb(srv.url, 'sse');
    const bulk0 = await metric(srv.url, 'idbsync_bulk_pages_total');
    const ev = await openEvents(srv.url, 'sse', { since: 0 });
    t.after(() => ev.close());
    let n = 0;
    while (n < 200) {
      const f = await ev.next(30000 * SCALE);
      assert.ok(f, `the stream ended after ${n} changes`);
      if (f.event === 'changes') n += f.json.changes.length;
    }
    assert.equal(n, 200);
    assert.ok((await metric(srv.url, 'idbsync_bulk_pages_total')) > bulk0, 'frames past 256 KiB are built on the bulk workers');
    await srv.stop();
  });

  test('a large page past --max-inflight is refused before it is built', async (t) => {
    const budget = 2 << 20;
    const srv = await startServer({ t, args: ['--no-lake', '--max-inflight', String(budget), '--conn-timeout', '60'] });
    await bigDb(srv.url, 'lim', 600); // a 12 MB page: more than loopback socket buffers take
    // a client that asks for the whole page and does not read it: its response stays in flight
    const s = net.connect({ host: '127.0.0.1', port: srv.port });
    t.after(() => s.destroy());
    await new Promise((r) => s.on('connect', r));
    s.pause();
    s.write('GET /v1/db/lim/pull?since=0&limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.ok(await waitFor(async () => (await metric(srv.url, 'idbsync_inflight_response_bytes')) > budget, 60000 * SCALE, 50),
      'the stalled page is held');
    await sleep(200);
    const bulk0 = await metric(srv.url, 'idbsync_bulk_pages_total');
    const busy0 = await metric(srv.url, 'idbsync_busy_rejects_total');
    const r = await pull(srv.url, 'lim', { since: 0, limit: 10000 });
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.error.code, 'busy');
    assert.equal((await metric(srv.url, 'idbsync_busy_rejects_total')) - busy0, 1);
    assert.equal((await metric(srv.url, 'idbsync_bulk_pages_total')) - bulk0, 0, 'the refused page was not built');
    // small answers still go out
    assert.equal((await pull(srv.url, 'lim', { since: 599 })).status, 200);
    await srv.stop();
  });
});
