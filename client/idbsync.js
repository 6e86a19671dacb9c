// idbsync browser client, entry point: openSynced() / enableSync() return a Synced handle that
// captures writes (capture.js), pushes the outbox exactly once (outbox.js, transport.js), pulls and
// applies remote changes (apply.js), and coordinates tabs (tabs.js). See client/README.md.
import { Acks } from './acks.js';
import { BASE, META, OUTBOX, REJECTED, allStoreNames, installCapture, native, openedAfterInstall, registerDb, unregisterDb } from './capture.js';
import { Clock } from './clock.js';
import { Replica } from './replica.js';
import { decodeKey, encodeKey, fromTagged } from './codec.js';
import {
  AuthError, BadRequestError, IdbsyncError, QuotaError, RejectedError, SchemaError, StateChangedError, UnsupportedValueError, fromIdbError,
} from './errors.js';
import { emit, sleep } from './events.js';
import {
  ackUpTo, clearRejected, createSyncStores, done, getMeta, initMeta, isPut, itx, listRejected, nextBatch, pendingCount, rebase, rejectHead, restamp,
  rewriteRecords,
} from './outbox.js';
import { pullAll as pullFeed, refill } from './pull.js';
import { Tabs } from './tabs.js';
import { Transport, backoff, retryable } from './transport.js';

export * from './errors.js';
export { createSyncStores, DEXIE_STORES } from './outbox.js';
export { encodeValue, encodeValueAsync, encodeKey, fromTagged as decodeValue, decodeKey, toTagged } from './codec.js';
export { OUTBOX, META, BASE, REJECTED, installCapture };

const DEFAULTS = {
  background: true, batchSize: 2000, batchBytes: 4 << 20, pushWindow: 3, pullLimit: 5000, wait: 25,
  pushDelay: 30, retryMin: 250, retryMax: 30000, maxValueBytes: 8 << 20,
};
// A measured clock offset below this is noise (network delay); the HLC absorbs it.
const SKEW_TOLERANCE_MS = 1000;
// Writes within this many ms share one status event / push wake-up.
const CAPTURE_NOTIFY_MS = 10;

