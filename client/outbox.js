// The outbox: records written by capture.js ({m: [[store, keyJSON, hlc, valueJSON?], ...]}, one per
// transaction, autoIncrement keys = commit order). Mutation ids are derived, not stored: the meta
// entry "base" = {idx, id} says that mutation #idx of the FIRST record has id `id`, and ids count
// up from there in outbox order. Records are immutable and only appended, so a reload or crash
// mid-push rebuilds the same ids and the server's idempotency (ids <= ack) absorbs the resend.
import { OUTBOX, META, markInternal, native } from './capture.js';

/** Creates the idbsync stores; call from an upgrade (versionchange) callback. */
export function createSyncStores(db) {
  if (!db.objectStoreNames.contains(OUTBOX)) db.createObjectStore(OUTBOX, { autoIncrement: true });
  if (!db.objectStoreNames.contains(META)) db.createObjectStore(META);
}

/** Dexie schema fragment: db.version(n).stores({...yourStores, ...DEXIE_STORES}). */
export const DEXIE_STORES = Object.freeze({ [OUTBOX]: '++', [META]: '' });

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
export function itx(db, stores, mode) {
  return markInternal(mode === 'readwrite' ? db.transaction(stores, mode, { durability: 'default' }) : db.transaction(stores, mode));
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

export async function getMeta(db, key) {
  const tx = itx(db, [META], 'readonly');
  return req2p(tx.objectStore(META).get(key));
}

/**
 * Reads the next push batch: up to maxMutations / ~maxBytes, from the outbox start.
 * cache (Map key -> m) avoids re-reading a large record for every batch.
 * Returns null when the outbox is empty, else {body, first, last, muts: [[s,k,h,v?], ...]}.
 */
export async function nextBatch(db, client, { maxMutations = 500, maxBytes = 1 << 20 } = {}, cache = new Map()) {
  const tx = itx(db, [OUTBOX, META], 'readonly');
  const base = (await req2p(tx.objectStore(META).get('base'))) || { idx: 0, id: 1 };
  const keys = await req2p(tx.objectStore(OUTBOX).getAllKeys(null, 64));
  const muts = [];
  const parts = [];
  let bytes = 0, id = base.id, skip = base.idx;
  const head = `{"client":${JSON.stringify(client)},"mutations":[`;
  outer: for (const key of keys) {
    let m = cache.get(key);
    if (!m) {
      const rec = await req2p(tx.objectStore(OUTBOX).get(key));
      m = rec ? rec.m : [];
      cache.set(key, m);
    }
    for (let i = skip; i < m.length; i++) {
      const e = m[i];
      const p = e.length === 4
        ? `{"id":${id},"store":${JSON.stringify(e[0])},"op":"put","key":${e[1]},"value":${e[3]},"hlc":"${e[2]}"}`
        : `{"id":${id},"store":${JSON.stringify(e[0])},"op":"delete","key":${e[1]},"hlc":"${e[2]}"}`;
      if (muts.length && (muts.length >= maxMutations || bytes + p.length > maxBytes)) break outer;
      parts.push(p); muts.push(e); bytes += p.length + 1; id++;
    }
    skip = 0;
  }
  if (!muts.length) return null;
  return { body: head + parts.join(',') + ']}', first: base.id, last: id - 1, muts };
}

/** Drops every mutation with id <= ack (whole records deleted, base advanced), atomically. */
export async function ackUpTo(db, ack, cache = new Map()) {
  const tx = itx(db, [OUTBOX, META], 'readwrite');
  const out = native.objectStore.call(tx, OUTBOX), meta = native.objectStore.call(tx, META);
  const base = (await req2p(meta.get('base'))) || { idx: 0, id: 1 };
  if (ack < base.id) { await done(tx); return 0; }
  let dropped = 0;
  for (;;) {
    const keys = await req2p(out.getAllKeys(null, 64));
    if (!keys.length) break;
    let progressed = false;
    for (const key of keys) {
      let m = cache.get(key);
      if (!m) m = ((await req2p(out.get(key))) || { m: [] }).m;
      const remaining = m.length - base.idx;
      if (base.id + remaining - 1 <= ack) {
        native.delete.call(out, key);
        cache.delete(key);
        base.id += remaining; base.idx = 0; dropped += remaining; progressed = true;
        if (base.id > ack) break;
      } else {
        const n = ack - base.id + 1;
        base.idx += n; base.id += n; dropped += n;
        progressed = false;
        break;
      }
    }
    if (!progressed || base.id > ack) break;
  }
  // Ack beyond what we hold (should not happen): keep ids monotonic for the server.
  if (base.id <= ack) { base.id = ack + 1; base.idx = 0; }
  native.put.call(meta, base, 'base');
  await done(tx);
  return dropped;
}

/** After a gap answer: the server has applied nothing beyond expected-1, so renumber from there. */
export async function rebase(db, expected) {
  const tx = itx(db, [META], 'readwrite');
  const meta = native.objectStore.call(tx, META);
  const base = (await req2p(meta.get('base'))) || { idx: 0, id: 1 };
  base.id = expected;
  native.put.call(meta, base, 'base');
  await done(tx);
}

/** Mutations not yet acknowledged by the server (optionally the set "store\0keyJSON" of their keys). */
export async function pendingIn(tx, wantKeys) {
  const out = tx.objectStore(OUTBOX);
  const n = await req2p(out.count());
  if (!n) return { count: 0, keys: wantKeys ? new Set() : null };
  const base = (await req2p(tx.objectStore(META).get('base'))) || { idx: 0, id: 1 };
  const recs = await req2p(out.getAll());
  let count = 0;
  const keys = wantKeys ? new Set() : null;
  recs.forEach((r, ri) => {
    const from = ri === 0 ? base.idx : 0;
    count += r.m.length - from;
    if (keys) for (let i = from; i < r.m.length; i++) keys.add(r.m[i][0] + '\0' + r.m[i][1]);
  });
  return { count, keys };
}

export async function pendingCount(db) {
  const tx = itx(db, [OUTBOX, META], 'readonly');
  return (await pendingIn(tx, false)).count;
}
