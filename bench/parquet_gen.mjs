// Generates the benchmark NDJSON for bench/parquet.sh: N rows of mixed types (ints,
// doubles, repeated strings, booleans, timestamps, a nested struct), deterministic.
// usage: node bench/parquet_gen.mjs ROWS OUT.ndjson
import { createWriteStream } from 'node:fs';

const rows = Number(process.argv[2] || 1000000);
const out = createWriteStream(process.argv[3] || 'bench.ndjson');
// mulberry32: a small PRNG with a long period (no artificial repeats for codecs to find)
let seed = 42;
const rnd = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const cities = ['Berlin', 'Paris', 'London', 'Madrid', 'Rome', 'Vienna', 'Prague', 'Oslo',
  'Lisbon', 'Dublin', 'Warsaw', 'Athens', 'Zürich', 'København', 'Helsinki', 'Tallinn'];
const words = Array.from({ length: 5000 }, (_, i) => `user-${(i * 7919) % 100003}-${i.toString(36)}`);
const base = Date.UTC(2024, 0, 1);
let buf = '';
for (let i = 0; i < rows; i++) {
  const row = {
    id: i + 1,
    user: words[Math.floor(rnd() * words.length)],
    amount: Math.round(rnd() * 1e6) / 100,
    qty: Math.floor(rnd() * 100),
    active: rnd() < 0.7,
    ts: { $date: new Date(base + Math.floor(rnd() * 365 * 86400000)).toISOString() },
    address: { city: cities[Math.floor(rnd() * cities.length)], zip: 10000 + Math.floor(rnd() * 90000) },
  };
  if (rnd() < 0.1) row.note = `note ${i % 997}`;
  buf += JSON.stringify(row) + '\n';
  if (buf.length > 1 << 20) {
    if (!out.write(buf)) await new Promise((r) => out.once('drain', r));
    buf = '';
  }
}
out.end(buf);
