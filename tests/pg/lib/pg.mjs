// A real PostgreSQL for the tests (Debian's postgresql package): initdb and pg_ctl in a temp dir,
// listening on a Unix socket in that dir only (listen_addresses=''), trust auth, stopped when the
// test process exits. As root it runs as the postgres user (initdb refuses root). kill9() crashes
// it like a power cut (SIGKILL to the postmaster and every backend); start() recovers it.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const running = new Set();
const made = new Set(); // every cluster's dir, removed at exit
process.on('exit', () => {
  for (const pg of running) {
    try { pg.kill9(); } catch { /* gone */ }
  }
  if (!process.env.IDBSYNC_KEEP_TMP) for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** The directory of initdb/pg_ctl: PATH, else the newest /usr/lib/postgresql/N/bin. */
function binDir() {
  const which = spawnSync('sh', ['-c', 'command -v pg_ctl'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return path.dirname(fs.realpathSync(which.stdout.trim()));
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (fs.existsSync(path.join(root, v, 'bin', 'pg_ctl'))) return path.join(root, v, 'bin');
  throw new Error('PostgreSQL not found (pg_ctl): run scripts/setup, which installs the postgresql package');
}

const asRoot = process.getuid && process.getuid() === 0;

function run(bin, args) {
  const cmd = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  const r = spawnSync(cmd[0], cmd[1], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

function children(pid) {
  const out = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch { /* exited meanwhile */ }
  }
  return out;
}

/**
 * Starts a fresh PostgreSQL cluster.
 * @returns {Promise<{dir:string, port:number, uri:(db?:string)=>string, sql:(q:string, db?:string)=>string,
 *   createDb:(name:string)=>void, start:()=>void, stop:()=>void, kill9:()=>void}>}
 */
export async function startPostgres({ t } = {}) {
  const bin = binDir();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idbsync-pg-'));
  made.add(dir);
  const data = path.join(dir, 'data');
  if (asRoot) execFileSync('chown', ['postgres:postgres', dir]);
  fs.chmodSync(dir, 0o755);
  run(path.join(bin, 'initdb'), ['-D', data, '-U', 'idbsync', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  // the port only names the socket file (.s.PGSQL.PORT); nothing listens on TCP
  const port = 20000 + Math.floor(Math.random() * 20000);
  const opts = `-k ${dir} -c listen_addresses='' -p ${port} -c max_connections=200 -c fsync=on`;
  const pg = {
    dir, port,
    uri: (db = 'idbsync') => `postgresql://idbsync@/${db}?host=${encodeURIComponent(dir)}&port=${port}`,
    start() {
      run(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'log'), '-o', opts, '-w', '-t', '60', 'start']);
      running.add(pg);
    },
    stop() {
      run(path.join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']);
      running.delete(pg);
    },
    /** SIGKILL to the postmaster and all its processes at once: a crash, recovered by start(). */
    kill9() {
      const pidFile = path.join(data, 'postmaster.pid');
      if (!fs.existsSync(pidFile)) return;
      const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
      const procs = [pid, ...children(pid)];
      for (const p of procs) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
      // wait until they are all gone, so the next start finds no shared memory in use
      for (let i = 0; i < 1000 && procs.some((p) => fs.existsSync(`/proc/${p}`)); i++) spawnSync('sleep', ['0.01']);
      running.delete(pg);
    },
    /** psql -c q, its output (tuples only, unaligned). */
    sql(q, db = 'idbsync') {
      return execFileSync(path.join(bin, 'psql'), ['-h', dir, '-p', String(port), '-U', 'idbsync', '-d', db,
        '-tAX', '-v', 'ON_ERROR_STOP=1', '-c', q], { encoding: 'utf8' }).trim();
    },
    createDb(name) { pg.sql(`CREATE DATABASE "${name}"`, 'postgres'); },
  };
  pg.start();
  pg.createDb('idbsync');
  if (t) t.after(() => { try { pg.stop(); } catch { pg.kill9(); } });
  return pg;
}
