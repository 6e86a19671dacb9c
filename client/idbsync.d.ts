// Types for the idbsync browser client (client/idbsync.js). See client/README.md.

export interface SyncOptions {
  /** Base URL of the idbsync server, e.g. "http://127.0.0.1:8080". */
  url: string;
  /** Bearer token (or a function returning one, called per request). */
  token?: string | (() => string | Promise<string>);
  /** Which object stores sync (default: every store except idbsync's own `_idbsync_*`). */
  stores?: string[];
  /** Background sync in this tab (default true): live pull + push soon after each write. */
  background?: boolean;
  /** Mutations per push request (default 2000) and approximate bytes per push (default 4 MiB). */
  batchSize?: number;
  batchBytes?: number;
  /** Push requests in flight at once (default 3; answers are handled in order). */
  pushWindow?: number;
  /** Rows per pull request (default 5000, server max 10000). */
  pullLimit?: number;
  /** Long-poll wait in seconds (default 25; the server closes idle connections after 30). */
  wait?: number;
  /** Delay in ms between a local write and its push (default 30; coalesces bursts). */
  pushDelay?: number;
  /** Retry backoff bounds in ms (default 250 .. 30000, exponential with jitter). */
  retryMin?: number;
  retryMax?: number;
  /** fetch implementation (default globalThis.fetch). */
  fetch?: typeof fetch;
  /**
   * Most bytes of Blob/File data one value may hold to be synced (default 8 MiB, the server's
   * default --max-value); a larger one stays local and becomes a RejectedError (code too_large).
   */
  maxValueBytes?: number;
  /**
   * Applied remote changes are signalled to Dexie (default true) with the `x-storagemutated-1`
   * DOM event every Dexie >= 3.2 in the window listens to, so liveQuery / useLiveQuery re-run.
   */
  signalDexie?: boolean;
}

export interface OpenOptions extends SyncOptions {
  /** Schema upgrade, called inside the versionchange transaction (idbsync then adds its stores). */
  upgrade?(db: IDBDatabase, oldVersion: number, newVersion: number | null, tx: IDBTransaction): void;
}

export interface SyncStatus {
  /**
   * false while the browser is offline (navigator.onLine; no requests then, sync resumes on its
   * `online` event) and after a request that could not reach the server, until one succeeds.
   * Being offline is no `error` event.
   */
  online: boolean;
  /** Mutations not yet acknowledged by the server. */
  pending: number;
  /** Mutations acknowledged since this handle opened. */
  pushed: number;
  /** Rows applied in the current/last pull run, and the estimate of rows in it (null: unknown). */
  pulled: number;
  total: number | null;
  /** Last error (null after a successful sync). */
  error: { code: string; message: string; status?: number } | null;
  /** This tab runs the background sync (holds the Web Lock). */
  leader: boolean;
  /** A push or pull is in flight right now. */
  syncing: boolean;
  /** Date.now() of the last successful sync, or null. */
  lastSync: number | null;
  /** The server state (its epoch, from `GET /healthz`) the pull cursor belongs to; null before the first pull. */
  epoch: string | null;
  /** The last time the server's state changed under this client (see the `reset` event), or null. */
  reset: ResetDetail | null;
}

/**
 * The server's state is not the one the client synced with (restored from a backup, replaced):
 * the client pulled everything again from 0, kept its unpushed writes and pushed them, and deleted
 * local rows the server no longer has.
 */
export interface ResetDetail {
  /** The epoch the client had, and the server's. */
  from: string | null;
  to: string | null;
  /** 'epoch_changed' (another state) or 'cursor_ahead' (the cursor is past the server's head). */
  reason: string;
  /** Date.now() when it was detected. */
  at: number;
}

export interface Change {
  store: string;
  op: 'put' | 'delete';
  key: IDBValidKey;
  /** The new value (put only; absent in change events relayed to other tabs: read it from IndexedDB). */
  value?: unknown;
  /** Server seq of the change (absent for rows removed by a full resync). */
  seq?: number;
  /** true when relayed from the syncing tab over BroadcastChannel. */
  remote?: boolean;
}

