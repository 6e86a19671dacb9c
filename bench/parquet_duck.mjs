// DuckDB side of bench/parquet.sh: runs one COPY with a given thread count and prints the
// best wall time (seconds) of N runs. usage:
//   node bench/parquet_duck.mjs write THREADS IN.ndjson OUT.parquet CODEC RUNS
//   node bench/parquet_duck.mjs read  THREADS IN.parquet OUT.json RUNS
import { DuckDBInstance } from '@duckdb/node-api';

const [mode, threads, input, output, a, b] = process.argv.slice(2);
const runs = Number(mode === 'write' ? b : a) || 3;
const db = await (await DuckDBInstance.create(':memory:')).connect();
await db.run(`SET threads=${Number(threads)}`);
const q = (s) => s.replaceAll("'", "''");
const sql = mode === 'write'
  ? `COPY (SELECT * FROM read_json('${q(input)}')) TO '${q(output)}' (FORMAT parquet, COMPRESSION ${a})`
  : `COPY (SELECT * FROM read_parquet('${q(input)}')) TO '${q(output)}' (FORMAT json)`;
let best = Infinity;
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  await db.run(sql);
  best = Math.min(best, (performance.now() - t0) / 1000);
}
console.log(best.toFixed(3));
