// Applies pulled changes (and conflict winners) to IndexedDB: chunks of rows per internal
// transaction (never captured again), the pull cursor saved in the same transaction as the
// rows, a yield to the event loop between chunks, and rows with a local edit still in the
// outbox left alone (the server resolves them when that edit is pushed). Each applied row's seq
// is recorded in the BASE store in the same transaction: it is the `base` of the next local edit.
import { OUTBOX, META, BASE, native } from './capture.js';
import { plain } from './acks.js';
import { baseId, dropBases, writeBases } from './base.js';
import { decodeKey, encodeKey, fromTagged } from './codec.js';
import { fromIdbError } from './errors.js';
import { done, itx, pendingIn } from './outbox.js';

// One transaction per pulled page (pullLimit rows): fewer commits; its rows are issued in slices
// of at most SLICE_MS of main-thread time (no long task, whatever the load).
export const PART = 5000;
const SLICE_MS = 4;

function putRow(store, key, value) {
  const kp = store.keyPath;
  if (kp === null) return native.put.call(store, value, key);
  if (typeof kp === 'string' && value !== null && typeof value === 'object') {
    const parts = kp.split('.');
    let t = value;
    for (let i = 0; i < parts.length - 1; i++) t = (t[parts[i]] ??= {});
    if (t[parts[parts.length - 1]] === undefined) t[parts[parts.length - 1]] = key;
  }
  return native.put.call(store, value, undefined);
}

/**
 * Applies changes ([{seq, store, op, key, value, hlc}]) in parts of up to PART rows, each in one
 * internal transaction. cursor: stored with the last part (null: leave the cursor alone, e.g.
 * conflict winners). seen (Map store -> Set of key JSON) collects keys during a resync.
 * onChunk(appliedChanges, count) runs after each committed part.
 * restore: write our own rows too (the local row no longer holds what we sent: a refused write).
 * only (Set): apply changes of these stores alone (a backfill). With the cursor, META also gets
 * `epoch` (the server state the cursor belongs to) and `stores` (the stores it covers).
 * r: the Replica (replica.js); acks: the push's memory (acks.js), null for none; onError(err)
 * gets a row IndexedDB refused (the others are applied).
 */
export async function applyChanges(r, acks, changes, cursor, { seen = null, onChunk, onError, restore = false, only = null, epoch = null } = {}) {
  const names = r.stores(only);
  const hasBase = r.idb.objectStoreNames.contains(BASE);
  const scope = hasBase ? [...names, OUTBOX, META, BASE] : [...names, OUTBOX, META];
  let off = 0;
  do {
    const part = off === 0 && changes.length <= PART ? changes : changes.slice(off, off + PART);
    off += PART;
    const last = off >= changes.length;
    // Relaxed: rows and cursor commit together or not at all; a crash may only lose what the
    // next pull brings again (the app's own writes never go through these transactions).
    const tx = itx(r.idb, scope, 'readwrite', 'relaxed');
    const finished = done(tx);
    const applied = [];
    try {
      const { keys: pend } = await pendingIn(tx, true);
      await new Promise((resolve, reject) => {
        finished.catch(reject);
        const run = slices(r, acks, tx, part, { names, pend, seen, restore, hasBase, applied, onError });
        const step = () => {
          try {
            const r = run();
            if (r === null) {
              if (cursor !== null) {
                const at = last ? cursor : (part.length ? part[part.length - 1].seq : cursor);
                const meta = native.objectStore.call(tx, META);
                native.put.call(meta, at, 'cursor');
                native.put.call(meta, [...names], 'stores');
                if (epoch) native.put.call(meta, epoch, 'epoch');
              }
              resolve();
            } else {
              r.addEventListener('success', step, { once: true });
            }
          } catch (e) { reject(e); }
        };
        step();
      });
      await finished;
    } catch (e) {
      try { tx.abort(); } catch { /* already finished */ }
      throw fromIdbError(e, 'applying pulled changes');
    }
    if (onChunk) onChunk(applied, part.length);
  } while (off < changes.length);
}

/**
 * The rows of one part, issued a slice at a time inside transaction tx: each call issues rows
 * for at most SLICE_MS and returns a request of that slice (the next slice is issued when it
 * succeeds, which keeps the transaction alive while the event loop runs in between: a big
 * transaction without a long task), or null when every row was issued.
 */
