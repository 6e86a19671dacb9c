// `idbsync backup` / `restore --state postgres://...` on a real PostgreSQL (src/ledger/pg_backup.c):
// a backup taken while two servers serve holds exactly the state at the head it reports; a
// restore refuses while a server is connected and refuses a file that is not a backup; the
// restored state is the backup's, with a new epoch (clients of the old one get 409 and resync),
// and pushes go on after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startPostgres } from './lib/pg.mjs';
import { startServers } from './lib/cluster.mjs';
import { request, pull, pullState, pushOk, cliSync, tempDir } from '../integration/lib/server.mjs';

const health = async (url) => (await request(`${url}/healthz`, { fresh: true })).json;

test('backup and restore of a PostgreSQL state', { timeout: 300000 }, async (t) => {
  const pg = await startPostgres({ t });
  const { servers: [a, b] } = await startServers(pg, 2, { t, args: ['--no-lake'] });
  const db = 'bk';
  await pushOk(a.url, db, 'c1', [
    { id: 1, store: 's', op: 'put', key: 'a', value: { n: 1, d: { $date: '2024-01-02T03:04:05.000Z' } } },
    { id: 2, store: 's', op: 'put', key: [1, 'x'], value: 'two' },
    { id: 3, store: 't', op: 'put', key: 'b', value: [1, 2, 3] },
  ]);
  await pushOk(b.url, db, 'c2', [{ id: 1, store: 's', op: 'delete', key: 'a' }, { id: 2, store: 't', op: 'put', key: 'c', value: null }]);
  const epoch0 = (await health(a.url)).epoch;
  const before = await pullState(b.url, db);
  const head = (await pull(a.url, db, { since: 0 })).json.cursor;

  const dir = tempDir('idbsync-pgbk-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'state.dump');
  const bk = cliSync(['backup', '--state', pg.uri(), file]);
  assert.equal(bk.code, 0, bk.err);
  assert.match(bk.out, new RegExp(`up to seq ${head}\\b`));
  assert.ok(fs.statSync(file).size > 0);
  const again = cliSync(['backup', '--state', pg.uri(), file]);
  assert.equal(again.code, 1);
  assert.match(again.err, /never overwrites/);
  const badUri = cliSync(['backup', '--state', 'mysql://x/y', path.join(dir, 'x.dump')]);
  assert.equal(badUri.code, 2);
  assert.match(badUri.err, /--state: expected a postgres/);

  // written after the backup: gone after the restore
  await pushOk(b.url, db, 'c3', [{ id: 1, store: 's', op: 'put', key: 'after', value: 1 }]);

  const busy = cliSync(['restore', '--state', pg.uri(), file]);
  assert.equal(busy.code, 1);
  assert.match(busy.err, /in use by \d+ idbsync session\(s\): stop every server/);
  const junk = path.join(dir, 'junk.dump');
  fs.writeFileSync(junk, 'not a dump\n');
  const notDump = cliSync(['restore', '--state', pg.uri(), junk]);
  assert.equal(notDump.code, 1);
  assert.match(notDump.err, /junk\.dump: not a backup of a PostgreSQL state/);
  assert.ok((await pullState(a.url, db)).get('s').has('"after"'), 'a refused restore changed nothing');

  await a.stop();
  await b.stop();
  const rs = cliSync(['restore', '--state', pg.uri(), file]);
  assert.equal(rs.code, 0, rs.err);
  const m = rs.out.match(new RegExp(`up to seq ${head}\\), new epoch ([0-9a-f]{16})`));
  assert.ok(m, rs.out);
  await a.restart();
  await b.restart();
  for (const s of [a, b]) {
    const h = await health(s.url);
    assert.equal(h.epoch, m[1], 'the restored state has the new epoch');
    assert.notEqual(h.epoch, epoch0);
    assert.equal(h.head, head);
    assert.deepEqual(await pullState(s.url, db), before, 'the restored state is the backup\'s');
    const old = await pull(s.url, db, { since: head, epoch: epoch0 });
    assert.equal(old.status, 409);
    assert.equal(old.json.error.code, 'epoch_changed');
  }
  // the clients' progress came back with it: a retried push is a duplicate, new ones apply
  const dup = await pushOk(a.url, db, 'c2', [{ id: 2, store: 't', op: 'put', key: 'c', value: null }]);
  assert.equal(dup.duplicates, 1);
  const next = await pushOk(b.url, db, 'c1', [{ id: 4, store: 's', op: 'put', key: 'new', value: 4 }]);
  assert.equal(next.cursor, head + 1);
  const after = await pull(a.url, db, { since: head });
  assert.deepEqual(after.json.changes.map((c) => c.key), ['new']);
});
