// `idbsync serve` under valgrind's callgrind for the instruction-count benches
// (push_callgrind.mjs, lake_callgrind.mjs): started on a free port with per-thread dumps into
// out, and the totals of the dump the caller asked for (callgrind_control -d).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

// Starts bin with args under callgrind; resolves to { p, port } once it listens.
export async function serveUnderCallgrind(bin, args, out) {
  // uncompressed names: each thread's dump reads on its own in callgrind_annotate
  const p = spawn('valgrind', ['--tool=callgrind', '--separate-threads=yes', '--compress-strings=no', '--compress-pos=no',
    `--callgrind-out-file=${out}/callgrind.out`, bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d) => (stderr += d));
  const port = await new Promise((resolve, reject) => {
    let o = '';
    p.stdout.on('data', (d) => { o += d; const m = o.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/); if (m) resolve(Number(m[1])); });
    p.once('exit', (c) => reject(new Error(`server exited ${c}: ${stderr}`)));
  });
  return { p, port };
}

// [file, Ir] per thread of the first -d dump (callgrind.out.PID.1-NN) in out.
export function dumpTotals(out) {
  return fs.readdirSync(out).filter((f) => /\.1-\d+$/.test(f)).sort().map((f) => {
    const txt = fs.readFileSync(path.join(out, f), 'utf8');
    const m = txt.match(/^summary: (\d+)/m) || txt.match(/^totals: (\d+)/m);
    return [f, m ? Number(m[1]) : 0];
  });
}
