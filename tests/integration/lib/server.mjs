// Test harness for the idbsync integration tests: starts the real server binary on a free
// port with its own temp data/lake dirs, and small HTTP helpers for the sync protocol.
// Only node built-ins. Every server started here is killed when the test process exits,
// and (when a test context is passed) when that test/suite ends.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import readline from 'node:readline';

export const BIN = process.env.IDBSYNC_BIN ||
  path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../build/idbsync');
export const SRC = process.env.IDBSYNC_SRC ||
  path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');

const live = new Set();     // child processes still running
const freshOrigins = new Set(); // servers with a short --conn-timeout: no keep-alive reuse
const tempDirs = new Set(); // directories to remove at exit

process.on('exit', () => {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
  if (!process.env.IDBSYNC_KEEP_TMP) {
    for (const d of tempDirs) {
      try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* ignore */ }
    }
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => process.exit(130));
}

/** A fresh temp directory removed when the test process exits. */
export function tempDir(prefix = 'idbsync-it-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

const LISTEN_RE = /^idbsync: listening on (http:\/\/127\.0\.0\.1:(\d+)) \(/;

function spawnServer(dataDir, lakeDir, args, startTimeoutMs) {
  const argv = ['serve', '--data', dataDir, '--lake', lakeDir, '--listen', '127.0.0.1:0', ...args];
  const proc = spawn(BIN, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let stderr = '';
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (d) => { stderr += d; if (stderr.length > 65536) stderr = stderr.slice(-32768); });
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => { live.delete(proc); resolve({ code, signal }); });
  });
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`idbsync did not report listening within ${startTimeoutMs} ms; stderr:\n${stderr}`));
    }, startTimeoutMs);
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

/**
 * Starts `idbsync serve` on 127.0.0.1 with a free port.
 * @param {object} o
 * @param {string[]} [o.args] extra flags
 * @param {string} [o.dataDir] state dir (a temp dir by default)
 * @param {string} [o.lakeDir] lake dir (a temp dir by default)
 * @param {import('node:test').TestContext} [o.t] registers a t.after() that kills the server
 */
export async function startServer({ args = [], dataDir, lakeDir, t, startTimeoutMs = 15000, freshConnections } = {}) {
  // A server that closes idle connections quickly (--conn-timeout) races with the client's
  // keep-alive reuse ("other side closed"): talk to it with one connection per request.
  if (freshConnections === undefined) freshConnections = args.includes('--conn-timeout');
  const root = (!dataDir || !lakeDir) ? tempDir() : null;
  dataDir = dataDir || path.join(root, 'data');
  lakeDir = lakeDir || path.join(root, 'lake');
  const srv = {
    url: '', port: 0, proc: null, dataDir, lakeDir, args,
    _exited: null, _stderr: () => '',
    stderr() { return this._stderr(); },
    get running() { return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null; },
    /** SIGTERM and wait for the process to exit (falls back to SIGKILL after 10 s). */
    async stop() {
      if (!this.running) return this._exited ? this._exited : null;
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => { try { this.proc.kill('SIGKILL'); } catch { } }, 10000);
      const r = await this._exited;
      clearTimeout(timer);
      return r;
    },
    /** SIGKILL (simulated crash) and wait for the exit. */
    async kill9() {
      if (!this.running) return this._exited ? this._exited : null;
      this.proc.kill('SIGKILL');
      return this._exited;
    },
    /** Stops the server if still running, then starts it again on the same data dir. */
    async restart({ extraArgs } = {}) {
      await this.stop();
      await launch(extraArgs ? [...this.args, ...extraArgs] : this.args);
      return this;
    },
  };
  async function launch(a) {
    const s = spawnServer(dataDir, lakeDir, a, startTimeoutMs);
    srv.proc = s.proc;
    srv._exited = s.exited;
    srv._stderr = s.stderr;
    const { url, port } = await s.ready;
    if (freshConnections) freshOrigins.add(url);
    srv.url = url;
    srv.port = port;
  }
  await launch(args);
  if (t && typeof t.after === 'function') t.after(() => srv.kill9());
  return srv;
}

// ---------------------------------------------------------------- HTTP helpers

/**
 * One HTTP request. body: object (sent as JSON), string/Buffer (sent raw) or undefined.
 * Returns {status, headers, text, json} (json is undefined when the body is not JSON).
 */
export async function request(url, { method = 'GET', body, token, headers = {}, signal, fresh } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  let b = body;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) {
    b = JSON.stringify(body);
  }
  if (b !== undefined && !h['content-type']) h['content-type'] = 'application/json';
  if (fresh || freshOrigins.has(new URL(url).origin)) return requestFresh(url, method, b, h);
  const res = await fetch(url, { method, body: b, headers: h, signal });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

/** The same as request() over a new connection that is closed afterwards (node:http). */
function requestFresh(url, method, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...headers, connection: 'close' }, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: new Headers(Object.entries(res.headers).map(([k, v]) => [k, String(v)])), text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** POST /v1/db/{db}/push. */
export function push(url, db, body, token, opts = {}) {
  return request(`${url}/v1/db/${db}/push`, { method: 'POST', body, token, ...opts });
}

