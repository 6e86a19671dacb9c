// Slow and hostile clients against a server with --conn-timeout 2: 200 sockets at once —
// slowloris (headers at 1 byte/s), readers that stop reading a 16 MiB pull page or an SSE
// stream, half-sent bodies followed by silence, garbage bytes, and huge headers. While they are
// open a normal push and pull succeed (their latency: bench/hostile.sh); the garbage and huge-header ones are answered or cut
// off; the silent ones are timed out, the server's threads stay at its fixed pool throughout (no
// thread per connection), and once the slow ones are closed its fd count (/proc/<pid>) returns to
// idle. IDS_SOAK=1 holds the sockets longer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { startServer, pushOk, request, sleep, httpRequest } from '../lib/server.mjs';
import { procStatus, percentile, waitFor, rng } from './lib/util.mjs';

const SOAK = !!process.env.IDS_SOAK;
// >1 under valgrind/ASan (scripts/valgrind-integration sets it): stretches time limits, not counts
const SCALE = Number(process.env.IDS_TIME_SCALE || 1);
const TIMEOUT_S = 2;
const DB = 'hostile';
const MIX = { slowloris: 100, stalledPull: 15, stalledSse: 15, halfBody: 40, garbage: 15, hugeHeader: 15 };

/** A raw socket with bookkeeping: bytes received, whether/when the server closed it. */
function rawSocket(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const st = { sock: s, received: Buffer.alloc(0), closedByServer: false, closedAt: 0, error: null };
    s.on('data', (d) => { if (st.received.length < 4096) st.received = Buffer.concat([st.received, d]).subarray(0, 4096); });
    s.on('end', () => { st.closedByServer = true; st.closedAt ||= Date.now(); });
    s.on('close', () => { st.closedAt ||= Date.now(); });
    s.on('error', (e) => { st.error = e; st.closedByServer = true; st.closedAt ||= Date.now(); });
    s.once('connect', () => resolve(st));
    s.once('error', reject);
  });
}

/** Times one normal push (new connection each: the server closes idle ones after 2 s) and one pull. */
async function normalOps(url, n, state) {
  const push = [];
  const pull = [];
  for (let i = 0; i < n; i++) {
    const id = ++state.id;
    const r1 = await httpRequest(false, `${url}/v1/db/${DB}/push`, { method: 'POST', timeoutMs: 10000 * SCALE,
      body: { client: 'normal', mutations: [{ id, store: 'n', op: 'put', key: id, value: { id } }] } });
    assert.equal(r1.status, 200, r1.text);
    assert.equal(r1.json.ack, id);
    push.push(r1.ms);
    const r2 = await httpRequest(false, `${url}/v1/db/${DB}/pull?since=${state.cursor}&limit=10`, { timeoutMs: 10000 * SCALE });
    assert.equal(r2.status, 200, r2.text);
    assert.ok(r2.json.changes.some((c) => c.store === 'n' && c.key === id), 'the pull sees the push');
    state.cursor = r2.json.cursor;
    pull.push(r2.ms);
  }
  return { push, pull };
}