function slices(r, acks, tx, part, { names, pend, seen, restore, hasBase, applied, onError }) {
  const stores = new Map();
  const bases = hasBase ? native.objectStore.call(tx, BASE) : null;
  const own = r.clientId ? r.clientId + '.' : null;
  let i = 0;
  return () => {
    if (i >= part.length) return null;
    const t0 = performance.now();
    const baseEntries = [];
    let first = null;
    // At least 64 rows a slice, whatever the load: their BASE pairs then share one record.
    for (let n = 1; i < part.length; i++, n++) {
      if ((n & 63) === 0 && performance.now() - t0 > SLICE_MS) break;
      const c = part[i];
      if (c.hlc) r.clock.recv(c.hlc);
      if (!names.has(c.store)) continue;
      const key = decodeKey(c.key);
      const kj = encodeKey(key);
      const bk = baseId(c.store, kj);
      const mine = own && c.hlc && c.hlc.startsWith(own, 19);   // our own write coming back
      if (seen) {
        let set = seen.get(c.store);
        if (!set) seen.set(c.store, (set = new Set()));
        set.add(kj);
      }
      if (pend.has(bk)) {
        // The key was edited again after our acked write: that write is the version the edit
        // was made on, so its seq becomes the edit's base (else the edit would re-send our
        // earlier fields as if they were new). The push answer gave it (acks), which must
        // reach BASE now: this pull may bring another client's newer version instead, and it
        // ends with acks forgotten. Without it, our write coming back kept as sent tells.
        const k = acks && acks.keptSeq(bk);
        if (bases && typeof k === 'number') baseEntries.push([bk, k]);
        else if (bases && typeof c.seq === 'number' && mine && acks && acks.keptAsSent(c, bk, r.rules.get(c.store))) baseEntries.push([bk, c.seq]);
        continue;
      }
      if (!restore && mine && plain(r.rules.get(c.store))) {
        // Our own write coming back: under these rules the server kept it byte for byte, and
        // the local row still holds it (a newer local edit would be pending). Only note its seq.
        if (bases && typeof c.seq === 'number') baseEntries.push([bk, c.seq]);
        continue;
      }
      let store = stores.get(c.store);
      if (!store) {
        stores.set(c.store, (store = native.objectStore.call(tx, c.store)));
        if (!r.indexes.has(c.store)) r.indexes.set(c.store, Array.from(store.indexNames));
      }
      try {
        let r;
        if (c.op === 'delete') {
          r = native.delete.call(store, key);
          applied.push({ store: c.store, op: 'delete', key, seq: c.seq });
        } else {
          const value = fromTagged(c.value);
          r = putRow(store, key, value);
          applied.push({ store: c.store, op: 'put', key, value, seq: c.seq });
        }
        if (!first) first = r;
        if (bases && typeof c.seq === 'number') baseEntries.push([bk, c.seq]);
      } catch (e) {
        if (onError) onError(fromIdbError(e, `applying ${c.store} ${c.key}`));
      }
    }
    const b = bases ? writeBases(bases, baseEntries) : null;
    if (i >= part.length) return null;
    // The first request of the slice: the next slice is issued while the rest of this one is
    // still being written (the backend never runs dry), yet at most about two are queued.
    return first || b || native.get.call(native.objectStore.call(tx, META), 'cursor');
  };
}

/**
 * After a resync from 0: deletes local rows the server did not return (unless edited locally).
 * only: these stores alone. onChanged(removed) gets each store's removed rows.
 */
export async function dropUnseen(r, seen, only = null, onChanged = null) {
  const names = r.stores(only);
  for (const name of names) {
    const set = seen.get(name) || new Set();
    const hasBase = r.idb.objectStoreNames.contains(BASE);
    const tx = itx(r.idb, hasBase ? [name, OUTBOX, META, BASE] : [name, OUTBOX, META], 'readwrite');
    const { keys: pend } = await pendingIn(tx, true);
    const bases = hasBase ? native.objectStore.call(tx, BASE) : null;
    const store = native.objectStore.call(tx, name);
    if (!r.indexes.has(name)) r.indexes.set(name, Array.from(store.indexNames));
    const keys = await new Promise((res, rej) => {
      const r = store.getAllKeys();
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    const removed = [], gone = [];
    for (const k of keys) {
      const id = baseId(name, encodeKey(k));
      if (!set.has(id.slice(name.length + 1)) && !pend.has(id)) {
        native.delete.call(store, k);
        gone.push(id);
        removed.push({ store: name, op: 'delete', key: k });
      }
    }
    if (bases) await dropBases(bases, gone);
    await done(tx);
    if (removed.length && onChanged) onChanged(removed);
  }
}
