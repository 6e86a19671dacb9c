// Live clients on raw sockets, light enough to hold thousands open from one Node process:
// a long-poll (GET /pull?wait=) and an SSE stream (GET /events). Used by
// tests/faults/live_many.test.mjs and bench/live.mjs. Each records when (performance.now())
// the first answer or the first frame naming `watch` arrived.
import net from 'node:net';
import { performance } from 'node:perf_hooks';

function connect(port, localAddress) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    s.on('error', () => { /* a reset after connecting is seen as the close that follows */ });
    s.setNoDelay(true);
    s.once('connect', () => { s.removeListener('error', reject); resolve(s); });
    s.once('error', reject);
  });
}

/**
 * Opens a long-poll; `done` resolves with {status, json, at} when the answer is complete, or
 * {closed: true, at} when the server closed the socket first.
 */
export async function openLongPoll(port, db, since, { wait = 60, client, localAddress } = {}) {
  const sock = await connect(port, localAddress);
  const q = `since=${since}&wait=${wait}${client ? `&client=${encodeURIComponent(client)}` : ''}`;
  sock.write(`GET /v1/db/${db}/pull?${q} HTTP/1.1\r\nHost: x\r\n\r\n`);
  const done = new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (r) => { if (!settled) { settled = true; resolve(r); } };
    sock.on('data', (d) => {
      const at = performance.now();
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const len = Number((/content-length:\s*(\d+)/i.exec(head) || [])[1] ?? -1);
      if (len < 0 || buf.length < end + 4 + len) return;
      const text = buf.subarray(end + 4, end + 4 + len).toString('utf8');
      let json;
      try { json = JSON.parse(text); } catch { json = undefined; }
      finish({ status: Number(head.split(' ')[1]), json, text, at });
    });
    sock.on('close', () => finish({ closed: true, at: performance.now() }));
    sock.on('error', () => { /* close follows */ });
  });
  return { sock, done };
}

/**
 * Opens an SSE stream; `seen(text)` resolves with {at} once a received frame contains text
 * (e.g. the JSON of a pushed key), or {closed: true} when the server closes first.
 */
export async function openSse(port, db, since, { localAddress } = {}) {
  const sock = await connect(port, localAddress);
  sock.write(`GET /v1/db/${db}/events?since=${since} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`);
  let text = '';
  let closed = false;
  const waiters = [];
  const check = (at) => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i];
      if (closed || text.includes(w.needle)) {
        waiters.splice(i, 1);
        w.resolve(closed && !text.includes(w.needle) ? { closed: true, at } : { at });
      }
    }
  };
  sock.on('data', (d) => {
    text += d.toString('utf8');
    if (text.length > 1 << 20) text = text.slice(-(1 << 19));
    check(performance.now());
  });
  sock.on('close', () => { closed = true; check(performance.now()); });
  sock.on('error', () => { /* close follows */ });
  return {
    sock,
    /** The stream's headers and first frame ("retry:") arrived. */
    started: () => text.includes('retry:'),
    seen(needle) {
      return new Promise((resolve) => { waiters.push({ needle, resolve }); check(performance.now()); });
    },
  };
}

/** Opens n clients with open(i), at most `batch` connecting at once (the listen backlog). */
export async function openMany(n, open, batch = 200) {
  const out = [];
  for (let i = 0; i < n; i += batch) {
    out.push(...await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => open(i + j))));
  }
  return out;
}
