// IndexedDB interception: patches IDBDatabase/IDBObjectStore/IDBIndex/IDBCursor/IDBTransaction
// prototypes so that every write to a synced store is recorded in the outbox store *inside the
// same transaction*, exactly as IndexedDB stores it: the value is cloned once with
// structuredClone (IndexedDB's own algorithm) and that clone is what both IndexedDB and the outbox
// get (getters run once; the key path is evaluated on the clone). The app's synchronous burst of
// writes becomes ONE outbox record, written in a microtask right behind them, so the outbox costs
// one extra (pipelined) write per transaction, not per mutation. The idbsync stores are hidden
// from the app's connection, and errors of the outbox requests never reach the app's handlers.
import { BlobBytesNeeded, encodeKey, encodeValue } from './codec.js';

export const OUTBOX = '_idbsync_outbox';
export const META = '_idbsync_meta';
export const BASE = '_idbsync_base';          // "store\0keyJSON" -> server seq of the version last applied from a pull
export const REJECTED = '_idbsync_rejected';  // mutations the server refused (400/413), with its error
/** Store names reserved for idbsync; hidden from the app's connections. */
export const isSyncStore = (n) => n.startsWith('_idbsync_');

const dbs = new WeakMap();       // app IDBDatabase -> controller {isSynced(name), clock, onCaptured(n), onTxError(e), onClose(), rewrite(fixes)}
const hidden = new WeakSet();    // connections whose _idbsync_* stores the app does not see
const internal = new WeakSet();  // transactions run by the client itself (pull/apply): never captured
const txs = new WeakMap();       // IDBTransaction -> TxState | null
const infos = new WeakMap();     // IDBObjectStore -> {st, name, path, kp, auto} | null

const opened = new WeakSet();  // connections opened after install(): no library can hold their unpatched methods

/** Starts capturing writes on db (an app connection). ctl.isSynced(storeName) decides which stores are captured. */
export function registerDb(db, ctl) { install(); dbs.set(db, ctl); hidden.add(db); }
/**
 * True when db was opened after the prototypes were patched. A connection opened before may be
 * held by a library that kept IndexedDB's own methods (Dexie binds `transaction` at open()):
 * its writes would never be captured.
 */
export function openedAfterInstall(db) { return opened.has(connectionOf(db)); }
export function unregisterDb(db) { dbs.delete(db); }
/** Hides the idbsync stores of db from the app (objectStoreNames, transaction(), objectStore()). */
export function hideSyncStores(db) { hidden.add(connectionOf(db)); }
/** Marks a transaction as the client's own: its writes are not captured (no echo). */
export function markInternal(tx) { internal.add(tx); return tx; }
let probing = false, probed = null;
/**
 * The IDBDatabase behind db, which may be a wrapper that forwards property reads to it (idb's
 * proxies in an upgrade callback): our objectStoreNames getter sees the real one as `this`.
 */
export function connectionOf(db) {
  install();
  probing = true; probed = null;
  try { void db.objectStoreNames; } finally { probing = false; }
  const real = probed || db;
  probed = null;
  return real;
}
/** Every store name of db, the idbsync stores too (for the client's own checks). */
export function allStoreNames(db) {
  const real = connectionOf(db);   // installs nat first
  return nat.dbStoreNames.call(real);
}
/** Patches the prototypes now (registerDb and createSyncStores do it too): call it before the app's first write. */
export function installCapture() { install(); }

// Transactions whose outbox record is due at the end of the current microtask checkpoint.
let due = [];
function flushDue() {
  const list = due;
  due = [];
  for (const st of list) st.flushReady();
}

// While a value is being cloned for a transaction, that transaction is inactive for the app (as
// IndexedDB makes it during its own clone): a getter cannot place requests in it.
let cloning = null;

/** An error of one of our own requests: the app's handlers (request, transaction, database) never see it. */
const quiet = (e) => e.stopPropagation();
function own(req) { req.addEventListener('error', quiet); return req; }

