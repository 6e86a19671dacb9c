// What the server took as sent, per key, between a push and the pull that brings it back (the
// push's half of the `base` bookkeeping; BASE, base.js, is the pull's). Pure: no IndexedDB.
// Kept in memory only (a store write per ack halved the initial push's speed); after a reload
// the pull brings the same seqs back.

/** Rules under which the server stores a winning write byte for byte (merge may combine fields). */
export const plain = (rule) => rule === 'lww' || rule === 'client-wins' || rule === 'server-wins' || rule === 'lake-wins';

/** JSON values equal as JSON (object key order ignored). */
export function sameJson(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameJson(a[k], b[k]));
}

const idOf = (m) => m[0] + '\0' + m[1];

export class Acks {
  constructor() {
    /** "store\0keyJSON" -> the acked outbox entry [store, keyJSON, hlc, valueJSON?] (no conflict). */
    this.acked = new Map();
    /** "store\0keyJSON" -> the seq the server gave that write (push answer `kept`). */
    this.kept = new Map();
  }

  /**
   * Notes a push answer for batch b ({first, muts}): every mutation up to `ack` that did not lose
   * a conflict, and the seqs of the `kept` runs ([first id, its seq, count]) up to `ack`. An edit
   * made before the next pull is then sent with that seq as its base (else it would carry the
   * older base and, under `merge`, re-send the acked write's fields as new writes over other
   * clients' later edits).
   */
  note(b, ack, conflicts, kept) {
    for (let i = 0; i < b.muts.length && b.first + i <= ack; i++) this.acked.set(idOf(b.muts[i]), b.muts[i]);
    for (const c of conflicts) {
      const m = b.muts[c.id - b.first];
      if (m) this.acked.delete(idOf(m));
    }
    if (!Array.isArray(kept)) return;
    for (const run of kept) {
      const [id, seq, n] = Array.isArray(run) ? run : [];
      if (![id, seq, n].every(Number.isSafeInteger)) continue;
      for (let i = 0; i < n && id + i <= ack; i++) {
        const m = b.muts[id + i - b.first];
        if (m) this.kept.set(idOf(m), seq + i);
      }
    }
  }

  /** The seq the server gave our acked write of id (undefined: none noted). */
  keptSeq(id) { return this.kept.get(id); }

  /** True when pulled change c is exactly the acked write noted for id, stored as sent under `rule`. */
  keptAsSent(c, id, rule) {
    const m = this.acked.get(id);
    if (!m || m[2] !== c.hlc) return false;
    if (c.op === 'delete') return m.length === 3;
    return m.length === 4 && (plain(rule) || sameJson(c.value, JSON.parse(m[3])));
  }

  /** Forgets everything: the pull reached the head (every acked write came back), or a reset. */
  clear() { this.acked.clear(); this.kept.clear(); }
}
