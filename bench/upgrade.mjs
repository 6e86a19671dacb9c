// How long a data dir of an older schema takes to upgrade when a newer binary opens it (the
// rows table rebuilt once for schema 3, src/ledger/ledger.c schema_upgrade): --old pushes
// --rows new keys (batches of 500, bench/lib/orders.mjs), stops; --bin is started on the same
// data dir and timed until it answers /healthz; then the head, the `ledger.upgrade(d)` log lines
// and the data dir's size are printed.
// usage: node bench/upgrade.mjs --old /tmp/idbsync.old [--bin build/idbsync] [--rows 1000000]
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startServer, tempDir } from '../tests/lib/server.mjs';
import { orderBodies, postPush } from './lib/orders.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, arr) =>
  (v.startsWith('--') ? [...a, [v.slice(2), arr[i + 1]]] : a), []));
if (!args.old) throw new Error('--old BINARY: the idbsync that writes the data dir first');
const bin = path.resolve(args.bin || 'build/idbsync');
const rows = Number(args.rows || 1000000);
const root = tempDir('idbsync-upgrade-');
const dirs = { dataDir: path.join(root, 'data'), lakeDir: path.join(root, 'lake'), args: ['--no-lake', '--no-inbox'] };

const old = await startServer({ ...dirs, bin: path.resolve(args.old) });
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
for (const b of orderBodies(0, rows, 500)) await postPush(agent, old.port, b);
agent.destroy();
await old.stop();
const mb = Number(execFileSync('du', ['-sm', dirs.dataDir]).toString().split('\t')[0]);

const t0 = process.hrtime.bigint();
const srv = await startServer({ ...dirs, bin, startTimeoutMs: 600000 });
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const health = await (await fetch(`${srv.url}/healthz`)).json();
const lines = srv.stderr().split('\n').filter((l) => l.includes('ledger.upgrade')).join('\n') || '(no ledger.upgrade line)';
await srv.stop();
fs.rmSync(root, { recursive: true, force: true });
console.log(`${rows.toLocaleString('en-US')} rows (${mb} MB) written by ${args.old}, opened by ${bin}: ` +
  `answering /healthz after ${secs.toFixed(2)} s; head ${health.head}`);
console.log(lines.trim());