/**
 * Capture state of one app transaction. Most writes know their key at call time (keyPath or
 * explicit key, point delete, cursor): their outbox record is written in a microtask right after
 * the app's synchronous burst of requests, so it is pipelined with them instead of waiting a
 * round trip for their results. Writes whose key only the result tells (autoIncrement, range
 * delete, clear) hold the group until their results arrive. Either way the record is a request
 * of the app's transaction: it commits or aborts with the change. After an explicit commit() no
 * request can be added: what is still open then (a key to come, a failure the app handled) is
 * completed by rewriting the record once the transaction has committed (ctl.rewrite, idbsync's own
 * connection); such a record carries `open` meanwhile and is not pushed.
 */
class TxState {
  constructor(tx, ctl) {
    this.tx = tx; this.ctl = ctl;
    this.group = [];        // entries not yet in a record, in call order
    this.waiting = 0;       // entries of group whose key comes from their request's result
    this.queued = false;    // in `due`
    this.committed = false; // commit() was called: no more requests
    this.active = false;    // known to take requests in the current burst (see activeFor)
    this.recs = [];         // records written: {g, req, m, dirty}
    tx.addEventListener('complete', () => this.completed());
    tx.addEventListener('abort', () => { if (tx.error) ctl.onTxError(tx.error); });
  }
  /** Adds an entry whose key (e.k) is known; a failed request drops it again. */
  ready(req, e) {
    this.group.push(e);
    req.addEventListener('error', () => this.fail(e));
    if (!this.queued) {
      this.queued = true;
      if (due.push(this) === 1) queueMicrotask(flushDue);
    }
  }
  /** Adds an entry whose key(s) come from req's result (resolve(e, result)). */
  later(req, e, resolve) {
    this.group.push(e);
    this.waiting++;
    req.addEventListener('success', () => { resolve(e, req.result); this.settle(); });
    req.addEventListener('error', () => { e.void = true; this.settle(); });
  }
  settle() {
    if (--this.waiting > 0) return;
    if (!this.committed) this.write(false);
    else for (const r of this.recs) if (r.open) r.dirty = true;
  }
  flushReady() {
    this.queued = false;
    if (this.waiting === 0 && !this.committed) this.write(false);
  }
  /** Writes the group as one record (open: some of its keys are still to come). */
  write(open) {
    const g = this.group;
    if (!g.length) return;
    this.group = [];
    const m = records(g);
    if (!m.length && !open) return;
    let req;
    try {
      req = own(nat.add.call(nat.objectStore.call(this.tx, OUTBOX), open ? { m, open: Date.now() } : { m }));
    } catch (err) {
      // No record, no change: never let the app's writes commit uncaptured.
      try { this.tx.abort(); } catch { /* already finished */ }
      this.ctl.onTxError(err);
      return;
    }
    const rec = { g, req, m, open, dirty: false, fixing: false };
    for (const e of g) e.rec = rec;
    this.recs.push(rec);
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
    rec.req.addEventListener('success', () => {
      rec.fixing = false;
      if (this.committed) { rec.dirty = true; return; }
      const out = nat.objectStore.call(this.tx, OUTBOX);
      rec.m = records(rec.g);
      if (rec.m.length) own(nat.put.call(out, { m: rec.m }, rec.req.result));
      else own(nat.delete.call(out, rec.req.result));
    });
  }
  /** tx.commit(): the record of the burst so far is written now (no request can follow). */
  commit() {
    if (this.group.length) this.write(this.waiting > 0);
    this.committed = true;
    this.active = false;
  }
  completed() {
    const fixes = [];
    let n = 0;
    for (const r of this.recs) {
      if (r.dirty || r.open) { r.m = records(r.g); fixes.push({ key: r.req.result, m: r.m }); }
      n += r.m.length;
    }
    if (fixes.length) this.ctl.rewrite(fixes);
    if (n) this.ctl.onCaptured(n);
  }
}

