// IndexedDB interception: patches IDBDatabase/IDBObjectStore/IDBCursor/IDBTransaction prototypes
// so that every write to a synced store is recorded in the outbox store *inside the same
// transaction*. Mutations are collected in memory (value encoded at call time) and the app's
// synchronous burst of writes becomes ONE outbox record, written in a microtask right behind
// them, so the outbox costs one extra (pipelined) write per transaction, not per mutation.
import { encodeKey, encodeValue } from './codec.js';

export const OUTBOX = '_idbsync_outbox';
export const META = '_idbsync_meta';
export const BASE = '_idbsync_base';          // "store\0keyJSON" -> server seq of the version last applied from a pull
export const REJECTED = '_idbsync_rejected';  // mutations the server refused (400/413), with its error

const dbs = new WeakMap();       // IDBDatabase -> controller {isSynced(name), clock, onCaptured(n), onTxError(e)}
const internal = new WeakSet();  // transactions run by the client itself (pull/apply): never captured
const txs = new WeakMap();       // IDBTransaction -> TxState | null
const infos = new WeakMap();     // IDBObjectStore -> {st, name, kp, auto} | null
const widened = new WeakSet();   // app transactions we added the outbox to (it is hidden from objectStoreNames)

/** Starts capturing writes on db. ctl.isSynced(storeName) decides which stores are captured. */
export function registerDb(db, ctl) { install(); dbs.set(db, ctl); }
export function unregisterDb(db) { dbs.delete(db); }
/** Marks a transaction as the client's own: its writes are not captured (no echo). */
export function markInternal(tx) { internal.add(tx); return tx; }

/**
 * Hybrid logical clock (docs/protocol.md): "<13-digit ms>-<4 hex counter>-<node>". Physical time
 * is Date.now() + offset, where offset (server `now` - local time, see adjust) keeps a client
 * whose clock is minutes off within the server's skew bound.
 */
export class Clock {
  constructor(node) { this.node = node; this.ms = 0; this.c = 0; this.offset = 0; this.remote = 0; }
  wall() { return Date.now() + this.offset; }
  now() {
    const t = Date.now() + this.offset;
    if (t > this.ms) { this.ms = t; this.c = 0; } else if (++this.c > 0xffff) { this.ms++; this.c = 0; }
    return stamp(this.ms, this.c, this.node);
  }
  /** Moves the clock past a stamp received from the server. */
  recv(h) {
    if (typeof h !== 'string' || h.length < 19) return;
    const ms = Number(h.slice(0, 13)), c = parseInt(h.slice(14, 18), 16);
    if (!(ms > 0) || !(c >= 0)) return;
    if (ms > this.remote) this.remote = ms;
    const t = this.wall();
    if (ms > this.ms && ms > t) { this.ms = ms; this.c = c; }
    else if (ms === this.ms && c > this.c) this.c = c;
  }
  /**
   * Adopts a new offset (ms). Returns true when the clock had run ahead of the corrected time and
   * was stepped back (to the corrected time, never below a stamp seen from the server): stamps
   * taken before are then too far ahead and should be re-stamped.
   */
  adjust(offset) {
    this.offset = offset;
    const t = this.wall();
    if (this.ms <= t + 1000) return false;
    this.ms = Math.max(t, this.remote);
    this.c = 0;
    return true;
  }
}
export function stamp(ms, c, node) {
  return String(ms).padStart(13, '0') + '-' + c.toString(16).padStart(4, '0') + '-' + node;
}

// Transactions whose outbox record is due at the end of the current microtask checkpoint.
let due = [];
function flushDue() {
  const list = due;
  due = [];
  for (const st of list) st.flushReady();
}

/**
 * Capture state of one app transaction. Most writes know their key at call time (keyPath or
 * explicit key, point delete, cursor): their outbox record is written in a microtask right after
 * the app's synchronous burst of requests, so it is pipelined with them instead of waiting a
 * round trip for their results (a one-put transaction would otherwise run two round trips in a
 * row). Writes whose key only the result tells (autoIncrement, range delete, clear) hold the
 * group until their results arrive. Either way the record is a request of the app's transaction:
 * it commits or aborts with the change.
 */
