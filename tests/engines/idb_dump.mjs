// What a real Chromium's IndexedDB holds after the browser client syncs, for the engine suite's
// reverse-direction tests (harness.py browser_rows: test_to_browser and the Drill, Trino and Hive
// tests): opens a page on the server's origin with the client (tests/browser/lib/harness.mjs),
// opens DB with one object store per STORE (keyPath 'id'), syncs, and prints every row of every
// store as one JSON object on stdout, each JS value tagged with its type so Python can compare
// types, not just JSON text:
//   Date -> {"$D": ms}, BigInt -> {"$B": "digits"}, ArrayBuffer -> {"$AB": base64},
//   NaN/±Infinity/-0 -> {"$N": "NaN"|"Infinity"|"-Infinity"|"-0"}, undefined -> {"$U": true},
//   any other non-plain object -> {"$C": constructor name}.
// usage: node idb_dump.mjs SERVER_URL DB STORE...
import { launchBrowser, prepareContext, openPage } from '../browser/lib/harness.mjs';

const [url, db, ...stores] = process.argv.slice(2);
if (!url || !db || !stores.length) {
  console.error('usage: node idb_dump.mjs SERVER_URL DB STORE...');
  process.exit(2);
}
const browser = await launchBrowser();
try {
  const page = await openPage(await prepareContext(await browser.newContext()), { url });
  const out = await page.evaluate(async ({ db, stores }) => {
    const s = await window.idbsync.openSynced(db, 1, {
      url: location.origin, background: false,
      upgrade(d) { for (const n of stores) d.createObjectStore(n, { keyPath: 'id' }); },
    });
    await s.sync();
    const b64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)));
    const tag = (v) => {
      if (v instanceof Date) return { $D: v.getTime() };
      if (typeof v === 'bigint') return { $B: String(v) };
      if (typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0))) return { $N: Object.is(v, -0) ? '-0' : String(v) };
      if (v === undefined) return { $U: true };
      if (v instanceof ArrayBuffer) return { $AB: b64(v) };
      if (Array.isArray(v)) return v.map(tag);
      if (v && typeof v === 'object') {
        if (Object.getPrototypeOf(v) !== Object.prototype) return { $C: v.constructor?.name };
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, tag(x)]));
      }
      return v;
    };
    const all = (store) => new Promise((res, rej) => {
      const r = s.db.transaction(store).objectStore(store).getAll();
      r.onsuccess = () => res(r.result.map(tag));
      r.onerror = () => rej(r.error);
    });
    const res = {};
    for (const n of stores) res[n] = await all(n);
    return res;
  }, { db, stores });
  process.stdout.write(JSON.stringify(out) + '\n');
} finally {
  await browser.close();
}
