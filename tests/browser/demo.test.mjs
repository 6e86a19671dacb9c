// The demo page served at / : add, edit and delete an order; the counters show local, pending,
// server rows and the rows of the lake's Parquet table (GET /v1/db/{db}/lake).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser } from './lib/harness.mjs';

let srv, browser;
before(async () => { srv = await startServer(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await srv?.stop(); });

test('demo: add, edit, delete an order; counters follow', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(srv.url + '/');
  await page.fill('input[name=product]', 'Green tea');
  await page.fill('input[name=qty]', '3');
  await page.click('#save');
  await page.waitForFunction(() => document.getElementById('local').textContent === '1');
  await page.waitForFunction(() => document.getElementById('server').textContent === '1' && document.getElementById('pending').textContent === '0', null, { timeout: 15000 });
  assert.equal(await page.textContent('#online'), 'online');
  await page.waitForFunction(() => document.getElementById('lake').textContent === '1', null, { timeout: 15000 });
  await page.click('button:has-text("Edit")');
  await page.fill('input[name=product]', 'Black tea');
  await page.click('#save');
  await page.waitForFunction(() => document.querySelector('#rows').textContent.includes('Black tea'));
  const rows = async () => (await fetch(`${srv.url}/v1/db/shop/pull?since=0`).then((r) => r.json())).changes;
  await (async () => { for (let i = 0; i < 100 && (await rows())[0]?.value?.item !== 'Black tea'; i++) await new Promise((r) => setTimeout(r, 100)); })();
  assert.equal((await rows())[0].value.item, 'Black tea');
  await page.click('button:has-text("Delete")');
  await page.waitForFunction(() => document.getElementById('server').textContent === '0', null, { timeout: 15000 });
  await page.waitForFunction(() => document.getElementById('lake').textContent === '0', null, { timeout: 15000 });
  assert.equal(await page.textContent('#last') === 'never', false);
  assert.deepEqual(errors, []);
});

test('demo: rows written by others (curl, imports) of any shape are shown, not a crash', async () => {
  // the README once told people to push this into the demo's own store: a numeric key, no
  // price, no date; the page then failed on o.id.slice and showed 0 rows in every new browser
  const r = await fetch(`${srv.url}/v1/db/shop/push`, { method: 'POST', body: JSON.stringify({ client: 'curl', mutations: [
    { id: 1, store: 'orders', op: 'put', key: 1, value: { item: 'tea', qty: 2 } },
    { id: 2, store: 'orders', op: 'put', key: 'x2', value: { id: 'x2', item: { nested: true }, updated: 'not a date', price: 'n/a' } }] }) });
  assert.equal(r.status, 200);
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(srv.url + '/');
  await page.waitForFunction(() => document.getElementById('local').textContent === '2', null, { timeout: 15000 });
  const text = await page.textContent('#rows');
  assert.match(text, /tea/);
  assert.match(text, /\{"nested":true\}/);
  assert.deepEqual(errors, []);
  await context.close();
});
