// K stalled 16 MiB pulls (sent, never read), then quick requests, timed: a pull past the head
// (answered 409 without reading the ledger: it only needs a worker), a pull of what is new
// since the seeding (reads the ledger: a worker and a read connection) and a push; --rounds
// rounds (3). Shows how a burst of large pages delays quick requests (docs/benchmarks.md, "Why
// a pull once stalled 1.8 s"). usage: node bench/pull_stall.mjs [--bin build/idbsync] [--k 30]
// [--rounds 3]
import net from 'node:net';
import fs from 'node:fs';

const arg = (name, def) => { const i = process.argv.indexOf(`--${name}`); return i < 0 ? def : process.argv[i + 1]; };
if (arg('bin')) process.env.IDBSYNC_BIN = arg('bin');
const K = Number(arg('k', 30));
const ROUNDS = Number(arg('rounds', 3));
const { startServer, pushOk, sleep, BIN } = await import('../tests/lib/server.mjs');
const { httpRequest } = await import('../tests/faults/lib/util.mjs');

const srv = await startServer({ args: ['--conn-timeout', '5', '--no-lake'] });
const blob = 'b'.repeat(20000); // ~20 MB of rows: a full pull is a 16 MiB page
let seeded = 0;
for (let i = 0; i < 10; i++) {
  const muts = [];
  for (let j = 1; j <= 100; j++) muts.push({ id: i * 100 + j, store: 'big', op: 'put', key: i * 100 + j, value: { blob } });
  seeded = (await pushOk(srv.url, 'h', 'seed', muts)).cursor;
}
let t0 = performance.now();
await httpRequest(false, `${srv.url}/v1/db/h/pull?since=0&limit=10000`);
const bigPullAloneMs = performance.now() - t0;
const rounds = [];
for (let round = 0; round < ROUNDS; round++) {
  const socks = [];
  for (let i = 0; i < K; i++) {
    const s = net.connect({ host: '127.0.0.1', port: srv.port });
    s.on('error', () => {});
    s.write('GET /v1/db/h/pull?since=0&limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n');
    s.pause();
    socks.push(s);
  }
  await sleep(20);
  t0 = performance.now();
  const timed = (p, want) => p.then((r) => {
    if (r.status !== want) throw new Error(`expected ${want}, got ${r.status} ${r.text.slice(0, 200)}`);
    return Math.round(performance.now() - t0);
  });
  const pull = timed(httpRequest(false, `${srv.url}/v1/db/h/pull?since=999999&limit=10`), 409);
  const readPull = timed(httpRequest(false, `${srv.url}/v1/db/h/pull?since=${seeded}&limit=10`), 200);
  const push = timed(httpRequest(false, `${srv.url}/v1/db/h/push`, { method: 'POST',
    body: { client: 'n', mutations: [{ id: round + 1, store: 'n', op: 'put', key: round, value: 1 }] } }), 200);
  rounds.push({ pullMs: await pull, readPullMs: await readPull, pushMs: await push });
  for (const s of socks) s.destroy();
  await sleep(1500);
}
console.log(JSON.stringify({ bin: BIN, k: K, bigPullAloneMs: Math.round(bigPullAloneMs), rounds,
  load: fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0] }));
await srv.stop();
process.exit(0);