/** GET /v1/db/{db}/pull?params. */
export function pull(url, db, params = {}, token, opts = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) qs.set(k, String(v));
  const q = qs.toString();
  return request(`${url}/v1/db/${db}/pull${q ? '?' + q : ''}`, { token, ...opts });
}

/** GET /v1/db/{db}/stores. */
export function stores(url, db, token) {
  return request(`${url}/v1/db/${db}/stores`, { token });
}

/** Pulls pages until more=false; returns {changes, cursor, pages}. */
export async function pullAll(url, db, params = {}, token) {
  let since = params.since ?? 0;
  const changes = [];
  let pages = 0;
  for (;;) {
    const r = await pull(url, db, { ...params, since }, token);
    if (r.status !== 200) throw new Error(`pull ${since}: ${r.status} ${r.text}`);
    pages++;
    changes.push(...r.json.changes);
    since = r.json.cursor;
    if (!r.json.more) return { changes, cursor: since, pages };
  }
}

/** An HLC stamp string: 13-digit ms, 4 hex digit counter, node id. */
export function hlc(ms, counter = 0, node = 'n') {
  return `${String(ms).padStart(13, '0')}-${counter.toString(16).padStart(4, '0')}-${node}`;
}

/** Key of a row for Maps: store + canonical key JSON. */
export function rowKey(store, key) {
  return `${store}\u0000${JSON.stringify(key)}`;
}

/** Applies pulled changes to a Map replica (rowKey -> {value, hlc, seq}); deletes remove. */
export function applyChanges(map, changes) {
  for (const c of changes) {
    const k = rowKey(c.store, c.key);
    if (c.op === 'delete') map.delete(k);
    else map.set(k, { value: c.value, hlc: c.hlc });
  }
  return map;
}

/** Reads one sample from Prometheus text: metricValue(text, 'name', {label: 'v'}). */
export function metricValue(text, name, labels = {}) {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = {};
    if (m[2]) for (const kv of m[2].slice(1, -1).matchAll(/(\w+)="([^"]*)"/g)) got[kv[1]] = kv[2];
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

export async function metrics(url) {
  const r = await request(`${url}/metrics`);
  return r.text;
}

/** Pushes mutation list muts for client as one batch; throws unless 200. */
export async function pushOk(url, db, client, mutations, token) {
  const r = await push(url, db, { client, mutations }, token);
  if (r.status !== 200) throw new Error(`push ${client}: ${r.status} ${r.text}`);
  return r.json;
}

/**
 * Opens a Server-Sent Events stream (GET /v1/db/{db}/events). Returns
 * {status, headers, next(timeoutMs) -> Promise<frame|null>, comments, close()} where a frame is
 * {id, event, data, json}. next() resolves null on timeout or end of stream.
 */
export function openEvents(url, db, params = {}, { token, headers = {} } = {}) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) qs.set(k, String(v));
  const u = new URL(`${url}/v1/db/${db}/events${qs.toString() ? '?' + qs : ''}`);
  const h = { accept: 'text/event-stream', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    const req = http.get(u, { headers: h, agent: false }, (res) => {
      res.setEncoding('utf8');
      const frames = [];
      const waiters = [];
      const comments = [];
      let buf = '';
      let ended = false;
      let bodyText = '';
      const deliver = () => {
        while (waiters.length && (frames.length || ended)) {
          const w = waiters.shift();
          clearTimeout(w.timer);
          w.resolve(frames.length ? frames.shift() : null);
        }
      };
      res.on('data', (chunk) => {
        bodyText += chunk;
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const f = { id: undefined, event: 'message', data: '' };
          let hasData = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) { comments.push(line); continue; }
            const c = line.indexOf(':');
            const field = c < 0 ? line : line.slice(0, c);
            let val = c < 0 ? '' : line.slice(c + 1);
            if (val.startsWith(' ')) val = val.slice(1);
            if (field === 'id') f.id = val;
            else if (field === 'event') f.event = val;
            else if (field === 'data') { f.data += (hasData ? '\n' : '') + val; hasData = true; }
            else if (field === 'retry') f.retry = val;
          }
          if (!hasData) continue;
          try { f.json = JSON.parse(f.data); } catch { f.json = undefined; }
          frames.push(f);
        }
        deliver();
      });
      const end = () => { ended = true; deliver(); };
      res.on('end', end);
      res.on('close', end);
      res.on('error', end);
      resolve({
        status: res.statusCode,
        headers: res.headers,
        comments,
        get body() { return bodyText; },
        get ended() { return ended; },
        next(timeoutMs = 5000) {
          return new Promise((r) => {
            const w = { resolve: r, timer: null };
            w.timer = setTimeout(() => {
              const idx = waiters.indexOf(w);
              if (idx >= 0) waiters.splice(idx, 1);
              r(null);
            }, timeoutMs);
            waiters.push(w);
            deliver();
          });
        },
        close() { req.destroy(); res.destroy(); },
      });
    });
    req.on('error', reject);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
