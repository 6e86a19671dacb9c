// Several idbsync servers on one PostgreSQL state and one lake directory (docs/scaling.md), and the
// checks the multi-server suites share: clients whose batches go to any server and are retried
// (same ids) on another until acknowledged, and the lake read back with DuckDB.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, tempDir, request, sleep } from '../../integration/lib/server.mjs';
import { duck, globU } from '../../lake/lib.mjs';

/** n servers with `--state pg.uri()`, a data dir each, one shared lake. */
export async function startServers(pg, n, { t, args = [] } = {}) {
  const root = tempDir('idbsync-pgs-');
  const lakeDir = path.join(root, 'lake');
  const servers = [];
  for (let i = 0; i < n; i++) {
    servers.push(await startServer({
      t, dataDir: path.join(root, `data${i}`), lakeDir, args: ['--state', pg.uri(), ...args],
    }));
  }
  return { servers, lakeDir };
}

/**
 * A client of the sync protocol that pushes unique keys (`${name}/${id}` in store `log`, value
 * {c, id}) to whichever server `pick()` names, keeping a batch until some server acks it.
 */
export function makeClient(name, db) {
  return { name, db, nextId: 1, sent: 0, acked: 0, batch: null, retries: 0 };
}

/** One step: sends the pending batch (or a new one of 1..5 mutations) to url. Never throws. */
export async function clientStep(cl, url, rand) {
  if (!cl.batch) {
    const n = 1 + Math.floor(rand() * 5);
    const mutations = [];
    for (let k = 0; k < n; k++, cl.nextId++) {
      mutations.push({ id: cl.nextId, store: 'log', op: 'put', key: `${cl.name}/${cl.nextId}`, value: { c: cl.name, id: cl.nextId } });
    }
    cl.batch = { client: cl.name, mutations };
    cl.sent = cl.nextId - 1;
  } else {
    cl.retries++;
  }
  let r;
  try {
    r = await request(`${url}/v1/db/${cl.db}/push`, { method: 'POST', body: cl.batch, fresh: true });
  } catch {
    return false; // the server is down: the batch stays for a retry elsewhere
  }
  if (r.status !== 200) {
    assert.ok(r.status >= 500, `${cl.name}: push answered ${r.status} ${r.text}`);
    return false;
  }
  const last = cl.batch.mutations[cl.batch.mutations.length - 1].id;
  assert.equal(r.json.ack, last, `${cl.name}: ack ${r.json.ack} for a batch ending at ${last}: ${r.text}`);
  cl.acked = last;
  cl.batch = null;
  return true;
}

/** Every change of db from url, paged; throws when a page fails. */
export async function pullEverything(url, db) {
  const changes = [];
  let since = 0;
  for (;;) {
    const r = await request(`${url}/v1/db/${db}/pull?since=${since}&limit=500`, { fresh: true });
    if (r.status !== 200) throw new Error(`pull ${since}: ${r.status} ${r.text}`);
    changes.push(...r.json.changes);
    assert.ok(r.json.cursor >= since, `cursor went back from ${since} to ${r.json.cursor}`);
    since = r.json.cursor;
    if (!r.json.more) return { changes, cursor: since };
  }
}

/** Asserts that changes hold every mutation the clients sent exactly once, with its value. */
export function assertExactlyOnce(changes, clients, what) {
  const byName = new Map(clients.map((c) => [c.name, c]));
  const seen = new Set();
  for (const ch of changes) {
    const [name, id] = [ch.value?.c, ch.value?.id];
    const cl = byName.get(name);
    assert.ok(cl, `${what}: change ${JSON.stringify(ch)} from no client`);
    assert.equal(ch.key, `${name}/${id}`, `${what}: key of ${name} ${id}`);
    assert.ok(id >= 1 && id <= cl.sent, `${what}: ${name} ${id} was never sent`);
    assert.ok(!seen.has(ch.key), `${what}: ${ch.key} twice`);
    seen.add(ch.key);
  }
  for (const cl of clients) {
    let missing = 0;
    for (let id = 1; id <= cl.sent; id++) if (!seen.has(`${cl.name}/${id}`)) missing++;
    assert.equal(missing, 0, `${what}: ${cl.name}: ${missing} of ${cl.sent} sent mutations missing`);
  }
  return seen.size;
}

/**
 * POST /flush on the servers until the lake writer (the one holding the lease) answers 200;
 * the others answer 503 naming the lease. Returns {server, flushed}.
 */
export async function flushOnWriter(servers, db, { attempts = 120 } = {}) {
  let last = '';
  for (let a = 0; a < attempts; a++) {
    for (const s of servers) {
      if (!s.running) continue;
      let r;
      try {
        r = await request(`${s.url}/v1/db/${db}/flush`, { method: 'POST', fresh: true });
      } catch (e) { last = String(e); continue; }
      if (r.status === 200) return { server: s, flushed: r.json.flushed };
      last = `${r.status} ${r.text}`;
    }
    await sleep(250);
  }
  const logs = servers.map((s, i) => `--- server ${i} (${s.running ? 'running' : 'down'}):\n${s.stderr().split('\n')
    .filter((l) => /lease|lake|error|PostgreSQL/i.test(l)).slice(-15).join('\n')}`);
  throw new Error(`no server wrote the lake: ${last}\n${logs.join('\n')}`);
}

let lakeDuck = null;
/** The lake change log of db (store `log`) holds each sent mutation exactly once. */
export async function assertLakeExactlyOnce(lakeDir, db, clients) {
  lakeDuck ||= await duck();
  const rows = await lakeDuck.rows(`SELECT idb_seq, idb_client, idb_mid, idb_key FROM ${globU(lakeDir, db, 'log_changes')}`);
  const seqs = new Set();
  const changes = rows.map((r) => {
    assert.ok(!seqs.has(Number(r.idb_seq)), `lake: seq ${r.idb_seq} twice`);
    seqs.add(Number(r.idb_seq));
    return { key: JSON.parse(r.idb_key), value: { c: r.idb_client, id: Number(r.idb_mid) } };
  });
  return assertExactlyOnce(changes, clients, 'lake change log');
}
