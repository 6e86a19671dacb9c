// Load: N concurrent clients, each pushing small batches (with a think time) and long-polling
// for everyone's changes, for T seconds against a real `idbsync serve` (fsync on). Reports push
// latency percentiles, throughput, errors, whether every long-poller caught up with the head,
// and the server's RSS / threads / fds sampled from /proc/<pid>/status every second.
// usage: node bench/load.mjs [--bin build/idbsync] [--clients 200] [--seconds 60] [--batch 5]
//          [--think-ms 100] [--keys 100] [--warmup 5] [--wait 10] [--server-args "..."]
// tests/faults/load.test.mjs runs a short form through runLoad().
import http from 'node:http';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { rng, httpRequest, postJson, procStatus, percentile } from '../tests/faults/lib/util.mjs';

/**
 * Runs the load. Options: clients, seconds, batch (mutations per push), thinkMs (mean pause
 * between a client's pushes, uniform 0..2x), keys (per-client key space: rows overwrite, so the
 * database stays bounded), warmup (seconds excluded from latency and RSS growth), wait (long-poll
 * seconds), serverArgs, seed, log (progress lines). Returns a result object (see the end).
 */
export async function runLoad({
  clients = 200, seconds = 60, batch = 5, thinkMs = 100, keys = 100, warmup = 5, wait = 10,
  serverArgs = [], seed = 7, log = () => {}, t,
} = {}) {
  // imported here so that --bin (IDBSYNC_BIN) is set before the harness reads it
  const { startServer, request, sleep } = await import('../tests/integration/lib/server.mjs');
  const srv = await startServer({ args: serverArgs, t });
  const pid = srv.proc.pid;
  const rand = rng(seed);
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients * 2 + 16, maxFreeSockets: clients * 2 + 16 });
  const db = 'load';
  const errors = [];
  const lat = []; // [tMs since start, ms]
  const samples = []; // {t, rssKb, threads, fds}
  const idle = procStatus(pid);
  const t0 = Date.now();
  let pushing = true;
  let polling = true;
  let pushes = 0;
  let pulls = 0;
  let delivered = 0;
  const cursors = new Array(clients).fill(0);
  const noteError = (what) => { if (errors.length < 50) errors.push(what); else errors.length++; };

  const sampler = setInterval(() => {
    const s = procStatus(pid);
    if (s) samples.push({ t: (Date.now() - t0) / 1000, ...s });
  }, 1000);
  samples.push({ t: 0, ...idle });

  async function pusher(c) {
    const name = `load-${c}`;
    let id = 0;
    // stagger the start so 200 clients do not all connect in the same millisecond
    await sleep(rand() * Math.min(1000, thinkMs * 2 + 50));
    while (pushing) {
      const muts = [];
      for (let i = 0; i < batch; i++) {
        id++;
        muts.push({ id, store: 'items', op: 'put', key: `${name}/${id % keys}`, value: { c, id, at: Date.now(), s: 'v'.repeat(64) } });
      }
      try {
        const r = await postJson(agent, `${srv.url}/v1/db/${db}/push`, { client: name, mutations: muts });
        if (r.status !== 200) noteError(`push ${name}: ${r.status} ${r.text.slice(0, 200)}`);
        else if (r.json.ack !== id) noteError(`push ${name}: ack ${r.json.ack} != ${id}`);
        else { pushes++; lat.push([Date.now() - t0, r.ms]); }
      } catch (e) {
        noteError(`push ${name}: ${e.message}`);
        id -= batch; // resend the same ids
      }
      if (thinkMs > 0) await sleep(rand() * 2 * thinkMs);
    }
  }

  async function poller(c) {
    const name = `load-${c}`;
    while (polling) {
      try {
        const r = await httpRequest(agent, `${srv.url}/v1/db/${db}/pull?since=${cursors[c]}&wait=${wait}&limit=1000&client=${name}`,
          { timeoutMs: (wait + 30) * 1000 });
        if (r.status !== 200) { noteError(`pull ${name}: ${r.status} ${r.text.slice(0, 200)}`); await sleep(100); continue; }
        pulls++;
        delivered += r.json.changes.length;
        if (r.json.cursor < cursors[c]) noteError(`pull ${name}: cursor went back ${cursors[c]} -> ${r.json.cursor}`);
        cursors[c] = r.json.cursor;
      } catch (e) {
        if (polling) { noteError(`pull ${name}: ${e.message}`); await sleep(100); }
      }
    }
  }

  const pushers = Array.from({ length: clients }, (_, c) => pusher(c));
  const pollers = Array.from({ length: clients }, (_, c) => poller(c));
  for (let s = 1; s <= seconds; s++) {
    await sleep(Math.max(0, t0 + s * 1000 - Date.now()));
    if (s % 10 === 0 || s === seconds) {
      const last = samples[samples.length - 1];
      log(`  ${s}s: ${pushes} pushes, ${pulls} pulls, ${errors.length} errors, rss ${(last.rssKb / 1024).toFixed(1)} MB, threads ${last.threads}`);
    }
  }
  pushing = false;
  await Promise.all(pushers);
  const pushSecs = (Date.now() - t0) / 1000;
  // every long-poller must catch up with the head once pushes stop
  const head = (await request(`${srv.url}/healthz`)).json.head;
  const caughtUpBy = Date.now() + 15000;
  while (cursors.some((x) => x < head) && Date.now() < caughtUpBy) await sleep(100);
  const behind = cursors.filter((x) => x < head).length;
  const catchUpMs = Date.now() - t0 - pushSecs * 1000;
  polling = false;
  // the pollers sit in a long-poll: one more push wakes them all
  await postJson(agent, `${srv.url}/v1/db/${db}/push`, { client: 'load-wake', mutations: [{ id: 1, store: 'w', op: 'put', key: 1, value: 1 }] }).catch(() => {});
  let timer;
  await Promise.race([Promise.all(pollers), new Promise((r) => { timer = setTimeout(r, (wait + 2) * 1000); })]);
  clearTimeout(timer);
  clearInterval(sampler);
  const end = procStatus(pid);
  agent.destroy();
  const metricsText = (await request(`${srv.url}/metrics`)).text;
  const commits = Number(/idbsync_commit_seconds_count (\d+)/.exec(metricsText)?.[1] ?? NaN);
  // after the clients hang up, the per-connection threads must go away
  const closedAt = Date.now();
  let afterClose = procStatus(pid);
  while (Date.now() - closedAt < 10000 && (afterClose.threads > idle.threads + 2 || afterClose.fds > idle.fds + 2)) {
    await sleep(100);
    afterClose = procStatus(pid);
  }
  const releaseMs = Date.now() - closedAt;
  const dataBytesAtEnd = dirBytes(srv.dataDir);
  await srv.stop();

  const post = lat.filter(([at]) => at >= warmup * 1000).map(([, ms]) => ms);
  const warm = samples.filter((s) => s.t >= warmup);
  const atWarm = warm[0] || samples[samples.length - 1];
  return {
    clients, seconds: pushSecs, batch, thinkMs, errors, errorCount: errors.length,
    pushes, mutations: pushes * batch, pushesPerSec: pushes / pushSecs, pulls, delivered, commits,
    p50: percentile(post, 0.5), p99: percentile(post, 0.99), max: post.length ? Math.max(...post) : NaN,
    head, behind, catchUpMs,
    rss: {
      idleKb: idle.rssKb, firstKb: samples[1]?.rssKb ?? idle.rssKb, warmKb: atWarm.rssKb,
      maxKb: Math.max(...samples.map((s) => s.rssKb)), maxAfterWarmKb: Math.max(...warm.map((s) => s.rssKb), atWarm.rssKb),
      lastKb: end ? end.rssKb : samples[samples.length - 1].rssKb,
    },
    threads: { idle: idle.threads, max: Math.max(...samples.map((s) => s.threads)), afterClose: afterClose.threads },
    fds: { idle: idle.fds, max: Math.max(...samples.map((s) => s.fds)), afterClose: afterClose.fds },
    releaseMs, dataBytes: dataBytesAtEnd,
    samples,
  };
}

