// The outbox's bookkeeping, pure (no IndexedDB): how mutation ids map onto outbox records, what
// an ack drops, what is pending, and the push body. outbox.js applies these to the stores.
// Records are [m, ...] lists of entries [store, keyJSON, hlc, valueJSON?]; `base` = {idx, id}
// says that entry #idx of the first record has id `id`, and ids count up from there.

/** The base of an empty outbox that never pushed. */
export const FIRST_BASE = Object.freeze({ idx: 0, id: 1 });

/**
 * Acknowledges up to `ack` within the head record (len entries), moving base (mutated). Returns
 * the number of its entries dropped and whether the whole record is done (to be deleted).
 */
export function ackRecord(base, len, ack) {
  const remaining = len - base.idx;
  if (base.id + remaining - 1 <= ack) {
    base.id += remaining; base.idx = 0;
    return { dropped: remaining, whole: true };
  }
  const n = Math.max(0, ack - base.id + 1);
  base.idx += n; base.id += n;
  return { dropped: n, whole: false };
}

/** Pending entries of records (m lists, outbox order) from base: their count, and (wantKeys) the set of "store\0keyJSON". */
export function pendingOf(base, records, wantKeys) {
  let count = 0;
  const keys = wantKeys ? new Set() : null;
  records.forEach((m, ri) => {
    const from = ri === 0 ? base.idx : 0;
    count += Math.max(0, m.length - from);
    if (keys) for (let i = from; i < m.length; i++) keys.add(m[i][0] + '\0' + m[i][1]);
  });
  return { count, keys };
}

/** The POST /push body for entries muts with ids from `first`; bases[i]: the seq entry i was made on (or not a number). */
export function pushBody(client, first, muts, bases) {
  const parts = new Array(muts.length);
  for (let i = 0; i < muts.length; i++) {
    const e = muts[i];
    const b = bases && typeof bases[i] === 'number' ? `,"base":${bases[i]}` : '';
    parts[i] = e.length === 4
      ? `{"id":${first + i},"store":${JSON.stringify(e[0])},"op":"put","key":${e[1]},"value":${e[3]},"hlc":"${e[2]}"${b}}`
      : `{"id":${first + i},"store":${JSON.stringify(e[0])},"op":"delete","key":${e[1]},"hlc":"${e[2]}"${b}}`;
  }
  return `{"client":${JSON.stringify(client)},"mutations":[` + parts.join(',') + ']}';
}
