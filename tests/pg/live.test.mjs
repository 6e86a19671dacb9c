// Live pulls across servers on one PostgreSQL: a long-poll held by one server and an SSE stream
// on another both receive a change pushed to a third (each commit NOTIFYs; every server's
// listener wakes its waiters, src/ledger/pg.c).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres } from './lib/pg.mjs';
import { startServers } from './lib/cluster.mjs';
import { request, openEvents, pushOk } from '../integration/lib/server.mjs';

test('a push to one server wakes long-polls and SSE streams on the others', { timeout: 300000 }, async (t) => {
  const pg = await startPostgres({ t });
  const { servers: [a, b, c] } = await startServers(pg, 3, { t, args: ['--no-lake'] });
  await pushOk(a.url, 'live', 'w', [{ id: 1, store: 's', op: 'put', key: 'k0', value: 0 }]);
  const since = (await request(`${b.url}/v1/db/live/pull?since=0`)).json.cursor;
  assert.equal(since, 1, 'every server sees the first commit');

  const events = await openEvents(c.url, 'live', { since });
  t.after(() => events.close());
  assert.equal(events.status, 200);
  const polled = request(`${b.url}/v1/db/live/pull?since=${since}&wait=60`, { fresh: true });
  for (let i = 2; i <= 4; i++) {
    await pushOk(a.url, 'live', 'w', [{ id: i, store: 's', op: 'put', key: `k${i}`, value: i }]);
  }
  // a cursor handed out by a is good on c at once (never "cursor_ahead" for want of a NOTIFY)
  const pushed = await pushOk(a.url, 'live', 'w', [{ id: 5, store: 's', op: 'put', key: 'k5', value: 5 }]);
  const onC = await request(`${c.url}/v1/db/live/pull?since=${pushed.cursor}`, { fresh: true });
  assert.equal(onC.status, 200, onC.text);
  const r = await polled;
  assert.equal(r.status, 200);
  assert.ok(r.json.changes.length >= 1, `the long-poll on b returned changes: ${r.text}`);
  assert.equal(r.json.changes[0].key, 'k2');

  const keys = [];
  while (keys.length < 4) {
    const f = await events.next(60000);
    assert.ok(f, `the stream on c ended or went quiet after ${keys.join(',')}`);
    for (const ch of f.json?.changes ?? []) keys.push(ch.key);
  }
  assert.deepEqual(keys, ['k2', 'k3', 'k4', 'k5']);
});
