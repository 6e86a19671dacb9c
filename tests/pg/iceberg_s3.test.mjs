// A whole server on the PostgreSQL state with the lake's Iceberg warehouse on S3 (versitygw on
// 127.0.0.1) and idbsync as the catalog: the tables' rows live in PostgreSQL's iceberg_tables
// (src/ledger/icecat.c), the files on S3. pyiceberg through the served /iceberg catalog reads the
// state (equal to the pull feed) and the change log (every change once); the rows name the
// s3:// metadata objects; after kill -9 between two PUTs of a commit, and after a restart with
// the local mirror deleted, the tables read complete and consistent again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startPostgres } from './lib/pg.mjs';
import { serve, push, tempDir, rng } from '../lake/lib.mjs';
import { pyEnv, s3Server, checkServed, walk } from '../lake/iceberg_lib.mjs';

test('PostgreSQL state, S3 warehouse, idbsync as the catalog: pyiceberg reads through /iceberg', { timeout: 600000 }, async (t) => {
  const pg = await startPostgres({ t });
  const lake = tempDir(), data = tempDir(), sdir = tempDir('idbsync-s3-');
  const s3 = await s3Server(sdir);
  t.after(() => s3.stop());
  const env = { AWS_ACCESS_KEY_ID: s3.access, AWS_SECRET_ACCESS_KEY: s3.secret };
  const args = ['--state', pg.uri(), '--lake-format', 'iceberg', '--iceberg-warehouse', 's3://lake/idbsync',
    '--s3-endpoint', s3.endpoint, '--flush-interval', '100ms', '--iceberg-keep', '1s'];
  const read = { ICEBERG_READ_PROPS: JSON.stringify({ 's3.endpoint': s3.endpoint, 's3.region': 'us-east-1',
    's3.access-key-id': s3.access, 's3.secret-access-key': s3.secret }) };
  let srv = await serve({ data, lake, args, env });
  const r = rng(11);
  let id = 1;
  const round = async (n, dying = false) => {
    const m = [];
    for (let k = 0; k < n; k++) m.push({ id: id + k, store: 'docs', op: 'put', key: (id + k) % 40, value: { n: id + k, s: `v${r()}` } });
    const p = push(srv.url, 'app', { client: 'c1', mutations: m });
    const res = await (dying ? p.catch(() => null) : p);   // a push the kill cut off fails
    if (!res) return;
    id = res.gap ? res.expected : id + n;   // the server never took a push the kill cut off
  };
  const check = () => checkServed(srv.url, read);

  await round(30);
  const f1 = await check();
  await round(20);
  const f2 = await check();
  assert.ok(f2 > f1);
  const cat = await pyEnv(read, 'catalog', `${srv.url}/iceberg`);
  assert.deepEqual(cat.tables.app, ['docs', 'docs_changes']);
  // the commit points are PostgreSQL rows naming metadata objects that exist on S3
  const rows = pg.sql("SELECT name || ' ' || location FROM iceberg_tables WHERE ns = 'app' ORDER BY name").split('\n');
  assert.equal(rows.length, 2, rows.join('\n'));
  for (const row of rows) {
    const [, loc] = row.split(' ');
    assert.match(loc, /^s3:\/\/lake\/idbsync\/app\/docs(_changes)?\/metadata\/v\d+-[0-9a-f-]+\.metadata\.json$/);
    assert.ok(fs.existsSync(path.join(sdir, loc.slice('s3://'.length))), `${loc} is an object on S3`);
  }
  assert.ok(walk(path.join(sdir, 'lake', 'idbsync', 'app', 'docs')).some((p) => p.endsWith('.parquet')));

  // kill -9 between two PUTs of a commit: the row still names the old metadata; the restart
  // writes the changes again, once
  await srv.stop();
  srv = await serve({ data, lake, args, env: { ...env, IDBSYNC_TEST_ICEBERG_KILL: 'put:5' } });
  srv.proc.ref();
  let alive = true;
  srv.exited.then(() => { alive = false; });
  for (let b = 0; alive && b < 200; b++) {
    await round(10, true);
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(alive, false, 'not killed at put:5');
  assert.equal((await srv.exited).sig, 'SIGKILL');
  srv = await serve({ data, lake, args, env });
  await round(10);
  const f3 = await check();
  assert.ok(f3 > f2, `${f3} after ${f2}`);

  // a lost mirror: the restart finds the tables through PostgreSQL's rows and fetches from S3
  await srv.stop();
  fs.rmSync(path.join(lake, '_iceberg'), { recursive: true });
  srv = await serve({ data, lake, args, env });
  await round(10);
  const f4 = await check();
  assert.ok(f4 > f3, `${f4} after ${f3}`);
  const v = await pyEnv(read, 'refs', `rest+${srv.url}/iceberg/app.docs_changes`);
  assert.deepEqual(v.errors, [], 'kept snapshots that do not read');
  await srv.stop();
});