class TxState {
  constructor(tx, ctl) {
    this.tx = tx; this.ctl = ctl;
    this.group = [];        // entries not yet in a record, in call order
    this.waiting = 0;       // entries of group whose key comes from their request's result
    this.queued = false;    // in `due`
    this.last = null;       // the latest captured request
    this.fixes = 0;         // record rewrites still to issue (see fail)
    this.commitWanted = false; this.flushed = 0;
    tx.addEventListener('complete', () => { if (this.flushed) ctl.onCaptured(this.flushed); });
    tx.addEventListener('abort', () => { if (tx.error) ctl.onTxError(tx.error); });
  }
  /** Adds an entry whose key (e.k) is known; a failed request drops it again. */
  ready(req, e) {
    this.group.push(e);
    this.last = req;
    req.addEventListener('error', () => this.fail(e));
    if (!this.queued) {
      this.queued = true;
      if (due.push(this) === 1) queueMicrotask(flushDue);
    }
  }
  /** Adds an entry whose key(s) come from req's result. */
  later(req, e, keyFromResult) {
    this.group.push(e);
    this.waiting++;
    this.last = req;
    req.addEventListener('success', () => {
      if (keyFromResult) {
        e.k = encodeKey(req.result);
        if (e.inject) e.v = injectKey(e.v, e.inject, req.result);
      } else {
        e.keys = req.result.map(encodeKey);
      }
      this.settle();
    });
    req.addEventListener('error', () => { e.void = true; this.settle(); });
  }
  settle() {
    if (--this.waiting > 0) return;
    this.write();
    this.tryCommit();
  }
  flushReady() {
    this.queued = false;
    if (this.waiting === 0) this.write();
  }
  write() {
    const g = this.group;
    if (!g.length) return;
    this.group = [];
    const m = records(g);
    if (!m.length) return;
    let req;
    try {
      req = nat.add.call(nat.objectStore.call(this.tx, OUTBOX), { m });
    } catch (err) {
      // No record, no change: never let the app's writes commit uncaptured.
      try { this.tx.abort(); } catch { /* already finished */ }
      this.ctl.onTxError(err);
      return;
    }
    const rec = { g, req, n: m.length, fixing: false };
    for (const e of g) e.rec = rec;
    this.flushed += m.length;
  }
  /**
   * A captured request failed. If the app prevents the default, the transaction goes on without
   * that write, so its mutation must leave the record too. The record's add was issued after the
   * failed request, so its success (which gives the record key) has not fired yet.
   */
  fail(e) {
    e.void = true;
    const rec = e.rec;
    if (!rec || rec.fixing) return;
    rec.fixing = true;
    this.fixes++;
    rec.req.addEventListener('success', () => {
      const out = nat.objectStore.call(this.tx, OUTBOX);
      const m = records(rec.g);
      this.flushed -= rec.n - m.length;
      if (m.length) nat.put.call(out, { m }, rec.req.result);
      else nat.delete.call(out, rec.req.result);
      this.fixes--;
      this.tryCommit();
    });
  }
  /** An explicit commit() may reach IndexedDB once no captured request can still change the records. */
  settled() { return !this.waiting && !this.fixes && (!this.last || this.last.readyState === 'done'); }
  commit() {
    if (this.settled()) { this.write(); return nat.commit.call(this.tx); }
    this.commitWanted = true;
    // Else the transaction commits by itself once idle; this only commits it early.
    if (!this.waiting) this.last.addEventListener('success', () => this.tryCommit());
  }
  tryCommit() {
    if (!this.commitWanted || !this.settled()) return;
    this.commitWanted = false;
    this.write();
    nat.commit.call(this.tx);
  }
}

/** The outbox mutations ([store, key, hlc, value?]) of a group's live entries. */
function records(g) {
  const m = [];
  for (const e of g) {
    if (e.void) continue;
    if (e.keys) { for (const k of e.keys) m.push([e.s, k, e.h]); }
    else if (e.v === undefined) m.push([e.s, e.k, e.h]);
    else m.push([e.s, e.k, e.h, e.v]);
  }
  return m;
}

