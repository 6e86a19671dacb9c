// Helpers of the Iceberg tests: pyiceberg (tests/engines/iceberg_read.py in the venv that
// tests/engines/pyiceberg_env.sh creates once) and the pull feed as state.
import { execFile, execFileSync, spawn } from 'node:child_process';
import readline from 'node:readline';
import path from 'node:path';
import { SRC } from './lib.mjs';

const PY = execFileSync(path.join(SRC, 'tests/engines/pyiceberg_env.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
const READ = path.join(SRC, 'tests/engines/iceberg_read.py');

export function py(...args) {
  return new Promise((resolve, reject) => {
    execFile(PY, [READ, ...args.map(String)], { maxBuffer: 256 << 20 }, (e, out, err) => {
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


/** Starts Apache Iceberg's own REST catalog server (tests/engines/IcebergRestCatalog.java over
 * the jar tests/engines/iceberg_rest_env.sh fetches once) on 127.0.0.1 with its SQLite file in
 * dir; resolves {uri, stop()}. Stopped at exit too. */
export async function restCatalog(dir) {
  const jar = execFileSync(path.join(SRC, 'tests/engines/iceberg_rest_env.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const proc = spawn('java', ['-Xmx512m', '-cp', jar, path.join(SRC, 'tests/engines/IcebergRestCatalog.java'), dir, path.join(dir, 'catalog.db')],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = () => { try { proc.kill('SIGKILL'); } catch { /* gone */ } };
  process.on('exit', kill);
  let err = '';
  proc.stderr.on('data', (d) => { err = (err + d).slice(-20000); });
  const exited = new Promise((r) => proc.once('exit', r));
  const port = await new Promise((resolve, reject) => {
    readline.createInterface({ input: proc.stdout }).on('line', (l) => {
      const m = /^listening (\d+)$/.exec(l);
      if (m) resolve(m[1]);
    });
    exited.then((code) => reject(new Error(`the REST catalog exited ${code}: ${err}`)));
  });
  return { uri: `http://127.0.0.1:${port}`, stop: async () => { kill(); await exited; }, stderr: () => err };
}