function dirBytes(dir) {
  let n = 0;
  for (const f of fs.readdirSync(dir)) { try { n += fs.statSync(path.join(dir, f)).size; } catch { /* gone */ } }
  return n;
}

export function formatLoad(r) {
  const mb = (kb) => (kb / 1024).toFixed(1);
  return [
    '| clients | seconds | pushes | mutations/s | push p50 ms | push p99 ms | push max ms | pulls | errors | pollers behind |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| ${r.clients} | ${r.seconds.toFixed(1)} | ${r.pushes} | ${Math.round(r.mutations / r.seconds)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${r.pulls} | ${r.errorCount} | ${r.behind} |`,
    '',
    '| server RSS MB: idle | first | after warm-up | max | last | data dir MB | threads idle / max / after close | fds idle / max / after close | released in ms | fsync commits |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    `| ${mb(r.rss.idleKb)} | ${mb(r.rss.firstKb)} | ${mb(r.rss.warmKb)} | ${mb(r.rss.maxKb)} | ${mb(r.rss.lastKb)} | ${(r.dataBytes / 1048576).toFixed(1)} | ${r.threads.idle} / ${r.threads.max} / ${r.threads.afterClose} | ${r.fds.idle} / ${r.fds.max} / ${r.fds.afterClose} | ${r.releaseMs} | ${r.commits} |`,
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const a = Object.fromEntries(process.argv.slice(2).reduce((acc, v, i, arr) =>
    (v.startsWith('--') ? [...acc, [v.slice(2), arr[i + 1]]] : acc), []));
  if (a.bin) process.env.IDBSYNC_BIN = a.bin; // read when runLoad() imports the harness
  const clients = Number(a.clients || 200);
  let nofile = '?';
  try { nofile = execFileSync('sh', ['-c', 'ulimit -n']).toString().trim(); } catch { /* ignore */ }
  if (nofile !== 'unlimited' && Number(nofile) < clients * 2 + 64) {
    console.error(`ulimit -n is ${nofile}; ${clients} clients need about ${clients * 2 + 64} descriptors (raise it: ulimit -n 65536)`);
    process.exit(2);
  }
  console.log(`load: ${clients} clients, ${a.seconds || 60} s, push batches of ${a.batch || 5}, think ${a['think-ms'] || 100} ms, long-poll wait ${a.wait || 10} s (${os.cpus().length} cores, ${os.cpus()[0].model}, ulimit -n ${nofile})`);
  const r = await runLoad({
    clients, seconds: Number(a.seconds || 60), batch: Number(a.batch || 5), thinkMs: Number(a['think-ms'] ?? 100),
    keys: Number(a.keys || 100), warmup: Number(a.warmup || 5), wait: Number(a.wait || 10),
    serverArgs: (a['server-args'] || '').split(' ').filter(Boolean), log: (s) => console.log(s),
  });
  console.log(formatLoad(r));
  if (r.errorCount) console.log('errors (first 50):\n  ' + r.errors.join('\n  '));
  process.exit(r.errorCount || r.behind ? 1 : 0);
}
