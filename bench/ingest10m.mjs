// Server memory under a long ingest: C clients push ROWS small rows (unique keys) in batches of B
// to a real `idbsync serve` (fsync on, lake on: the defaults), one request in flight per client,
// keep-alive. VmRSS of the server (/proc/<pid>/status) is sampled every second, with the rows
// acked so far and the lake's lag (/metrics). Prints RSS at start / over the run / at the end and
// whether it stays flat (the second half of the run grows no more than max(10%, 16 MB) over the
// first half), rows/s, then waits (--flush-timeout S, default 600) for the lake to catch up and reports
// how far it got.
// Bodies are built just before they are sent (10M rows do not fit in memory pre-serialized), with
// string templates so the generator costs little next to the server.
// usage: node bench/ingest10m.mjs [--bin build/idbsync] [--rows 10000000] [--batch 500] [--clients 8]
//                                 [--server-args '--no-lake'] [--csv FILE] [--no-flush] [--flush-timeout S]
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { procStatus } from '../tests/faults/lib/util.mjs';
import { startServer } from '../tests/lib/server.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const flag = (n) => argv.includes(`--${n}`);
const opt = (n, d) => { const i = argv.indexOf(`--${n}`); return i >= 0 && i + 1 < argv.length ? argv[i + 1] : d; };
const bin = path.resolve(opt('bin', process.env.IDBSYNC_BIN || path.join(ROOT, 'build/idbsync')));
const ROWS = Number(opt('rows', 10_000_000));
const BATCH = Number(opt('batch', 500));
const CLIENTS = Number(opt('clients', 8));
const extra = opt('server-args', '').split(' ').filter(Boolean);
const csv = opt('csv', '');
const doFlush = !flag('no-flush');
const flushTimeout = Number(opt('flush-timeout', 600));
if (!(ROWS > 0 && BATCH > 0 && CLIENTS > 0)) {
  console.error('ingest10m: --rows, --batch and --clients must be positive numbers');
  process.exit(2);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idbsync-ingest-'));
const cleanup = () => { if (!process.env.KEEP) fs.rmSync(dir, { recursive: true, force: true }); };

// the harness kills the server at exit (before this handler removes its dirs)
const srv = await startServer({ bin, args: extra, dataDir: path.join(dir, 'data'), lakeDir: path.join(dir, 'lake') });
const { proc: server, port } = srv;
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));
const base = `http://127.0.0.1:${port}`;

// Row r (0-based, global): key r, value {n, g, s}; about 90 bytes of JSON per mutation.
function body(client, firstId, firstRow, n) {
  let s = `{"client":"ingest-${client}","mutations":[`;
  for (let i = 0; i < n; i++) {
    const r = firstRow + i;
    s += `${i ? ',' : ''}{"id":${firstId + i},"store":"rows","op":"put","key":${r},"value":{"n":${r},"g":${r % 1000},"s":"v${r % 97}"}}`;
  }
  return s + ']}';
}

function post(agent, b) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/db/ingest/push', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(b) } }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(data) : reject(new Error(`push ${res.statusCode}: ${data.slice(0, 300)}`))));
    });
    req.on('error', reject);
    req.end(b);
  });
}

async function metric(name) {
  try {
    const m = await (await fetch(`${base}/metrics`)).text();
    const x = new RegExp(`^${name} (\\S+)$`, 'm').exec(m);
    return x ? Number(x[1]) : null;
  } catch { return null; }
}

// ---- sampling: every second, RSS + rows acked + lake lag
const samples = [];   // {t, rssKb, rows, lag, phase}
let done = 0;
let phase = 'ingest';
const t0 = performance.now();
const rss0 = procStatus(server.pid).rssKb;
samples.push({ t: 0, rssKb: rss0, rows: 0, lag: 0, logged: 0, phase: 'idle' });
let sampling = false;
const timer = setInterval(async () => {
  if (sampling) return;
  sampling = true;
  const st = procStatus(server.pid);
  const lag = await metric('idbsync_lake_lag_changes');
  const logged = await metric('idbsync_lake_changes_seq');
  if (st) samples.push({ t: (performance.now() - t0) / 1000, rssKb: st.rssKb, rows: done, lag, logged, phase });
  sampling = false;
}, 1000);

// ---- ingest: clients take the next batch from a shared counter (rows land in order of keys)
let nextRow = 0;
const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
const progressEvery = Math.max(BATCH, Math.round(ROWS / 10 / BATCH) * BATCH);
let nextReport = progressEvery;
await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
  let id = 1;
  while (nextRow < ROWS) {
    const first = nextRow;
    const n = Math.min(BATCH, ROWS - first);
    nextRow += n;
    await post(agent, body(c, id, first, n));
    id += n;
    done += n;
    if (done >= nextReport) {
      nextReport += progressEvery;
      const s = samples[samples.length - 1];
      console.error(`ingest10m: ${done.toLocaleString('en-US')} rows, ${((performance.now() - t0) / 1000).toFixed(0)} s, RSS ${(s.rssKb / 1024).toFixed(1)} MB, lake state lag ${s.lag}, change log at ${s.logged}`);
    }
  }
}));
const ingestSecs = (performance.now() - t0) / 1000;
agent.destroy();
const rssEndIngest = procStatus(server.pid).rssKb;