/** The handle returned by openSynced/enableSync. An EventTarget: 'change', 'conflict', 'status', 'error', 'reset'. */
export class Synced extends EventTarget {
  constructor(db, options, ownsDb) {
    super();
    if (!options || !options.url) throw new SchemaError('idbsync: options.url (the idbsync server) is required');
    const names = allStoreNames(db);
    if (!names.contains(OUTBOX) || !names.contains(META)) {
      throw new SchemaError(`idbsync: database "${db.name}" has no ${OUTBOX}/${META} stores; create them in your upgrade ` +
        `with createSyncStores(db) (Dexie: add ...DEXIE_STORES to your schema), or use openSynced()`);
    }
    if (!ownsDb && !openedAfterInstall(db)) {
      throw new SchemaError(`idbsync: database "${db.name}" was opened before idbsync was loaded, so its writes cannot be captured ` +
        `(Dexie keeps IndexedDB's transaction() from open()): import idbsync before the database is opened, then enableSync`);
    }
    this.db = db;      // the app's connection: its writes are captured
    this.name = db.name;
    this.o = { ...DEFAULTS, ...options };
    this.ownsDb = ownsDb;
    const only = options.stores ? new Set(options.stores) : null;
    this.isSynced = only ? (n) => only.has(n) : (n) => !n.startsWith('_idbsync_');
    // The local copy (idbsync's own connection, client id, clock, rules, epoch): what apply, pull
    // and revert work on; its transactions and their events stay away from the app's.
    this.local = new Replica(db.name, this.isSynced, new Clock('pending'));
    this.acks = new Acks();     // pushed writes the server kept, until the pull brings them back
    this.afterAck = [];         // conflict winners to apply once their losers are acknowledged
    this.cache = new Map();     // outbox records read for pushing (outbox.js), until acknowledged
    this.needRestamp = false;   // the clock was stepped back: pending stamps are re-stamped before the next push
    this.transport = new Transport({
      url: options.url, db: db.name, token: options.token, fetch: options.fetch,
      onNow: (server, local) => this.adoptOffset(server - local),
    });
    this.state = { online: !offline(), pending: 0, pushed: 0, pulled: 0, total: null, error: null, leader: false, lastSync: null, syncing: false, epoch: null, reset: null };
    this.wakeCtl = new AbortController();
    this.pushTimer = null;
    this.capturedN = 0;         // writes captured since the last notification (onCaptured)
    this.capturedT = null;
    this.running = false;
    this.closed = false;
    this.tabs = new Tabs(db.name, {
      onLead: (signal) => this.lead(signal),
      onMessage: (m) => this.onTabMessage(m),
    });
    // All the pull (pull.js) may use of this handle.
    this.pullIO = {
      acks: this.acks,
      transport: this.transport,
      pullLimit: this.o.pullLimit,
      takeAfterAck: () => this.afterAck.splice(0),
      onChanged: (applied) => this.changed(applied),
      onError: (e) => this.reportError(e),
      onState: (patch) => this.setState(patch),
      onConflict: (detail) => { emit(this, 'conflict', detail); this.tabs.post({ t: 'conflict', detail }); },
      onReset: (detail) => { emit(this, 'reset', detail); this.tabs.post({ t: 'reset', detail }); },
    };
    registerDb(db, {
      isSynced: this.isSynced,
      clock: this.local.clock,
      onCaptured: (n) => this.onCaptured(n),
      onTxError: (e) => { if (e && e.name === 'QuotaExceededError') this.reportError(new QuotaError('a write was rejected: storage quota exceeded (nothing already captured is lost)', { cause: e })); },
      onClose: () => this.close(),
      rewrite: (fixes) => {
        // Synchronously when the connection is there: the transaction starts before the app's own
        // complete handler could close the database.
        const run = (idb) => rewriteRecords(idb, fixes, this.cache);
        let p;
        try { p = this.local.idb ? run(this.local.idb) : this.local.conn().then(run); } catch (e) { p = Promise.reject(e); }
        p.catch((e) => this.reportError(fromIdbError(e, 'completing an outbox record')));
      },
    });
    this.onDbClose = () => this.close();   // closed by the browser (storage cleared, ...)
    db.addEventListener('close', this.onDbClose);
    this.onOnline = () => { this.setState({ online: true }); this.wake(); };
    this.onOffline = () => this.setState({ online: false });
    if (typeof window !== 'undefined') {
      window.addEventListener('online', this.onOnline);
      window.addEventListener('offline', this.onOffline);
    }
  }

  async init() {
    const local = this.local;
    const idb = await local.conn();
    const { client } = await initMeta(idb);
    local.clientId = client;
    local.clock.node = `${client}.${this.tabs.id}`;
    const off = await getMeta(idb, 'clockOffset');
    if (typeof off === 'number') local.clock.adjust(off);
    local.epoch = (await getMeta(idb, 'epoch')) || null;
    this.state.epoch = local.epoch;
    this.state.pending = await pendingCount(idb);
    if (this.o.background) this.start();
    return this;
  }

  // ------------------------------------------------------------------ public API

  /** Pushes everything pending, then pulls until up to date. Resolves with the status. */
  async sync() {
    this.assertOpen();
    await this.local.conn();
    await this.tabs.io(() => this.round());
    this.setState({ lastSync: Date.now(), error: null, online: true });
    return this.status;
  }

