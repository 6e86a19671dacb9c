// Many live clients on one server: N clients (half long-polls, half SSE streams) connect and
// wait; then one push, and the time until each client has that change (from just before the
// push was sent to the client's socket receiving it). Meanwhile another client pushes to
// another database in a loop, and its push latency is reported with the live clients idle
// (held) and while the change fans out (wave), next to the same pusher with no live clients
// (alone). The server's RSS, threads and fds are sampled from /proc every 100 ms.
// usage: node bench/live.mjs [--bin build/idbsync] [--clients 10000] [--sse 0.5] [--json]
// bench/live.sh runs it for this tree's binary and a base binary in the same run.
import { performance } from 'node:perf_hooks';
import { execFileSync } from 'node:child_process';
import { procStatus, percentile, httpRequest } from '../tests/faults/lib/util.mjs';
import { openLongPoll, openSse, openMany } from '../tests/faults/lib/live.mjs';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? def : process.argv[i + 1];
};
if (arg('bin')) process.env.IDBSYNC_BIN = arg('bin');
const CLIENTS = Number(arg('clients', 10000));
const SSE_SHARE = Number(arg('sse', 0.5));
const { startServer, pushOk, request, sleep, BIN } = await import('../tests/integration/lib/server.mjs');

const DB = 'live';
const help = execFileSync(BIN, ['serve', '--help']).toString();
// older servers have no --max-connections (their limit is 4096)
const args = ['--no-lake', '--no-inbox', ...(help.includes('--max-connections') ? ['--max-connections', String(CLIENTS + 1000)] : [])];
const srv = await startServer({ args });
const pid = srv.proc.pid;
const samples = [];
const sampler = setInterval(() => { const s = procStatus(pid); if (s) samples.push(s); }, 100);
const peak = (k) => Math.max(...samples.map((s) => s[k]));

// the other client: sequential pushes to another database while `on`
let pushId = 0;
async function pushLoop(state) {
  const out = [];
  while (state.on) {
    const id = ++pushId;
    const t0 = performance.now();
    const r = await httpRequest(false, `${srv.url}/v1/db/other/push`, { method: 'POST', timeoutMs: 120000,
      body: { client: 'other', mutations: [{ id, store: 's', op: 'put', key: id % 50, value: { id } }] } });
    if (r.status !== 200) { out.errors = (out.errors || 0) + 1; continue; }
    out.push({ at: t0, ms: performance.now() - t0 });
  }
  return out;
}
const stats = (a) => a.length ? { n: a.length, p50: percentile(a, 0.5), p99: percentile(a, 0.99), max: Math.max(...a) } : null;

await pushOk(srv.url, DB, 'seed', [{ id: 1, store: 's', op: 'put', key: 'seed', value: 1 }]);
const alone = { on: true };
const aloneRun = pushLoop(alone);
await sleep(2000);
alone.on = false;
const aloneLat = (await aloneRun).map((x) => x.ms);
const idle = procStatus(pid);

// connect the live clients from several loopback addresses (ephemeral ports per address)
const since = (await request(`${srv.url}/healthz`)).json.head;
const nSse = Math.round(CLIENTS * SSE_SHARE);
const tOpen = performance.now();
const clients = await openMany(CLIENTS, async (i) => {
  const localAddress = `127.0.0.${2 + (i % 8)}`;
  try {
    return i < nSse ? { kind: 'sse', c: await openSse(srv.port, DB, since, { localAddress }) }
      : { kind: 'poll', c: await openLongPoll(srv.port, DB, since, { client: `lp${i}`, localAddress, wait: 60 }) };
  } catch (e) {
    return { kind: 'failed', error: e.code || e.message };
  }
}, 500);
const openMs = performance.now() - tOpen;
// settled: the server's thread and fd counts stop moving
let last = '';
for (let i = 0, still = 0; i < 300 && still < 10; i++) {
  await sleep(100);
  const p = procStatus(pid);
  const k = `${p.threads}/${p.fds}`;
  still = k === last ? still + 1 : 0;
  last = k;
}
const heldAt = procStatus(pid);
const other = { on: true };
const otherRun = pushLoop(other);
await sleep(2000);

// the change
const tPush = performance.now();
const r = await httpRequest(false, `${srv.url}/v1/db/${DB}/push`, { method: 'POST', timeoutMs: 120000,
  body: { client: 'writer', mutations: [{ id: 1, store: 's', op: 'put', key: 'wave', value: 'w' }] } });
const pushMs = performance.now() - tPush;
const arrivals = await Promise.all(clients.map(async ({ kind, c }) => {
  if (kind === 'sse') {
    const x = await Promise.race([c.seen('"wave"'), sleep(60000).then(() => ({ timeout: true }))]);
    return x.at ? x.at - tPush : null;
  }
  if (kind === 'poll') {
    const x = await Promise.race([c.done, sleep(60000).then(() => ({ timeout: true }))]);
    return x.status === 200 && x.json?.changes?.some((ch) => ch.key === 'wave') ? x.at - tPush : null;
  }
  return null;
}));
const tWaveEnd = performance.now();
await sleep(1000);
other.on = false;
const otherLat = await otherRun;
clearInterval(sampler);
const delivered = arrivals.filter((x) => x !== null);
const result = {
  bin: BIN,
  clients: CLIENTS, sse: nSse, polls: CLIENTS - nSse,
  connectFailed: clients.filter((x) => x.kind === 'failed').length,
  openMs,
  pushStatus: r.status, pushMs,
  delivered: delivered.length,
  latency: stats(delivered),
  other: {
    alone: stats(aloneLat),
    held: stats(otherLat.filter((x) => x.at < tPush).map((x) => x.ms)),
    wave: stats(otherLat.filter((x) => x.at >= tPush && x.at <= tWaveEnd).map((x) => x.ms)),
  },
  server: { idle, held: heldAt, peakRssKb: peak('rssKb'), peakThreads: peak('threads'), peakFds: peak('fds') },
  load: execFileSync('cat', ['/proc/loadavg']).toString().trim(),
};
for (const { c } of clients) c?.sock.destroy();
await srv.stop();
if (process.argv.includes('--json')) console.log(JSON.stringify(result));
else console.log(JSON.stringify(result, null, 2));
process.exit(0);
