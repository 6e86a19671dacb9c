// Pull: from the cursor to the head in pages, applied in chunks (apply.js); a full resync from 0
// after a 410 or when the server's state (epoch) is another one (409); backfills of stores the
// cursor did not cover (added by a later app version) and resync(store). They work on the Replica
// `r` and a PullIO (below), never on the whole Synced handle, which builds its PullIO once and
// runs these inside its io lock. The bookkeeping (cursor, restarts, progress) is pullrun.js.
import { applyChanges, dropUnseen } from './apply.js';
import { BASE, META, native } from './capture.js';
import { AuthError } from './errors.js';
import { done, getMeta, itx } from './outbox.js';
import { PullRun, freshStores, storeTotals } from './pullrun.js';
import { revertRefused } from './revert.js';

/**
 * What a pull needs besides the Replica.
 * @typedef {object} PullIO
 * @property {import('./acks.js').Acks} acks the push's memory of acked writes (cleared at the head)
 * @property {{pull: Function, stores: Function}} transport GET /pull and GET /stores (transport.js)
 * @property {number} pullLimit rows per page
 * @property {() => object[]} takeAfterAck conflict winners waiting for their losers' acks (drained)
 * @property {(applied: object[]) => void} onChanged rows applied (change events, Dexie, other tabs)
 * @property {(e: Error) => void} onError an error that does not stop the pull (a row not applied)
 * @property {(patch: object) => void} onState status fields (pulled, total, epoch, reset)
 * @property {(detail: object) => void} onConflict a refused local write was put back (revert.js)
 * @property {(detail: object) => void} onReset the server's state changed (`reset` event)
 */

/**
 * Pulls from the cursor to the head. full: from 0, then local rows the server did not return are
 * deleted (also after a 410, and after a 409: the server's state is another one than the
 * cursor's, reset or restored from a backup, which also emits `reset`). First, synced stores the
 * cursor did not cover (added by an upgrade) get the rows before it (refill). Returns true when
 * the server's state changed (the caller pushes the unpushed writes again).
 */
export async function pullAll(r, io, { full = false } = {}) {
  const { acks, transport, pullLimit, onState } = io;
  const onChunk = (applied) => io.onChanged(applied), onError = (e) => io.onError(e);
  const waiting = io.takeAfterAck();
  if (waiting.length) await applyChanges(r, acks, waiting, null, { onChunk, onError });
  await revertRefused(r, { acks, transport, pullLimit, onApplied: onChunk, onConflict: io.onConflict });
  const run = new PullRun(full ? 0 : (await getMeta(r.idb, 'cursor')) || 0, full);
  // The state the cursor belongs to, as stored with it: another tab may have moved both.
  const held = await getMeta(r.idb, 'epoch');
  if (held && held !== r.epoch) { r.epoch = held; onState({ epoch: held }); }
  if (run.since > 0) await backfill(r, io, run.since);
  if (run.since === 0) run.total = await estimateTotal(r, io);
  else if (!r.rulesAt) await estimateTotal(r, io);   // once per session: the stores' conflict rules
  onState({ pulled: 0, total: run.total });
  // The next page is fetched (and parsed) while this one is written to IndexedDB.
  const fetchPage = (since, epoch = r.epoch) => {
    const p = transport.pull({ since, limit: pullLimit, client: r.clientId, epoch });
    p.catch(() => {});   // awaited below, or dropped with a failed apply
    return p;
  };
  let next = fetchPage(run.since);
  for (;;) {
    let page;
    try {
      page = await next;
    } catch (e) {
      if (run.failed(e, r.epoch) === 'reset') {
        acks.clear();
        await clearBases(r.idb);   // seqs of another server state: no base of theirs means anything here
      }
      run.total = await estimateTotal(r, io);
      onState({ pulled: 0, total: run.total });
      next = fetchPage(run.since);
      continue;
    }
    const { epoch, next: nextEpoch } = PullRun.pageEpoch(page, r.epoch);
    if (page.more) next = fetchPage(page.cursor, nextEpoch);
    await applyChanges(r, acks, page.changes, page.cursor, {
      seen: run.seen, epoch, onError,
      onChunk: (applied, n) => { onState(run.progress(n)); io.onChanged(applied); },
    });
    run.since = page.cursor;
    if (epoch && epoch !== r.epoch) { r.epoch = epoch; onState({ epoch }); }
    if (!page.more) break;
  }
  if (run.seen) await dropUnseen(r, run.seen, null, onChunk);
  acks.clear();   // the pull reached the head: every acked write has come back
  const total = run.finalTotal();
  if (total !== undefined) onState({ total });
  if (!run.reset) return false;
  run.reset.to = r.epoch;
  onState({ reset: run.reset });
  io.onReset(run.reset);
  return true;
}

/**
 * Synced stores this browser has that the cursor did not cover (META 'stores': the stores the
 * pulls up to the cursor were applied to) get the rows before the cursor: a store added in a
 * later app version receives the rows that existed before it.
 */
export async function backfill(r, io, cursor) {
  const fresh = freshStores(await getMeta(r.idb, 'stores'), r.stores());
  if (fresh.size) await refill(r, io, fresh, cursor, false);
}

/**
 * Pulls the feed from 0 and applies the changes of `only` (a Set of store names) alone, up to
 * `upTo` (or the head), without moving the cursor; drop: then deletes their local rows the server
 * did not return. Records the stores as covered.
 */
export async function refill(r, io, only, upTo, drop) {
  const onChunk = (applied) => io.onChanged(applied), onError = (e) => io.onError(e);
  let since = 0;
  const seen = drop ? new Map() : null;
  for (;;) {
    const page = await io.transport.pull({ since, limit: io.pullLimit, client: r.clientId });
    await applyChanges(r, io.acks, page.changes, null, { seen, only, onChunk, onError });
    since = page.cursor;
    if (!page.more || since >= upTo) break;
  }
  if (seen) await dropUnseen(r, seen, only, onChunk);
  const known = await getMeta(r.idb, 'stores');
  if (Array.isArray(known)) {
    const tx = itx(r.idb, [META], 'readwrite');
    native.put.call(native.objectStore.call(tx, META), [...new Set([...known, ...only])], 'stores');
    await done(tx);
  }
}

/** Rows and tombstones of the synced stores on the server (null: unknown); notes each store's conflict rule. */
export async function estimateTotal(r, io) {
  try {
    const stores = await io.transport.stores();
    r.rulesAt = Date.now();
    return storeTotals(stores, r.isSynced, r.rules);
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
