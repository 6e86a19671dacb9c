// Starts `idbsync serve` for a benchmark on 127.0.0.1 with a free port, data and lake under dir.
// Resolves {p, port} once the server prints its address; rejects if it exits first.
import { spawn } from 'node:child_process';
import path from 'node:path';

export function serveIdbsync(bin, dir, extra = []) {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, ['serve', '--data', path.join(dir, 'data'), '--lake', path.join(dir, 'lake'),
      '--listen', '127.0.0.1:0', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) resolve({ p, port: Number(m[1]) });
    });
    p.once('exit', (c, s) => reject(new Error(`idbsync exited ${c ?? s}`)));
  });
}
