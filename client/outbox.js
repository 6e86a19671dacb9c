// The outbox: records written by capture.js ({m: [[store, keyJSON, hlc, valueJSON?], ...]}, one per
// transaction, autoIncrement keys = commit order). Mutation ids are derived, not stored: the meta
// entry "base" = {idx, id} says that mutation #idx of the FIRST record has id `id`, and ids count
// up from there in outbox order. Records are immutable and only appended, so a reload or crash
// mid-push rebuilds the same ids and the server's idempotency (ids <= ack) absorbs the resend.
// The only rewrites are re-stamping (clock correction) and removing a mutation the server
// rejected; both happen at the head, before its ids were ever applied by the server.
import { OUTBOX, META, BASE, REJECTED, allStoreNames, hideSyncStores, markInternal, native } from './capture.js';
import { baseId, ensureBaseIndex, readBases } from './base.js';
import { blobBytes, encodeValueAsync } from './codec.js';
import { FIRST_BASE, ackRecord, pendingOf, pushBody } from './bookkeeping.js';

/**
 * Creates the idbsync stores; call from an upgrade (versionchange) callback. They are hidden from
 * db's objectStoreNames. tx (the upgrade transaction): also gives a BASE store made by an older
 * client its index (base.js), which makes big pulls faster.
 */
export function createSyncStores(db, tx) {
  const names = allStoreNames(db);
  if (!names.contains(OUTBOX)) db.createObjectStore(OUTBOX, { autoIncrement: true });
  if (!names.contains(META)) db.createObjectStore(META);
  if (!names.contains(BASE)) ensureBaseIndex(db.createObjectStore(BASE));
  else if (tx) ensureBaseIndex(tx.objectStore(BASE));
  if (!names.contains(REJECTED)) db.createObjectStore(REJECTED, { autoIncrement: true });
  hideSyncStores(db);
}

/**
 * Outbox entries (capture.js): [store, key, hlc] a delete; [store, key, hlc, valueJSON] a put;
 * [store, key, hlc, {blob: value}] a put whose value holds Blobs (encoded when pushed);
 * [store, key, hlc, {error}] a put the wire format cannot carry (rejected locally, never sent).
 */
export const isPut = (e) => e.length === 4;
const unsendable = (e) => e.length === 4 && typeof e[3] === 'object' && e[3].error !== undefined;
/** A record written with `open` is being completed by its tab (capture.js); after this long it is taken as it is. */
const OPEN_STALE_MS = 10000;

/** Dexie schema fragment: db.version(n).stores({...yourStores, ...DEXIE_STORES}). */
export const DEXIE_STORES = Object.freeze({ [OUTBOX]: '++', [META]: '', [BASE]: '', [REJECTED]: '++' });

export function req2p(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}
export function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = tx.onerror = () => reject(tx.error || new DOMException('transaction aborted', 'AbortError'));
  });
}
/** An internal transaction (never captured); durability 'relaxed' only where a lost commit is pulled again. */
export function itx(db, stores, mode, durability = 'default') {
  return markInternal(mode === 'readwrite' ? db.transaction(stores, mode, { durability }) : db.transaction(stores, mode));
}

