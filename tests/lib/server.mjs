// The one harness that starts and stops `idbsync serve` for the Node suites (integration/,
// lake/, faults/, browser/ through browser/lib/harness.mjs) and the benchmarks in bench/: a
// free port on 127.0.0.1, temp data and lake dirs, stop or kill -9 and restart on the same
// dirs, the CLI run to completion, and every server killed and temp dir removed when the test
// (given t) or the test process ends.
// Only node built-ins. The sync-protocol HTTP helpers live in ./http.mjs and are re-exported
// here, so a test needs one import.
//
// Run directly (`node tests/lib/server.mjs [serve flags]`) it starts one server, prints
// {"url","port","pid","dataDir","lakeDir"} as one JSON line and stops it (and removes the temp
// dirs it made) when its stdin closes: a non-Node test (tests/engines) gets the same lifecycle.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { markFresh } from './http.mjs';

export * from './http.mjs';

export const SRC = process.env.IDBSYNC_SRC || path.resolve(import.meta.dirname, '../..');
export const BIN = process.env.IDBSYNC_BIN || path.join(SRC, 'build/idbsync');

const live = new Set();     // child processes still running
const tempDirs = new Set(); // directories to remove at exit
const keepTmp = () => !!process.env.IDBSYNC_KEEP_TMP;

process.on('exit', () => {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
  if (!keepTmp()) for (const d of tempDirs) removeDir(d);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => process.exit(130));
}

function removeDir(d) {
  try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* a mount still busy: left */ }
  tempDirs.delete(d);
}

/** A fresh temp directory removed when the test process exits (IDBSYNC_KEEP_TMP=1 keeps it). */
export function tempDir(prefix = 'idbsync-t-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

const LISTEN_RE = /^idbsync: listening on (http:\/\/127\.0\.0\.1:(\d+)) \(/;

// One process of a server. The child and its pipes are unref'd once it listens, so a test
// that fails before stopping its server does not keep the test process alive (the exit
// handler above kills it); waiting for its exit refs it again.
function spawnServer(srv, args) {
  const argv = ['serve', '--data', srv.dataDir, '--lake', srv.lakeDir, '--listen', `127.0.0.1:${srv.listenPort}`, ...args];
  const proc = spawn(srv.bin, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...srv.env } });
  live.add(proc);
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { stderr += d; if (stderr.length > 200000) stderr = stderr.slice(-100000); });
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => { live.delete(proc); resolve({ code, signal }); });
  });
  const ready = new Promise((resolve, reject) => {
    // A hang guard, not a timing assertion: a server that never prints its listen line.
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`idbsync did not report listening within ${srv.startTimeoutMs} ms; stderr:\n${stderr}`));
    }, srv.startTimeoutMs);
    const rl = readline.createInterface({ input: proc.stdout });
    rl.on('line', (line) => {
      const m = LISTEN_RE.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], port: Number(m[2]) });
      }
    });
    proc.once('error', (e) => { clearTimeout(timer); reject(e); });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`idbsync exited (code ${code}, signal ${signal}) before listening; argv ${argv.join(' ')}\nstderr:\n${stderr}`));
    });
  });
  return { proc, ready, exited, stderr: () => stderr };
}

function unref(proc) {
  proc.unref();
  proc.stdout.unref?.();
  proc.stderr.unref?.();
}

function ref(proc) {
  proc.ref();
  proc.stdout.ref?.();
  proc.stderr.ref?.();
}

/**
 * Starts `idbsync serve` on 127.0.0.1 (a free port unless `port` is given).
 * @param {object} o
 * @param {string[]} [o.args] extra flags
 * @param {string} [o.dataDir] state dir (a temp dir by default)
 * @param {string} [o.lakeDir] lake dir (a temp dir by default)
 * @param {object} [o.env] extra environment variables for the server
 * @param {string} [o.bin] another idbsync binary (a benchmark comparing builds; default BIN)
 * @param {import('node:test').TestContext} [o.t] kills the server (and removes the temp dirs
 *   the harness made) when that test or suite ends
 * @param {number} [o.port] listen on this port (0: a free one)
 * @param {boolean} [o.keepPort] restarts listen on the port the first start got (a page
 *   that keeps its origin across a restart)
 * @param {boolean} [o.freshConnections] one connection per request from request() (default:
 *   when args has --conn-timeout)
 * @returns the server: {url, port, proc, dataDir, lakeDir, args, running, exited, stderr(),
 *   stop(), kill9(), restart({extraArgs, args, kill9})}
 */
