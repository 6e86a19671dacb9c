// React binding for the idbsync client: useSyncStatus(s) returns the handle's status and re-renders
// on its `status` events (useSyncExternalStore). React is not imported, so idbsync has no
// dependency on it: pass it as the second argument, or it is taken from globalThis.React.

const stores = new WeakMap();   // Synced handle -> {subscribe, get} for useSyncExternalStore
const NONE = { subscribe: () => () => {}, get: () => null };

function storeOf(s) {
  let st = stores.get(s);
  if (st) return st;
  let snap = s.status;
  st = {
    subscribe(cb) {
      const f = (e) => { snap = e.detail; cb(); };
      s.addEventListener('status', f);
      snap = s.status;   // events missed while nobody listened
      return () => s.removeEventListener('status', f);
    },
    get: () => snap,   // the same object until the next status event (React compares by identity)
  };
  stores.set(s, st);
  return st;
}

/**
 * The status of a Synced handle ({online, syncing, pending, error, lastSync, ...}), kept current:
 * the component re-renders on every status event. s may be null/undefined (not open yet): null.
 * @param {import('./idbsync.js').Synced | null | undefined} s
 * @param {{useSyncExternalStore: Function}} [React] React 18 or later (default globalThis.React)
 */
export function useSyncStatus(s, React = globalThis.React) {
  if (!React || typeof React.useSyncExternalStore !== 'function') {
    throw new TypeError('idbsync useSyncStatus: pass React 18 or later, useSyncStatus(s, React)');
  }
  const st = s ? storeOf(s) : NONE;
  return React.useSyncExternalStore(st.subscribe, st.get, st.get);
}
