// Browser test harness: Debian's chromium through playwright-core and pages on the server's own
// origin; the server itself comes from the one harness (../../lib/server.mjs), restarted on the
// port its first start got, so a page keeps its origin. /test/blank.html and /vendor/* (idb,
// dexie from node_modules) are served by page.route, /client/* comes from the server (the tree).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer as startIdbsync, pullAll, metrics, metricValue, SRC } from '../../lib/server.mjs';

export { tempDir, BIN, SRC } from '../../lib/server.mjs';

/**
 * Starts `idbsync serve` through the one harness with restarts on the same port (srv.restart()
 * after stop() or kill9()). IDBSYNC_STATIC=DIR serves DIR/client instead of the tree's (a test
 * run against an older client). Other options (bin, env, t, ...) go to the harness as they are.
 */
export function startServer({ args = [], ...opts } = {}) {
  const st = process.env.IDBSYNC_STATIC ? ['--static', process.env.IDBSYNC_STATIC] : [];
  return startIdbsync({ port: 0, ...opts, args: [...st, ...args], keepPort: true });
}

/** Pulls every change of db from the server (follows more:true). */
export async function serverPull(srv, db, since = 0) {
  return (await pullAll(srv.url, db, { since, limit: 10000 })).changes;
}

export async function serverMetrics(srv) {
  const t = await metrics(srv.url);
  const get = (name) => metricValue(t, name) ?? 0;
  return { applied: get('idbsync_mutations_applied_total'), duplicates: get('idbsync_mutations_duplicate_total'), conflicts: get('idbsync_conflicts_total') };
}

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-quic', '--no-first-run'];

export function launchBrowser() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

const VENDOR = {
  '/vendor/dexie.mjs': path.join(SRC, 'node_modules/dexie/dist/dexie.mjs'),
};

/** Routes /test/blank.html and /vendor/* for every page of a context. */
export async function prepareContext(context) {
  await context.route('**/test/blank.html', (r) => r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>t</title><body></body>' }));
  await context.route('**/vendor/**', (r) => {
    const p = new URL(r.request().url()).pathname;
    let file = VENDOR[p];
    if (!file && p.startsWith('/vendor/idb/')) file = path.join(SRC, 'node_modules/idb/build', path.basename(p));
    if (!file || !fs.existsSync(file)) return r.fulfill({ status: 404, body: 'no ' + p });
    r.fulfill({ contentType: 'text/javascript', body: fs.readFileSync(file) });
  });
  return context;
}

/**
 * A page on the server origin with the client module imported as window.idbsync (module: another
 * module instead, e.g. '/client/codec.js' for a page whose IndexedDB is not patched; null: none).
 */
export async function openPage(context, srv, { module = '/client/idbsync.js' } = {}) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  page.on('console', (m) => {
    if ((m.type() === 'error' || m.type() === 'warning') && !/Failed to load resource/.test(m.text())) console.error('[console]', m.text());
  });
  await page.goto(`${srv.url}/test/blank.html`);
  if (module) await page.evaluate(async (m) => { window.idbsync = await import(m); }, module);
  return page;
}

/** Polls fn until it returns truthy (or throws after ms). */
export async function until(fn, ms = 15000, what = 'condition') {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A static file server for the built app, on 127.0.0.1 (its own origin, like a real app). */
export function serveDir(dir) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
  const s = http.createServer((req, res) => {
    const p = path.join(dir, decodeURIComponent(new URL(req.url, 'http://x').pathname));
    const f = fs.existsSync(p) && fs.statSync(p).isFile() ? p : path.join(dir, 'index.html');
    res.writeHead(200, { 'content-type': types[path.extname(f)] || 'application/octet-stream' });
    res.end(fs.readFileSync(f));
  });
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r(s)));
}