export interface ConflictDetail {
  store: string;
  key: IDBValidKey;
  /** The losing mutation's id and op. */
  id: number;
  op: 'put' | 'delete';
  /**
   * The store's rule, or 'forbidden' for a write the server refused with 403 (a server-owned
   * store, a shared row): the local row was put back to the server's version.
   */
  rule: 'lww' | 'client-wins' | 'server-wins' | 'merge' | 'forbidden' | string;
  /** Why it lost (for 'forbidden': the server's message). */
  reason: string;
  /** merge: the fields that lost. */
  fields?: string[];
  /** The local change that lost. */
  local: { op: 'put' | 'delete'; value?: unknown } | null;
  /**
   * The version that won (the local copy converges to it). seq and hlc are absent only for a
   * 'forbidden' write to a key the server has no row for: the local row was deleted.
   */
  winner: { seq?: number; op: 'put' | 'delete'; hlc?: string; value?: unknown };
}

/** A mutation the server refused (400/413/403), moved out of the outbox. */
export interface RejectedMutation {
  /** The mutation id it was sent with. */
  id: number;
  store: string;
  key: IDBValidKey;
  op: 'put' | 'delete';
  /** The value (put only). */
  value?: unknown;
  hlc: string;
  /**
   * The server's answer: its error code ("too_large", "invalid", "forbidden"), HTTP status, message;
   * or, for a value never sent, "unsupported_value" (the wire format cannot carry it) / "too_large" (maxValueBytes).
   */
  error: { code: string; status?: number; message: string };
  /** Date.now() when it was set aside. */
  at: number;
  /** Its key in the rejected list (for clearRejected). */
  rid: IDBValidKey;
}

export interface QueryResult {
  columns: string[];
  /** One array per row, values as the server sent them (JSON; nothing decoded). */
  rows: unknown[][];
  /** true when the server cut the result at its row limit. */
  truncated?: boolean;
}

export interface SyncedEventMap {
  change: CustomEvent<{ changes: Change[]; remote?: boolean }>;
  conflict: CustomEvent<ConflictDetail>;
  status: CustomEvent<SyncStatus>;
  error: CustomEvent<IdbsyncError>;
  reset: CustomEvent<ResetDetail>;
}

