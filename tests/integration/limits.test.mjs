// Server-wide limits against clients that stop reading: large responses held for slow
// readers count against --max-inflight; past it, new large responses get 503 "busy", and
// once the stalled clients go away the server serves again.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, push, pull, metrics, metricValue, sleep } from '../lib/server.mjs';

describe('in-flight response budget', () => {
  test('stalled readers cannot make the server hold unbounded memory', async () => {
    const budget = 12 << 20;
    const srv = await startServer({ args: ['--max-inflight', String(budget), '--conn-timeout', '3'] });
    try {
      // ~10 MB of rows: one full pull page is far more than socket buffers absorb
      const big = 'x'.repeat(20000);
      for (let b = 0; b < 5; b++) {
        const muts = Array.from({ length: 100 }, (_, i) => ({ id: b * 100 + i + 1, store: 's', op: 'put', key: b * 100 + i, value: { big } }));
        assert.equal((await push(srv.url, 'lim', { client: 'c', mutations: muts })).status, 200);
      }
      // sockets that ask for the big page and never read: tiny receive buffers keep it queued
      const socks = [];
      for (let i = 0; i < 8; i++) {
        const s = net.connect({ host: '127.0.0.1', port: srv.port });
        s.setNoDelay(true);
        await new Promise((r) => s.on('connect', r));
        s.pause();
        s.write(`GET /v1/db/lim/pull?since=0&limit=10000 HTTP/1.1\r\nHost: x\r\n\r\n`);
        socks.push(s);
        await sleep(50);
      }
      // the pages are built while the sockets wait (slowly under valgrind: IDS_TIME_SCALE)
      const until = Date.now() + 5000 * Number(process.env.IDS_TIME_SCALE || 1);
      let m, busy;
      do {
        await sleep(100);
        m = await metrics(srv.url);
        busy = metricValue(m, 'idbsync_busy_rejects_total');
        const held = metricValue(m, 'idbsync_inflight_response_bytes');
        assert.ok(held <= budget, `held ${held} bytes, budget ${budget}`);
      } while (busy < 1 && Date.now() < until);
      assert.ok(busy >= 1, 'some stalled requests were refused with 503');
      const r = await pull(srv.url, 'lim', { since: 0, limit: 10000 });
      assert.ok(r.status === 200 || r.status === 503, r.text);
      if (r.status === 503) assert.equal(r.json.error.code, 'busy');
      // small requests are never refused
      assert.equal((await pull(srv.url, 'lim', { since: 500 })).status, 200);
      for (const s of socks) s.destroy();
      await sleep(500);
      const again = await pull(srv.url, 'lim', { since: 0, limit: 10000 });
      assert.equal(again.status, 200);
      assert.equal(again.json.changes.length, 500);
    } finally {
      await srv.stop();
    }
  });
});
