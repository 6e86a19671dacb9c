// Quick requests are not held behind large pull pages built for clients that do not read them:
// with K stalled 16 MiB pulls outstanding, a small pull (it reads the ledger) and a push are
// answered while most of the large pages are still unanswered. An ordering, not a latency: the
// server builds large pages a few at a time on their own workers (src/server/route_sync.c,
// FIRST_LOOK_BYTES), so quick requests overtake them however loaded the machine is. The times
// are bench/pull_stall.mjs's (docs/benchmarks.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, pushOk, httpRequest } from '../lib/server.mjs';
import { waitFor } from './lib/util.mjs';

// >1 under valgrind/ASan: stretches the hang guards, not the assertion
const SCALE = Number(process.env.IDS_TIME_SCALE || 1);
const K = 24;
const DB = 'stall';

test('a small pull and a push overtake stalled large pulls', async (t) => {
  const srv = await startServer({ t, args: ['--no-lake'] });
  // ~20 MB of rows: a full pull is a 16 MiB page
  const blob = 'b'.repeat(20000);
  let cursor = 0;
  for (let i = 0; i < 10; i++) {
    const muts = [];
    for (let j = 1; j <= 100; j++) muts.push({ id: i * 100 + j, store: 'big', op: 'put', key: i * 100 + j, value: { blob } });
    cursor = (await pushOk(srv.url, DB, 'seed', muts)).cursor;
  }
  await pushOk(srv.url, DB, 'seed', [{ id: 1001, store: 'small', op: 'put', key: 1, value: 1 }]);

  // K clients ask for everything and stop reading after the first bytes of the answer (an
  // answer, even a 503 busy, counts: the page was built or refused)
  const answered = new Set();
  const socks = [];
  for (let i = 0; i < K; i++) {
    const s = net.connect({ host: '127.0.0.1', port: srv.port });
    s.on('error', () => {});
    s.once('data', () => { answered.add(i); s.pause(); });
    s.write(`GET /v1/db/${DB}/pull?since=0&limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n`);
    socks.push(s);
  }
  t.after(() => { for (const s of socks) s.destroy(); });
  // the server is building them: the first large answer has started
  assert.ok(await waitFor(() => answered.size > 0, 60000 * SCALE, 5), 'no large pull was answered');

  const seen = {};
  const pull = httpRequest(false, `${srv.url}/v1/db/${DB}/pull?since=${cursor}&limit=10`, { timeoutMs: 60000 * SCALE })
    .then((r) => { seen.pull = answered.size; return r; });
  const push = httpRequest(false, `${srv.url}/v1/db/${DB}/push`, { method: 'POST', timeoutMs: 60000 * SCALE,
    body: { client: 'quick', mutations: [{ id: 1, store: 'small', op: 'put', key: 2, value: 2 }] } })
    .then((r) => { seen.push = answered.size; return r; });
  const [rp, rs] = await Promise.all([pull, push]);
  assert.equal(rp.status, 200, rp.text);
  // the small row (and the push's, if it committed first): none of the large ones
  assert.ok(rp.json.changes.some((c) => c.store === 'small' && c.key === 1), rp.text);
  assert.ok(rp.json.changes.every((c) => c.store === 'small'), rp.text);
  assert.equal(rs.status, 200, rs.text);
  assert.equal(rs.json.ack, 1);
  t.diagnostic(`answered when the small pull was: ${seen.pull} of ${K}; when the push was: ${seen.push}`);
  // Each large page takes as long to build as the small pull takes in all, and they are built
  // a few at a time: a small pull queued behind them (every worker or read connection taken
  // by a large build) would see most of them answered first.
  assert.ok(seen.pull < K / 2, `the small pull was answered after ${seen.pull} of ${K} large pulls`);
  assert.ok(seen.push < K / 2, `the push was answered after ${seen.push} of ${K} large pulls`);
});
