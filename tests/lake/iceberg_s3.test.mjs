// The lake's Iceberg tables on S3 (--iceberg-warehouse s3://lake/idbsync, --s3-endpoint): a real
// S3 server (versitygw, serving a directory on 127.0.0.1), Iceberg's own REST catalog writing
// its metadata there through S3FileIO, idbsync PUTting data files, manifests and lists with its
// SigV4 client, and pyiceberg (pyarrow's S3 filesystem) reading through the catalog: the state
// equals the pull feed, every change once. A kill -9 after the manifest list was uploaded and
// before the catalog commit leaves orphans only; a restart with the local mirror deleted
// fetches what it needs from S3 and goes on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { serve, push, flush, tempDir } from './lib.mjs';
import { pyEnv, pullChanges, stateOf, restCatalog, s3Server, seqs, upto, walk } from './iceberg_lib.mjs';

test('Iceberg tables on S3 through a REST catalog: pyiceberg reads them; kill -9 mid-commit; a lost mirror', async () => {
  const lake = tempDir(), data = tempDir(), cdir = tempDir('idbsync-cat-'), sdir = tempDir('idbsync-s3-');
  const s3 = await s3Server(sdir);
  const keys = { 's3.access-key-id': s3.access, 's3.secret-access-key': s3.secret };
  const cat = await restCatalog(cdir, { warehouse: 's3://lake/wh', 'io-impl': 'org.apache.iceberg.aws.s3.S3FileIO',
    's3.endpoint': s3.endpoint, 's3.path-style-access': 'true', 'client.region': 'us-east-1', ...keys });
  const env = { AWS_ACCESS_KEY_ID: s3.access, AWS_SECRET_ACCESS_KEY: s3.secret };
  const args = ['--lake-format', 'iceberg', '--iceberg-rest', cat.uri, '--iceberg-warehouse', 's3://lake/idbsync',
    '--s3-endpoint', s3.endpoint, '--flush-interval', '100ms'];
  const read = { ICEBERG_READ_PROPS: JSON.stringify({ 's3.endpoint': s3.endpoint, 's3.region': 'us-east-1', ...keys }) };
  const T = (t) => `rest+${cat.uri}/app.${t}`;
  let srv = await serve({ data, lake, args, env });
  let id = 1;
  const put = (key, value) => ({ id: id++, store: 'docs', op: 'put', key, value });
  const round = async (n) => {
    const m = [];
    for (let k = 0; k < n; k++) m.push(put(id % 40, { n: id, s: `v${id}` }));
    await push(srv.url, 'app', { client: 'c1', mutations: m });
  };
  const check = async (upTo, live = true) => {   // live: the server runs, its pull feed is the truth
    const [st, log] = await pyEnv(read, 'scan', T('docs'), T('docs_changes'));
    assert.deepEqual(seqs(log.rows), upto(upTo));
    if (!live) return;
    const want = stateOf(await pullChanges(srv.url, 'app')).get('docs');
    assert.equal(st.rows.length, want.size);
    for (const r of st.rows) assert.equal(r.idb_seq, want.get(r.idb_key)?.seq, `key ${r.idb_key}`);
  };

  await round(30);
  const f1 = (await flush(srv.url, 'app')).flushed;
  await round(25);
  const f2 = (await flush(srv.url, 'app')).flushed;
  assert.ok(f2 > f1);
  await check(f2);
  // everything a reader needs is on the S3 server: the catalog's metadata, our lists,
  // manifests and data files (versitygw keeps each object as a file under its bucket dir)
  const objs = walk(path.join(sdir, 'lake', 'idbsync', 'app', 'docs_changes')).map((p) => path.basename(p));
  assert.ok(objs.some((n) => /\.metadata\.json$/.test(n)), objs.join(' '));
  assert.ok(objs.some((n) => /^snap-.*\.avro$/.test(n)) && objs.some((n) => /-m0\.avro$/.test(n)), objs.join(' '));
  assert.ok(objs.some((n) => /^part-.*\.parquet$/.test(n)), objs.join(' '));

  // kill -9 after the manifest list was uploaded, before the catalog commit: readers keep the
  // previous snapshot; the restarted server writes the changes again, once
  await srv.stop();
  srv = await serve({ data, lake, args, env: { ...env, IDBSYNC_TEST_ICEBERG_KILL: 'list:1' } });
  srv.proc.ref();   // its exit is what this step waits for: keep the event loop on it
  await round(20);
  assert.equal((await srv.exited).sig, 'SIGKILL');
  await check(f2, false);   // read through the catalog: nothing of the killed commit
  srv = await serve({ data, lake, args, env });
  const f3 = (await flush(srv.url, 'app')).flushed;
  assert.equal(f3, f2 + 20);
  await check(f3);

  // the local mirror is lost: the restart fetches the manifests it needs from S3
  await srv.stop();
  fs.rmSync(path.join(lake, '_iceberg'), { recursive: true });
  srv = await serve({ data, lake, args, env });
  await round(10);
  const f4 = (await flush(srv.url, 'app')).flushed;
  await check(f4);
  await srv.stop();
  await cat.stop();
  await s3.stop();
});
