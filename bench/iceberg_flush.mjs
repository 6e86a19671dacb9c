// Flush cost of --lake-format iceberg beside the plain layout: N rounds of (push a batch, POST
// flush) against a fresh server each, timing the flush call (p50/p99), then the size of the
// Iceberg metadata the rounds left. Four setups in one run: the plain layout, Iceberg with the
// file-system catalog, Iceberg committed through a REST catalog (Iceberg's own server on
// 127.0.0.1), the same with the warehouse on S3 (versitygw on 127.0.0.1), and S3 with idbsync's
// own catalog in its state (s3cat: no REST catalog).
// Usage: node bench/iceberg_flush.mjs [rounds=300] [batch=100] [setups=hive,iceberg,rest,s3,s3cat]
import fs from 'node:fs';
import path from 'node:path';
import { serve, push, flush, tempDir } from '../tests/lake/lib.mjs';
import { restCatalog, s3Server } from '../tests/lake/iceberg_lib.mjs';

const rounds = Number(process.argv[2] || 300), batch = Number(process.argv[3] || 100);
const setups = (process.argv[4] || 'hive,iceberg,rest,s3,s3cat').split(',');

function du(dir) {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? du(p) : fs.statSync(p).size;
  }
  return n;
}

/** The newest *.metadata.json under dir (by mtime): "<size> kB (<name>)". */
function newestMeta(dir) {
  const m = fs.readdirSync(dir).filter((n) => n.endsWith('.metadata.json'))
    .map((n) => ({ n, st: fs.statSync(path.join(dir, n)) })).sort((a, b) => a.st.mtimeMs - b.st.mtimeMs).pop();
  return m ? `${(m.st.size / 1e3).toFixed(0)} kB (${m.n.length > 24 ? m.n.slice(0, 5) + '…' : m.n})` : '-';
}

const q = (a, f) => a[Math.min(a.length - 1, Math.floor(a.length * f))];
console.log(`| setup | rounds x changes | flush p50 ms | flush p99 ms | Iceberg files | newest metadata.json |`);
console.log(`|---|---|---|---|---|---|`);
for (const setup of setups) {
  const lake = tempDir(), data = tempDir();
  const args = ['--lake-format', setup === 'hive' ? 'hive' : 'iceberg', '--flush-interval', '1s'];
  let cat = null, s3 = null, env = {};
  if (setup === 's3cat') {
    s3 = await s3Server(tempDir('idbsync-s3-'));
    args.push('--iceberg-warehouse', 's3://lake/idbsync', '--s3-endpoint', s3.endpoint);
    env = { AWS_ACCESS_KEY_ID: s3.access, AWS_SECRET_ACCESS_KEY: s3.secret };
  } else if (setup === 'rest' || setup === 's3') {
    const props = {};
    if (setup === 's3') {
      s3 = await s3Server(tempDir('idbsync-s3-'));
      Object.assign(props, { warehouse: 's3://lake/wh', 'io-impl': 'org.apache.iceberg.aws.s3.S3FileIO', 's3.endpoint': s3.endpoint,
        's3.path-style-access': 'true', 'client.region': 'us-east-1', 's3.access-key-id': s3.access, 's3.secret-access-key': s3.secret });
      args.push('--iceberg-warehouse', 's3://lake/idbsync', '--s3-endpoint', s3.endpoint);
      env = { AWS_ACCESS_KEY_ID: s3.access, AWS_SECRET_ACCESS_KEY: s3.secret };
    }
    cat = await restCatalog(tempDir('idbsync-cat-'), props);
    args.push('--iceberg-rest', cat.uri);
  }
  const srv = await serve({ data, lake, args, env });
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
  let files = '-', newest = '-';
  if (setup !== 'hive') {
    const local = path.join(lake, '_iceberg/app/docs_changes/metadata');
    files = `${(du(path.join(lake, '_iceberg')) / 1e6).toFixed(1)} MB local (data links + metadata)`;
    newest = newestMeta(s3 ? path.join(s3.dir, 'lake/idbsync/app/docs_changes/metadata') : local);
    if (s3) files += `, ${(du(path.join(s3.dir, 'lake')) / 1e6).toFixed(1)} MB on S3`;
  }
  console.log(`| ${setup} | ${rounds} x ${batch} | ${q(times, 0.5).toFixed(1)} | ${q(times, 0.99).toFixed(1)} | ${files} | ${newest} |`);
  if (cat) await cat.stop();
  if (s3) await s3.stop();
}
process.exit(0);