  /**
   * Pulls everything again, keeping the unpushed writes (pushed first and after): the whole
   * database (cursor back to 0, local rows the server does not have are deleted), or one store
   * (its rows from the start of the feed, the cursor stays). Resolves with the status.
   */
  async resync(storeName) {
    this.assertOpen();
    await this.local.conn();
    if (storeName !== undefined && !this.local.stores().has(storeName)) {
      throw new SchemaError(`idbsync: resync: "${storeName}" is not a synced store of database "${this.name}"`);
    }
    await this.tabs.io(async () => {
      await this.pushAll();
      if (storeName === undefined) await this.pullAll({ full: true });
      else { await refill(this.local, this.pullIO, new Set([storeName]), Infinity, true); await this.pullAll(); }
    });
    this.setState({ lastSync: Date.now(), error: null, online: true });
    return this.status;
  }

  /**
   * Runs a read-only SQL query on the server (POST /v1/db/{db}/query); each store is a view with a
   * column per top-level field. Resolves {columns, rows} with rows as arrays, values as the server
   * sent them (nothing decoded).
   */
  async query(sql, params) {
    this.assertOpen();
    const r = await this.transport.query(sql, params);
    const out = { columns: r.columns, rows: r.rows };
    if (r.truncated !== undefined) out.truncated = r.truncated;
    return out;
  }

  /** Mutations the server refused (400/413/403), removed from the outbox: [{id, store, key, op, value, hlc, error, at, rid}]. */
  async rejected() {
    return (await listRejected(await this.local.conn())).map(reviveRejected);
  }

  /** Forgets rejected mutations (all, or the given entries from rejected()). */
  async clearRejected(entries) {
    await clearRejected(await this.local.conn(), entries ? entries.map((e) => e.rid) : undefined);
  }

  /** Number of captured mutations the server has not acknowledged yet. */
  async pending() {
    const n = await pendingCount(await this.local.conn());
    this.setState({ pending: n });
    return n;
  }

  /** Starts background sync (on by default): this tab competes for the per-database lock. */
  start() { this.assertOpen(); this.running = true; this.tabs.start(); }
  /** Stops background sync in this tab; writes are still captured and sync() still works. */
  stop() { this.running = false; this.tabs.stop(); this.wake(); }
  /** Stops syncing, stops capturing; closes the database if openSynced opened it. */
  close() {
    if (this.closed) return;
    this.stop();
    this.closed = true;
    this.tabs.close();
    unregisterDb(this.db);
    this.db.removeEventListener('close', this.onDbClose);
    this.local.close();
    if (typeof window !== 'undefined') {
      window.removeEventListener('online', this.onOnline);
      window.removeEventListener('offline', this.onOffline);
    }
    if (this.ownsDb) this.db.close();
  }

  get status() { return { ...this.state, leader: this.tabs.leader }; }
  get isLeader() { return this.tabs.leader; }

  // ------------------------------------------------------------------ internals

  assertOpen() { if (this.closed) throw new IdbsyncError('closed', 'idbsync: handle is closed'); }

  setState(p) {
    Object.assign(this.state, p);
    emit(this, 'status', this.status);
  }

  reportError(err) {
    this.setState({ error: { code: err.code, message: err.message, status: err.status } });
    emit(this, 'error', err);
  }

  wake() { const c = this.wakeCtl; this.wakeCtl = new AbortController(); c.abort(); }

  onCaptured(n) {
    // Called per committed transaction: notify (status event, push timer or the leader tab) once
    // per burst, not per transaction.
    this.state.pending += n;
    this.capturedN += n;
    if (this.capturedT) return;
    this.capturedT = setTimeout(() => {
      const k = this.capturedN;
      this.capturedN = 0; this.capturedT = null;
      if (this.closed) return;
      this.setState({});
      if (this.tabs.leader) this.schedulePush();
      else this.tabs.post({ t: 'wrote', n: k });
    }, CAPTURE_NOTIFY_MS);
  }

  schedulePush() {
    if (this.pushTimer) return;
    this.pushTimer = setTimeout(() => { this.pushTimer = null; this.wake(); }, this.o.pushDelay);
  }