export declare class Synced extends EventTarget {
  /** The app's connection; every write through it to a synced store is captured. Closing it closes the handle. */
  readonly db: IDBDatabase;
  readonly name: string;
  readonly clientId: string;
  readonly status: SyncStatus;
  readonly isLeader: boolean;
  /** Pushes everything pending, then pulls until up to date. */
  sync(): Promise<SyncStatus>;
  /** Mutations not yet acknowledged by the server. */
  pending(): Promise<number>;
  /**
   * Pulls again from the start of the server's feed, keeping (and pushing) the unpushed writes.
   * Without a store: the whole database (cursor back to 0; local rows the server does not have are
   * deleted). With one: that store alone (its rows the server does not have are deleted; the
   * cursor stays). Rejects with SchemaError for a store that is not synced here.
   */
  resync(storeName?: string): Promise<SyncStatus>;
  /**
   * Read-only SQL on the server (POST /v1/db/{db}/query): each store is a view with a column per
   * top-level field (plus _key, _seq, _hlc). Rejects with BadRequestError (invalid SQL, writes),
   * AuthError, NetworkError, ServerError; TypeError for a non-string sql / non-array params.
   */
  query(sql: string, params?: unknown[]): Promise<QueryResult>;
  /** Mutations the server refused, oldest first (each was also an `error` event with a RejectedError). */
  rejected(): Promise<RejectedMutation[]>;
  /** Forgets rejected mutations: the given ones, or all. */
  clearRejected(entries?: RejectedMutation[]): Promise<void>;
  /** Starts / stops background sync in this tab (writes are captured either way). */
  start(): void;
  stop(): void;
  /** Stops syncing and capturing; closes the database if openSynced opened it. */
  close(): void;
  addEventListener<K extends keyof SyncedEventMap>(type: K, listener: (ev: SyncedEventMap[K]) => void, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof SyncedEventMap>(type: K, listener: (ev: SyncedEventMap[K]) => void, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

/** Opens (creating or upgrading) an IndexedDB database and syncs it with the server's database `name`. */
export declare function openSynced(name: string, version: number, options: OpenOptions): Promise<Synced>;
/**
 * Syncs a database the app opened itself; it must contain the idbsync stores (createSyncStores /
 * DEXIE_STORES). Rejects with code 'closed' when the app closes db before it resolved; closing db
 * later closes the handle. Throws a SchemaError for a connection opened before idbsync was loaded
 * (a library such as Dexie may hold IndexedDB's own methods: its writes could not be captured).
 */
export declare function enableSync(db: IDBDatabase, options: SyncOptions): Promise<Synced>;
/**
 * Creates idbsync's stores; call first in your upgrade callback. They are hidden from db (and the
 * connection enableSync is given) from then on: objectStoreNames, transaction(), objectStore().
 * tx (the upgrade transaction) also upgrades stores made by an older idbsync (the index that
 * makes big pulls faster).
 */
export declare function createSyncStores(db: IDBDatabase, tx?: IDBTransaction): void;
/** Patches the IndexedDB prototypes (done when the module is loaded; kept for older code). */
export declare function installCapture(): void;
/** Dexie schema fragment: db.version(n).stores({ ...yours, ...DEXIE_STORES }). */
export declare const DEXIE_STORES: Readonly<Record<string, string>>;
export declare const OUTBOX: '_idbsync_outbox';
export declare const META: '_idbsync_meta';
/** "store\0keyJSON" -> server seq of the version last applied from a pull (sent as `base`). */
export declare const BASE: '_idbsync_base';
/** Mutations the server refused. */
export declare const REJECTED: '_idbsync_rejected';

/** Tagged JSON (docs/protocol.md "Keys and values"). */
export declare function encodeValue(value: unknown): string;
/** encodeValue for values holding Blob/File (their bytes are read first); rejects past maxBytes. */
export declare function encodeValueAsync(value: unknown, maxBytes?: number): Promise<string>;
export declare function toTagged(value: unknown): unknown;
export declare function decodeValue(tagged: unknown): unknown;
export declare function encodeKey(key: IDBValidKey): string;
export declare function decodeKey(tagged: unknown): IDBValidKey;

export type ErrorCode = 'quota' | 'auth' | 'server' | 'protocol' | 'bad_request' | 'network' | 'unsupported_value' |
  'schema' | 'cursor_expired' | 'state_changed' | 'idb' | 'closed' | 'rejected';
export declare class IdbsyncError extends Error {
  readonly code: ErrorCode | string;
  /** HTTP status, when the error came from a response. */
  readonly status?: number;
  /** The server's error code ("invalid", "unauthorized", "disk_full", ...). */
  readonly serverCode?: string;
  constructor(code: string, message: string, opts?: { status?: number; cause?: unknown; serverCode?: string });
}
export declare class QuotaError extends IdbsyncError {}
export declare class AuthError extends IdbsyncError {}
export declare class ServerError extends IdbsyncError {}
export declare class ProtocolError extends IdbsyncError {}
export declare class BadRequestError extends IdbsyncError {}
export declare class NetworkError extends IdbsyncError {}
export declare class UnsupportedValueError extends IdbsyncError {}
export declare class SchemaError extends IdbsyncError {}
export declare class CursorExpiredError extends IdbsyncError {}
/** 409 epoch_changed / cursor_ahead: handled internally by a resync (`reset` event). */
export declare class StateChangedError extends IdbsyncError {}
/**
 * One mutation the server refused; it left the outbox (Synced.rejected() lists it). code 'rejected'.
 * After a 403 the local row is also put back to the server's version (a 'conflict' event follows).
 */
export declare class RejectedError extends IdbsyncError {
  readonly mutation: RejectedMutation;
}
