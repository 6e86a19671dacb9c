// Helpers for bench/import.sh, with DuckDB (@duckdb/node-api):
//   node bench/import.mjs gen ROWS FILE           the benchmark's Parquet file (DuckDB writes it)
//   node bench/import.mjs load FILE DBFILE THREADS  the peer: DuckDB loads the file into a table of a
//                                                  database file and checkpoints it (durable);
//                                                  prints "wall_s cpu_s" measured inside node
//   node bench/import.mjs wait URL DB STORE ROWS TRIGGER DONEFILE TIMEOUT_S
//                                                  creates TRIGGER (the inbox's _SUCCESS), then polls
//                                                  /stores until STORE has ROWS rows and DONEFILE
//                                                  exists; prints the seconds in between
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const root = path.resolve(import.meta.dirname, '..');
const require = createRequire(path.join(root, 'package.json'));
const { DuckDBInstance } = await import(require.resolve('@duckdb/node-api'));

const [cmd, ...args] = process.argv.slice(2);

// 1M rows: sequential ids, 5,000 repeating customers (some non-ASCII), small ints, doubles with
// 2 decimals, booleans, timestamps (micros) and dates; ~1/10 of the notes are NULL.
const GEN = (rows) => `
  SELECT i AS id,
         CASE WHEN i % 7 = 0 THEN 'Zoë ' ELSE 'customer ' END || (i * 7919 % 5000) AS customer,
         (i % 20 + 1)::INTEGER AS qty,
         round((i * 104729 % 1000000) / 100.0, 2)::DOUBLE AS total,
         i % 3 = 0 AS paid,
         TIMESTAMP '2024-01-01 00:00:00' + to_microseconds(i * 15485863 % 31536000000000) AS at,
         DATE '2020-01-01' + (i % 2000)::INTEGER AS day,
         CASE WHEN i % 10 = 0 THEN NULL ELSE 'note ' || (i % 977) END AS note
  FROM range(0, ${rows}) t(i)`;

function cpu() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

if (cmd === 'gen') {
  const [rows, file] = args;
  const c = await (await DuckDBInstance.create(':memory:')).connect();
  await c.run(`COPY (${GEN(Number(rows))}) TO '${file}' (FORMAT parquet, COMPRESSION snappy)`);
} else if (cmd === 'load') {
  const [file, dbfile, threads] = args;
  for (const f of [dbfile, dbfile + '.wal']) fs.rmSync(f, { force: true });
  const inst = await DuckDBInstance.create(dbfile, { threads: String(threads) });
  const c = await inst.connect();
  const t0 = performance.now(), c0 = cpu();
  await c.run(`CREATE TABLE t AS SELECT * FROM read_parquet('${file}')`);
  await c.run('CHECKPOINT');
  const wall = (performance.now() - t0) / 1000, used = cpu() - c0;
  const n = (await (await c.runAndReadAll('SELECT count(*) FROM t')).getRows())[0][0];
  c.closeSync();
  if (Number(n) <= 0) throw new Error('nothing loaded');
  console.log(wall.toFixed(3), used.toFixed(3));
} else if (cmd === 'wait') {
  const [url, db, store, rows, trigger, done, timeout] = args;
  const deadline = Date.now() + Number(timeout) * 1000;
  const t0 = performance.now();
  fs.writeFileSync(trigger, '');
  for (;;) {
    const st = await fetch(`${url}/v1/db/${db}/stores`).then((r) => r.json()).catch(() => ({ stores: [] }));
    const s = st.stores.find((x) => x.name === store);
    if (s && s.rows >= Number(rows) && fs.existsSync(done)) { console.log(((performance.now() - t0) / 1000).toFixed(3)); break; }
    if (Date.now() > deadline) { console.error(`timeout: ${store} has ${s ? s.rows : 0} rows`); process.exit(1); }
    await new Promise((r) => setTimeout(r, 20));
  }
} else {
  console.error('usage: node bench/import.mjs gen ROWS FILE | load FILE DBFILE THREADS | wait URL DB STORE ROWS TRIGGER DONEFILE TIMEOUT_S');
  process.exit(2);
}
