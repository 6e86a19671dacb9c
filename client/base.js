// The BASE store: for each synced key, the server seq of the version last applied from a pull (or
// kept as sent by a push) — the `base` of the next local edit of that key (docs/protocol.md). One
// home for its layout, so apply, push and revert read and write it alike:
//   "store\0keyJSON" -> seq                      one key (live changes, small pulls)
//   ["~b", session, n] -> {k: [[id, seq], ...]}  many keys in one record (big pulls), found by
//                                                the multiEntry index "k" on [id, seq] pairs
// A big pull thus costs one BASE write per slice of rows instead of one per row (the second put
// per row halved the initial sync's speed). A key's base is the highest seq any entry gives it:
// a key's seqs only grow within one server state (epoch), and a reset clears the store.
import { native } from './capture.js';

/** The multiEntry index of bulk records; databases created by older clients lack it (one key per entry then). */
export const BASE_INDEX = 'k';
/** Fewer entries than this (live changes, a page's last rows) are written one key per entry. */
const BULK_MIN = 32;
/** More ids than this are dropped by one scan of the bulk records. */
const SCAN_OVER = 256;
const SESSION = Math.random().toString(36).slice(2, 10);
let serial = 0;

/** The BASE id of a key: "store\0keyJSON". */
export const baseId = (store, keyJSON) => store + '\0' + keyJSON;

/** Creates the index on a BASE store (in an upgrade), when missing. */
export function ensureBaseIndex(store) {
  if (!store.indexNames.contains(BASE_INDEX)) store.createIndex(BASE_INDEX, BASE_INDEX, { multiEntry: true });
}

/**
 * Writes entries ([[id, seq], ...]) to the BASE object store bs (of a readwrite transaction).
 * Returns the last request issued (null when none).
 */
export function writeBases(bs, entries) {
  if (!entries.length) return null;
  if (entries.length >= BULK_MIN && bs.indexNames.contains(BASE_INDEX)) {
    return native.put.call(bs, { [BASE_INDEX]: entries }, ['~b', SESSION, serial++]);
  }
  let r = null;
  for (const [id, seq] of entries) r = native.put.call(bs, seq, id);
  return r;
}

function request(r) {
  return new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
}

/** True when bs holds any bulk record (their array keys sort after every string id). */
function hasBulk(bs) {
  return request(bs.getKey(IDBKeyRange.lowerBound([]))).then((k) => k !== undefined);
}

/** The base of each id (a number, or undefined), read from the BASE object store bs, in one round of requests. */
export async function readBases(bs, ids) {
  const bulk = bs.indexNames.contains(BASE_INDEX) && await hasBulk(bs);
  const ix = bulk ? bs.index(BASE_INDEX) : null;
  return Promise.all(ids.map(async (id) => {
    const [one, many] = await Promise.all([
      request(bs.get(id)),
      ix ? request(ix.openKeyCursor(IDBKeyRange.bound([id], [id, []]), 'prev')).then((c) => (c ? c.key[1] : undefined)) : undefined,
    ]);
    const a = typeof one === 'number' ? one : undefined;
    return many === undefined || (a !== undefined && a > many) ? a : many;
  }));
}

/** Forgets the bases of ids (their rows are gone): their own entries and their pairs in bulk records. */
export async function dropBases(bs, ids) {
  for (const id of ids) native.delete.call(bs, id);
  if (!bs.indexNames.contains(BASE_INDEX) || !ids.length) return;
  if (ids.length > SCAN_OVER) return dropByScan(bs, new Set(ids));
  const ix = bs.index(BASE_INDEX);
  for (const id of ids) {
    for (;;) {   // one record at a time: each update changes what the index finds next
      const c = await request(ix.openCursor(IDBKeyRange.bound([id], [id, []])));
      if (!c) break;
      const rest = c.value[BASE_INDEX].filter((e) => e[0] !== id);
      if (rest.length) c.update({ [BASE_INDEX]: rest }); else c.delete();
    }
  }
}

/** Many ids: one pass over the bulk records instead of an index lookup per id. */
function dropByScan(bs, gone) {
  return new Promise((resolve, reject) => {
    const r = bs.openCursor(IDBKeyRange.lowerBound([]));
    r.onerror = () => reject(r.error);
    r.onsuccess = () => {
      const c = r.result;
      if (!c) return resolve();
      const pairs = c.value[BASE_INDEX];
      const rest = pairs.filter((e) => !gone.has(e[0]));
      if (rest.length !== pairs.length) { if (rest.length) c.update({ [BASE_INDEX]: rest }); else c.delete(); }
      c.continue();
    };
  });
}
