// CPU time and write/read system calls per push, thread by thread, for one or more binaries run in
// turn (interleaved, --rounds times): --clients clients push --pushes batches of 500 new keys
// (the documents of bench/push.mjs) to `idbsync serve --no-lake --no-inbox`; the counters come
// from /proc/PID/task/*/schedstat (ns on a CPU) and /proc/PID/task/*/io (syscw and wchar, the
// bytes written: the writer's are its WAL frames; syscr) and /proc/PID/task/*/status (context
// switches, voluntary and not: each is a thread put to sleep or preempted, and with one client
// every sleep on the push's chain is a wake-up it waits for), read before and after. CPU time
// moves less with machine load than wall time does; system calls and voluntary switches
// hardly. Linux only.
// usage: node bench/push_threads.mjs --bins build/idbsync,/tmp/old/idbsync [--pushes 200]
//                                    [--rounds 2] [--clients 1] [--server-args "..."]
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, tempDir } from '../tests/lib/server.mjs';
import { orderBodies, postPush } from './lib/orders.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, arr) =>
  (v.startsWith('--') ? [...a, [v.slice(2), arr[i + 1]]] : a), []));
const bins = (args.bins || 'build/idbsync').split(',');
const pushes = Number(args.pushes || 200);
const rounds = Number(args.rounds || 2);
const clients = Number(args.clients || 1);
const extra = (args['server-args'] ?? '--no-lake --no-inbox').split(' ').filter(Boolean);

function threads(pid) {
  const out = {};
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const io = fs.readFileSync(`/proc/${pid}/task/${t}/io`, 'utf8');
      const st = fs.readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8');
      out[t] = {
        name: fs.readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim(),
        ns: Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]),
        w: Number(/syscw: (\d+)/.exec(io)[1]),
        r: Number(/syscr: (\d+)/.exec(io)[1]),
        kb: Number(/wchar: (\d+)/.exec(io)[1]) / 1024,
        cs: Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(st)[1]) + Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(st)[1]),
      };
    } catch { /* the thread ended */ }
  }
  return out;
}

const load = () => os.loadavg().map((x) => x.toFixed(1)).join(' ');
console.log(`${clients} client(s), ${pushes} pushes of 500 new keys per run, server ${extra.join(' ')}; load ${load()}`);
for (let r = 0; r < rounds; r++) {
  for (const bin of bins) {
    const dir = tempDir('idbsync-threads-');
    const srv = await startServer({ bin, args: extra, dataDir: path.join(dir, 'data'), lakeDir: path.join(dir, 'lake') });
    const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
    await postPush(agent, srv.port, orderBodies(clients + 1, 500, 500)[0]); // warm-up
    const lists = Array.from({ length: clients }, (_, c) => orderBodies(c, (pushes / clients) * 500, 500));
    const before = threads(srv.proc.pid);
    const t0 = process.hrtime.bigint();
    await Promise.all(lists.map(async (l) => { for (const b of l) await postPush(agent, srv.port, b); }));
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const after = threads(srv.proc.pid);
    const per = Object.entries(after).map(([t, a]) => {
      const b = before[t] || { ns: 0, w: 0, r: 0, kb: 0, cs: 0 };
      return { name: a.name, ms: (a.ns - b.ns) / 1e6 / pushes, w: (a.w - b.w) / pushes, r: (a.r - b.r) / pushes,
        kb: (a.kb - b.kb) / pushes, cs: (a.cs - b.cs) / pushes };
    });
    const total = per.reduce((s, x) => s + x.ms, 0), switches = per.reduce((s, x) => s + x.cs, 0);
    console.log(`${bin}: ${Math.round((pushes * 500) / secs)} docs/s, CPU per push ${total.toFixed(3)} ms, ` +
      `context switches per push ${switches.toFixed(1)}: ` +
      per.filter((x) => x.ms >= 0.01).sort((x, y) => y.ms - x.ms)
        .map((x) => `${x.name} ${x.ms.toFixed(3)} ms (w ${x.w.toFixed(0)} ${x.kb.toFixed(0)} KiB, r ${x.r.toFixed(0)}, cs ${x.cs.toFixed(1)})`).join(', '));
    agent.destroy();
    await srv.stop();
  }
}
console.log(`load at the end ${load()}`);
