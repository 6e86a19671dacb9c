// One lake writer among three servers on one PostgreSQL (the "lake" lease, src/cli/serve_lease.c):
// exactly one server writes the shared lake; when it is killed (idle, or in the middle of a flush)
// another takes over within seconds, and the lake change log still holds every change exactly
// once; the killed server, back, does not write while the other holds the lease.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres } from './lib/pg.mjs';
import { startServers, makeClient, clientStep, flushOnWriter, assertLakeExactlyOnce } from './lib/cluster.mjs';
import { metrics, metricValue, sleep } from '../integration/lib/server.mjs';
import { rng } from '../faults/lib/util.mjs';

const DB = 'failover';

async function writers(servers) {
  let n = 0;
  for (const s of servers) if (s.running) n += metricValue(await metrics(s.url), 'idbsync_lake_writer') || 0;
  return n;
}

test('lake writer failover among 3 servers on PostgreSQL', { timeout: 600000 }, async (t) => {
  const rand = rng(17);
  const pg = await startPostgres({ t });
  const { servers, lakeDir } = await startServers(pg, 3, { t, args: ['--flush-interval', '200ms'] });
  const clients = [makeClient('a', DB), makeClient('b', DB)];
  const pushSome = async (n, via) => {
    for (let i = 0; i < n; i++) {
      const cl = clients[i % clients.length];
      while (!(await clientStep(cl, via[i % via.length].url, rand))) await sleep(50);
    }
  };

  await pushSome(30, servers);
  const first = await flushOnWriter(servers, DB);
  assert.equal(await writers(servers), 1, 'one lake writer');
  await assertLakeExactlyOnce(lakeDir, DB, clients);

  // the writer dies while idle: another takes the lease and goes on from the lake's progress
  await first.server.kill9();
  const rest = servers.filter((s) => s !== first.server);
  await pushSome(30, rest);
  const second = await flushOnWriter(rest, DB);
  assert.notEqual(second.server, first.server);
  await assertLakeExactlyOnce(lakeDir, DB, clients);
  await first.server.restart();
  assert.equal(await writers(servers), 1, 'the restarted server waits for the lease');

  // the writer dies in the middle of a flush: its unrecorded files are not counted twice
  await pushSome(200, servers);
  const pending = fetch(`${second.server.url}/v1/db/${DB}/flush`, { method: 'POST' }).catch(() => null);
  await sleep(5 + rand() * 30);
  await second.server.kill9();
  await pending;
  await pushSome(20, servers.filter((s) => s.running));
  const third = await flushOnWriter(servers, DB);
  assert.notEqual(third.server, second.server);
  const n = await assertLakeExactlyOnce(lakeDir, DB, clients);
  assert.equal(n, clients.reduce((k, c) => k + c.sent, 0));
  await second.server.restart();
  assert.equal(await writers(servers), 1, 'one lake writer after the restarts');
});
