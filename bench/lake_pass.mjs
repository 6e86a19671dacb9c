// Cost of one state pass of the plain layout: each pass builds the table's next dir (hard links
// of the files it keeps, its new files) and exchanges it (docs/lake-layout.md). Two tables:
// `items` (64 buckets, then a delta per pass) and `events` (partitioned by region: 16 regions x
// 64 buckets). Each pass: PER updates of existing keys and PER new keys in each table, then one
// POST /flush timed (change log + state); the median and p90 of PASSES passes, the files in
// each table at the end, and, per table, what the exchange adds to a pass (the server's debug
// line lake_state_exchange: hard links of the kept files, _buckets, the exchange, the removal of
// the old version; absent from builds before it).
// usage: node bench/lake_pass.mjs [PASSES] [PER]   (IDBSYNC_BIN picks the binary; run it once
// per binary to compare)
import fs from 'node:fs';
import crypto from 'node:crypto';
import { serve, push, flush, tempDir, BIN } from '../tests/lake/lib.mjs';

const PASSES = Number(process.argv[2] || 40), PER = Number(process.argv[3] || 20);
const ROWS = 64000;
const lake = tempDir(), data = tempDir();
// 64,000 rows of ~150 bytes settle at 2^6 buckets (items), and at 2^6 x 16 files (events)
const cfg = `${data}.lake.json`;
fs.writeFileSync(cfg, JSON.stringify({ bucket_bytes: 300000, stores: { 'app/events': { partition_by: 'region', bucket_bytes: 36000 } } }));
const srv = await serve({ data, lake, args: ['--flush-interval', '100000s', '--lake-config', cfg, '--log-level', 'debug'] });
let id = 1;
const pad = (i) => crypto.createHash('sha256').update(String(i)).digest('hex');
const val = (i, v) => ({ n: i, v, region: 'r' + (i % 16), pad: pad(i) + pad(-i) });
const put = (store, keys, v) => push(srv.url, 'app', { client: 'c', mutations: keys.map((k) => ({ id: id++, store, op: 'put', key: k, value: val(k, v) })) });
const range = (a, b) => Array.from({ length: b - a }, (_, i) => a + i);
for (let b = 0; b < ROWS; b += 2000) {
  await put('items', range(b, b + 2000), 0);
  await put('events', range(b, b + 2000), 0);
}
// passes until the buckets stop doubling: a new column in each (a schema change rebuilds the
// table; the first flush feeds the change log's rows to one delta instead)
const k = (t) => JSON.parse(fs.readFileSync(`${lake}/app/${t}/_buckets`, 'utf8')).k;
for (let i = 0, same = 0, last = ''; i < 20 && same < 2; i++) {
  for (const t of ['items', 'events']) {
    await push(srv.url, 'app', { client: 'c', mutations: [{ id: id++, store: t, op: 'put', key: i, value: { ...val(i, 0), ['x' + i]: i } }] });
  }
  await flush(srv.url, 'app');
  const now = `${k('items')}/${k('events')}`;
  same = now === last ? same + 1 : 0;
  last = now;
}
const nfiles = (t) => fs.readdirSync(`${lake}/app/${t}`, { recursive: true }).filter((f) => String(f).endsWith('.parquet')).length;
const ms = [];
let tail = '';
const lines = [];   // the exchange lines of the timed passes
srv.proc.stderr.on('data', (d) => {
  const parts = (tail + d).split('\n');
  tail = parts.pop();
  for (const ln of parts) if (ln.includes('lake_state_exchange')) lines.push(ln);
});
let next = ROWS;
for (let p = 1; p <= PASSES; p++) {
  const upd = Array.from({ length: PER }, (_, i) => (p * 7919 + i * 104729) % ROWS);
  for (const t of ['items', 'events']) {
    await put(t, upd, p);
    await put(t, range(next, next + PER), p);
  }
  next += PER;
  const t0 = performance.now();
  await flush(srv.url, 'app');
  ms.push(performance.now() - t0);
}
const ex = {};
for (const ln of lines) {
  const m = /table=(\S+) kept=(\d+) us=(\d+)/.exec(ln);
  if (m) (ex[m[1]] ||= []).push({ kept: Number(m[2]), us: Number(m[3]) });
}
await srv.stop();
ms.sort((a, b) => a - b);
const q = (f) => ms[Math.min(ms.length - 1, Math.floor(f * ms.length))].toFixed(1);
console.log(`binary ${BIN}`);
console.log(`items: 2^${k('items')} buckets, ${nfiles('items')} files; events: 2^${k('events')} buckets, ${nfiles('events')} files`);
console.log(`${PASSES} passes of ${PER} updates + ${PER} new keys per table: flush median ${q(0.5)} ms, p90 ${q(0.9)} ms, ` +
  `load ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
for (const [t, es] of Object.entries(ex)) {
  const us = es.map((e) => e.us).sort((a, b) => a - b);
  console.log(`  ${t}: ${es.length} exchanges, ${Math.round(es.reduce((a, e) => a + e.kept, 0) / es.length)} files kept (linked) ` +
    `per pass, exchange cost median ${(us[us.length >> 1] / 1000).toFixed(2)} ms, max ${(us[us.length - 1] / 1000).toFixed(2)} ms`);
}
fs.rmSync(lake, { recursive: true, force: true });
fs.rmSync(data, { recursive: true, force: true });
fs.rmSync(cfg, { force: true });