export async function startServer({ args = [], dataDir, lakeDir, env = {}, t, port = 0, keepPort = false, bin = BIN,
  startTimeoutMs = 60000, freshConnections } = {}) {
  // A server that closes idle connections quickly (--conn-timeout) races with the client's
  // keep-alive reuse ("other side closed"): talk to it with one connection per request.
  if (freshConnections === undefined) freshConnections = args.includes('--conn-timeout');
  const root = (!dataDir || !lakeDir) ? tempDir('idbsync-srv-') : null;
  let cur = null; // the running process (spawnServer's answer)
  const srv = {
    url: '', port, listenPort: port, proc: null, args, env, bin, startTimeoutMs,
    dataDir: dataDir || path.join(root, 'data'),
    lakeDir: lakeDir || path.join(root, 'lake'),
    stderr() { return cur ? cur.stderr() : ''; },
    get running() { return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null; },
    /** Resolves {code, signal} when the current process exits. */
    get exited() {
      if (!cur) return Promise.resolve(null);
      ref(cur.proc);
      return cur.exited;
    },
    /** SIGTERM and wait for the exit (SIGKILL after 10 s): {code, signal}. */
    async stop() {
      if (!this.running) return cur ? cur.exited : null;
      ref(this.proc);
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => { try { this.proc.kill('SIGKILL'); } catch { /* gone */ } }, 10000);
      const r = await cur.exited;
      clearTimeout(timer);
      return r;
    },
    /** SIGKILL (a crash) and wait for the exit: {code, signal}. */
    async kill9() {
      if (!this.running) return cur ? cur.exited : null;
      ref(this.proc);
      this.proc.kill('SIGKILL');
      return cur.exited;
    },
    /**
     * Stops the server if it still runs (kill9: by SIGKILL, a crash) and starts it again on
     * the same data and lake dirs, with args (default: the first start's) plus extraArgs.
     */
    async restart({ extraArgs, args: a, kill9 = false } = {}) {
      await (kill9 ? this.kill9() : this.stop());
      const base = a || this.args;
      await launch(extraArgs ? [...base, ...extraArgs] : base);
      return this;
    },
  };
  async function launch(a) {
    cur = spawnServer(srv, a);
    srv.proc = cur.proc;
    const { url, port: got } = await cur.ready;
    unref(cur.proc);
    if (freshConnections) markFresh(url);
    srv.url = url;
    srv.port = got;
    if (keepPort) srv.listenPort = got;
  }
  await launch(args);
  if (t && typeof t.after === 'function') {
    t.after(async () => {
      await srv.kill9();
      if (root && !keepTmp()) removeDir(root);
    });
  }
  return srv;
}

// ---------------------------------------------------------------- the CLI

/** Runs `idbsync args...` to completion: {code, out, err}. opts go to spawn (env, cwd, input). */
export function cli(args, { input, ...opts } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, args, { stdio: ['pipe', 'pipe', 'pipe'], ...opts });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out, err }));
    p.stdin?.end(input);
  });
}

/** The same, synchronously (blocks the event loop: not while a server of this process must answer). */
export function cliSync(args, opts = {}) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', ...opts });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// ---------------------------------------------------------------- run as a program

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  // --data DIR / --lake DIR name the dirs (kept); without them the harness makes temp ones
  const args = process.argv.slice(2), dirs = {};
  for (const [flag, key] of [['--data', 'dataDir'], ['--lake', 'lakeDir']]) {
    const i = args.indexOf(flag);
    if (i >= 0) [, dirs[key]] = args.splice(i, 2);
  }
  const srv = await startServer({ args, ...dirs });
  process.stdout.write(JSON.stringify({ url: srv.url, port: srv.port, pid: srv.proc.pid,
    dataDir: srv.dataDir, lakeDir: srv.lakeDir }) + '\n');
  const done = async () => { await srv.stop(); process.exit(0); };
  process.stdin.on('end', done);
  process.stdin.on('close', done);
  process.stdin.resume();
  process.removeAllListeners('SIGTERM');
  process.once('SIGTERM', done);
}
