// Helpers for the lake → browser tests: Parquet written by a real DuckDB, the idbsync CLI run
// to completion (the harness's cliSync), and the rows of a store from a pull.
import { DuckDBInstance } from '@duckdb/node-api';
export { cliSync as run } from '../../lib/server.mjs';

let duck;

/** Writes the result of sql to file as Parquet (DuckDB's COPY). */
export async function writeParquet(file, sql) {
  duck ??= await (await DuckDBInstance.create(':memory:')).connect();
  await duck.run(`COPY (${sql}) TO '${file}' (FORMAT parquet)`);
}

/** The rows of a DuckDB query (values as @duckdb/node-api gives them). */
export async function duckRows(sql) {
  duck ??= await (await DuckDBInstance.create(':memory:')).connect();
  return (await duck.runAndReadAll(sql)).getRows();
}

/** The live values of one store from pulled changes, by JSON key. */
export const byKey = (changes, store) => new Map(changes.filter((c) => c.store === store && c.op === 'put')
  .map((c) => [JSON.stringify(c.key), c.value]));
