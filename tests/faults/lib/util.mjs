// Helpers shared by the fault suites (tests/faults) and bench/load.mjs: a seeded PRNG, HTTP
// over an explicit keep-alive agent (tests/lib/http.mjs's), /proc sampling of the server
// process, percentiles.
import fs from 'node:fs';

/** Deterministic PRNG (mulberry32) so failures reproduce with the same seed. */
export function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// HTTP over an explicit agent lives with the other HTTP helpers (one home).
export { httpRequest, postJson } from '../../lib/http.mjs';

/** Fields of /proc/<pid>/status: {rssKb, threads, fds}; null when the process is gone. */
export function procStatus(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /VmRSS:\s+(\d+) kB/.exec(s);
    const th = /Threads:\s+(\d+)/.exec(s);
    let fds = -1;
    try { fds = fs.readdirSync(`/proc/${pid}/fd`).length; } catch { /* not ours to read */ }
    return { rssKb: rss ? Number(rss[1]) : 0, threads: th ? Number(th[1]) : 0, fds };
  } catch {
    return null;
  }
}

/** p in [0,1] of a numeric array (sorted copy). */
export function percentile(values, p) {
  if (!values.length) return NaN;
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}

/** Polls fn() until it returns truthy or timeoutMs passes; returns the last value. */
export async function waitFor(fn, timeoutMs, stepMs = 100) {
  const end = Date.now() + timeoutMs;
  let v;
  for (;;) {
    v = await fn();
    if (v || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