  onTabMessage(m) {
    if (m.t === 'wrote') { if (this.tabs.leader) this.schedulePush(); this.pending().catch(() => {}); }
    else if (m.t === 'change') { if (m.parts) this.signalDexie(m.parts); emit(this, 'change', { changes: m.changes.map(revive), remote: true }); }
    else if (m.t === 'reset') {
      // The leader resynced with another server state: this tab's cursor (META) is that state's now.
      this.local.epoch = m.detail.to; this.acks.clear();
      this.setState({ epoch: m.detail.to, reset: m.detail });
      emit(this, 'reset', m.detail);
    }
    else if (m.t === 'conflict') { emit(this, 'conflict', m.detail); }
    else if (m.t === 'status') { Object.assign(this.state, m.state); emit(this, 'status', this.status); }
    else if (m.t === 'clock') { this.local.clock.adjust(m.offset); }
    else if (m.t === 'rejected') { emit(this, 'error', rejectedError(m.entry)); }
  }

  changed(changes) {
    if (!changes.length) return;
    const parts = this.dexieParts(changes);
    this.signalDexie(parts);
    emit(this, 'change', { changes });
    this.tabs.post({ t: 'change', changes: changes.map(wire), parts });
  }

  /**
   * Dexie's observability set for applied remote changes: every index of each store touched, its
   * whole range (liveQuery re-runs the queries that read these stores).
   */
  dexieParts(changes) {
    const all = () => ({ d: 1, from: -Infinity, to: [[]] });   // Dexie's RangeSet(-Infinity, maxKey) as plain data
    const parts = {};
    for (const st of new Set(changes.map((c) => c.store))) {
      const base = `idb://${this.name}/${st}/`;
      parts[base] = all();
      parts[base + ':dels'] = all();
      for (const ix of this.local.indexes.get(st) || []) parts[base + ix] = all();
    }
    return parts;
  }

  /**
   * Tells Dexie (liveQuery, useLiveQuery) that rows changed, with the DOM event every Dexie >= 3.2
   * in this window listens to ('x-storagemutated-1', how Dexie instances tell each other): it fires
   * Dexie's `storagemutated` and re-runs the queries its cache holds. `Dexie.on('storagemutated')
   * .fire(parts)` alone does not re-run Dexie 4's cached liveQueries. No reference to Dexie needed.
   */
  signalDexie(parts) {
    if (this.o.signalDexie === false || typeof dispatchEvent !== 'function') return;
    try {
      dispatchEvent(new CustomEvent('x-storagemutated-1', { detail: parts }));
    } catch (e) {
      setTimeout(() => { throw e; });
    }
  }

  /** A push + pull round; after a reset of the server's state, the unpushed writes go again. */
  async round() {
    await this.pushAll();
    if (await this.pullAll()) { await this.pushAll(); await this.pullAll(); }
  }

  /** Background loop while this tab is the leader. */
  async lead(signal) {
    this.setState({ leader: true });
    let attempt = 0;
    while (!signal.aborted && this.running && !this.closed) {
      const wake = this.wakeCtl.signal;
      if (offline()) {
        // The browser knows it has no network: no requests until its `online` event (wake()).
        if (this.state.online) this.setState({ online: false });
        await sleep(this.o.retryMax, AbortSignal.any([signal, wake]));
        continue;
      }
      try {
        await this.local.conn();
        await this.tabs.io(() => this.round());
        attempt = 0;
        this.setState({ online: true, error: null, lastSync: Date.now() });
        this.tabs.post({ t: 'status', state: { online: true, error: null, lastSync: this.state.lastSync, pending: this.state.pending } });
        if (signal.aborted || wake.aborted) continue;
        // Live: long-poll for anything newer than our cursor; a local write (wake) interrupts it.
        const since = (await getMeta(this.local.idb, 'cursor')) || 0;
        const any = AbortSignal.any([signal, wake]);
        await this.transport.pull({ since, limit: 1, wait: this.o.wait, client: this.local.clientId, epoch: this.local.epoch }, { signal: any })
          .catch((e) => { if (!any.aborted) throw e; });
      } catch (e) {
        if (signal.aborted) break;
        const err = e instanceof IdbsyncError ? e : fromIdbError(e, 'sync');
        if (err instanceof StateChangedError) { attempt = 0; continue; }   // the long-poll saw it: the next round resyncs
        if (err.code === 'network') {
          // Offline is a status, not an error event: online false (error says why when the browser thinks it is online).
          this.setState({ online: false, error: offline() ? null : { code: err.code, message: err.message, status: err.status } });
          if (offline()) continue;
        } else {
          this.reportError(err);
        }
        const delay = retryable(err) ? backoff(attempt++, { min: this.o.retryMin, max: this.o.retryMax })
          : Math.max(this.o.retryMax, 30000);   // auth / bad request: wait for the app (start(), online, a write)
        await sleep(delay, AbortSignal.any([signal, this.wakeCtl.signal]));
      }
    }
    this.setState({ leader: false });
  }

