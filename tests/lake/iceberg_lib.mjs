// Helpers of the Iceberg tests: pyiceberg (tests/engines/iceberg_read.py in the venv that
// tests/engines/pyiceberg_env.sh creates once) and the pull feed as state.
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import readline from 'node:readline';
import path from 'node:path';
import assert from 'node:assert/strict';
import { SRC, serve, flush } from './lib.mjs';

const PY = execFileSync(path.join(SRC, 'tests/engines/pyiceberg_env.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
const READ = path.join(SRC, 'tests/engines/iceberg_read.py');

/** The kill -9 points the crash tests use, shared with tests/engines/test_iceberg_crash.py. */
export const KILLS = JSON.parse(fs.readFileSync(path.join(SRC, 'tests/lake/iceberg_kills.json'), 'utf8'));

export function py(...args) {
  return pyEnv({}, ...args);
}

/** py() with more environment (ICEBERG_READ_PROPS: the REST catalog's client properties). */
export function pyEnv(env, ...args) {
  return new Promise((resolve, reject) => {
    execFile(PY, [READ, ...args.map(String)], { maxBuffer: 256 << 20, env: { ...process.env, ...env } }, (e, out, err) => {
      if (e) reject(new Error(`iceberg_read.py ${args.join(' ')}: ${err || e.message}`));
      else resolve(JSON.parse(out));
    });
  });
}

/** The pull feed since 0: the newest change of each key (deletes included). */
export async function pullChanges(url, db) {
  const all = [];
  let since = 0;
  for (;;) {
    const p = await (await fetch(`${url}/v1/db/${db}/pull?since=${since}&limit=10000`)).json();
    all.push(...p.changes);
    since = p.cursor;
    if (!p.more) break;
  }
  return all;
}

/** The state after every change with seq <= upto: Map store -> Map keyJSON -> change. */
export function stateOf(changes, upto = Infinity) {
  const m = new Map();
  for (const c of changes) {
    if (c.seq > upto) continue;
    if (!m.has(c.store)) m.set(c.store, new Map());
    const k = JSON.stringify(c.key);
    if (c.op === 'delete') m.get(c.store).delete(k); else m.get(c.store).set(k, c);
  }
  return m;
}

export const seqs = (rows) => rows.map((r) => r.idb_seq).sort((a, b) => a - b);
export const upto = (n) => Array.from({ length: n }, (_, i) => i + 1);

/** Flushes db `app` of the server at url (a flush waiting out its backoff answers 503 "call
 * again": called again for up to a minute) and reads store `docs` through its served catalog
 * with pyiceberg (read: the environment naming the S3 properties): the change log holds every
 * change once, the state equals the pull feed. Resolves the flushed seq. */
export async function checkServed(url, read) {
  let f;
  for (let k = 0; !f; k++) {
    try { f = (await flush(url, 'app')).flushed; } catch (e) { if (k > 60) throw e; await new Promise((r) => setTimeout(r, 1000)); }
  }
  const T = (t) => `rest+${url}/iceberg/app.${t}`;
  const [st, log] = await pyEnv(read, 'scan', T('docs'), T('docs_changes'));
  assert.deepEqual(seqs(log.rows), upto(f), 'the change log: every change once');
  const want = stateOf(await pullChanges(url, 'app')).get('docs');
  assert.equal(st.rows.length, want.size);
  for (const row of st.rows) assert.equal(row.idb_seq, want.get(row.idb_key)?.seq, `key ${row.idb_key}`);
  return f;
}

/** Every file under dir, recursively. */
export function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? walk(path.join(dir, d.name)) : [path.join(dir, d.name)]);
}

/** Restarts a killed server (args) on lake and data, flushes, and checks with pyiceberg: every
 * change of store app/docs in the change log exactly once, the state equal to the pull feed,
 * every metadata version on disk opens and scans. Resolves the change log's scan. */
