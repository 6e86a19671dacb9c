// The S3 *server* crashing in the middle of an upload: idbsync (the state as Iceberg catalog,
// warehouse on versitygw) stalls the body of a large PUT at a known point
// (IDBSYNC_TEST_S3_STALL), the test kills versitygw with SIGKILL there, keeps pushing while S3 is
// down (every push acked: the lake is behind, syncing is not), restarts versitygw on the same
// directory and port, and the failed flush, retried with backoff, then commits: through the
// served catalog pyiceberg finds every change once in the change log and the state equal to
// the pull feed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { serve, push, tempDir, rng, metrics } from './lib.mjs';
import { metricValue } from '../lib/http.mjs';
import { pullChanges, s3Server, checkServed } from './iceberg_lib.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('Iceberg on S3: the S3 server killed mid-PUT and restarted; the flush is retried and commits', async () => {
  const lake = tempDir(), data = tempDir(), sdir = tempDir('idbsync-s3-'), tmp = tempDir();
  const s3 = await s3Server(sdir);
  const stall = path.join(tmp, 'stall');
  const env = { AWS_ACCESS_KEY_ID: s3.access, AWS_SECRET_ACCESS_KEY: s3.secret,
    IDBSYNC_TEST_S3_STALL: `put-body:1:${stall}` };
  const args = ['--lake-format', 'iceberg', '--iceberg-warehouse', 's3://lake/idbsync', '--s3-endpoint', s3.endpoint,
    '--flush-interval', '100ms'];
  const read = { ICEBERG_READ_PROPS: JSON.stringify({ 's3.endpoint': s3.endpoint, 's3.region': 'us-east-1',
    's3.access-key-id': s3.access, 's3.secret-access-key': s3.secret }) };
  const srv = await serve({ data, lake, args, env });
  const r = rng(5);
  let id = 1;
  const round = async (n, bytes) => {
    const m = [];
    for (let k = 0; k < n; k++) {
      // random text: a large value stays large in the Parquet file
      const s = Array.from({ length: bytes }, () => String.fromCharCode(33 + Math.floor(r() * 90))).join('');
      m.push({ id: id + k, store: 'docs', op: 'put', key: (id + k) % 50, value: { n: id + k, s } });
    }
    const res = await push(srv.url, 'app', { client: 'c1', mutations: m });
    assert.ok(!res.gap && !res.error, `push acked: ${JSON.stringify(res)}`);
    id += n;
  };
  const check = () => checkServed(srv.url, read);

  await round(20, 20);
  const f1 = await check();

  // a flush with a PUT of more than 1 MiB: it stalls once its first bytes left
  fs.writeFileSync(stall, '');
  await round(40, 40000);
  while (!/s3_test_stall/.test(srv.stderr())) await sleep(50);
  await s3.stop();        // SIGKILL: the S3 server dies with the body half sent
  fs.rmSync(stall);       // the PUT goes on against a dead server and fails
  const errors = async () => metricValue(await metrics(srv.url), 'idbsync_lake_flush_errors_total');
  while ((await errors()) < 2) await sleep(100);   // the flush failed and its retry too
  const failed = srv.stderr().split('\n').filter((l) => /lake_flush_failed/.test(l));
  assert.match(failed[0], /PUT http:\/\/127\.0\.0\.1/, 'the first failure is the stalled PUT');
  console.log(failed.slice(0, 2).join('\n'));
  // S3 down: syncing goes on, every push is acked
  for (let k = 0; k < 5; k++) await round(10, 20);
  const newest = Math.max(...(await pullChanges(srv.url, 'app')).map((c) => c.seq));
  assert.equal(newest, id - 1, 'the pushes of the outage are in the pull feed');

  await s3.start();       // the same directory and port
  const f2 = await check();   // the retried flush commits; every change once, state = feed
  assert.ok(f2 > f1 && f2 === id - 1, `${f2} after ${f1}, ${id - 1} pushed`);
  assert.ok((await errors()) >= 2);
  await round(5, 20);
  assert.equal(await check(), id - 1);
  await srv.stop();
  await s3.stop();
});