  /**
   * Pushes the outbox: up to pushWindow batches in flight, acknowledged in order. A batch the
   * server refuses (400/413/403) is bisected down to the offending mutation, which moves to the
   * REJECTED store (error event) so the rest can go. A 400 "ahead of the server clock" adopts
   * the server's time and re-stamps the pending mutations once.
   */
  async pushAll() {
    const normal = { maxMutations: this.o.batchSize, maxBytes: this.o.batchBytes };
    if (this.needRestamp) { this.needRestamp = false; await restamp(this.local.idb, this.local.clock, this.cache); }
    // poison > 0: the first `poison` pending mutations hold one the server refuses; the next
    // batch sends `split` of them (bisection, or the index the server's message names).
    let poison = 0, split = 0, clockRetried = false;
    for (;;) {
      const r = poison
        ? await this.pushRun({ maxMutations: split, maxBytes: Infinity }, 1, 1)
        : await this.pushRun(normal, Math.max(1, this.o.pushWindow), Infinity);
      if (r.again) continue;
      if (r.local) {
        // A value the wire format cannot carry, or Blobs too large / unreadable: set aside like a refused one.
        const err = new UnsupportedValueError(r.local.error);
        if (r.local.reason) err.serverCode = r.local.reason;
        const entry = await rejectHead(this.local.idb, r.local.id, err, this.cache);
        if (entry) {
          this.reportError(rejectedError(entry));
          this.tabs.post({ t: 'rejected', entry });
        }
        poison = 0; clockRetried = false;
        continue;
      }
      if (!r.err) {
        if (!poison || r.stopped || r.empty) break;
        poison -= r.acked;
        if (poison <= 0) poison = 0;
        split = Math.ceil(poison / 2);
        continue;
      }
      const e = r.err, b = r.batch;
      if (e.serverNow !== undefined && !clockRetried) {
        clockRetried = true;
        this.adoptOffset(e.serverNow - e.localNow, true);
        await restamp(this.local.idb, this.local.clock, this.cache);
        continue;
      }
      if (!refused(e)) throw e;
      const n = b.last - b.first + 1;
      if (n === 1) {
        // 403: the server will never take this write, so the local row goes back to its version.
        const entry = await rejectHead(this.local.idb, b.first, e, this.cache, e.status === 403);
        if (entry) {
          this.reportError(rejectedError(entry));
          this.tabs.post({ t: 'rejected', entry });
        }
        poison = 0; clockRetried = false;
        continue;
      }
      // The server names the mutation: by index ("mutations[3].value: ...") or by id ("mutation 7: ...").
      const hint = /mutations\[(\d+)\]/.exec(e.message), byId = /\bmutation (\d+):/.exec(e.message);
      const i = hint ? Number(hint[1]) : byId ? Number(byId[1]) - b.first : -1;
      if (i >= 0 && i < n) { poison = i + 1; split = i > 0 ? i : 1; }
      else { poison = n; split = Math.ceil(n / 2); }
    }
    const n = await pendingCount(this.local.idb);
    this.setState({ pending: n });
  }

