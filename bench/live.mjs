// Many live clients on one server: N clients (half long-polls, half SSE streams) connect and
// wait; then one push, and the time until each client has that change (from just before the
// push was sent to the client's socket receiving it). Meanwhile another client pushes to
// another database in a loop, and its push latency is reported with the live clients idle
// (held) and while the change fans out (wave), next to the same pusher with no live clients
// (alone), from a process of its own. The server's RSS, threads and fds are sampled from /proc
// every 100 ms; the CPU it spent from the push to the last delivery is read from /proc too.
// usage: node bench/live.mjs [--bin build/idbsync] [--clients 10000] [--sse 0.5] [--servers N] [--json]
// bench/live.sh runs it for this tree's binary and a base binary in the same run.
// --servers N: N servers on one PostgreSQL state (a real one, tests/pg/lib), the clients spread
// over them in turn, the change pushed to the first: delivery to every server's clients goes
// through PostgreSQL's NOTIFY (src/ledger/pg.c). CPU, RSS and threads are the first server's.
import { performance } from 'node:perf_hooks';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import { procStatus, percentile, httpRequest } from '../tests/faults/lib/util.mjs';
import { openLongPoll, openSse, openMany } from '../tests/faults/lib/live.mjs';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? def : process.argv[i + 1];
};
if (arg('bin')) process.env.IDBSYNC_BIN = arg('bin');
const now = () => performance.timeOrigin + performance.now(); // comparable across processes

// The other client runs in its own process, so the live clients' traffic in this one does not
// delay its measurements: sequential pushes to another database, one line per push.
if (arg('pusher')) {
  let id = 0;
  let on = true;
  process.on('SIGTERM', () => { on = false; });
  while (on) {
    const t0 = now();
    const r = await httpRequest(false, `${arg('pusher')}/v1/db/other/push`, { method: 'POST', timeoutMs: 120000,
      body: { client: `other-${process.pid}`, mutations: [{ id: ++id, store: 's', op: 'put', key: id % 50, value: { id } }] } })
      .catch((e) => ({ status: 0, error: e.code || e.message }));
    process.stdout.write(`${JSON.stringify({ at: t0, ms: now() - t0, status: r.status, error: r.error })}\n`);
    if (r.error) await new Promise((res) => setTimeout(res, 100)); /* refused (a server at its connection limit): try again */
  }
  process.exit(0);
}

const CLIENTS = Number(arg('clients', 10000));
const SSE_SHARE = Number(arg('sse', 0.5));
const SERVERS = Number(arg('servers', 0)); // 0: one server on SQLite
const { startServer, pushOk, request, sleep, BIN } = await import('../tests/integration/lib/server.mjs');

const DB = 'live';
const help = execFileSync(BIN, ['serve', '--help']).toString();
// older servers have no --max-connections (their limit is 4096)
const args = ['--no-lake', '--no-inbox', ...(help.includes('--max-connections') ? ['--max-connections', String(CLIENTS + 1000)] : [])];
let pg = null;
let servers;
if (SERVERS > 0) {
  const { startPostgres } = await import('../tests/pg/lib/pg.mjs');
  const { startServers } = await import('../tests/pg/lib/cluster.mjs');
  pg = await startPostgres();
  ({ servers } = await startServers(pg, SERVERS, { args: [...args, '--log-level', 'warn'] }));
} else {
  servers = [await startServer({ args })];
}
const srv = servers[0];
const pid = srv.proc.pid;
const samples = [];
const sampler = setInterval(() => { const s = procStatus(pid); if (s) samples.push(s); }, 100);
const peak = (k) => Math.max(...samples.map((s) => s[k]));

function pushLoop() {
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, '--pusher', srv.url], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    async stop() {
      child.kill('SIGTERM');
      await exited;
      const all = out.split('\n').filter(Boolean).map((l) => JSON.parse(l));
      const ok = all.filter((x) => x.status === 200);
      ok.failed = all.length - ok.length;
      return ok;
    },
  };
}
/** CPU seconds the server has used (user + system), from /proc/<pid>/stat. */
function cpuSeconds() {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}
const stats = (a) => a.length ? { n: a.length, p50: percentile(a, 0.5), p99: percentile(a, 0.99), max: Math.max(...a) } : null;