function randomId(prefix) {
  const b = crypto.getRandomValues(new Uint8Array(10));
  return prefix + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Reads (creating on first use) the persistent client id and the pull cursor. */
export async function initMeta(db) {
  const tx = itx(db, [META], 'readwrite');
  const meta = native.objectStore.call(tx, META);
  let client = await req2p(meta.get('client'));
  if (!client) { client = randomId('c'); meta.put(client, 'client'); }
  const cursor = (await req2p(meta.get('cursor'))) || 0;
  await done(tx);
  return { client, cursor };
}

// Readers wait for their transaction to finish: idbsync's connection then closes at once when the
// app's closes (a transaction still running would make the app's next open() fire `blocked`).
export async function getMeta(db, key) {
  const tx = itx(db, [META], 'readonly');
  const v = await req2p(tx.objectStore(META).get(key));
  await done(tx);
  return v;
}

const RECORDS_PER_READ = 64;

/**
 * Reads the push batch that starts at `from` ({key, idx, id}: outbox record key, mutation index in
 * it, mutation id; null = the outbox head): up to maxMutations / ~maxBytes. Records are read
 * RECORDS_PER_READ at a time and kept in cache (Map key -> m) until acknowledged; a record still
 * `open` ends the batch. Each mutation carries the server seq last applied for its key (BASE
 * store, looked up here, not at capture). Values holding Blobs are encoded here (their bytes read,
 * at most maxValueBytes). Returns null when nothing is left, {local: {id, error}} when the next
 * mutation cannot be sent (to be rejected locally), else {body, first, last, muts, next} (next:
 * where the following batch starts).
 */
export async function nextBatch(db, client, { maxMutations = 500, maxBytes = 1 << 20, maxValueBytes = 8 << 20 } = {}, cache = new Map(), from = null, kept = null) {
  const hasBase = db.objectStoreNames.contains(BASE);
  const tx = itx(db, hasBase ? [OUTBOX, META, BASE] : [OUTBOX, META], 'readonly');
  const out = tx.objectStore(OUTBOX);
  let pos = from;
  if (!pos) {
    const base = (await req2p(tx.objectStore(META).get('base'))) || { ...FIRST_BASE };
    pos = { key: null, idx: base.idx, id: base.id };
  }
  const load = async (range) => {
    const ks = await req2p(out.getAllKeys(range, RECORDS_PER_READ));
    if (ks.length && !ks.every((k) => cache.has(k))) {
      const vals = await req2p(out.getAll(IDBKeyRange.bound(ks[0], ks[ks.length - 1]), ks.length));
      for (let i = 0; i < ks.length; i++) {
        const v = vals[i];
        if (cache.has(ks[i])) continue;
        if (v && v.open && Date.now() - v.open < OPEN_STALE_MS) return ks.slice(0, i);
        cache.set(ks[i], v ? v.m : []);
      }
    }
    return ks;
  };
  const muts = [], at = [];
  let bytes = 0, id = pos.id, idx = pos.idx, key = pos.key;
  let keys = [], ki = 0, range = key === null ? null : IDBKeyRange.lowerBound(key);
  outer: for (;;) {
    if (ki >= keys.length) {
      keys = await load(range); ki = 0;
      if (!keys.length) break;
      range = IDBKeyRange.lowerBound(keys[keys.length - 1], true);
    }
    const k = keys[ki++];
    if (key !== null && k !== key) idx = 0;   // a later record (pos.idx applies to pos.key only)
    key = k;
    const m = cache.get(k);
    for (; idx < m.length; idx++) {
      const e = m[idx];
      if (unsendable(e)) {
        if (!muts.length) { await done(tx); return { local: { id, error: e[3].error } }; }
        break outer;
      }
      const v = e[3];
      const len = e[0].length + e[1].length + (v === undefined ? 0 : typeof v === 'string' ? v.length : blobBytes(v.blob) * 4 / 3) + 100;
      if (muts.length && (muts.length >= maxMutations || bytes + len > maxBytes)) break outer;
      muts.push(e); at.push({ key, idx, id }); bytes += len; id++;
    }
  }
  if (!muts.length) return null;
  let next = { key, idx, id };
  let bases = null;
  if (hasBase && (await req2p(tx.objectStore(BASE).getAllKeys(null, 1))).length) {
    bases = await readBases(tx.objectStore(BASE), muts.map((e) => baseId(e[0], e[1])));
  }
  // Values with Blobs: read now (the transaction may end meanwhile). One that cannot be read or is
  // too large ends the batch, or is the local rejection when it comes first.
  for (let i = 0; i < muts.length; i++) {
    const e = muts[i];
    if (!isPut(e) || typeof e[3] === 'string') continue;
    try {
      muts[i] = [e[0], e[1], e[2], await encodeValueAsync(e[3].blob, maxValueBytes)];
    } catch (err) {
      if (i === 0) return { local: { id: at[0].id, error: String(err && err.message || err), reason: err && err.reason } };
      muts.length = i;
      next = at[i];
      break;
    }
  }
  const first = at[0].id;
  if (kept && kept.size) {   // seqs of acked writes not pulled back yet (Sync.noteAcked)
    bases = bases || new Array(muts.length);
    muts.forEach((e, i) => {
      const k = kept.get(e[0] + '\0' + e[1]);
      if (k !== undefined && !(typeof bases[i] === 'number' && bases[i] >= k)) bases[i] = k;
    });
  }
  return { body: pushBody(client, first, muts, bases), first, last: first + muts.length - 1, muts, next };
}

/** Drops every mutation with id <= ack (whole records deleted, base advanced), atomically. */
export async function ackUpTo(db, ack, cache = new Map()) {
  const tx = itx(db, [OUTBOX, META], 'readwrite');
  const out = native.objectStore.call(tx, OUTBOX), meta = native.objectStore.call(tx, META);
  const base = (await req2p(meta.get('base'))) || { ...FIRST_BASE };
  if (ack < base.id) { await done(tx); return 0; }
  let dropped = 0;
  for (;;) {
    const keys = await req2p(out.getAllKeys(null, 64));
    if (!keys.length) break;
    let progressed = false;
    for (const key of keys) {
      let m = cache.get(key);
      if (!m) m = ((await req2p(out.get(key))) || { m: [] }).m;
      const r = ackRecord(base, m.length, ack);
      dropped += r.dropped;
      progressed = r.whole;
      if (!r.whole) break;
      native.delete.call(out, key);
      cache.delete(key);
      if (base.id > ack) break;
    }
    if (!progressed || base.id > ack) break;
  }
  // Ack beyond what we hold (should not happen): keep ids monotonic for the server.
  if (base.id <= ack) { base.id = ack + 1; base.idx = 0; }
  native.put.call(meta, base, 'base');
  await done(tx);
  return dropped;
}

/**
 * Rewrites records of a committed transaction that capture.js could not finish inside it (after
 * an explicit commit(): keys still to come, a failure the app handled): fixes [{key, m}], an empty
 * m deletes the record. A record no longer there was pushed and acknowledged meanwhile: it is not
 * brought back (that would renumber every later mutation).
 */
export function rewriteRecords(db, fixes, cache = new Map()) {
  const tx = itx(db, [OUTBOX], 'readwrite');
  const out = native.objectStore.call(tx, OUTBOX);
  for (const f of fixes) {
    cache.delete(f.key);
    native.getKey.call(out, f.key).onsuccess = (e) => {
      if (e.target.result === undefined) return;
      if (f.m.length) native.put.call(out, { m: f.m }, f.key);
      else native.delete.call(out, f.key);
    };
  }
  return done(tx);
}

/** After a gap answer: the server has applied nothing beyond expected-1, so renumber from there. */
export async function rebase(db, expected) {
  const tx = itx(db, [META], 'readwrite');
  const meta = native.objectStore.call(tx, META);
  const base = (await req2p(meta.get('base'))) || { ...FIRST_BASE };
  base.id = expected;
  native.put.call(meta, base, 'base');
  await done(tx);
}

/** Mutations not yet acknowledged by the server (optionally the set "store\0keyJSON" of their keys). */
export async function pendingIn(tx, wantKeys) {
  const out = tx.objectStore(OUTBOX);
  const n = await req2p(out.count());
  if (!n) return { count: 0, keys: wantKeys ? new Set() : null };
  const base = (await req2p(tx.objectStore(META).get('base'))) || { ...FIRST_BASE };
  const recs = await req2p(out.getAll());
  return pendingOf(base, recs.map((r) => r.m), wantKeys);
}

export async function pendingCount(db) {
  const tx = itx(db, [OUTBOX, META], 'readonly');
  const { count } = await pendingIn(tx, false);
  await done(tx);
  return count;
}

/**
 * Removes the head mutation (id `id`, which the server refused) from the outbox and files it in
 * the REJECTED store with the server's error, atomically. Later mutations move up one id (the
 * server applied nothing from id on, so the numbering stays gap-free). revert: also leave a
 * marker (META ["revert", store, keyJSON]) saying the local row must go back to the server's
 * version (revert.js), in the same transaction, so a reload cannot lose it. Returns the entry.
 */
export async function rejectHead(db, id, error, cache = new Map(), revert = false) {
  const hasRej = db.objectStoreNames.contains(REJECTED);
  const tx = itx(db, hasRej ? [OUTBOX, META, REJECTED] : [OUTBOX, META], 'readwrite');
  const out = native.objectStore.call(tx, OUTBOX), meta = native.objectStore.call(tx, META);
  const base = (await req2p(meta.get('base'))) || { ...FIRST_BASE };
  const keys = await req2p(out.getAllKeys(null, 1));
  if (base.id !== id || !keys.length) { await done(tx); return null; }
  const rec = await req2p(out.get(keys[0]));
  const m = rec.m.slice();
  const [e] = m.splice(base.idx, 1);
  if (!e) { await done(tx); return null; }
  cache.delete(keys[0]);
  if (base.idx >= m.length) { native.delete.call(out, keys[0]); base.idx = 0; }
  else native.put.call(out, { m }, keys[0]);
  native.put.call(meta, base, 'base');
  const entry = {
    id, store: e[0], key: e[1], op: isPut(e) ? 'put' : 'delete', hlc: e[2],
    value: !isPut(e) ? undefined : typeof e[3] === 'string' ? e[3] : e[3].blob,   // JSON, or the value itself (with its Blobs)
    error: { code: error.serverCode || error.code, status: error.status, message: error.message }, at: Date.now(),
  };
  if (hasRej) native.add.call(native.objectStore.call(tx, REJECTED), entry);
  else native.put.call(meta, entry, ['rejected', entry.at, id]);
  if (revert) native.put.call(meta, entry, ['revert', entry.store, entry.key]);
  await done(tx);
  return entry;
}

const REVERTS = () => IDBKeyRange.bound(['revert'], ['revert', []]);

/** Rows waiting to be reverted to the server's version: [{store, key (JSON), id, op, value, hlc, error}]. */
export async function listReverts(db) {
  const tx = itx(db, [META], 'readonly');
  return req2p(tx.objectStore(META).getAll(REVERTS()));
}

/** Forgets revert markers (those of the given entries). */
export async function dropReverts(db, entries) {
  const tx = itx(db, [META], 'readwrite');
  const meta = native.objectStore.call(tx, META);
  for (const e of entries) native.delete.call(meta, ['revert', e.store, e.key]);
  await done(tx);
}

/** Rejected mutations, oldest first (with their REJECTED-store key as `rid`). */
export async function listRejected(db) {
  if (!db.objectStoreNames.contains(REJECTED)) {
    const tx = itx(db, [META], 'readonly');
    const range = IDBKeyRange.bound(['rejected'], ['rejected', []]);
    const [vals, keys] = await Promise.all([req2p(tx.objectStore(META).getAll(range)), req2p(tx.objectStore(META).getAllKeys(range))]);
    return vals.map((v, i) => ({ ...v, rid: keys[i] }));
  }
  const tx = itx(db, [REJECTED], 'readonly');
  const st = tx.objectStore(REJECTED);
  const [vals, keys] = await Promise.all([req2p(st.getAll()), req2p(st.getAllKeys())]);
  return vals.map((v, i) => ({ ...v, rid: keys[i] }));
}

/** Deletes rejected entries (all, or those whose rid is listed). */
export async function clearRejected(db, rids) {
  const hasRej = db.objectStoreNames.contains(REJECTED);
  const tx = itx(db, [hasRej ? REJECTED : META], 'readwrite');
  const st = native.objectStore.call(tx, hasRej ? REJECTED : META);
  if (!rids) native.delete.call(st, hasRej ? IDBKeyRange.lowerBound(-Infinity) : IDBKeyRange.bound(['rejected'], ['rejected', []]));
  else for (const r of rids) native.delete.call(st, r);
  await done(tx);
}

/**
 * After a clock correction: re-stamps, in outbox order, every pending mutation from the first
 * one stamped ahead of the (corrected) clock on, so they stay in order and are never ahead of
 * later writes. Returns how many were re-stamped.
 */
export async function restamp(db, clock, cache = new Map()) {
  const tx = itx(db, [OUTBOX, META], 'readwrite');
  const out = native.objectStore.call(tx, OUTBOX), meta = native.objectStore.call(tx, META);
  const base = (await req2p(meta.get('base'))) || { ...FIRST_BASE };
  const [vals, keys] = await Promise.all([req2p(out.getAll()), req2p(out.getAllKeys())]);
  const limit = clock.ms;
  let on = false, n = 0;
  vals.forEach((rec, ri) => {
    let m = rec.m, changed = false;
    for (let i = ri === 0 ? base.idx : 0; i < m.length; i++) {
      if (!on && Number(m[i][2].slice(0, 13)) > limit) on = true;
      if (!on) continue;
      if (!changed) { m = m.map((e) => e.slice()); changed = true; }
      m[i][2] = clock.now();
      n++;
    }
    if (changed) { native.put.call(out, { ...rec, m }, keys[ri]); cache.delete(keys[ri]); }   // an `open` record stays open
  });
  await done(tx);
  return n;
}
