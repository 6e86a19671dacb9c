// The pull's bookkeeping, pure (no IndexedDB, no network): where the next page starts, what a
// failed page means (a full resync from 0 after a 410, a reset of the server's state after a 409,
// else the caller's error), the progress figures, which stores a backfill must fill, and what
// GET /stores tells (the total to expect, each store's conflict rule). pull.js does the I/O.
import { CursorExpiredError, StateChangedError } from './errors.js';

export class PullRun {
  /**
   * @param {number} since the cursor the pull starts from (0: a full pull)
   * @param {boolean} full local rows the server does not return are deleted at the end
   */
  constructor(since, full) {
    this.since = since;
    this.seen = full ? new Map() : null;   // store -> keys the server returned (dropUnseen)
    this.pulled = 0;                       // rows applied in this run
    this.total = null;                     // the rows expected (null: unknown)
    this.reset = null;                     // {from, to, reason, at} once the server's state changed
  }

  /**
   * What failed page error e means, at epoch (the state the cursor belongs to): 'reset' (409
   * past 0: the server's state is another one; the acks and bases mean nothing any more) or
   * 'resync' (410 past 0: tombstones we never saw were collected); either way the run starts
   * again from 0 and drops the rows the server no longer has. Anything else is thrown.
   */
  failed(e, epoch, now = Date.now()) {
    if (this.since > 0 && e instanceof StateChangedError) {
      this.reset = { from: epoch, to: null, reason: e.serverCode, at: now };
      this.restart();
      return 'reset';
    }
    if (this.since > 0 && e instanceof CursorExpiredError) {
      this.restart();
      return 'resync';
    }
    throw e;
  }

  restart() {
    this.since = 0;
    this.seen = new Map();
    this.pulled = 0;
  }

  /** The epoch page answered in (null: none), and the one its next page must name. */
  static pageEpoch(page, current) {
    const epoch = typeof page.epoch === 'string' ? page.epoch : null;
    return { epoch, next: epoch || current };   // the page's epoch: its cursor belongs to it
  }

  /** n more rows applied: the status figures (the total grows when more came than estimated). */
  progress(n) {
    this.pulled += n;
    return { pulled: this.pulled, total: this.total === null ? null : Math.max(this.total, this.pulled) };
  }

  /** At the head: the total to show when fewer rows came than estimated (undefined: keep it). */
  finalTotal() {
    return this.total !== null && this.pulled < this.total ? this.pulled : undefined;
  }
}

/**
 * The synced stores this browser has (local, a Set) that the cursor did not cover (known: META
 * 'stores', the stores the pulls up to the cursor were applied to). A cursor saved by an older
 * client (known not an array) is taken as covering every store.
 */
export function freshStores(known, local) {
  if (!Array.isArray(known)) return new Set();
  return new Set([...local].filter((n) => !known.includes(n)));
}

/**
 * GET /stores' answer ([{name, rows, tombstones, conflict}]): each store's conflict rule (into
 * rules, a Map) and the rows and tombstones of the synced ones (the total a full pull brings).
 */
export function storeTotals(stores, isSynced, rules) {
  let n = 0;
  for (const st of stores) {
    rules.set(st.name, st.conflict);
    if (isSynced(st.name)) n += (st.rows || 0) + (st.tombstones || 0);
  }
  return n;
}
