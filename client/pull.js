// Pull: from the cursor to the head in pages, applied in chunks (apply.js); a full resync from 0
// after a 410 or when the server's state (epoch) is another one (409); backfills of stores the
// cursor did not cover (added by a later app version) and resync(store). Functions of the Synced
// handle `s` (idbsync.js), which runs them inside its io lock.
import { applyChanges, dropUnseen } from './apply.js';
import { BASE, META, native } from './capture.js';
import { AuthError, CursorExpiredError, StateChangedError } from './errors.js';
import { emit } from './events.js';
import { done, getMeta, itx } from './outbox.js';
import { revertRefused } from './revert.js';

/**
 * Pulls from the cursor to the head. full: from 0, then local rows the server did not return are
 * deleted (also after a 410, and after a 409: the server's state is another one than the
 * cursor's, reset or restored from a backup, which also emits `reset`). First, synced stores the
 * cursor did not cover (added by an upgrade) get the rows before it (refill). Returns true when
 * the server's state changed (the caller pushes the unpushed writes again).
 */
export async function pullAll(s, { full = false } = {}) {
  const r = s.local, acks = s.acks;
  const onChunk = (applied) => s.changed(applied), onError = (e) => s.reportError(e);
  if (s.afterAck.length) {
    const w = s.afterAck;
    s.afterAck = [];
    await applyChanges(r, acks, w, null, { onChunk, onError });
  }
  await revertRefused(r, {
    acks, transport: s.transport, pullLimit: s.o.pullLimit, onApplied: onChunk,
    onConflict: (detail) => { emit(s, 'conflict', detail); s.tabs.post({ t: 'conflict', detail }); },
  });
  let since = full ? 0 : (await getMeta(r.idb, 'cursor')) || 0;
  // The state the cursor belongs to, as stored with it: another tab may have moved both.
  const held = await getMeta(r.idb, 'epoch');
  if (held && held !== r.epoch) { r.epoch = held; s.setState({ epoch: held }); }
  let seen = full ? new Map() : null;
  let pulled = 0;
  let total = null;
  let reset = null;
  if (since > 0) await backfill(s, since);
  if (since === 0) total = await estimateTotal(s);
  else if (!r.rulesAt) await estimateTotal(s);   // once per session: the stores' conflict rules
  s.setState({ pulled: 0, total });
  // The next page is fetched (and parsed) while this one is written to IndexedDB.
  const fetchPage = (since, epoch = r.epoch) => {
    const p = s.transport.pull({ since, limit: s.o.pullLimit, client: r.clientId, epoch });
    p.catch(() => {});   // awaited below, or dropped with a failed apply
    return p;
  };
  let next = fetchPage(since);
  for (;;) {
    let page;
    try {
      page = await next;
    } catch (e) {
      if (e instanceof StateChangedError && since > 0) {
        reset = { from: r.epoch, to: null, reason: e.serverCode, at: Date.now() };
        acks.clear();
        await clearBases(r.idb);   // seqs of another server state: no base of theirs means anything here
        since = 0; seen = new Map(); pulled = 0; total = await estimateTotal(s);
        s.setState({ pulled: 0, total });
        next = fetchPage(since);
        continue;
      }
      if (!(e instanceof CursorExpiredError) || since === 0) throw e;
      // Tombstones we never saw were collected: full resync, then drop rows the server no longer has.
      since = 0; seen = new Map(); pulled = 0; total = await estimateTotal(s);
      s.setState({ pulled: 0, total });
      next = fetchPage(since);
      continue;
    }
    const epoch = typeof page.epoch === 'string' ? page.epoch : null;
    if (page.more) next = fetchPage(page.cursor, epoch || r.epoch);   // the page's epoch: its cursor belongs to it
    await applyChanges(r, acks, page.changes, page.cursor, {
      seen, epoch, onError,
      onChunk: (applied, n) => {
        pulled += n;
        s.setState({ pulled, total: total === null ? null : Math.max(total, pulled) });
        s.changed(applied);
      },
    });
    since = page.cursor;
    if (epoch && epoch !== r.epoch) { r.epoch = epoch; s.setState({ epoch }); }
    if (!page.more) break;
  }
  if (seen) await dropUnseen(r, seen, null, onChunk);
  acks.clear();   // the pull reached the head: every acked write has come back
  if (total !== null && pulled < total) s.setState({ total: pulled });
  if (!reset) return false;
  reset.to = r.epoch;
  s.setState({ reset });
  emit(s, 'reset', reset);
  s.tabs.post({ t: 'reset', detail: reset });
  return true;
}

/**
 * Synced stores this browser has that the cursor did not cover (META 'stores': the stores the
 * pulls up to the cursor were applied to) get the rows before the cursor: a store added in a
 * later app version receives the rows that existed before it.
 */
export async function backfill(s, cursor) {
  const known = await getMeta(s.local.idb, 'stores');
  const local = s.local.stores();
  if (!Array.isArray(known)) return;   // a cursor saved by an older client: taken as covering every store
  const fresh = new Set([...local].filter((n) => !known.includes(n)));
  if (fresh.size) await refill(s, fresh, cursor, false);
}

/**
 * Pulls the feed from 0 and applies the changes of `only` (a Set of store names) alone, up to
 * `upTo` (or the head), without moving the cursor; drop: then deletes their local rows the server
 * did not return. Records the stores as covered.
 */
export async function refill(s, only, upTo, drop) {
  const onChunk = (applied) => s.changed(applied);
  let since = 0;
  const seen = drop ? new Map() : null;
  for (;;) {
    const page = await s.transport.pull({ since, limit: s.o.pullLimit, client: s.local.clientId });
    await applyChanges(s.local, s.acks, page.changes, null, { seen, only, onChunk, onError: (e) => s.reportError(e) });
    since = page.cursor;
    if (!page.more || since >= upTo) break;
  }
  if (seen) await dropUnseen(s.local, seen, only, onChunk);
  const known = await getMeta(s.local.idb, 'stores');
  if (Array.isArray(known)) {
    const tx = itx(s.local.idb, [META], 'readwrite');
    native.put.call(native.objectStore.call(tx, META), [...new Set([...known, ...only])], 'stores');
    await done(tx);
  }
}

/** Rows and tombstones of the synced stores on the server (null: unknown); notes each store's conflict rule. */
export async function estimateTotal(s) {
  try {
    const stores = await s.transport.stores();
    let n = 0;
    s.local.rulesAt = Date.now();
    for (const st of stores) { s.local.rules.set(st.name, st.conflict); if (s.isSynced(st.name)) n += (st.rows || 0) + (st.tombstones || 0); }
    return n;
  } catch (e) {
    if (e instanceof AuthError) throw e;
    return null;
  }
}

/** Empties the BASE store (base.js): after a reset, the seqs it holds belong to another server state. */
async function clearBases(idb) {
  if (!idb.objectStoreNames.contains(BASE)) return;
  const tx = itx(idb, [BASE], 'readwrite');
  native.objectStore.call(tx, BASE).clear();
  await done(tx);
}
