// Browser test harness: a real `idbsync serve` per test file (temp dirs, 127.0.0.1, port 0 or a
// fixed port for restarts) and Debian's chromium through playwright-core. Pages are opened on the
// server's own origin; /test/blank.html and /vendor/* (idb, dexie from node_modules) are served by
// page.route, /client/* comes from the server (the source tree).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

export const SRC = process.env.IDBSYNC_SRC || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');
export const BIN = process.env.IDBSYNC_BIN || path.join(SRC, 'build/idbsync');

const live = new Set();
const dirs = new Set();
process.on('exit', () => {
  for (const p of live) { try { p.kill('SIGKILL'); } catch { /* gone */ } }
  for (const d of dirs) { try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* ignore */ } }
});

export function tempDir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'idbsync-br-'));
  dirs.add(d);
  return d;
}

/** Starts the server; returns {url, port, kill9(), stop(), restart()}. */
export async function startServer({ args = [], port = 0 } = {}) {
  const root = tempDir();
  const srv = { dataDir: path.join(root, 'data'), lakeDir: path.join(root, 'lake'), port, url: '', proc: null, stderr: '' };
  srv.launch = async () => {
    // IDBSYNC_STATIC=DIR serves DIR/client instead of the tree's (a test run against an older client).
    const st = process.env.IDBSYNC_STATIC ? ['--static', process.env.IDBSYNC_STATIC] : [];
    const argv = ['serve', '--data', srv.dataDir, '--lake', srv.lakeDir, '--listen', `127.0.0.1:${srv.port}`, ...st, ...args];
    const proc = spawn(BIN, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(proc);
    srv.proc = proc;
    proc.stderr.on('data', (d) => { srv.stderr = (srv.stderr + d).slice(-20000); });
    srv.exited = new Promise((r) => proc.once('exit', () => { live.delete(proc); r(); }));
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('server did not start: ' + srv.stderr)), 15000);
      readline.createInterface({ input: proc.stdout }).on('line', (l) => {
        const m = /listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(l);
        if (m) { clearTimeout(t); srv.url = m[1]; srv.port = Number(m[2]); resolve(); }
      });
      proc.once('exit', (c) => { clearTimeout(t); reject(new Error(`server exited ${c}: ${srv.stderr}`)); });
    });
  };
  srv.kill9 = async () => { if (srv.proc && srv.proc.exitCode === null) { srv.proc.kill('SIGKILL'); await srv.exited; } };
  srv.stop = async () => { if (srv.proc && srv.proc.exitCode === null) { srv.proc.kill('SIGTERM'); await srv.exited; } };
  srv.restart = async () => { await srv.stop(); await srv.launch(); };
  await srv.launch();
  return srv;
}

/** Pulls every change of db from the server (follows more:true). */
export async function serverPull(srv, db, since = 0) {
  const all = [];
  for (;;) {
    const r = await fetch(`${srv.url}/v1/db/${db}/pull?since=${since}&limit=10000`).then((x) => x.json());
    all.push(...r.changes);
    since = r.cursor;
    if (!r.more) return all;
  }
}

export async function serverMetrics(srv) {
  const t = await fetch(`${srv.url}/metrics`).then((r) => r.text());
  const get = (name) => { const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(t); return m ? Number(m[1]) : 0; };
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