function injectKey(json, kp, key) {
  const o = JSON.parse(json);
  const parts = kp.split('.');
  let t = o;
  for (let i = 0; i < parts.length - 1; i++) t = t[parts[i]] ??= {};
  t[parts[parts.length - 1]] = JSON.parse(encodeKey(key));
  return JSON.stringify(o);
}

function hasKeyPath(v, kp) {
  let t = v;
  for (const p of kp.split('.')) {
    if (t === null || typeof t !== 'object' || !(p in t)) return false;
    t = t[p];
  }
  return t !== undefined;
}

const hasOwn = Object.prototype.hasOwnProperty;

/** Evaluates a key path on a value the way IndexedDB does on its clone (own properties only). */
function evalPath(v, path) {
  if (typeof path !== 'string') {
    const out = [];
    for (const p of path) {
      const k = evalPath(v, p);
      if (k === undefined) return undefined;
      out.push(k);
    }
    return out;
  }
  if (path === '') return v;
  let t = v, at = 0;
  for (;;) {
    const dot = path.indexOf('.', at);
    const p = dot < 0 ? (at ? path.slice(at) : path) : path.slice(at, dot);
    if (t === null || typeof t !== 'object' || !hasOwn.call(t, p)) return undefined;
    t = t[p];
    if (dot < 0) return t;
    at = dot + 1;
  }
}

/**
 * The encoded key a put/add will store, when it is known before the request completes, else
 * null (then the request's result gives it). Rare key path cases (a string's length, ...) are null.
 */
function keyAtCall(i, value, args) {
  let k;
  if (i.path === null) {
    if (args.length < 2 || args[1] === undefined) return null;
    k = args[1];
  } else {
    k = evalPath(value, i.path);
  }
  if (typeof k === 'number' || typeof k === 'string') return encodeKey(k);
  if (k === undefined || k === null) return null;
  try { return encodeKey(k); } catch { return null; }
}

function txState(tx) {
  let st = txs.get(tx);
  if (st !== undefined) return st;
  st = null;
  const ctl = dbs.get(tx.db);
  if (ctl && !internal.has(tx) && tx.mode === 'readwrite' && nat.storeNames.call(tx).contains(OUTBOX)) st = new TxState(tx, ctl);
  txs.set(tx, st);
  return st;
}

function info(store) {
  let i = infos.get(store);
  if (i !== undefined) return i;
  const st = txState(store.transaction);
  const kpath = st && store.keyPath;
  i = st && st.ctl.isSynced(store.name)
    ? { st, name: store.name, path: kpath, kp: typeof kpath === 'string' && kpath ? kpath : null, auto: store.autoIncrement }
    : null;
  infos.set(store, i);
  return i;
}

function storeOf(cursor) {
  const src = cursor.source;
  return src instanceof IDBIndex ? src.objectStore : src;
}

const nat = {};
let installed = false;