await pushOk(srv.url, DB, 'seed', [{ id: 1, store: 's', op: 'put', key: 'seed', value: 1 }]);
const alone = pushLoop();
await sleep(3000);
const aloneLat = (await alone.stop()).map((x) => x.ms);
const idle = procStatus(pid);

// connect the live clients from several loopback addresses (ephemeral ports per address)
const since = (await request(`${srv.url}/healthz`)).json.head;
const nSse = Math.round(CLIENTS * SSE_SHARE);
const tOpen = performance.now();
const clients = await openMany(CLIENTS, async (i) => {
  const localAddress = `127.0.0.${2 + (i % 8)}`;
  const on = i % servers.length;
  try {
    return i < nSse ? { kind: 'sse', on, c: await openSse(servers[on].port, DB, since, { localAddress }) }
      : { kind: 'poll', on, c: await openLongPoll(servers[on].port, DB, since, { client: `lp${i}`, localAddress, wait: 60 }) };
  } catch (e) {
    return { kind: 'failed', on, error: e.code || e.message };
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
const other = pushLoop();
await sleep(3000);

// clients the server already closed (past its connection limit)
const closedEarly = clients.filter(({ kind, c }) => kind !== 'failed' && c.sock.destroyed).length;
// the change
const cpu0 = cpuSeconds();
const clientCpu0 = process.cpuUsage();
const tPush = now();
const r = await httpRequest(false, `${srv.url}/v1/db/${DB}/push`, { method: 'POST', timeoutMs: 120000,
  body: { client: 'writer', mutations: [{ id: 1, store: 's', op: 'put', key: 'wave', value: 'w' }] } })
  .catch((e) => ({ status: 0, error: e.code || e.message })); // a server at its connection limit
const pushMs = now() - tPush;
const waitMs = r.status === 200 ? 60000 : 5000;
const arrivals = await Promise.all(clients.map(async ({ kind, c }) => {
  if (kind === 'sse') {
    const x = await Promise.race([c.seen('"wave"'), sleep(waitMs).then(() => ({ timeout: true }))]);
    return x.at ? x.at + performance.timeOrigin - tPush : null;
  }
  if (kind === 'poll') {
    const x = await Promise.race([c.done, sleep(waitMs).then(() => ({ timeout: true }))]);
    return x.status === 200 && x.json?.changes?.some((ch) => ch.key === 'wave') ? x.at + performance.timeOrigin - tPush : null;
  }
  return null;
}));
const tWaveEnd = now();
const waveCpu = cpuSeconds() - cpu0;
const clientCpu = process.cpuUsage(clientCpu0);
const waveWallMs = tWaveEnd - tPush;
await sleep(1000);
const otherLat = await other.stop();
clearInterval(sampler);
const delivered = arrivals.filter((x) => x !== null);
// by server (with --servers: the first took the push; the others learn of it through PostgreSQL)
const perServer = servers.map((_, k) => stats(arrivals.filter((x, i) => x !== null && clients[i].on === k)));
const result = {
  bin: BIN,
  clients: CLIENTS, sse: nSse, polls: CLIENTS - nSse,
  connectFailed: clients.filter((x) => x.kind === 'failed').length,
  openMs,
  pushStatus: r.status || r.error, pushMs,
  closedEarly,
  delivered: delivered.length,
  waveCpuS: waveCpu,
  // this process (the clients) over the same span: when it nears the wall time, the clients'
  // own event loop, not the server, sets the arrival times
  clientCpuS: (clientCpu.user + clientCpu.system) / 1e6,
  waveWallMs,
  latency: stats(delivered),
  servers: servers.length,
  state: pg ? 'postgres' : 'sqlite',
  perServer,
  otherFailed: otherLat.failed,
  other: {
    alone: stats(aloneLat),
    held: stats(otherLat.filter((x) => x.at < tPush).map((x) => x.ms)),
    wave: stats(otherLat.filter((x) => x.at >= tPush && x.at <= tWaveEnd).map((x) => x.ms)),
  },
  server: { idle, held: heldAt, peakRssKb: peak('rssKb'), peakThreads: peak('threads'), peakFds: peak('fds') },
  load: execFileSync('cat', ['/proc/loadavg']).toString().trim(),
};
for (const { c } of clients) c?.sock.destroy();
for (const x of servers) await x.stop();
pg?.stop();
if (process.argv.includes('--json')) console.log(JSON.stringify(result));
else console.log(JSON.stringify(result, null, 2));
process.exit(0);
