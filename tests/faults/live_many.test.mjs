// Many live clients on one server: 2,000 long-polls, then 2,000 SSE streams, held open at
// once. Waiting requests hold no thread (the server's thread count, /proc/<pid>/status, stays
// where it was idle), one push is acknowledged while they wait and reaches every one of them,
// and clients that hang up mid-wait free their slot (the waiting count and the server's open
// descriptors drop). How fast: bench/live.sh (10,000 clients); this test asserts outcomes only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, pushOk, request, metrics, metricValue } from '../integration/lib/server.mjs';
import { procStatus, waitFor } from './lib/util.mjs';
import { openLongPoll, openSse, openMany } from './lib/live.mjs';

// >1 under valgrind/ASan (scripts/valgrind-integration sets it): fewer clients, longer waits
const SCALE = Number(process.env.IDS_TIME_SCALE || 1);
const N = SCALE > 1 ? 300 : 2000;
const DB = 'live';

async function waiting(url) {
  return metricValue(await metrics(url), 'idbsync_waiting_requests');
}

async function head(url) {
  return (await request(`${url}/healthz`)).json.head;
}

test(`${N} long-polls and ${N} SSE streams wait without a thread each; a push reaches all`, async (t) => {
  const nofile = execFileSync('sh', ['-c', 'ulimit -n']).toString().trim();
  assert.ok(nofile === 'unlimited' || Number(nofile) >= N + 256,
    `ulimit -n ${nofile} is too low for ${N} sockets (ctest raises it to the hard limit: raise that)`);
  const srv = await startServer({ t, args: ['--no-lake'] });
  const pid = srv.proc.pid;
  await pushOk(srv.url, DB, 'seed', [{ id: 1, store: 's', op: 'put', key: 'seed', value: 1 }]);
  const idle = procStatus(pid);

  // long-polls
  let since = await head(srv.url);
  const polls = await openMany(N, (i) => openLongPoll(srv.port, DB, since, { client: `lp${i}` }));
  t.after(() => { for (const p of polls) p.sock.destroy(); });
  const allParked = await waitFor(async () => (await waiting(srv.url)) >= N, 60000 * SCALE, 200);
  assert.ok(allParked, `${N} long-polls parked (waiting: ${await waiting(srv.url)})`);
  const held = procStatus(pid);
  assert.ok(held.threads <= idle.threads + 2, `threads idle ${idle.threads}, with ${N} long-polls ${held.threads}`);
  assert.ok(held.fds >= idle.fds + N, `one socket per long-poll (fds idle ${idle.fds}, now ${held.fds})`);
  const ack = await pushOk(srv.url, DB, 'writer', [{ id: 1, store: 's', op: 'put', key: 'k1', value: 'v1' }]);
  const answers = await Promise.all(polls.map((p) => p.done));
  const got = answers.filter((a) => a.status === 200 && a.json.changes.some((c) => c.key === 'k1')).length;
  assert.equal(got, N, `every long-poll got the change (${got}/${N}; first other: ${JSON.stringify(answers.find((a) => !(a.status === 200)))})`);
  assert.ok(answers.every((a) => a.json.cursor >= ack.cursor));
  for (const p of polls) p.sock.destroy();
  await waitFor(() => procStatus(pid).fds <= idle.fds + 5, 30000 * SCALE, 100);

  // SSE streams
  since = await head(srv.url);
  const streams = await openMany(N, () => openSse(srv.port, DB, since));
  t.after(() => { for (const x of streams) x.sock.destroy(); });
  assert.ok(await waitFor(async () => (await waiting(srv.url)) >= N, 60000 * SCALE, 200),
    `${N} streams parked (waiting: ${await waiting(srv.url)})`);
  assert.equal(metricValue(await metrics(srv.url), 'idbsync_sse_clients'), N);
  const sseHeld = procStatus(pid);
  assert.ok(sseHeld.threads <= idle.threads + 2, `threads idle ${idle.threads}, with ${N} streams ${sseHeld.threads}`);
  await pushOk(srv.url, DB, 'writer', [{ id: 2, store: 's', op: 'put', key: 'k2', value: 'v2' }]);
  const seen = await Promise.all(streams.map((x) => x.seen('"k2"')));
  assert.equal(seen.filter((x) => !x.closed).length, N, 'every stream got the change');
  // each went back to waiting
  assert.ok(await waitFor(async () => (await waiting(srv.url)) >= N, 60000 * SCALE, 200));
  for (const x of streams) x.sock.destroy();
  assert.ok(await waitFor(async () => (await waiting(srv.url)) === 0 && metricValue(await metrics(srv.url), 'idbsync_sse_clients') === 0,
    30000 * SCALE, 100), 'closed streams are let go');
  await srv.stop();
});

test('clients hanging up mid-wait free their slot; the others still get the change', async (t) => {
  const M = SCALE > 1 ? 100 : 500;
  const srv = await startServer({ t, args: ['--no-lake'] });
  const pid = srv.proc.pid;
  await request(`${srv.url}/healthz`);
  const idle = procStatus(pid);
  const since = await head(srv.url);
  const polls = await openMany(M, (i) => openLongPoll(srv.port, DB, since, { client: `c${i}` }));
  const streams = await openMany(M, () => openSse(srv.port, DB, since));
  t.after(() => { for (const p of [...polls, ...streams]) p.sock.destroy(); });
  assert.ok(await waitFor(async () => (await waiting(srv.url)) >= 2 * M, 60000 * SCALE, 200));
  const full = procStatus(pid);
  // half of each kind hang up
  for (let i = 0; i < M / 2; i++) { polls[i].sock.destroy(); streams[i].sock.destroy(); }
  const freed = await waitFor(async () => {
    const w = await waiting(srv.url);
    const p = procStatus(pid);
    return w === M && p.fds <= full.fds - M ? { w, p } : null;
  }, 30000 * SCALE, 100);
  assert.ok(freed, `slots freed: waiting ${await waiting(srv.url)} (want ${M}), fds ${procStatus(pid).fds} (was ${full.fds})`);
  assert.equal(metricValue(await metrics(srv.url), 'idbsync_sse_clients'), M / 2);
  await pushOk(srv.url, DB, 'w', [{ id: 1, store: 's', op: 'put', key: 'after', value: 1 }]);
  const left = await Promise.all(polls.slice(M / 2).map((p) => p.done));
  assert.ok(left.every((a) => a.status === 200 && a.json.changes.some((c) => c.key === 'after')));
  const seen = await Promise.all(streams.slice(M / 2).map((x) => x.seen('"after"')));
  assert.ok(seen.every((x) => !x.closed));
  assert.ok(procStatus(pid).threads <= idle.threads + 2);
  await srv.stop();
});