/**
 * The outbox mutations of a group's live entries: [store, key, hlc] for a delete, [store, key,
 * hlc, valueJSON] for a put, [store, key, hlc, {blob: value}] for a value with Blobs (encoded when
 * pushed, the bytes read then) and [store, key, hlc, {error}] for one the wire format cannot
 * carry (never sent: a rejected-mutation event at push time). Each entry is encoded once.
 */
function records(g) {
  const m = [];
  for (const e of g) {
    if (e.void) continue;
    if (e.keys) { for (const k of e.keys) m.push([e.s, k, e.h]); continue; }
    if (e.k === null) continue;   // its key is still to come (open record)
    if (!e.t) e.t = e.c === NONE ? [e.s, e.k, e.h] : [e.s, e.k, e.h, encodeStored(e.c)];
    m.push(e.t);
  }
  return m;
}

const NONE = Symbol('no value');

function encodeStored(v) {
  try {
    return encodeValue(v);
  } catch (err) {
    if (err instanceof BlobBytesNeeded) return { blob: v };
    return { error: String(err && err.message || err) };
  }
}

/** Defines key at key path kp in value, as IndexedDB injects a generated key (defined, not assigned). */
function injectKey(value, kp, key) {
  const parts = kp.split('.');
  let t = value;
  for (let i = 0; i < parts.length - 1; i++) {
    if (!hasOwn.call(t, parts[i])) define(t, parts[i], {});
    t = t[parts[i]];
  }
  define(t, parts[parts.length - 1], key);
}
/** The value at key path kp, any property (IndexedDB also reads a string's or array's length, a Blob's size, ...). */
function lookPath(v, kp) {
  for (const p of kp.split('.')) { if (v === null || v === undefined) return undefined; v = v[p]; }
  return v;
}
function define(o, p, value) { Object.defineProperty(o, p, { value, writable: true, enumerable: true, configurable: true }); }

const hasOwn = Object.prototype.hasOwnProperty;

/** Evaluates a key path on a clone the way IndexedDB does (own properties; special cases give undefined). */
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