export async function checkRestart(lake, data, args) {
  const srv = await serve({ data, lake, args });
  const { flushed } = await flush(srv.url, 'app');
  const want = stateOf(await pullChanges(srv.url, 'app')).get('docs');
  const root = `${lake}/_iceberg/app`;
  const [st, log] = await py('scan', `${root}/docs`, `${root}/docs_changes`);
  const seqs = log.rows.map((x) => x.idb_seq).sort((a, b) => a - b);
  assert.equal(new Set(seqs).size, seqs.length, 'a change twice in the change log');
  assert.deepEqual(seqs, Array.from({ length: flushed }, (_, i) => i + 1), 'a change missing from the change log');
  assert.equal(st.rows.length, want.size);
  for (const row of st.rows) assert.equal(row.idb_seq, want.get(row.idb_key)?.seq, `key ${row.idb_key}`);
  for (const t of ['docs', 'docs_changes']) {
    const v = await py('versions', `${root}/${t}`);
    assert.deepEqual(v.errors, [], `${t}: unreadable metadata versions`);
  }
  await srv.stop();
  return log;
}

function unref(proc) {
  proc.unref();
  proc.stdout.unref();
  proc.stderr.unref();
}

/** Starts Apache Iceberg's own REST catalog server (tests/engines/IcebergRestCatalog.java over
 * the jar tests/engines/iceberg_rest_env.sh fetches once) on 127.0.0.1 with its SQLite file in
 * dir (props: more catalog properties, warehouse: its location if not dir); resolves
 * {uri, stop()}. Stopped at exit too. */
export async function restCatalog(dir, props = {}) {
  const jar = execFileSync(path.join(SRC, 'tests/engines/iceberg_rest_env.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const proc = spawn('java', ['-Xmx512m', '-cp', jar, path.join(SRC, 'tests/engines/IcebergRestCatalog.java'),
    props.warehouse || dir, path.join(dir, 'catalog.db'), ...Object.entries(props).filter(([k]) => k !== 'warehouse').map(([k, v]) => `${k}=${v}`)],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = () => { try { proc.kill('SIGKILL'); } catch { /* gone */ } };
  process.on('exit', kill);
  unref(proc);   // a failed test must not hang on it
  let err = '';
  proc.stderr.on('data', (d) => { err = (err + d).slice(-20000); });
  const exited = new Promise((r) => proc.once('exit', r));
  const port = await new Promise((resolve, reject) => {
    // the JVM compiles the launcher and starts Jetty: tens of seconds on a loaded machine
    const t = setTimeout(() => reject(new Error(`the REST catalog did not start in 5 min: ${err}`)), 300000);
    readline.createInterface({ input: proc.stdout }).on('line', (l) => {
      const m = /^listening (\d+)$/.exec(l);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
    exited.then((code) => reject(new Error(`the REST catalog exited ${code}: ${err}`)));
  });
  return { uri: `http://127.0.0.1:${port}`, stop: async () => { proc.ref(); kill(); await exited; }, stderr: () => err };
}

/** Starts versitygw (tests/engines/versitygw_env.sh builds it once) serving dir on 127.0.0.1 with
 * a bucket `lake`; resolves {endpoint, bucket, dir, access, secret, stop(), start()}: stop()
 * kills it (SIGKILL, as a crash), start() starts it again on the same port and directory. */
export async function s3Server(dir) {
  const bin = execFileSync(path.join(SRC, 'tests/engines/versitygw_env.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  fs.mkdirSync(path.join(dir, 'lake'), { recursive: true });
  const port = await new Promise((resolve) => {   // a free port, handed to versitygw
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
  const access = 'idbsynctest', secret = 'idbsynctestsecret';
  const endpoint = `http://127.0.0.1:${port}`;
  let proc = null, exited = null;
  const kill = () => { try { proc?.kill('SIGKILL'); } catch { /* gone */ } };
  process.on('exit', kill);
  const start = async () => {
    proc = spawn(bin, ['--access', access, '--secret', secret, '--port', `127.0.0.1:${port}`, 'posix', '--nometa', dir],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    unref(proc);
    let err = '';
    proc.stderr.on('data', (d) => { err = (err + d).slice(-20000); });
    proc.stdout.on('data', () => {});
    exited = new Promise((r) => proc.once('exit', r));
    let up = false;
    exited.then(() => { if (!up) up = null; });
    while (!up) {   // serving once an unsigned request gets an S3 answer
      if (up === null) throw new Error(`versitygw exited: ${err}`);
      try { await fetch(`${endpoint}/lake`); up = true; } catch { await new Promise((r) => setTimeout(r, 100)); }
    }
  };
  await start();
  return { endpoint, bucket: 'lake', dir, access, secret, start, stop: async () => { proc.ref(); kill(); await exited; } };
}