  /**
   * Sends batches from the outbox head, at most `window` in flight and `maxBatches` in all, and
   * handles the answers in order. Returns {acked, empty} when done, {acked, stopped} when the server
   * stopped early, {again} after a renumbering, {err, batch, acked} at the first failed batch
   * (after every other request in flight has settled), {local, acked} when the head mutation cannot
   * be sent (nextBatch).
   */
  async pushRun(limits, window, maxBatches) {
    limits = { ...limits, maxValueBytes: this.o.maxValueBytes };
    const inflight = [];
    const send = (b) => this.transport.push(b.body).then((res) => ({ res }), (err) => ({ err }));
    let from = null, exhausted = false, sent = 0, acked = 0, unsendable = false;
    try {
      for (;;) {
        while (!exhausted && inflight.length < window && sent < maxBatches) {
          const b = await nextBatch(this.local.idb, this.local.clientId, limits, this.cache, from, this.acks.kept);
          if (!b) { exhausted = true; break; }
          if (b.local) {
            exhausted = true;
            if (!inflight.length) return { local: b.local, acked };
            unsendable = true;   // it reaches the head once the batches before it are acknowledged
            break;
          }
          from = b.next; sent++;
          inflight.push({ b, p: send(b) });
        }
        if (!inflight.length) return unsendable ? { acked, again: true } : { acked, empty: sent === 0 };
        const { b, p } = inflight.shift();
        let { res, err } = await p;
        // Overtook its predecessor on the way to the server's queue: send it again, now in order.
        if (res && res.gap && res.expected < b.first) ({ res, err } = await send(b));
        if (err) return { err, batch: b, acked };
        if (res.gap) {
          if (typeof res.expected !== 'number' || res.expected >= b.first) throw new BadRequestError(`push: unexpected gap answer (expected ${res.expected}, sent from ${b.first})`);
          await Promise.all(inflight.map((x) => x.p));
          await rebase(this.local.idb, res.expected);
          this.cache.clear();
          return { again: true };
        }
        if (res.ack < b.first - 1) throw new BadRequestError(`push: server ack ${res.ack} is below our first id ${b.first}`);
        if (res.conflicts.length) await this.conflicts(res.conflicts, b);
        this.acks.note(b, Math.min(res.ack, b.last), res.conflicts, res.kept);
        const dropped = await ackUpTo(this.local.idb, Math.min(res.ack, b.last), this.cache);
        acked += dropped;
        this.setState({ pushed: this.state.pushed + dropped, pending: Math.max(0, this.state.pending - dropped) });
        if (res.ack < b.last) return { acked, stopped: true };   // server stopped early; retry later
      }
    } finally {
      await Promise.all(inflight.map((x) => x.p));
    }
  }

  /**
   * A measured offset (server now - local now). Small ones are noise; a new one moves the HLC's
   * physical time, is shared with the other tabs and kept in META. force: from a clock error.
   */
  adoptOffset(off, force = false) {
    const target = Math.abs(off) < SKEW_TOLERANCE_MS ? 0 : Math.round(off);
    if (!force && Math.abs(target - this.local.clock.offset) < SKEW_TOLERANCE_MS) return;
    if (this.local.clock.adjust(target)) this.needRestamp = true;
    this.tabs.post({ t: 'clock', offset: target });
    if (!this.local.idb) return;
    const tx = itx(this.local.idb, [META], 'readwrite');
    native.put.call(native.objectStore.call(tx, META), target, 'clockOffset');
    done(tx).catch(() => {});
  }

