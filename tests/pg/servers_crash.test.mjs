// Three idbsync servers on one real PostgreSQL, killed in a loop: clients push to random servers
// and retry an unacknowledged batch (same ids) on another; a follower pulls from random servers
// with one cursor; meanwhile a server or PostgreSQL itself gets SIGKILL and is restarted. After
// the loop: every mutation sent is in every server's feed exactly once with its value (a retry
// that reached another server was not applied twice), the follower's cursor skipped nothing, and
// the lake (written by whichever server held the lease) has each change exactly once.
// IDS_PG_KILLS sets the number of kills (default 12); IDS_SEED the seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres } from './lib/pg.mjs';
import {
  startServers, makeClient, clientStep, pullEverything, assertExactlyOnce, flushOnWriter, assertLakeExactlyOnce,
} from './lib/cluster.mjs';
import { request, sleep } from '../integration/lib/server.mjs';
import { rng } from '../faults/lib/util.mjs';

const KILLS = Number(process.env.IDS_PG_KILLS || 12);
const SEED = Number(process.env.IDS_SEED || 20261205);
const CLIENTS = 6;
const DB = 'pgcrash';

test(`3 servers on PostgreSQL, ${KILLS} kill -9s of servers and of PostgreSQL: exactly once`, { timeout: 900000 }, async (t) => {
  const rand = rng(SEED);
  const pg = await startPostgres({ t });
  const { servers, lakeDir } = await startServers(pg, 3, { t, args: ['--flush-interval', '300ms'] });
  const clients = Array.from({ length: CLIENTS }, (_, i) => makeClient(`c${i}`, DB));
  const pick = () => servers[Math.floor(rand() * servers.length)];
  let stop = false;

  // clients: push forever to random servers until told to stop; then settle their batch
  const pushing = clients.map(async (cl) => {
    while (!stop) {
      const s = pick();
      if (!s.running || !(await clientStep(cl, s.url, rand))) await sleep(50);
    }
  });

  // the follower: one cursor, pages of 7, from random servers; keys are never overwritten, so a
  // cursor that skipped a late commit would leave a key out for good
  const followed = new Map();
  let cursor = 0, followerPulls = 0;
  const following = (async () => {
    while (!stop) {
      const s = pick();
      let r;
      try {
        r = s.running ? await request(`${s.url}/v1/db/${DB}/pull?since=${cursor}&limit=7`, { fresh: true }) : null;
      } catch { r = null; }
      if (!r || r.status !== 200) { await sleep(50); continue; }
      assert.ok(r.json.cursor >= cursor, `follower: cursor went back from ${cursor} to ${r.json.cursor}`);
      for (const ch of r.json.changes) {
        assert.ok(ch.seq > cursor, `follower: seq ${ch.seq} at or below the cursor ${cursor}`);
        assert.ok(!followed.has(ch.key), `follower: ${ch.key} twice`);
        followed.set(ch.key, ch);
      }
      cursor = r.json.cursor;
      followerPulls++;
      if (!r.json.changes.length) await sleep(20);
    }
  })();

  let pgKills = 0, serverKills = 0;
  for (let k = 0; k < KILLS; k++) {
    await sleep(300 + rand() * 700);
    if (rand() < 0.3) {
      pg.kill9();
      pgKills++;
      await sleep(rand() * 300);
      pg.start(); // crash recovery; the servers reconnect on their own
    } else {
      const s = pick();
      await s.kill9();
      serverKills++;
      await sleep(rand() * 300);
      await s.restart();
    }
  }
  await sleep(500);
  stop = true;
  await Promise.all(pushing);
  await following;
  // settle: every pending batch acked somewhere
  for (const cl of clients) {
    for (let a = 0; cl.batch && a < 400; a++) if (!(await clientStep(cl, pick().url, rand))) await sleep(100);
    assert.equal(cl.batch, null, `${cl.name}: its last batch was never acknowledged`);
  }
  const sent = clients.reduce((n, c) => n + c.sent, 0);
  const retries = clients.reduce((n, c) => n + c.retries, 0);
  assert.ok(sent > 0 && retries > 0, `the loop pushed (${sent}) and retried (${retries})`);

  // every server: the whole feed, each mutation exactly once
  let head = 0;
  for (const s of servers) {
    const all = await pullEverything(s.url, DB);
    assert.equal(assertExactlyOnce(all.changes, clients, `server ${s.url}`), sent);
    head = Math.max(head, all.cursor);
  }
  // the follower catches up from where it was and has skipped nothing
  for (;;) {
    const r = await request(`${pick().url}/v1/db/${DB}/pull?since=${cursor}&limit=500`, { fresh: true });
    assert.equal(r.status, 200, r.text);
    for (const ch of r.json.changes) {
      assert.ok(!followed.has(ch.key), `follower: ${ch.key} twice`);
      followed.set(ch.key, ch);
    }
    cursor = r.json.cursor;
    if (!r.json.more) break;
  }
  assert.equal(assertExactlyOnce([...followed.values()], clients, 'follower'), sent);
  assert.ok(followerPulls > KILLS, `the follower pulled along (${followerPulls})`);

  // the lake: written by the lease holder of the moment, each change once
  const { flushed } = await flushOnWriter(servers, DB);
  assert.ok(flushed >= head, `flushed ${flushed} covers the head ${head}`);
  assert.equal(await assertLakeExactlyOnce(lakeDir, DB, clients), sent);
  console.log(`pg crash loop: ${sent} mutations, ${retries} retries, ${serverKills} server and ${pgKills} PostgreSQL kills, ` +
    `${followerPulls} follower pulls`);
});
