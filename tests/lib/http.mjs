// HTTP helpers for the sync protocol, used by the tests through ../lib/server.mjs: one
// request (JSON in and out), push/pull/stores, pull to the end, SSE frames, Prometheus
// samples, HLC stamps and a Map replica of pulled changes. Only node built-ins.
import http from 'node:http';

const freshOrigins = new Set(); // servers with a short --conn-timeout: no keep-alive reuse

/** request() to url's origin opens a new connection each time (a server that closes idle ones fast). */
export function markFresh(url) {
  freshOrigins.add(new URL(url).origin);
}

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

/** The same as request() over a new connection that is closed afterwards. */
function requestFresh(url, method, body, headers) {
  return httpRequest(false, url, { method, body, headers: { ...headers, connection: 'close' }, timeoutMs: 0 });
}

/**
 * One HTTP request over `agent` (an http.Agent; false for a fresh connection).
 * body: object (JSON), string/Buffer, or undefined. Resolves {status, headers, text, json, ms};
 * rejects on socket errors (connection refused/reset) and after timeoutMs (0: no limit).
 */
export function httpRequest(agent, url, { method = 'GET', body, headers = {}, timeoutMs = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const b = body === undefined ? undefined
      : (typeof body === 'string' || body instanceof Uint8Array) ? body : JSON.stringify(body);
    const h = { ...headers };
    if (b !== undefined) {
      h['content-type'] ||= 'application/json';
      h['content-length'] = Buffer.byteLength(b);
    }
    const t0 = process.hrtime.bigint();
    const req = http.request(url, { method, agent, headers: h }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        const headers = new Headers(Object.entries(res.headers).map(([k, v]) => [k, String(v)]));
        resolve({ status: res.statusCode, headers, text, json, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
      });
      res.on('error', reject);
    });
    if (timeoutMs) req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(b);
  });
}

export const postJson = (agent, url, body, opts = {}) => httpRequest(agent, url, { method: 'POST', body, ...opts });

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

/** The server's live state of db: Map store -> Map keyJSON -> {seq, hlc, value}. */
export async function pullState(url, db) {
  const state = new Map();
  const { changes } = await pullAll(url, db, { limit: 10000 });
  for (const c of changes) {
    if (!state.has(c.store)) state.set(c.store, new Map());
    const m = state.get(c.store);
    const k = JSON.stringify(c.key);
    if (c.op === 'delete') m.delete(k); else m.set(k, { seq: c.seq, hlc: c.hlc, value: c.value });
  }
  return state;
}
