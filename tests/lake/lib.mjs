// Helpers for the lake tests over the one harness (tests/lib/server.mjs): push and flush that
// throw unless the server says 2xx, and a real DuckDB (@duckdb/node-api) to query the lake.
import path from 'node:path';
import { createRequire } from 'node:module';
import { SRC, startServer, request } from '../lib/server.mjs';

export { BIN, SRC, tempDir, pullState, metrics, cli as run } from '../lib/server.mjs';
/** A seeded PRNG so failures reproduce (the one the fault suites use). */
export { rng } from '../faults/lib/util.mjs';

const require = createRequire(path.join(SRC, 'package.json'));
const { DuckDBInstance } = await import(require.resolve('@duckdb/node-api'));

/**
 * The earlier shape of startServer, for code that still calls it (the Iceberg suites, bench/):
 * resolves {url, proc, exited ({code, sig}), stderr(), stop(), kill()}.
 */
export async function serve({ data, lake, args = [], env = {} }) {
  const srv = await startServer({ dataDir: data, lakeDir: lake, args, env });
  const asSig = (r) => (r ? { code: r.code, sig: r.signal } : r);
  return {
    url: srv.url, proc: srv.proc, stderr: () => srv.stderr(),
    get exited() { return srv.exited.then(asSig); },
    kill: async () => { await srv.kill9(); },
    stop: async () => asSig(await srv.stop()),
  };
}

/** POST a JSON body; the answer's JSON, or throws naming the status and body. */
export async function post(url, body) {
  const r = await request(url, { method: 'POST', body });
  if (r.status < 200 || r.status > 299) throw new Error(`${url}: ${r.status} ${r.text}`);
  return JSON.parse(r.text);
}

export const push = (url, db, body) => post(`${url}/v1/db/${db}/push`, body);
export const flush = (url, db) => post(`${url}/v1/db/${db}/flush`);

export async function duck() {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  await conn.run("SET TimeZone='UTC'");
  return {
    conn,
    async rows(sql) {
      const r = await conn.runAndReadAll(sql);
      return r.getRowObjectsJson();
    },
  };
}

export const glob = (lake, db, table) => `read_parquet('${lake}/${db}/${table}/**/*.parquet', hive_partitioning=true)`;
export const globU = (lake, db, table) =>
  `read_parquet('${lake}/${db}/${table}/**/*.parquet', hive_partitioning=true, union_by_name=true)`;
