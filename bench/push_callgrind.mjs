// Instruction counts per pushed mutation, which machine load does not move: runs `idbsync serve`
// under valgrind's callgrind, pushes a warm-up batch, zeroes the counters, pushes --total
// mutations (the documents of bench/push.mjs, --batch per request, --clients in parallel) and
// dumps. Prints Ir per mutation overall and per thread; the dump (callgrind.out.*) is left in
// --out for callgrind_annotate.
// With --update the measured push writes keys that exist (pushed first, unmeasured, by another
// client), so every mutation replaces a row instead of adding one.
// With --user the server runs with --auth and every push is that user's (rows scoped to it).
// --keys text|uuid|number: the keys' kind (bench/lib/orders.mjs; text, `${client}-${id}`, by default).
// usage: node bench/push_callgrind.mjs [--bin build/idbsync] [--total 20000] [--batch 500]
//                                       [--clients 1] [--update] [--user NAME] [--out /tmp/push-cg]
//                                       [--keys text|uuid|number]
//                                       [--server-args "--no-lake --no-inbox"]
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { orderBodies, postPush as post } from './lib/orders.mjs';
import { serveUnderCallgrind, dumpTotals } from './lib/callgrind.mjs';

const update = process.argv.includes('--update');
const args = Object.fromEntries(process.argv.slice(2).filter((v) => v !== '--update').reduce((a, v, i, arr) =>
  (v.startsWith('--') ? [...a, [v.slice(2), arr[i + 1]]] : a), []));
const bin = path.resolve(args.bin || 'build/idbsync');
const total = Number(args.total || 20000);
const batch = Number(args.batch || 500);
const clients = Number(args.clients || 1);
const out = path.resolve(args.out || '/tmp/push-cg');
const extra = (args['server-args'] ?? '--no-lake --no-inbox').split(' ').filter(Boolean);

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idbsync-cg-'));
const token = args.user ? 'bench-token' : undefined;
if (args.user) {
  fs.writeFileSync(path.join(dir, 'tokens'), `${token} ${args.user}\n`);
  extra.push('--auth', `tokens:${path.join(dir, 'tokens')}`);
}
const { p, port } = await serveUnderCallgrind(bin, ['serve', '--data', path.join(dir, 'data'), '--lake', path.join(dir, 'lake'),
  '--listen', '127.0.0.1:0', ...extra], out);
const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
const per = Math.ceil(total / clients);
const keys = args.keys || 'text';
if (update && keys === 'uuid') throw new Error('--update needs keys it can name again: --keys text or number');
const warm = Array.from({ length: clients }, (_, c) => (update ? orderBodies(c, per, batch, 1, `seed-${c}`, keys)
  : orderBodies(c, batch, batch, 1, undefined, keys)));
const bodies = Array.from({ length: clients }, (_, c) => (update ? orderBodies(c, per, batch, 1, undefined, keys)
  : orderBodies(c, per, batch, batch + 1, undefined, keys)));
await Promise.all(warm.map(async (l) => { for (const b of l) await post(agent, port, b, token); }));
execFileSync('callgrind_control', ['-z', String(p.pid)], { stdio: 'ignore' });
await Promise.all(bodies.map(async (l) => { for (const b of l) await post(agent, port, b, token); }));
execFileSync('callgrind_control', ['-d', String(p.pid)], { stdio: 'ignore' });
agent.destroy();
p.kill('SIGTERM');
await new Promise((r) => p.once('exit', r));
fs.rmSync(dir, { recursive: true, force: true });
const rows = dumpTotals(out);
const sum = rows.reduce((a, [, ir]) => a + ir, 0);
console.log(`${total} mutations${update ? ' (updates of existing keys)' : ''}, keys ${keys}, batches of ${batch}, ${clients} client(s), server ${extra.join(' ')}`);
for (const [f, ir] of rows) if (ir) console.log(`  ${f}: ${Math.round(ir / total).toLocaleString('en-US')} Ir/mutation`);
console.log(`total: ${Math.round(sum / total).toLocaleString('en-US')} Ir/mutation (${sum.toLocaleString('en-US')} Ir)`);
