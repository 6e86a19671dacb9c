// Tiny event helpers: the Synced handle is an EventTarget that dispatches CustomEvents
// ('change', 'conflict', 'status', 'error') whose payload is `event.detail`.

/** Dispatches `new CustomEvent(type, {detail})` on target; listener exceptions do not escape. */
export function emit(target, type, detail) {
  try {
    target.dispatchEvent(new CustomEvent(type, { detail }));
  } catch (e) {
    setTimeout(() => { throw e; });
  }
}

/** Resolves after ms, or at once when signal aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal && signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() { clearTimeout(t); if (signal) signal.removeEventListener('abort', done); resolve(); }
    if (signal) signal.addEventListener('abort', done, { once: true });
  });
}
