// useSyncStatus (client/react.js) in a real React app: React 19 and react-dom from npm, the app
// built by Vite with the client's own files, in Chromium. The status line follows the handle:
// online, then offline with a write waiting, then online with nothing pending.
// Needs the npm registry (or npm's cache) for react/react-dom; skipped, saying so, without it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, launchBrowser, tempDir, SRC, serveDir } from './lib/harness.mjs';

let srv, browser, site;
before(async () => { srv = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await srv?.stop(); site?.close(); });

test('useSyncStatus re-renders a React component on status changes', async (t) => {
  const app = path.join(tempDir(), 'app');
  fs.mkdirSync(path.join(app, 'src'), { recursive: true });
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'react-status', private: true, type: 'module' }));
  const npm = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', 'react@19', 'react-dom@19'], { cwd: app, encoding: 'utf8', timeout: 180000 });
  if (npm.status !== 0) { t.skip(`npm install react react-dom failed (no registry?): ${npm.stderr.slice(0, 200)}`); return; }
  fs.writeFileSync(path.join(app, 'index.html'), '<!doctype html><title>status</title><div id="root"></div><script type="module" src="/src/main.js"></script>');
  const client = path.join(SRC, 'client');
  fs.writeFileSync(path.join(app, 'src/main.js'), `
import React from 'react';
import { createRoot } from 'react-dom/client';
import { openSynced } from ${JSON.stringify(path.join(client, 'idbsync.js'))};
import { useSyncStatus } from ${JSON.stringify(path.join(client, 'react.js'))};
const server = new URLSearchParams(location.search).get('server');
const s = await openSynced('reactapp', 1, { url: server, retryMax: 500, upgrade(db) { db.createObjectStore('todos', { keyPath: 'id' }); } });
let renders = 0;
function Status() {
  const st = useSyncStatus(s, React);
  renders++;
  return React.createElement('p', { id: 'st' }, (st.online ? 'online' : 'offline') + ', ' + st.pending + ' pending');
}
createRoot(document.getElementById('root')).render(React.createElement(Status));
window.put = (v) => new Promise((res) => { const tx = s.db.transaction('todos', 'readwrite'); tx.objectStore('todos').put(v); tx.oncomplete = res; });
window.renders = () => renders;
window.ready = true;
`);
  const r = spawnSync(process.execPath, [path.join(SRC, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'error'], { cwd: app, encoding: 'utf8', timeout: 240000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  site = await serveDir(path.join(app, 'dist'));
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${site.address().port}/?server=${encodeURIComponent(srv.url)}`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 15000 });
  const text = () => page.textContent('#st');
  await page.waitForFunction(() => document.querySelector('#st')?.textContent === 'online, 0 pending', null, { timeout: 10000 });
  await context.setOffline(true);
  await page.evaluate(() => window.put({ id: 1, title: 'offline' }));
  await page.waitForFunction(() => document.querySelector('#st')?.textContent === 'offline, 1 pending', null, { timeout: 10000 })
    .catch(async (e) => { throw new Error(`status line: ${await text()}: ${e.message}`); });
  await context.setOffline(false);
  await page.waitForFunction(() => document.querySelector('#st')?.textContent === 'online, 0 pending', null, { timeout: 10000 })
    .catch(async (e) => { throw new Error(`status line: ${await text()}: ${e.message}`); });
  assert.ok(await page.evaluate(() => window.renders()) < 200, 'no render loop');
  assert.deepEqual(errors, []);
  await context.close();
});