/** The encoded key of a put/add that IndexedDB accepted, when known before its result, else null. */
function keyAtCall(i, value, key, hasKey) {
  let k;
  if (i.path === null) {
    if (!hasKey || key === undefined) return null;
    k = key;
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
  if (Object.prototype.toString.call(store) !== '[object IDBObjectStore]') return null;   // IndexedDB throws TypeError
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
  return Object.prototype.toString.call(src) === '[object IDBIndex]' ? src.objectStore : src;
}

/**
 * structuredClone(v) for transaction tx (inactive meanwhile, see `cloning`), or NONE when v
 * cannot be cloned: then the native call, given the original, throws IndexedDB's own error.
 */
function cloneFor(tx, v) {
  if (v === null || typeof v !== 'object') return v;
  const outer = cloning;
  cloning = tx;
  try { return structuredClone(v); } catch { return NONE; } finally { cloning = outer; }
}

/**
 * True when store's transaction takes requests now. IndexedDB checks that (active, not finished,
 * store not deleted) before it clones, so we must too before our clone runs the value's getters.
 * The probe is a put with NaN as key: past those checks it fails with DataError before cloning or
 * placing a request. Known once per burst: the state holds until the current microtasks ran.
 */
function activeFor(st, store) {
  if (st.active) return true;
  try {
    nat.put.call(store, undefined, NaN);
  } catch (e) {
    if (e.name !== 'DataError') return false;
    st.active = true;
    queueMicrotask(() => { st.active = false; });
    return true;
  }
  return false;   // unreachable: NaN is never a key
}

/** A native write went through although we could not record it: it must not commit. */
function uncaptured(tx, st) {
  try { tx.abort(); } catch { /* already finished */ }
  st.ctl.onTxError(new DOMException('idbsync could not record a write; the transaction was aborted', 'UnknownError'));
}

const nat = {};
let installed = false;

/** Replaces proto[name] by f, keeping the native's name, length and property attributes. */
function patch(proto, name, f) {
  const d = Object.getOwnPropertyDescriptor(proto, name);
  nat[name + (proto === IDBCursor.prototype ? 'C' : proto === IDBIndex.prototype ? 'I' : '')] ??= d.value;
  Object.defineProperty(f, 'name', { value: d.value.name });
  Object.defineProperty(f, 'length', { value: d.value.length });
  Object.defineProperty(proto, name, { ...d, value: f });
}
function patchGetter(proto, name, wrap) {
  const d = Object.getOwnPropertyDescriptor(proto, name);
  const get = wrap(d.get);
  Object.defineProperty(get, 'name', { value: d.get.name });
  Object.defineProperty(proto, name, { ...d, get });
  return d.get;
}

function inactive(what) {
  return new DOMException(`Failed to execute '${what}': The transaction is not active.`, 'TransactionInactiveError');
}
function notFound(what, msg) { return new DOMException(`Failed to execute '${what}': ${msg}`, 'NotFoundError'); }

/** WebIDL's (DOMString or sequence<DOMString>) conversion of transaction()'s storeNames. */
function storeList(names) {
  if (typeof names === 'string') return [names];
  if (names !== null && (typeof names === 'object' || typeof names === 'function') && typeof names[Symbol.iterator] === 'function') {
    return Array.from(names, (n) => `${n}`);
  }
  return [`${names}`];
}
// A name no database has: put in place of a hidden store, it makes IndexedDB throw its own error.
const NO_STORE = '\u0000idbsync: no such store';

function install() {
  if (installed) return;
  installed = true;
  const D = IDBDatabase.prototype, S = IDBObjectStore.prototype, I = IDBIndex.prototype, C = IDBCursor.prototype, T = IDBTransaction.prototype;
  // Remember every connection opened from now on (openedAfterInstall), also the one an upgrade sees.
  const F = IDBFactory.prototype;
  patch(F, 'open', function () {
    const req = nat.open.apply(this, arguments);
    const note = () => { try { opened.add(req.result); } catch { /* no result */ } };
    req.addEventListener('upgradeneeded', note);
    req.addEventListener('success', note);
    return req;
  });
  nat.storeNames = patchGetter(T, 'objectStoreNames', (get) => function () {
    const list = get.call(this);
    return hidden.has(this.db) ? hideSync(list) : list;
  });
  nat.dbStoreNames = patchGetter(D, 'objectStoreNames', (get) => function () {
    if (probing) probed = this;
    const list = get.call(this);
    return hidden.has(this) ? hideSync(list) : list;
  });

  // Widen the app's readwrite transactions on synced stores to include the outbox.
  patch(D, 'transaction', function (names, mode, options) {
    if (!hidden.has(this) || arguments.length === 0) return nat.transaction.apply(this, arguments);
    let list = storeList(names);
    if (list.some(isSyncStore)) {
      list = list.map((n) => (isSyncStore(n) ? NO_STORE : n));
      return arguments.length > 2 ? nat.transaction.call(this, list, mode, options) : nat.transaction.call(this, list, mode);
    }
    const ctl = dbs.get(this);
    if (ctl && mode !== undefined && `${mode}` === 'readwrite' && list.some((n) => ctl.isSynced(n))) {
      list.push(OUTBOX);
      const tx = arguments.length > 2 ? nat.transaction.call(this, list, mode, options) : nat.transaction.call(this, list, mode);
      txs.set(tx, new TxState(tx, ctl));   // now: its complete listener runs before any the app adds (which may close the database)
      return tx;
    }
    return nat.transaction.apply(this, arguments);
  });

  patch(D, 'close', function () {
    const r = nat.close.apply(this, arguments);
    const ctl = dbs.get(this);
    if (ctl) ctl.onClose();
    return r;
  });

  patch(T, 'objectStore', function (name) {
    const store = nat.objectStore.apply(this, arguments);
    if (isSyncStore(typeof name === 'string' ? name : `${name}`) && hidden.has(this.db)) {
      throw notFound('objectStore\' on \'IDBTransaction', 'The specified object store was not found.');
    }
    return store;
  });

  // After abort() the transaction takes no request: the next write must probe again (activeFor).
  patch(T, 'abort', function () {
    const st = txs.get(this);
    if (st) st.active = false;
    return nat.abort.apply(this, arguments);
  });

  // After an explicit commit() no request can be added: the record of the burst so far goes first.
  if (T.commit) {
    patch(T, 'commit', function () {
      if (cloning === this) throw new DOMException('Failed to execute \'commit\' on \'IDBTransaction\': The transaction is not active.', 'InvalidStateError');
      const st = txs.get(this);
      if (st) st.commit();
      return nat.commit.apply(this, arguments);
    });
  }

  function write(name) {
    const native = S[name];
    patch(S, name, function (value, key) {
      if (cloning !== null && this.transaction === cloning) throw inactive(`${name}' on 'IDBObjectStore`);
      const i = arguments.length ? info(this) : null;
      if (!i || !activeFor(i.st, this)) return native.apply(this, arguments);
      const tx = i.st.tx;
      const hasKey = arguments.length > 1 && key !== undefined;
      if (hasKey ? i.path !== null : i.path === null && !i.auto) {
        // IndexedDB throws DataError before it clones (a key for in-line keys, none for out-of-line ones).
        const req = native.apply(this, arguments);
        uncaptured(tx, i.st);
        return req;
      }
      const c = cloneFor(tx, value);
      const k = hasKey && key !== null && typeof key === 'object' ? cloneFor(tx, key) : key;
      if (c === NONE || k === NONE) {
        const req = native.apply(this, arguments);
        uncaptured(tx, i.st);
        return req;
      }
      const req = hasKey ? native.call(this, c, k) : native.call(this, c);
      const e = { s: i.name, k: keyAtCall(i, c, k, hasKey), h: i.st.ctl.clock.now(), c, t: null, void: false, rec: null };
      if (e.k !== null) { i.st.ready(req, e); return req; }
      const inject = i.auto && i.kp && !hasKey ? i.kp : null;
      i.st.later(req, e, (x, result) => { x.k = encodeKey(result); if (inject && lookPath(x.c, inject) === undefined) injectKey(x.c, inject, result); });
      return req;
    });
  }
  write('put');
  write('add');

  const setKeys = (e, keys) => { e.keys = keys.map(encodeKey); };
  patch(S, 'delete', function (query) {
    if (cloning !== null && this.transaction === cloning) throw inactive('delete\' on \'IDBObjectStore');
    const i = arguments.length ? info(this) : null;
    if (!i) return nat.delete.apply(this, arguments);
    if (Object.prototype.toString.call(query) === '[object IDBKeyRange]') {
      // getAllKeys validates the range as delete does and runs first: it yields the keys delete removes.
      const kreq = own(nat.getAllKeys.call(this, query));
      const req = nat.delete.call(this, query);
      i.st.later(kreq, { s: i.name, k: null, keys: null, h: i.st.ctl.clock.now(), void: false, rec: null }, setKeys);
      return req;
    }
    // The key is encoded before the delete is issued: a key we cannot encode is no valid key, so
    // IndexedDB throws for it too (else the delete must not commit unrecorded).
    let k = null;
    try { k = encodeKey(query); } catch { /* IndexedDB throws DataError below */ }
    const req = nat.delete.call(this, query);
    if (k === null) { uncaptured(this.transaction, i.st); return req; }
    i.st.ready(req, { s: i.name, k, h: i.st.ctl.clock.now(), c: NONE, t: null, void: false, rec: null });
    return req;
  });

  patch(S, 'clear', function () {
    if (cloning !== null && this.transaction === cloning) throw inactive('clear\' on \'IDBObjectStore');
    const i = info(this);
    if (!i) return nat.clear.apply(this, arguments);
    const kreq = own(nat.getAllKeys.call(this));
    const req = nat.clear.call(this);
    i.st.later(kreq, { s: i.name, k: null, keys: null, h: i.st.ctl.clock.now(), void: false, rec: null }, setKeys);
    return req;
  });

  patch(C, 'update', function (value) {
    if (cloning !== null && storeOf(this).transaction === cloning) throw inactive('update\' on \'IDBCursor');
    const store = arguments.length ? storeOf(this) : null;
    const i = store && info(store);
    if (!i || !activeFor(i.st, store)) return nat.updateC.apply(this, arguments);
    const tx = i.st.tx;
    const c = cloneFor(tx, value);
    if (c === NONE) {
      const req = nat.updateC.apply(this, arguments);
      uncaptured(tx, i.st);
      return req;
    }
    const req = nat.updateC.call(this, c);   // the key is the cursor's (update may not change it)
    i.st.ready(req, { s: i.name, k: encodeKey(this.primaryKey), h: i.st.ctl.clock.now(), c, t: null, void: false, rec: null });
    return req;
  });

  patch(C, 'delete', function () {
    if (cloning !== null && storeOf(this).transaction === cloning) throw inactive('delete\' on \'IDBCursor');
    const i = info(storeOf(this));
    if (!i) return nat.deleteC.apply(this, arguments);
    const req = nat.deleteC.call(this);
    i.st.ready(req, { s: i.name, k: encodeKey(this.primaryKey), h: i.st.ctl.clock.now(), c: NONE, t: null, void: false, rec: null });
    return req;
  });

  // The other requests: refused while a value is cloned for their transaction (a getter's request).
  const guard = (proto, name, txOf, what) => {
    const native = proto[name];
    if (typeof native !== 'function') return;
    patch(proto, name, function () {
      if (cloning !== null && txOf(this) === cloning) throw inactive(`${name}' on '${what}`);
      return native.apply(this, arguments);
    });
  };
  for (const n of ['get', 'getKey', 'getAll', 'getAllKeys', 'getAllRecords', 'count', 'openCursor', 'openKeyCursor']) {
    guard(S, n, (s) => s.transaction, 'IDBObjectStore');
    guard(I, n, (x) => x.objectStore.transaction, 'IDBIndex');
  }
  for (const n of ['continue', 'advance', 'continuePrimaryKey']) guard(C, n, (c) => storeOf(c).transaction, 'IDBCursor');
}

// Installed when the module is loaded, before the app (or Dexie, which keeps a reference to the
// connection's `transaction` at open()) can open a database: writes through any library are seen.
if (typeof IDBDatabase !== 'undefined' && typeof IDBFactory !== 'undefined') install();

// A DOMStringList without the idbsync stores: DOMStringList cannot be constructed, so this is an
// object whose prototype inherits from DOMStringList.prototype with its own item/contains/length.
let ListProto = null;
function hideSync(list) {
  const names = [];
  let any = false;
  for (let i = 0; i < list.length; i++) { const n = list[i]; if (isSyncStore(n)) any = true; else names.push(n); }
  if (!any) return list;
  if (!ListProto) {
    ListProto = Object.create(DOMStringList.prototype, {
      item: { value: function item(i) { return names_(this)[i >>> 0] ?? null; }, configurable: true, writable: true },
      contains: { value: function contains(s) { return names_(this).includes(`${s}`); }, configurable: true, writable: true },
      length: { get: function length() { return names_(this).length; }, configurable: true },
      [Symbol.iterator]: { value: Array.prototype.values, configurable: true, writable: true },
    });
  }
  const out = Object.create(ListProto);
  names.forEach((n, i) => { Object.defineProperty(out, i, { value: n, enumerable: true }); });
  lists.set(out, names);
  return Object.freeze(out);
}
const lists = new WeakMap();
function names_(l) {
  const n = lists.get(l);
  if (!n) throw new TypeError('Illegal invocation');
  return n;
}

/** The unpatched IDBTransaction.prototype.objectStore etc., for the client's own use. */
export { nat as native };
