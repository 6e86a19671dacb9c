// The lake's Iceberg tables on S3 with idbsync itself as the catalog (--iceberg-warehouse
// s3://lake/idbsync without --iceberg-rest): a real S3 server (versitygw on 127.0.0.1) holds the
// data files, manifests, lists and metadata JSON; the current metadata of each table is a row in
// the server's state (the commit point); pyiceberg attaches to the running server's /iceberg
// catalog and reads through pyarrow's S3 filesystem: state equal to the pull feed, every change
// once. Then kill -9 between two uploads of a commit, after a metadata file was uploaded but
// before the state named it, and in the middle of a large PUT: after each restart the tables are
// consistent and complete. And `--lake s3://...` (the plain layout on S3) is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { serve, push, tempDir, run, rng } from './lib.mjs';
import { pyEnv, s3Server, checkServed, walk } from './iceberg_lib.mjs';

test('Iceberg on S3 with the state as catalog: pyiceberg through /iceberg; kill -9 mid-upload', async () => {
  const lake = tempDir(), data = tempDir(), sdir = tempDir('idbsync-s3-');
  const s3 = await s3Server(sdir);
  const keys = { 's3.access-key-id': s3.access, 's3.secret-access-key': s3.secret };
  const env = { AWS_ACCESS_KEY_ID: s3.access, AWS_SECRET_ACCESS_KEY: s3.secret };
  const args = ['--lake-format', 'iceberg', '--iceberg-warehouse', 's3://lake/idbsync', '--s3-endpoint', s3.endpoint,
    '--flush-interval', '100ms', '--iceberg-keep', '1s'];
  const read = { ICEBERG_READ_PROPS: JSON.stringify({ 's3.endpoint': s3.endpoint, 's3.region': 'us-east-1', ...keys }) };
  let srv = await serve({ data, lake, args, env });
  const T = (t) => `rest+${srv.url}/iceberg/app.${t}`;
  const r = rng(3);
  let id = 1;
  const round = async (n, bytes = 20, dying = false) => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const m = [];
      for (let k = 0; k < n; k++) {
        // random text: a large value stays large in the Parquet file
        const s = Array.from({ length: bytes }, () => String.fromCharCode(33 + Math.floor(r() * 90))).join('');
        m.push({ id: id + k, store: 'docs', op: 'put', key: (id + k) % 60, value: { n: id + k, s } });
      }
      const p = push(srv.url, 'app', { client: 'c1', mutations: m });
      const res = await (dying ? p.catch(() => null) : p);   // a push the kill cut off fails
      if (!res) return;
      if (!res.gap) { id += n; return; }
      id = res.expected;   // the server never took a push the kill cut off: go on from its ack
    }
  };
  const check = () => checkServed(srv.url, read);
  const killAt = async (kenv, n, bytes) => {
    await srv.stop();
    srv = await serve({ data, lake, args, env: { ...env, ...kenv } });
    srv.proc.ref();   // its exit is what this step waits for
    let alive = true;
    srv.exited.then(() => { alive = false; });
    for (let b = 0; alive && b < 200; b++) {
      await round(n, bytes, true);
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal(alive, false, `not killed at ${JSON.stringify(kenv)}`);
    assert.equal((await srv.exited).sig, 'SIGKILL');
    await new Promise((res) => setTimeout(res, 2500));   // its leftovers older than --iceberg-keep
    srv = await serve({ data, lake, args, env });
    return check();
  };

  await round(30);
  await check();
  await round(25);
  const f2 = await check();
  // every file a reader needs is an object on S3, the metadata JSON too (no version-hint: the
  // state names the current file)
  const objs = walk(path.join(sdir, 'lake', 'idbsync', 'app', 'docs_changes')).map((p) => path.basename(p));
  assert.ok(objs.some((n) => /^v\d+-[0-9a-f-]+\.metadata\.json$/.test(n)), objs.join(' '));
  assert.ok(objs.some((n) => /^snap-.*\.avro$/.test(n)) && objs.some((n) => /-m0\.avro$/.test(n)), objs.join(' '));
  assert.ok(objs.some((n) => /^part-.*\.parquet$/.test(n)), objs.join(' '));
  assert.ok(!objs.includes('version-hint.text'));
  const cat = await pyEnv(read, 'catalog', `${srv.url}/iceberg`);
  assert.deepEqual(cat.tables.app, ['docs', 'docs_changes']);

  // kill -9 between two PUTs of a commit, after a metadata file was uploaded but not yet named by
  // the state, and while the body of a PUT of more than 1 MiB is in flight
  const f3 = await killAt({ IDBSYNC_TEST_ICEBERG_KILL: 'put:7' }, 10);
  assert.ok(f3 > f2);
  const f4 = await killAt({ IDBSYNC_TEST_ICEBERG_KILL: 'cat-put:2' }, 10);
  assert.ok(f4 > f3);
  const f5 = await killAt({ IDBSYNC_TEST_S3_KILL: 'put-body:1' }, 40, 40000);
  assert.ok(f5 > f4);
  // the metadata versions on S3 that the state names are whole and readable: every one the
  // current metadata's log names scans (pyiceberg reads through the served catalog above)
  const v = await pyEnv(read, 'refs', T('docs_changes'));
  assert.deepEqual(v.errors, [], 'kept snapshots that do not read');

  // a lost mirror: the restart fetches what it needs from S3
  await srv.stop();
  fs.rmSync(path.join(lake, '_iceberg'), { recursive: true });
  srv = await serve({ data, lake, args, env });
  await round(10);
  const f6 = await check();
  assert.ok(f6 > f5, `${f6} after ${f5}`);
  await srv.stop();
  await s3.stop();
});

test('--lake s3://... is refused, naming the Iceberg warehouse instead', async () => {
  const data = tempDir();
  const r = await run(['serve', '--data', data, '--lake', 's3://lake/x', '--listen', '127.0.0.1:0']);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /--lake-format iceberg --iceberg-warehouse s3:\/\//);
  assert.match(r.err, /rename/);
});
