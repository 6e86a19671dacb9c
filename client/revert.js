// Puts back the server's version of rows whose local write the server refused for good (403
// `forbidden`: a server-owned store, a shared row). Without it the refused change would stay in
// IndexedDB, different from every other copy, until the server changed that row. A 403 names no
// winner, so the row is looked up in the pull feed, which is compacted (each key once, at the seq
// of its latest change): at its `base` seq if it has not changed since, else by a scan. It is
// applied like a pulled change (internal transaction, never captured: no echo), or deleted when
// the server has no such row, and a `conflict` event tells the app.
import { BASE } from './capture.js';
import { applyChanges } from './apply.js';
import { baseId, readBases } from './base.js';
import { decodeKey, encodeKey, fromTagged } from './codec.js';
import { CursorExpiredError } from './errors.js';
import { dropReverts, itx, listReverts } from './outbox.js';

const EXACT_MAX = 16;
const keyJSON = (tagged) => encodeKey(decodeKey(tagged));

/**
 * Reverts every row marked by rejectHead(…, revert) in the Replica r (acks: the push's memory,
 * acks.js): the rows are read from the feed with transport (pages of pullLimit), onApplied(changes) gets the rows restored, and
 * onConflict(detail) a `conflict` detail for each.
 */
export async function revertRefused(r, { acks, transport, pullLimit, onApplied, onConflict }) {
  const marks = await listReverts(r.idb);
  if (!marks.length) return;
  const want = new Map();   // id -> {mark, base, found}
  const bs = r.idb.objectStoreNames.contains(BASE) ? itx(r.idb, [BASE], 'readonly').objectStore(BASE) : null;
  const bases = bs ? await readBases(bs, marks.map((m) => baseId(m.store, m.key))) : [];
  marks.forEach((mark, i) => {
    want.set(baseId(mark.store, mark.key), { mark, base: typeof bases[i] === 'number' ? bases[i] : null, found: null });
  });
  // Unchanged since we applied it: the feed's change right at `base` is still this key's. (One
  // request per key: past a few keys, one scan costs less.) These pulls send no `client`: they
  // must not count as this client's pull position (which decides tombstone collection).
  let exact = 0;
  for (const w of want.values()) {
    if (w.base === null || ++exact > EXACT_MAX) continue;
    let page;
    try {
      page = await transport.pull({ since: w.base - 1, limit: 1 });
    } catch (e) {
      if (e instanceof CursorExpiredError) continue;   // older than collected tombstones: the scan starts at 0
      throw e;
    }
    const c = page.changes[0];
    if (c && c.seq === w.base && c.store === w.mark.store && keyJSON(c.key) === w.mark.key) w.found = c;
  }
  // Otherwise its latest change is later than its base (or anywhere, without one): scan from there.
  const rest = [...want.values()].filter((w) => !w.found);
  if (rest.length) {
    let since = rest.reduce((lo, w) => Math.min(lo, w.base === null ? 0 : w.base - 1), Infinity);
    for (;;) {
      let page;
      try {
        page = await transport.pull({ since, limit: pullLimit });
      } catch (e) {
        if (e instanceof CursorExpiredError && since > 0) { since = 0; continue; }
        throw e;
      }
      for (const c of page.changes) {
        const w = want.get(baseId(c.store, keyJSON(c.key)));
        if (w) w.found = c;
      }
      since = page.cursor;
      if (!page.more) break;
    }
  }
  // Not in the feed: the server has no such row.
  const changes = [...want.values()].map((w) => w.found || { store: w.mark.store, op: 'delete', key: JSON.parse(w.mark.key) });
  const restored = [];
  await applyChanges(r, acks, changes, null, {
    restore: true,
    onChunk: (applied) => { restored.push(...applied); onApplied(applied); },
  });
  // A key edited again meanwhile was left alone: that edit is pending and is answered on its own.
  await dropReverts(r.idb, marks);
  for (const a of restored) {
    const w = want.get(baseId(a.store, encodeKey(a.key)));
    if (!w) continue;
    const m = w.mark, c = w.found;
    const detail = {
      store: m.store, key: a.key, id: m.id, op: m.op, rule: m.error.code, reason: m.error.message,
      local: { op: m.op, value: m.value === undefined ? undefined : fromTagged(JSON.parse(m.value)) },
      winner: c ? { seq: c.seq, op: c.op, hlc: c.hlc, value: a.value } : { op: 'delete' },
    };
    onConflict(detail);
  }
}
