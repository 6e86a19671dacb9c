// HTTP transport for the sync protocol (docs/protocol.md): push, pull (with long-poll), stores,
// query. Reports the server clock (`now` of push/pull answers, or the time named in a 400 "ahead
// of the server clock") to onNow so the HLC can be corrected.
// Maps every failure to an IdbsyncError subclass; retry policy (exponential backoff + jitter)
// lives here too so the sync loop stays readable.
import { AuthError, BadRequestError, CursorExpiredError, IdbsyncError, NetworkError, ProtocolError, ServerError, StateChangedError } from './errors.js';

export class Transport {
  /** @param {{url: string, db: string, token?: string|(() => string|Promise<string>), fetch?: typeof fetch}} o */
  constructor(o) {
    this.base = String(o.url || location.origin).replace(/\/+$/, '') + '/v1/db/' + encodeURIComponent(o.db);
    this.token = o.token;
    this.fetch = o.fetch || globalThis.fetch.bind(globalThis);
    /** (serverNowMs, localMsAtThatMoment) => void */
    this.onNow = o.onNow || null;
  }

  async headers(json) {
    const h = {};
    if (json) h['content-type'] = 'application/json';
    const t = typeof this.token === 'function' ? await this.token() : this.token;
    if (t) h.authorization = 'Bearer ' + t;
    return h;
  }

  async call(method, path, body, { signal, timeoutMs = 60000 } = {}) {
    const sigs = [AbortSignal.timeout(timeoutMs)];
    if (signal) sigs.push(signal);
    let res;
    const t0 = Date.now();
    try {
      res = await this.fetch(this.base + path, { method, body, headers: await this.headers(body !== undefined), signal: AbortSignal.any(sigs), cache: 'no-store' });
    } catch (e) {
      if (signal && signal.aborted) throw signal.reason ?? e;
      throw new NetworkError(`${method} ${path}: server unreachable (${e && e.message ? e.message : e})`, { cause: e });
    }
    let text;
    try { text = await res.text(); } catch (e) {
      if (signal && signal.aborted) throw signal.reason ?? e;
      throw new NetworkError(`${method} ${path}: connection lost while reading the response`, { cause: e });
    }
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    if (res.ok) {
      if (json === undefined || typeof json !== 'object') throw new ProtocolError(`${method} ${path}: expected JSON, got ${JSON.stringify(text.slice(0, 80))}`, { status: res.status });
      // The server read its clock while answering: compare with the middle of the round trip.
      if (this.onNow && typeof json.now === 'number') this.onNow(json.now, (t0 + Date.now()) / 2);
      return json;
    }
    const err = json && json.error ? json.error : {};
    const msg = `${method} ${path}: ${res.status} ${err.code || ''} ${err.message || text.slice(0, 200)}`.trim();
    const o = { status: res.status, serverCode: err.code };
    const clock = res.status === 400 && typeof err.message === 'string' ? /ahead of the server clock \((\d+)\)/.exec(err.message) : null;
    if (clock) {
      const e = new BadRequestError(msg, o);
      e.serverNow = Number(clock[1]);
      e.localNow = (t0 + Date.now()) / 2;
      throw e;
    }
    if (res.status === 401 || res.status === 403) throw new AuthError(msg, o);
    if (res.status === 410) throw new CursorExpiredError(msg, o);
    if (res.status === 409 && (err.code === 'epoch_changed' || err.code === 'cursor_ahead')) throw new StateChangedError(msg, o);
    if (res.status >= 500) throw new ServerError(msg, o);
    if (res.status >= 400 && json === undefined) throw new ProtocolError(msg, o);
    throw new BadRequestError(msg, o);
  }

  /** POST /push with a prebuilt JSON body. */
  async push(body, opts) {
    const r = await this.call('POST', '/push', body, opts);
    if (typeof r.ack !== 'number' || !Array.isArray(r.conflicts)) throw new ProtocolError('push: response lacks ack/conflicts');
    return r;
  }

  /** GET /pull. epoch: the server state `since` belongs to (a 409 StateChangedError when it is another). */
  async pull({ since = 0, limit = 1000, wait = 0, client, epoch }, opts = {}) {
    let q = `/pull?since=${since}&limit=${limit}`;
    if (epoch && since > 0) q += `&epoch=${encodeURIComponent(epoch)}`;
    if (wait) q += `&wait=${wait}`;
    if (client) q += `&client=${encodeURIComponent(client)}`;
    const r = await this.call('GET', q, undefined, { ...opts, timeoutMs: (wait + 30) * 1000 });
    if (!Array.isArray(r.changes) || typeof r.cursor !== 'number') throw new ProtocolError('pull: response lacks changes/cursor');
    return r;
  }

  /** POST /query {sql, params} -> {columns, rows} (rows as arrays of JSON values, as sent). */
  async query(sql, params, opts) {
    if (typeof sql !== 'string') throw new TypeError('query: sql must be a string');
    if (params !== undefined && params !== null && !Array.isArray(params)) throw new TypeError('query: params must be an array');
    const r = await this.call('POST', '/query', JSON.stringify(params ? { sql, params } : { sql }), opts);
    if (!Array.isArray(r.columns) || !Array.isArray(r.rows)) throw new ProtocolError('query: response lacks columns/rows');
    return r;
  }

  /** GET /stores -> [{name, rows, tombstones, conflict}]. */
  async stores(opts) {
    const r = await this.call('GET', '/stores', undefined, opts);
    if (!Array.isArray(r.stores)) throw new ProtocolError('stores: response lacks stores');
    return r.stores;
  }
}

/** Delay before retry number `attempt` (0-based): exponential, capped, with full jitter on the upper half. */
export function backoff(attempt, { min = 250, max = 30000 } = {}) {
  const d = Math.min(max, min * 2 ** attempt);
  return Math.round(d / 2 + Math.random() * d / 2);
}

/** True for errors worth retrying later (network, 5xx); auth/bad requests need the app. */
export function retryable(e) {
  return e instanceof NetworkError || e instanceof ServerError || e instanceof ProtocolError ||
    (e instanceof IdbsyncError && e.code === 'idb');
}
