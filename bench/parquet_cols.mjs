// Size per column of Parquet files side by side (bench/parquet.sh): compressed bytes of each
// leaf column over all row groups (dictionary and data pages with their headers, as the
// footer's total_compressed_size counts them), read with DuckDB's parquet_metadata().
// usage: node bench/parquet_cols.mjs NAME=FILE... (the last one is the reference)
// Prints one row per column with each file's bytes and type and each file's ratio to the
// reference, then the totals; a '!' marks a column larger than the reference's.
// DuckDB keeps {"$date":..} as a struct: its column "x.$date" is matched with our "x".
import { DuckDBInstance } from '@duckdb/node-api';

const args = process.argv.slice(2).map((a) => {
  const i = a.indexOf('=');
  return { name: a.slice(0, i), file: a.slice(i + 1) };
});
const db = await (await DuckDBInstance.create(':memory:')).connect();
const q = (s) => s.replaceAll("'", "''");
const cols = [];
for (const a of args) {
  const r = await db.runAndReadAll(`SELECT path_in_schema, sum(total_compressed_size)::BIGINT,
      any_value(type) FROM parquet_metadata('${q(a.file)}') GROUP BY 1 ORDER BY min(column_id)`);
  const m = new Map();
  for (const [p, s, t] of r.getRows()) m.set(String(p).replaceAll(', ', '.').replace(/\.\$date$/, ''), [Number(s), t]);
  cols.push(m);
}
const names = [];
for (const m of cols) for (const k of m.keys()) if (!names.includes(k)) names.push(k);
const ref = cols[cols.length - 1];
const w = Math.max(8, ...names.map((n) => n.length));
const fmt = (n) => n.toLocaleString('en-US');
const head = ['column'.padEnd(w), ...args.map((a) => a.name.padStart(24))];
for (const a of args.slice(0, -1)) head.push(`${a.name}/ref`.padStart(13));
console.log(head.join(' '));
const total = cols.map(() => 0);
for (const n of names) {
  const r = ref.get(n);
  const line = [n.padEnd(w)];
  cols.forEach((m, i) => {
    const v = m.get(n);
    if (v) total[i] += v[0];
    line.push((v ? `${fmt(v[0])} ${v[1].padEnd(10)}` : '-').padStart(24));
  });
  cols.slice(0, -1).forEach((m) => {
    const v = m.get(n);
    line.push((v && r ? `${(v[0] / r[0]).toFixed(3)}${v[0] > r[0] ? '!' : ' '}` : '-').padStart(13));
  });
  console.log(line.join(' '));
}
const tl = ['TOTAL'.padEnd(w), ...total.map((t) => `${fmt(t)}           `.padStart(24))];
total.slice(0, -1).forEach((t) => tl.push(`${(t / total[total.length - 1]).toFixed(3)}${t > total[total.length - 1] ? '!' : ' '}`.padStart(13)));
console.log(tl.join(' '));
