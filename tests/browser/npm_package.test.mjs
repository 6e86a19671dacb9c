// The client as web developers get it: `npm pack` of client/ installed into a fresh app that
// Vite builds (no idbsync-specific build step), served from its own origin, syncing with a
// running server in Chromium: a write in the app reaches the server, a server change the app.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, launchBrowser, tempDir, SRC, serverPull, until, serveDir } from './lib/harness.mjs';

let srv, browser, site;
before(async () => { srv = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await srv?.stop(); site?.close(); });

function sh(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 240000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test('npm pack of client/ installs into a fresh Vite app that syncs in Chromium', async () => {
  const dir = tempDir();
  const tgz = sh('npm', ['pack', '--silent', '--pack-destination', dir], path.join(SRC, 'client')).trim().split('\n').pop();
  const app = path.join(dir, 'app');
  fs.mkdirSync(path.join(app, 'src'), { recursive: true });
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'todo-app', private: true, type: 'module' }));
  fs.writeFileSync(path.join(app, 'index.html'), '<!doctype html><title>todos</title><ul id="list"></ul><script type="module" src="/src/main.js"></script>');
  // the app as the client README tells web developers to write it
  fs.writeFileSync(path.join(app, 'src/main.js'), `
import { openSynced } from 'idbsync';
const server = new URLSearchParams(location.search).get('server');
const s = await openSynced('todoapp', 1, { url: server, upgrade(db) { db.createObjectStore('todos', { keyPath: 'id' }); } });
window.addTodo = (id, title) => new Promise((resolve, reject) => {
  const tx = s.db.transaction('todos', 'readwrite');
  tx.objectStore('todos').put({ id, title, done: false });
  tx.oncomplete = resolve;
  tx.onerror = () => reject(tx.error);
});
window.todos = () => new Promise((resolve) => {
  const r = s.db.transaction('todos').objectStore('todos').getAll();
  r.onsuccess = () => resolve(r.result);
});
window.syncNow = () => s.sync();
window.ready = true;
`);
  sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', path.join(dir, tgz)], app);
  assert.ok(fs.existsSync(path.join(app, 'node_modules/idbsync/idbsync.d.ts')), 'types ship with the package');
  sh(process.execPath, [path.join(SRC, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'error'], app);
  site = await serveDir(path.join(app, 'dist'));
  const origin = `http://127.0.0.1:${site.address().port}`;

  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${origin}/?server=${encodeURIComponent(srv.url)}`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 15000 });
  await page.evaluate(() => window.addTodo(1, 'write the guide'));
  await until(async () => (await serverPull(srv, 'todoapp')).some((c) => c.value?.title === 'write the guide'), 15000,
    'the app\'s write on the server');
  await fetch(`${srv.url}/v1/db/todoapp/push`, { method: 'POST', body: JSON.stringify({ client: 'other', mutations: [
    { id: 1, store: 'todos', op: 'put', key: 2, value: { id: 2, title: 'from another device', done: true } }] }) });
  await until(async () => { await page.evaluate(() => window.syncNow()); return (await page.evaluate(() => window.todos())).length === 2; },
    15000, 'the server\'s change in the app');
  assert.deepEqual(errors, []);
});
