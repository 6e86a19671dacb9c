// DuckDB side of bench/parquet.sh: runs one COPY with a given thread count and prints the
// best wall time and that run's CPU time (seconds) of N runs. usage:
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
// prints "<wall s> <cpu s>" of the run with the best wall time (cpu: all of node's threads)
let best = Infinity, bestCpu = 0;
for (let i = 0; i < runs; i++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await db.run(sql);
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  if (wall < best) {
    best = wall;
    bestCpu = (c.user + c.system) / 1e6;
  }
}
console.log(best.toFixed(3), bestCpu.toFixed(3));