  async conflicts(list, b) {
    const winners = [];
    for (const c of list) {
      const m = b.muts[c.id - b.first];
      const local = m ? { op: isPut(m) ? 'put' : 'delete', value: isPut(m) ? fromTagged(JSON.parse(m[3])) : undefined } : null;
      const w = c.winner || {};
      const detail = {
        store: c.store, key: decodeKey(structuredClone(c.key)), id: c.id, op: c.op, rule: c.rule, reason: c.reason, fields: c.fields,
        local, winner: { seq: w.seq, op: w.op, hlc: w.hlc, value: w.value === undefined ? undefined : fromTagged(structuredClone(w.value)) },
      };
      emit(this, 'conflict', detail);
      this.tabs.post({ t: 'conflict', detail });
      if (w.op) winners.push({ seq: w.seq, store: c.store, op: w.op, key: c.key, value: w.value, hlc: w.hlc });
    }
    // Adopt the winners now, once the losing mutations are acknowledged (so they no longer block the key).
    this.afterAck.push(...winners);
  }

  /** See pull.js: returns true when the server's state changed (the unpushed writes go again). */
  pullAll(o) { return pullFeed(this.local, this.pullIO, o); }
}

/** True for a push answer that refuses the batch's content (the same batch would fail again). */
function refused(e) {
  return e instanceof BadRequestError && (e.status === 400 || e.status === 413) ||
    (e instanceof AuthError && e.status === 403 && e.serverCode === 'forbidden');
}

function reviveRejected(x) {
  const r = { ...x };
  try { r.key = decodeKey(JSON.parse(x.key)); } catch { /* keep the JSON */ }
  if (typeof x.value === 'string') { try { r.value = fromTagged(JSON.parse(x.value)); } catch { /* keep the JSON */ } }
  return r;
}

function rejectedError(entry) {
  const m = reviveRejected(entry);
  return new RejectedError(`push: the server refused mutation ${entry.id} (${entry.store} ${entry.key}): ${entry.error.message}`,
    { status: entry.error.status, serverCode: entry.error.code, mutation: m });
}

/** True when the browser says it has no network (navigator.onLine false). */
function offline() { return typeof navigator !== 'undefined' && navigator.onLine === false; }

function wire(c) { return { store: c.store, op: c.op, key: encodeKey(c.key), seq: c.seq }; }
function revive(c) { return { store: c.store, op: c.op, key: fromTagged(JSON.parse(c.key)), seq: c.seq, remote: true }; }

function openDb(name, version, upgrade) {
  return new Promise((resolve, reject) => {
    const req = version === undefined ? indexedDB.open(name) : indexedDB.open(name, version);
    req.onupgradeneeded = (ev) => {
      const db = req.result;
      try {
        createSyncStores(db, req.transaction);   // first: the app's upgrade does not see them
        if (upgrade) upgrade(db, ev.oldVersion, ev.newVersion, req.transaction);
      } catch (e) {
        req.transaction.abort();
        reject(e);
      }
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(fromIdbError(req.error, `opening ${name}`));
    req.onblocked = () => console.warn(`idbsync: opening ${name} v${version} is blocked by another open connection`);
  });
}

/**
 * Opens (creating/upgrading) an IndexedDB database and syncs it.
 * @param {string} name database name (also the server's {db})
 * @param {number} version schema version, as for indexedDB.open
 * @param {object} options see client/idbsync.d.ts
 */
export async function openSynced(name, version, options = {}) {
  const db = await openDb(name, version, options.upgrade);
  const names = allStoreNames(db);
  if (!names.contains(OUTBOX) || !names.contains(META)) {
    db.close();
    throw new SchemaError(`idbsync: database "${name}" already exists at version ${db.version} without the idbsync stores; ` +
      `open it with a higher version so openSynced can add them`);
  }
  try {
    return await new Synced(db, options, true).init();
  } catch (e) {
    db.close();
    throw e;
  }
}

/** Syncs a database the app already opened (it must contain the idbsync stores: createSyncStores / DEXIE_STORES). */
export async function enableSync(db, options = {}) {
  return new Synced(db, options, false).init();
}