// ---- the lake catches up: poll its flushed seq (RSS still sampled) for at most --flush-timeout s.
// (POST /flush gives up after 60 s on the server side, too short for a 10M-row backlog.)
let flushSecs = null;
let flushNote = 'not run';
const lakeOn = doFlush && !extra.includes('--no-lake');
const flushedEnd = await metric('idbsync_lake_flushed_seq');
const loggedEnd = await metric('idbsync_lake_changes_seq');
let flushedLast = flushedEnd;
let waitSecs = 0;
if (lakeOn) {
  phase = 'flush';
  const f0 = performance.now();
  for (;;) {
    flushedLast = await metric('idbsync_lake_flushed_seq');
    waitSecs = (performance.now() - f0) / 1000;
    if (flushedLast !== null && flushedLast >= ROWS) { flushSecs = waitSecs; break; }
    if (waitSecs >= flushTimeout) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  flushNote = flushSecs !== null ? `caught up in ${flushSecs.toFixed(1)} s`
    : `not caught up within ${flushTimeout} s: lake at seq ${flushedLast} of ${ROWS} ` +
      `(${Math.round((flushedLast - flushedEnd) / waitSecs).toLocaleString('en-US')} changes/s while waiting)`;
}
clearInterval(timer);
const rssEnd = procStatus(server.pid).rssKb;
const applied = await metric('idbsync_mutations_applied_total');
const du = (d) => { let n = 0; const walk = (p) => { for (const e of fs.readdirSync(p, { withFileTypes: true })) { const q = path.join(p, e.name); if (e.isDirectory()) walk(q); else n += fs.statSync(q).size; } }; try { walk(d); } catch { /* none */ } return n; };
const dataBytes = du(path.join(dir, 'data')), lakeBytes = du(path.join(dir, 'lake'));
// a clean shutdown flushes the lake backlog first: give it 30 s, then SIGKILL (the data is durable)
let shutdown = 'clean shutdown';
const s0 = performance.now();
const exited = srv.exited;
server.kill('SIGTERM');
if (await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 30000))]) === false) {
  shutdown = 'SIGTERM did not finish within 30 s (the shutdown flushes the lake backlog): killed';
  server.kill('SIGKILL');
  await exited;
} else shutdown += ` in ${((performance.now() - s0) / 1000).toFixed(1)} s`;
if (applied !== ROWS) { console.error(`ingest10m: server applied ${applied} mutations, expected ${ROWS}`); process.exit(1); }

if (csv) fs.writeFileSync(csv, 't_s,rss_kb,rows,lake_lag,lake_logged,phase\n' + samples.map((s) => `${s.t.toFixed(1)},${s.rssKb},${s.rows},${s.lag ?? ''},${s.logged ?? ''},${s.phase}`).join('\n') + '\n');

// ---- report
const ing = samples.filter((s) => s.phase === 'ingest');
const mb = (kb) => (kb / 1024).toFixed(1);
const maxOf = (a) => a.reduce((m, s) => Math.max(m, s.rssKb), 0);
const atRows = (frac) => { const s = ing.find((x) => x.rows >= ROWS * frac); return s ? mb(s.rssKb) : 'n/a'; };
const half = ing.filter((s) => s.rows < ROWS / 2), rest = ing.filter((s) => s.rows >= ROWS / 2);
const max1 = maxOf(half), max2 = Math.max(maxOf(rest), rssEndIngest);
const growth = max2 - max1;
// too short a run (fewer than 3 samples in a half) says nothing about flatness
const flat = half.length < 3 || rest.length < 3 ? null : growth <= Math.max(0.10 * max1, 16 * 1024);
const maxAll = Math.max(maxOf(samples), rssEndIngest, rssEnd);
const rate = ROWS / ingestSecs;
console.log(`ingest: ${ROWS.toLocaleString('en-US')} rows (unique keys, ~90 B JSON each), batches of ${BATCH}, ${CLIENTS} clients, ` +
  `fsync on${extra.length ? ', server ' + extra.join(' ') : ', lake on (defaults)'}; RSS sampled every 1 s (${samples.length} samples)`);
console.log('| rows | seconds | rows/s | RSS start MB | at 10% | at 50% | at 90% | max MB | end of ingest MB | after lake catch-up wait MB | 2nd half vs 1st half max | flat |');
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
console.log(`| ${ROWS.toLocaleString('en-US')} | ${ingestSecs.toFixed(1)} | ${Math.round(rate).toLocaleString('en-US')} | ${mb(rss0)} | ${atRows(0.1)} | ${atRows(0.5)} | ` +
  `${atRows(0.9)} | ${mb(maxAll)} | ${mb(rssEndIngest)} | ${lakeOn ? mb(rssEnd) : 'n/a'} | ${growth >= 0 ? '+' : ''}${mb(growth)} MB | ${flat === null ? 'n/a (run too short)' : flat ? 'yes' : 'no'} |`);
console.log(`lake at the end of the ingest: state up to seq ${flushedEnd ?? 'n/a'}, change log up to ${loggedEnd ?? 'n/a'} of ${ROWS}; catch-up: ${flushNote}; ` +
  `${shutdown}; on disk: data ${(dataBytes / 1e6).toFixed(0)} MB, lake ${(lakeBytes / 1e6).toFixed(0)} MB`);
// one machine-readable line for bench/all.sh
console.log(`INGEST rows=${ROWS} secs=${ingestSecs.toFixed(2)} rate=${Math.round(rate)} rss_start_mb=${mb(rss0)} rss_max_mb=${mb(maxAll)} ` +
  `rss_end_mb=${mb(rssEndIngest)} rss_after_flush_mb=${lakeOn ? mb(rssEnd) : 'n/a'} lake_flushed_end=${flushedEnd} lake_logged_end=${loggedEnd} lake_flushed_last=${flushedLast} lake_wait_s=${waitSecs.toFixed(0)} lake_caught_up=${flushSecs !== null ? 1 : 0} rss_half1_max_mb=${mb(max1)} rss_half2_max_mb=${mb(max2)} flat=${flat === null ? 'na' : flat ? 1 : 0}`);
