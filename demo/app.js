// Demo: a small orders app on a synced IndexedDB database. The app reads and writes the native
// IndexedDB (s.db) as usual; idbsync captures the writes and keeps it in sync with the server.
import { openSynced } from '/client/idbsync.js';

const $ = (id) => document.getElementById(id);
const form = $('form');
const fmtTime = (d) => d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });

const s = await openSynced('shop', 1, {
  url: location.origin,
  upgrade(db) { db.createObjectStore('orders', { keyPath: 'id' }); },
});

function tx(mode, fn) {
  return new Promise((resolve, reject) => {
    const t = s.db.transaction('orders', mode);
    const r = fn(t.objectStore('orders'));
    t.oncomplete = () => resolve(r && r.result);
    t.onabort = () => reject(t.error);
  });
}

// Rows may come from anywhere (curl, an import, another app version): show any value.
const text = (v) => (v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
const time = (v) => { const d = v instanceof Date ? v : new Date(v); return v !== undefined && !isNaN(d) ? fmtTime(d) : ''; };
function total(o) {
  const t = Number(o.qty) * Number(o.price);
  return Number.isFinite(t) ? t.toFixed(2) : '';
}

async function render() {
  const orders = (await tx('readonly', (st) => st.getAll())).map((o) => (o && typeof o === 'object' ? o : { item: o }));
  orders.sort((a, b) => (Number(new Date(b.updated)) || 0) - (Number(new Date(a.updated)) || 0));
  $('rows').replaceChildren(...orders.map((o) => {
    const tr = document.createElement('tr');
    const cells = [text(o.id).slice(0, 6), text(o.item), text(o.qty), total(o), text(o.status), time(o.updated)];
    cells.forEach((c, i) => {
      const td = document.createElement('td');
      if (i === 4) { const b = document.createElement('span'); b.className = 'pill ' + c; b.textContent = c; td.append(b); } else td.textContent = c;
      if (i === 2 || i === 3) td.className = 'num';
      if (i === 0) td.className = 'mono';
      tr.append(td);
    });
    const td = document.createElement('td');
    td.className = 'actions';
    const edit = Object.assign(document.createElement('button'), { textContent: 'Edit', className: 'link', onclick: () => startEdit(o) });
    const del = Object.assign(document.createElement('button'), { textContent: 'Delete', className: 'link danger', onclick: () => tx('readwrite', (st) => st.delete(o.id)).then(render) });
    td.append(edit, del);
    tr.append(td);
    return tr;
  }));
  $('local').textContent = orders.length;
  $('empty').hidden = orders.length > 0;
}

function startEdit(o) {
  for (const k of ['id', 'qty', 'price', 'status']) form.elements[k].value = o[k];
  form.elements.product.value = o.item;
  $('save').textContent = 'Save changes';
  $('cancel').hidden = false;
  form.elements.product.focus();
}
function resetForm() {
  form.reset();
  form.elements.id.value = '';
  $('save').textContent = 'Add order';
  $('cancel').hidden = true;
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = form.elements;
  const order = {
    id: f.id.value || crypto.randomUUID(), item: f.product.value.trim(), qty: Number(f.qty.value),
    price: Number(f.price.value), status: f.status.value, updated: new Date(),
  };
  await tx('readwrite', (st) => st.put(order));
  resetForm();
  render();
});
$('cancel').onclick = resetForm;
$('syncnow').onclick = () => s.sync().catch(() => {});

function showStatus(st) {
  const on = $('online');
  on.textContent = st.online ? 'online' : 'offline';
  on.className = 'badge ' + (st.online ? 'ok' : 'off');
  $('pending').textContent = st.pending;
  $('pending').className = st.pending ? 'warn' : '';
  if (st.lastSync) $('last').textContent = fmtTime(new Date(st.lastSync));
  $('error').hidden = !st.error || st.online === false;
  if (st.error) $('error').textContent = `sync error (${st.error.code}): ${st.error.message}`;
}

let serverTimer = null;
async function refreshServerRows() {
  clearTimeout(serverTimer);
  try {
    const r = await fetch(`${location.origin}/v1/db/shop/stores`).then((x) => x.json());
    const st = (r.stores || []).find((x) => x.name === 'orders');
    $('server').textContent = st ? st.rows : 0;
    // the lake's Parquet table (written within --flush-interval, 1 s by default)
    const lk = await fetch(`${location.origin}/v1/db/shop/lake`);
    const t = lk.ok ? ((await lk.json()).tables || []).find((x) => x.store === 'orders') : null;
    $('lake').textContent = lk.ok ? (t ? t.rows : 0) : 'off';
  } catch { /* offline: keep the last number */ }
  serverTimer = setTimeout(refreshServerRows, 2000);
}

s.addEventListener('status', (e) => showStatus(e.detail));
s.addEventListener('change', () => { render(); refreshServerRows(); });
s.addEventListener('conflict', (e) => console.info('idbsync conflict: your change lost to', e.detail.winner));
let lastPending = 0;
s.addEventListener('status', (e) => { if (e.detail.pending === 0 && lastPending > 0) refreshServerRows(); lastPending = e.detail.pending; });
window.addEventListener('online', refreshServerRows);

showStatus(s.status);
render();
refreshServerRows();
window.idbsyncDemo = s;
