// Generates the benchmark NDJSON for bench/parquet.sh, deterministic (fixed seed, mulberry32).
// usage: node bench/parquet_gen.mjs ROWS OUT.ndjson [SHAPE]
// SHAPE:
//   mixed   ints, doubles, repeated strings, booleans, {"$date":..} timestamps, a nested
//           struct, a note in 10% of the rows (the original bench data)
//   orders  the shape of issue #20: ids, customers, 8 cities, totals, quantities 0-19, a
//           boolean, an ISO-8601 text timestamp (increasing, as orders arrive), a nullable note
//   wide    wide and sparse: 120 fields of four types, each present in 3-20% of the rows
//   text    long strings: 300-3,000 characters of word text per row, plus short columns
import { createWriteStream } from 'node:fs';

const rows = Number(process.argv[2] || 1000000);
const out = createWriteStream(process.argv[3] || 'bench.ndjson');
const shape = process.argv[4] || 'mixed';
// mulberry32: a small PRNG with a long period (no artificial repeats for codecs to find)
let seed = 42;
const rnd = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (a) => a[Math.floor(rnd() * a.length)];
// skewed pick: low indexes far more often (like customers or products in real data)
const skew = (n) => Math.floor(n * rnd() ** 3);
const cities = ['Berlin', 'Paris', 'London', 'Madrid', 'Rome', 'Vienna', 'Prague', 'Oslo',
  'Lisbon', 'Dublin', 'Warsaw', 'Athens', 'Zürich', 'København', 'Helsinki', 'Tallinn'];
const words = Array.from({ length: 5000 }, (_, i) => `user-${(i * 7919) % 100003}-${i.toString(36)}`);
const base = Date.UTC(2024, 0, 1);
const vocab = Array.from({ length: 3000 }, (_, i) =>
  (i * 2654435761 >>> 0).toString(36).slice(0, 2 + (i % 9)));

const gen = {
  mixed(i) {
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
    return row;
  },
  orders(i) {
    const c = skew(20000);
    const qty = 1 + skew(19);
    return {
      id: 1000000 + i,
      customer: `C${String(c).padStart(6, '0')}`,
      city: cities[(c * 7) % 8],   // a customer lives in one city
      total: Math.round(qty * (5 + rnd() * 95) * 100) / 100,
      qty,
      paid: rnd() < 0.92,
      created: new Date(base + i * 30000 + Math.floor(rnd() * 30000)).toISOString(),
      note: rnd() < 0.15 ? pick(['gift', 'fragile', 'leave at door', 'call first', 'express']) : null,
    };
  },
  wide() {
    const row = {};
    for (let f = 0; f < 120; f++) {
      if (rnd() >= 0.03 + (f % 7) * 0.028) continue;
      const k = `f${String(f).padStart(3, '0')}`;
      switch (f % 4) {
        case 0: row[k] = Math.floor(rnd() * (f % 3 ? 1000 : 1e9)); break;
        case 1: row[k] = `v${skew(f % 2 ? 40 : 4000)}`; break;
        case 2: row[k] = Math.round(rnd() * 1e5) / 100; break;
        default: row[k] = rnd() < 0.5; break;
      }
    }
    return row;
  },
  text(i) {
    const n = 50 + Math.floor(rnd() * 450);
    const body = [];
    for (let w = 0; w < n; w++) body.push(vocab[skew(vocab.length)]);
    return {
      id: i + 1,
      lang: pick(['en', 'de', 'fr', 'es']),
      title: `${vocab[skew(3000)]} ${vocab[skew(3000)]} ${vocab[skew(3000)]}`,
      url: `https://example.org/${vocab[skew(300)]}/${i.toString(36)}`,
      body: body.join(' '),
      score: Math.round(rnd() * 1000) / 10,
    };
  },
}[shape];
if (!gen) throw new Error(`unknown shape ${shape}`);

let buf = '';
for (let i = 0; i < rows; i++) {
  buf += JSON.stringify(gen(i)) + '\n';
  if (buf.length > 1 << 20) {
    if (!out.write(buf)) await new Promise((r) => out.once('drain', r));
    buf = '';
  }
}
out.end(buf);
