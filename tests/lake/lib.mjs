// Helpers for the lake tests: start the real `idbsync serve` with a lake, push over HTTP,
// flush, pull the server's state, and query the lake with a real DuckDB (@duckdb/node-api).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { createRequire } from 'node:module';

export const BIN = process.env.IDBSYNC_BIN || path.resolve(import.meta.dirname, '../../build/idbsync');
export const SRC = process.env.IDBSYNC_SRC || path.resolve(import.meta.dirname, '../..');
const require = createRequire(path.join(SRC, 'package.json'));
const { DuckDBInstance } = await import(require.resolve('@duckdb/node-api'));

const live = new Set();
const dirs = new Set();
process.on('exit', () => {
  for (const p of live) { try { p.kill('SIGKILL'); } catch { /* gone */ } }
  if (!process.env.IDBSYNC_KEEP_TMP) for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = 'idbsync-lk-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.add(d);
  return d;
}

/** Starts a server; resolves {url, proc, stop(), kill(), stderr()}. */
export async function serve({ data, lake, args = [], env = {} }) {
  const argv = ['serve', '--data', data, '--lake', lake, '--listen', '127.0.0.1:0', ...args];
  const proc = spawn(BIN, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  live.add(proc);
  // a failed test must not hang on a live child: the exit handler above kills it
  proc.unref();
  proc.stdout.unref();
  proc.stderr.unref();
  let err = '';
  proc.stderr.on('data', (d) => { err += d; if (err.length > 200000) err = err.slice(-100000); });
  const exited = new Promise((r) => proc.once('exit', (code, sig) => { live.delete(proc); r({ code, sig }); }));
  const url = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no listen line; stderr: ' + err)), 15000);
    readline.createInterface({ input: proc.stdout }).on('line', (l) => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+) /.exec(l);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
    exited.then(({ code, sig }) => reject(new Error(`server exited ${code}/${sig}: ${err}`)));
  });
  return {
    url, proc, exited, stderr: () => err,
    kill: async () => { proc.ref(); proc.kill('SIGKILL'); await exited; },
    stop: async () => { proc.ref(); proc.kill('SIGTERM'); return exited; },
  };
}

export async function post(url, body) {
  const r = await fetch(url, { method: 'POST', body: body === undefined ? undefined : JSON.stringify(body),
    headers: { 'content-type': 'application/json' } });
  const text = await r.text();
  if (!r.ok) throw new Error(`${url}: ${r.status} ${text}`);
  return JSON.parse(text);
}

export const push = (url, db, body) => post(`${url}/v1/db/${db}/push`, body);
export const flush = (url, db) => post(`${url}/v1/db/${db}/flush`);

/** The server's live state of db: Map store -> Map keyJSON -> {seq, hlc, value}. */
export async function pullState(url, db) {
  const state = new Map();
  let since = 0;
  for (;;) {
    const r = await fetch(`${url}/v1/db/${db}/pull?since=${since}&limit=10000`);
    const p = await r.json();
    for (const c of p.changes) {
      if (!state.has(c.store)) state.set(c.store, new Map());
      const m = state.get(c.store);
      const k = JSON.stringify(c.key);
      if (c.op === 'delete') m.delete(k); else m.set(k, { seq: c.seq, hlc: c.hlc, value: c.value });
    }
    since = p.cursor;
    if (!p.more) break;
  }
  return state;
}

export async function metrics(url) {
  return (await fetch(`${url}/metrics`)).text();
}

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

/** A seeded PRNG so failures reproduce (the one the fault suites use). */
export { rng } from '../faults/lib/util.mjs';

export function run(args, opts = {}) {
  return new Promise((resolve) => {
    const p = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}
