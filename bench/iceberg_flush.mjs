// Flush cost of --lake-format iceberg beside the plain layout: N rounds of (push a batch, POST
// flush) against a fresh server each, timing the flush call (p50/p99), then the size of the
// Iceberg metadata the rounds left. Usage: node bench/iceberg_flush.mjs [rounds=300] [batch=100]
import fs from 'node:fs';
import path from 'node:path';
import { serve, push, flush, tempDir } from '../tests/lake/lib.mjs';

const rounds = Number(process.argv[2] || 300), batch = Number(process.argv[3] || 100);

function du(dir) {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? du(p) : fs.statSync(p).size;
  }
  return n;
}

const q = (a, f) => a[Math.min(a.length - 1, Math.floor(a.length * f))];
console.log(`| format | rounds x changes | flush p50 ms | flush p99 ms | Iceberg metadata | newest vN.metadata.json |`);
console.log(`|---|---|---|---|---|---|`);
for (const format of ['hive', 'iceberg']) {
  const lake = tempDir(), data = tempDir();
  const srv = await serve({ data, lake, args: ['--lake-format', format, '--flush-interval', '1s'] });
  const times = [];
  let id = 1;
  for (let r = 0; r < rounds; r++) {
    const muts = [];
    for (let j = 0; j < batch; j++) muts.push({ id: id++, store: 'docs', op: 'put', key: (r * batch + j) % 5000, value: { v: id, s: 'x'.repeat(50) } });
    await push(srv.url, 'app', { client: 'b', mutations: muts });
    const t0 = performance.now();
    await flush(srv.url, 'app');
    times.push(performance.now() - t0);
  }
  await srv.stop();
  times.sort((a, b) => a - b);
  let meta = '-', newest = '-';
  if (format === 'iceberg') {
    const m = path.join(lake, '_iceberg/app/docs_changes/metadata');
    meta = `${(du(path.join(lake, '_iceberg')) / 1e6).toFixed(1)} MB data+metadata links, ${(fs.readdirSync(m).length)} files in docs_changes/metadata`;
    const v = fs.readdirSync(m).filter((n) => /^v\d+\.metadata\.json$/.test(n)).sort((a, b) => parseInt(a.slice(1)) - parseInt(b.slice(1))).pop();
    newest = `${(fs.statSync(path.join(m, v)).size / 1e3).toFixed(0)} kB (${v})`;
  }
  console.log(`| ${format} | ${rounds} x ${batch} | ${q(times, 0.5).toFixed(1)} | ${q(times, 0.99).toFixed(1)} | ${meta} | ${newest} |`);
}