test('slow and hostile clients do not starve others and are cleaned up', async (t) => {
  const srv = await startServer({ t, args: ['--conn-timeout', String(TIMEOUT_S)] });
  const pid = srv.proc.pid;
  const rand = rng(99);
  // ~20 MB of rows, so a full pull is a 16 MiB page that does not fit in the socket buffers
  const blob = 'b'.repeat(20000);
  for (let i = 0; i < 10; i++) {
    const muts = [];
    for (let j = 1; j <= 100; j++) muts.push({ id: i * 100 + j, store: 'big', op: 'put', key: i * 100 + j, value: { blob } });
    await pushOk(srv.url, DB, 'seed', muts);
  }
  const state = { id: 0, cursor: (await request(`${srv.url}/healthz`)).json.head };
  await normalOps(srv.url, 3, state); // warm up
  const base = await normalOps(srv.url, 20, state);
  await sleep(TIMEOUT_S * 1000 + 500); // let the warm-up connections time out
  const idle = procStatus(pid);

  const socks = {};
  for (const k of Object.keys(MIX)) socks[k] = [];
  t.after(() => { for (const list of Object.values(socks)) for (const s of list) s.sock.destroy(); });
  let opening = null;
  const open = async (kind, first) => {
    for (let i = 0; i < MIX[kind]; i++) {
      const s = await rawSocket(srv.port);
      socks[kind].push(s);
      // the most sockets the server held at once, sampled while they open: on a loaded machine
      // the first ones may be timed out (2 s) before the last one is open
      const now = procStatus(pid);
      if (!opening || now.fds > opening.fds) opening = now;
      first(s, i);
    }
  };
  const tOpen = Date.now();
  await open('slowloris', (s) => s.sock.write('G'));
  await open('stalledPull', (s) => {
    s.sock.write(`GET /v1/db/${DB}/pull?since=0&limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n`);
    s.sock.pause();
  });
  await open('stalledSse', (s) => {
    s.sock.write(`GET /v1/db/${DB}/events?since=0 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`);
    s.sock.pause();
  });
  await open('halfBody', (s, i) => {
    const body = '{"client":"half","mutations":[{"id":1,"store":"x","op":"put","key":1,"value":"' + 'h'.repeat(2000);
    const hdr = i % 2
      ? `POST /v1/db/${DB}/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`
      : `POST /v1/db/${DB}/push HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${(body.length).toString(16)}\r\n`;
    s.sock.write(hdr + body);
  });
  await open('garbage', (s) => {
    const g = Buffer.alloc(512);
    for (let i = 0; i < g.length; i++) g[i] = Math.floor(rand() * 256);
    s.sock.write(Buffer.concat([g, Buffer.from('\r\n\r\n')]));
  });
  await open('hugeHeader', (s, i) => {
    // one 256 KiB header line, or 2,000 small headers
    s.sock.write(i % 2
      ? `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(256 * 1024)}\r\n\r\n`
      : `GET /healthz HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 2000 }, (_, j) => `X-H${j}: ${'v'.repeat(100)}\r\n`).join('')}\r\n`);
  });
  const total = Object.values(socks).reduce((a, l) => a + l.length, 0);
  assert.equal(total, 200);
  // slowloris: one more header byte per second, for as long as the test holds them
  const loris = 'ET /healthz HTTP/1.1\r\nHost: x\r\n' + 'X-Slow: ' + 'z'.repeat(10000);
  let lorisPos = 0;
  const drip = setInterval(() => {
    const ch = loris[lorisPos++ % loris.length];
    for (const s of socks.slowloris) if (!s.sock.destroyed) s.sock.write(ch);
  }, 1000);
  t.after(() => clearInterval(drip));
  // the server holds a socket per connection but no thread (the rude ones end quickly)
  const settled = await waitFor(() => { const p = procStatus(pid); return p.fds >= idle.fds + 100 ? p : null; }, 3000 * SCALE, 50) || procStatus(pid);
  const peak = settled.fds >= opening.fds ? settled : opening;

  // normal traffic while all 200 are open
  const during = await normalOps(srv.url, 20, state);
  const afterOps = procStatus(pid);

  // garbage and huge headers are answered (4xx) or cut off promptly
  const rudeClosed = await waitFor(() => [...socks.garbage, ...socks.hugeHeader].every((s) => s.closedByServer || s.received.length > 0), 5000 * SCALE);
  const rudeStatus = {};
  for (const s of [...socks.garbage, ...socks.hugeHeader]) {
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(s.received.toString('latin1'));
    const k = m ? m[1] : (s.closedByServer ? 'closed' : 'open');
    rudeStatus[k] = (rudeStatus[k] || 0) + 1;
  }
  // half-sent bodies and stalled readers are timed out after --conn-timeout; slowloris stay
  const HOLD = SOAK ? 30000 : (TIMEOUT_S + 3) * 1000;
  await sleep(Math.max(0, tOpen + HOLD - Date.now()));
  const halfClosed = socks.halfBody.filter((s) => s.closedByServer).length;
  const lorisOpen = socks.slowloris.filter((s) => !s.closedByServer).length;
  const afterTimeout = await waitFor(() => {
    const p = procStatus(pid);
    return p.fds <= idle.fds + lorisOpen + 10 ? p : null;
  }, 8000 * SCALE, 250) || procStatus(pid);
  // normal traffic still fine with only the slowloris left
  const late = await normalOps(srv.url, 5, state);

  // close everything: threads and fds return to idle
  clearInterval(drip);
  for (const list of Object.values(socks)) for (const s of list) s.sock.destroy();
  const closed = await waitFor(() => {
    const p = procStatus(pid);
    return p.threads <= idle.threads + 2 && p.fds <= idle.fds + 2 ? p : null;
  }, (TIMEOUT_S + 5) * 1000 * SCALE, 250) || procStatus(pid);

  const fmt = (a) => `p50 ${percentile(a, 0.5).toFixed(1)} / max ${Math.max(...a).toFixed(1)} ms`;
  t.diagnostic(`normal push before: ${fmt(base.push)}; with 200 hostile sockets: ${fmt(during.push)}; late: ${fmt(late.push)}`);
  t.diagnostic(`normal pull before: ${fmt(base.pull)}; with 200 hostile sockets: ${fmt(during.pull)}`);
  t.diagnostic(`threads idle ${idle.threads}, after opening ${peak.threads}, after normal ops ${afterOps.threads}, ` +
    `after timeouts ${afterTimeout.threads} (${lorisOpen} slowloris still open), after close ${closed.threads}`);
  t.diagnostic(`fds idle ${idle.fds}, peak ${peak.fds}, after close ${closed.fds}; RSS idle ${(idle.rssKb / 1024).toFixed(1)} MB, ` +
    `peak ${(Math.max(peak.rssKb, afterOps.rssKb, afterTimeout.rssKb) / 1024).toFixed(1)} MB, after close ${(closed.rssKb / 1024).toFixed(1)} MB`);
  t.diagnostic(`garbage/huge-header sockets: ${JSON.stringify(rudeStatus)}; half-sent bodies closed by the server: ${halfClosed}/${MIX.halfBody}`);

  assert.ok(peak.fds >= idle.fds + 100, `a socket per hostile connection expected (idle ${idle.fds}, peak ${peak.fds})`);
  // How fast the normal ops stay is a benchmark (bench/hostile.sh reads IDS_BENCH_OUT), not an
  // assertion: a loaded 2-core machine cannot promise it (a 1.8 s stall once failed this test
  // beside the crash loop). Here every op succeeded with the right answer (normalOps).
  if (process.env.IDS_BENCH_OUT) {
    const row = (a) => ({ p50: percentile(a, 0.5), max: Math.max(...a) });
    fs.writeFileSync(process.env.IDS_BENCH_OUT, JSON.stringify({
      push: { before: row(base.push), during: row(during.push), late: row(late.push) },
      pull: { before: row(base.pull), during: row(during.pull) } }));
  }
  const maxThreads = Math.max(peak.threads, afterOps.threads, afterTimeout.threads);
  assert.ok(maxThreads <= idle.threads + 2, `threads stay at the pool: idle ${idle.threads}, max ${maxThreads}`);
  assert.ok(rudeClosed, `garbage/huge-header sockets left open: ${JSON.stringify(rudeStatus)}`);
  assert.ok(!rudeStatus['200'] && !rudeStatus.open, `garbage/huge headers must not succeed: ${JSON.stringify(rudeStatus)}`);
  assert.equal(halfClosed, MIX.halfBody, 'every half-sent body was timed out');
  assert.ok(afterTimeout.fds <= idle.fds + lorisOpen + 10,
    `stalled connections not timed out: ${afterTimeout.fds} fds, idle ${idle.fds} + ${lorisOpen} slowloris`);
  assert.ok(closed.threads <= idle.threads + 2, `threads after close ${closed.threads}, idle ${idle.threads}`);
  assert.ok(closed.fds <= idle.fds + 2, `fds after close ${closed.fds}, idle ${idle.fds}`);
  await srv.stop();
});
