// Orphans on S3 found by listing the bucket (ListObjectsV2, paged, SigV4-signed: src/s3), not
// only those the local mirror knows: objects put beside the tables' files on the S3 server
// (versitygw serves a directory, so the test writes them there), older than --iceberg-keep, are
// removed at the next start, more than one page of them; a young one, one with another suffix,
// and every file a live snapshot or the state's catalog row names stay, and the tables read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { serve, push, tempDir } from './lib.mjs';
import { pyEnv, s3Server, checkServed, walk } from './iceberg_lib.mjs';

test('Iceberg on S3: orphan objects found by listing S3 are removed, live ones stay', async () => {
  const lake = tempDir(), data = tempDir(), sdir = tempDir('idbsync-s3-');
  const s3 = await s3Server(sdir);
  const env = { AWS_ACCESS_KEY_ID: s3.access, AWS_SECRET_ACCESS_KEY: s3.secret };
  const args = ['--lake-format', 'iceberg', '--iceberg-warehouse', 's3://lake/idbsync', '--s3-endpoint', s3.endpoint,
    '--flush-interval', '100ms', '--iceberg-keep', '3600s'];
  const read = { ICEBERG_READ_PROPS: JSON.stringify({ 's3.endpoint': s3.endpoint, 's3.region': 'us-east-1',
    's3.access-key-id': s3.access, 's3.secret-access-key': s3.secret }) };
  let srv = await serve({ data, lake, args, env });
  let id = 1;
  const round = async (n) => {
    const m = [];
    for (let k = 0; k < n; k++) m.push({ id: id + k, store: 'docs', op: 'put', key: (id + k) % 30, value: { n: id + k } });
    await push(srv.url, 'app', { client: 'c1', mutations: m });
    id += n;
  };
  for (let r = 0; r < 3; r++) {
    await round(20);
    await checkServed(srv.url, read);
  }
  await srv.stop();

  const table = path.join(sdir, 'lake', 'idbsync', 'app', 'docs');
  const live = walk(path.join(sdir, 'lake', 'idbsync'));
  const old = new Date(Date.now() - 2 * 3600 * 1000);
  const put = (rel, when) => {
    const p = path.join(table, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, 'stray');
    if (when) fs.utimesSync(p, when, when);
    return p;
  };
  // 1100 old strays in data/: more than one page of ListObjectsV2 (1000 keys)
  const strays = [];
  for (let i = 0; i < 1100; i++) strays.push(put(`data/part-99999-${String(i).padStart(8, '0')}.parquet`, old));
  strays.push(put('data/sub=x/part-00001-deadbeef.parquet', old));
  strays.push(put('metadata/00000000-0000-4000-8000-000000000000-m0.avro', old));
  strays.push(put('metadata/v999-00000000-0000-4000-8000-000000000000.metadata.json', old));
  const young = put('data/part-99998-young.parquet', null);
  const other = put('data/notes.txt', old);
  // a lost mirror: the strays are unknown locally, only a listing finds them
  fs.rmSync(path.join(lake, '_iceberg'), { recursive: true });

  srv = await serve({ data, lake, args, env });
  const gone = strays.filter((p) => !fs.existsSync(p));
  assert.equal(gone.length, strays.length, `${strays.length - gone.length} old strays left`);
  assert.ok(fs.existsSync(young), 'an object younger than --iceberg-keep stays');
  assert.ok(fs.existsSync(other), 'an object of another kind stays');
  for (const p of live) assert.ok(fs.existsSync(p), `${p}: a live file was removed`);
  await round(10);
  await checkServed(srv.url, read);
  const v = await pyEnv(read, 'refs', `rest+${srv.url}/iceberg/app.docs`);
  assert.deepEqual(v.errors, [], 'kept snapshots that do not read');
  await srv.stop();
  await s3.stop();
});
