// Error classes of the idbsync browser client. Every error thrown or reported by the client is an
// IdbsyncError with a stable `code` (and `status` when it came from an HTTP response), so apps can
// branch on `err.code` instead of parsing messages.

/** Base class: `code` is one of the strings documented in client/README.md. */
export class IdbsyncError extends Error {
  /**
   * @param {string} code stable machine-readable code
   * @param {string} message what went wrong, for a person
   * @param {{status?: number, cause?: unknown, serverCode?: string}} [opts]
   */
  constructor(code, message, opts = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.serverCode !== undefined) this.serverCode = opts.serverCode;
  }
}
/** The browser refused to store more data (QuotaExceededError). Nothing already captured is lost. */
export class QuotaError extends IdbsyncError { constructor(m, o) { super('quota', m, o); } }
/** The server rejected the token (401) or the rows (403). Sync pauses until the app fixes it. */
export class AuthError extends IdbsyncError { constructor(m, o) { super('auth', m, o); } }
/** 5xx (io, disk_full, ...): retried with backoff. */
export class ServerError extends IdbsyncError { constructor(m, o) { super('server', m, o); } }
/** The server answered something this client does not understand (not JSON, missing fields). */
export class ProtocolError extends IdbsyncError { constructor(m, o) { super('protocol', m, o); } }
/** 4xx other than auth/410: the request itself is wrong (invalid value, too large, ...). */
export class BadRequestError extends IdbsyncError { constructor(m, o) { super('bad_request', m, o); } }
/**
 * The server refused one mutation (400/413, 403 for a server-owned store or a row that is not the
 * caller's): it was moved out of the outbox to the rejected list (Synced.rejected()) so the others
 * could sync; after a 403 the local row is put back to the server's version (revert.js).
 * `mutation` is {id, store, key, op, value, hlc, error, at, rid}.
 */
export class RejectedError extends IdbsyncError {
  constructor(m, o = {}) { super('rejected', m, o); this.mutation = o.mutation; }
}
/** The server could not be reached (offline, refused, reset). Retried with backoff. */
export class NetworkError extends IdbsyncError { constructor(m, o) { super('network', m, o); } }
/** A value IndexedDB accepts but the wire format cannot carry (Blob, File, ...). */
export class UnsupportedValueError extends IdbsyncError { constructor(m, o) { super('unsupported_value', m, o); } }
/** The database lacks the idbsync stores, or the options are wrong. */
export class SchemaError extends IdbsyncError { constructor(m, o) { super('schema', m, o); } }
/** 410: the pull cursor is older than collected tombstones; the client resyncs from 0 by itself. */
export class CursorExpiredError extends IdbsyncError { constructor(m, o) { super('cursor_expired', m, o); } }

/**
 * 409: the server's state is not the one the pull cursor belongs to (`serverCode` `epoch_changed`:
 * reset or restored from a backup; `cursor_ahead`: the cursor is past its head). The client resyncs
 * from 0 by itself, keeping its unpushed writes, and emits `reset`.
 */
export class StateChangedError extends IdbsyncError { constructor(m, o) { super('state_changed', m, o); } }

/** Wraps a DOMException from IndexedDB into an IdbsyncError (QuotaError when it is one). */
export function fromIdbError(e, what) {
  if (e instanceof IdbsyncError) return e;
  if (e && e.name === 'QuotaExceededError') return new QuotaError(`${what}: storage quota exceeded`, { cause: e });
  return new IdbsyncError('idb', `${what}: ${e && e.name ? e.name + ': ' : ''}${e && e.message ? e.message : e}`, { cause: e });
}