function install() {
  if (installed) return;
  installed = true;
  const D = IDBDatabase.prototype, S = IDBObjectStore.prototype, C = IDBCursor.prototype, T = IDBTransaction.prototype;
  const namesDesc = Object.getOwnPropertyDescriptor(T, 'objectStoreNames');
  Object.assign(nat, {
    storeNames: namesDesc.get,
    transaction: D.transaction, put: S.put, add: S.add, delete: S.delete, clear: S.clear,
    getAllKeys: S.getAllKeys, objectStore: T.objectStore, commit: T.commit, update: C.update, cdelete: C.delete,
  });

  // Widen the app's readwrite transactions on synced stores to include the outbox.
  D.transaction = function transaction(names, mode, options) {
    const ctl = dbs.get(this);
    if (ctl && mode === 'readwrite') {
      const list = typeof names === 'string' ? [names] : Array.from(names);
      if (!list.includes(OUTBOX) && list.some((n) => ctl.isSynced(n))) {
        list.push(OUTBOX);
        const tx = options === undefined ? nat.transaction.call(this, list, mode) : nat.transaction.call(this, list, mode, options);
        widened.add(tx);
        return tx;
      }
    }
    return nat.transaction.apply(this, arguments);
  };

  function write(native) {
    return function (value, key) {
      const i = info(this);
      if (!i) return native.apply(this, arguments);
      const v = encodeValue(value);             // snapshot at call time (the app may mutate value later)
      const req = native.apply(this, arguments);
      const k = keyAtCall(i, value, arguments);
      const e = { s: i.name, k, h: i.st.ctl.clock.now(), v, inject: null, void: false, rec: null };
      if (k !== null) { i.st.ready(req, e); return req; }
      if (i.auto && i.kp && arguments.length < 2 && !hasKeyPath(value, i.kp)) e.inject = i.kp;
      i.st.later(req, e, true);
      return req;
    };
  }
  S.put = write(nat.put);
  S.add = write(nat.add);

  S.delete = function (query) {
    const i = info(this);
    if (!i) return nat.delete.apply(this, arguments);
    if (query instanceof IDBKeyRange) {
      const kreq = nat.getAllKeys.call(this, query);   // runs before the delete: the keys it removes
      const req = nat.delete.call(this, query);
      i.st.later(kreq, { s: i.name, keys: null, h: i.st.ctl.clock.now(), void: false, rec: null }, false);
      return req;
    }
    const req = nat.delete.call(this, query);
    i.st.ready(req, { s: i.name, k: encodeKey(query), h: i.st.ctl.clock.now(), v: undefined, void: false, rec: null });
    return req;
  };

  S.clear = function () {
    const i = info(this);
    if (!i) return nat.clear.apply(this, arguments);
    const kreq = nat.getAllKeys.call(this);
    const req = nat.clear.call(this);
    i.st.later(kreq, { s: i.name, keys: null, h: i.st.ctl.clock.now(), void: false, rec: null }, false);
    return req;
  };

  C.update = function (value) {
    const i = info(storeOf(this));
    if (!i) return nat.update.apply(this, arguments);
    const v = encodeValue(value);
    const req = nat.update.call(this, value);   // the key is the cursor's (update may not change it)
    i.st.ready(req, { s: i.name, k: encodeKey(this.primaryKey), h: i.st.ctl.clock.now(), v, inject: null, void: false, rec: null });
    return req;
  };

  C.delete = function () {
    const i = info(storeOf(this));
    if (!i) return nat.cdelete.apply(this, arguments);
    const k = encodeKey(this.primaryKey);
    const req = nat.cdelete.call(this);
    i.st.ready(req, { s: i.name, k, h: i.st.ctl.clock.now(), v: undefined, void: false, rec: null });
    return req;
  };

  // Libraries such as idb look at tx.objectStoreNames (tx.store exists only for one store): hide the outbox.
  Object.defineProperty(T, 'objectStoreNames', {
    configurable: true, enumerable: namesDesc.enumerable,
    get() {
      const list = namesDesc.get.call(this);
      return widened.has(this) ? hideOutbox(list) : list;
    },
  });

  // After an explicit commit() no request can be added: write the outbox record first, or, while a
  // captured request is outstanding (its key or its failure still to come), defer the native commit.
  if (nat.commit) {
    T.commit = function () {
      const st = txs.get(this);
      return st ? st.commit() : nat.commit.call(this);
    };
  }
}

function hideOutbox(list) {
  const names = Array.from(list).filter((n) => n !== OUTBOX);
  const out = Object.create(Object.getPrototypeOf(list) === DOMStringList.prototype ? FakeList.prototype : null);
  names.forEach((n, i) => { out[i] = n; });
  Object.defineProperty(out, 'length', { value: names.length });
  Object.defineProperty(out, '_n', { value: names });
  return Object.freeze(out);
}
class FakeList {
  item(i) { return this._n[i] ?? null; }
  contains(n) { return this._n.includes(n); }
  [Symbol.iterator]() { return this._n[Symbol.iterator](); }
}

/** The unpatched IDBTransaction.prototype.objectStore etc., for the client's own use. */
export { nat as native };
