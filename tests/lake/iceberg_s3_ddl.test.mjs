// `idbsync ddl` on a lake whose Iceberg tables are on S3 with the server as catalog
// (--iceberg-warehouse s3://, versitygw on 127.0.0.1): with --catalog-uri and --s3-endpoint it
// prints Trino's native S3 settings and Spark's S3FileIO ones beside the catalog's (the keys
// only from $AWS_*, Spark's vended-credentials header with a token and no keys; never Trino's
// vended-credentials switch: Trino 476 ignores vended keys without an STS session token), and
// Hive's session settings for the same catalog with S3FileIO and a table per catalog table;
// the file-system catalog's statements (no --catalog-uri) are refused naming --catalog-uri.
// tests/engines/test_iceberg_s3.py runs these statements in Spark, Trino and Hive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serve, push, flush, tempDir, run } from './lib.mjs';
import { s3Server } from './iceberg_lib.mjs';

test('idbsync ddl on an S3 lake: the engines\' S3 settings with the served catalog; no file-system catalog', async () => {
  const lake = tempDir(), data = tempDir(), sdir = tempDir('idbsync-s3-');
  const s3 = await s3Server(sdir);
  const env = { AWS_ACCESS_KEY_ID: s3.access, AWS_SECRET_ACCESS_KEY: s3.secret };
  const srv = await serve({ data, lake, env, args: ['--lake-format', 'iceberg', '--iceberg-warehouse', 's3://lake/wh',
    '--s3-endpoint', s3.endpoint, '--flush-interval', '100ms'] });
  await push(srv.url, 'app', { client: 'c1', mutations: [{ id: 1, store: 'docs', op: 'put', key: 1, value: { n: 1 } }] });
  await flush(srv.url, 'app');
  await srv.stop();
  const bare = { ...process.env, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', IDBSYNC_ICEBERG_TOKEN: '' };
  const ddl = (dialect, more = [], e = {}) => run(['ddl', '--lake', lake, '--dialect', dialect,
    '--catalog-uri', 'http://127.0.0.1:1/iceberg', ...more], { env: { ...bare, ...e } });

  // Trino: native S3 at the endpoint, the keys from the environment
  let r = await ddl('trino', ['--s3-endpoint', s3.endpoint], env);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /Apache Iceberg v2 on s3:\/\/lake\/wh, the running server its catalog/);
  for (const line of [`"fs.native-s3.enabled" = 'true'`, `"s3.endpoint" = '${s3.endpoint}'`, `"s3.path-style-access" = 'true'`,
    `"s3.aws-access-key" = '${s3.access}'`, `"s3.aws-secret-key" = '${s3.secret}'`, `"s3.region" = 'us-east-1'\n);`]) {
    assert.ok(r.out.includes(line), `${line} in\n${r.out}`);
  }
  assert.doesNotMatch(r.out, /native-local|vended-credentials-enabled/);
  assert.match(r.out, /SELECT count\(\*\) FROM idbsync\."app"\."docs_changes";/);
  // without keys: placeholders in comments, none printed; a region of its own
  r = await ddl('trino', ['--s3-endpoint', s3.endpoint, '--s3-region', 'eu-west-1'], { IDBSYNC_ICEBERG_TOKEN: 'tadm' });
  assert.equal(r.code, 0, r.err);
  assert.ok(!r.out.includes(s3.secret));
  assert.match(r.out, /-- "s3\.aws-access-key" = '<key>'/);
  assert.match(r.out, /"s3\.region" = 'eu-west-1'/);
  assert.match(r.out, /"iceberg\.rest-catalog\.oauth2\.token" = 'tadm'/);

  // Spark: S3FileIO and the AWS bundle; vended credentials asked for with a token and no keys
  r = await ddl('spark', ['--s3-endpoint', s3.endpoint], { IDBSYNC_ICEBERG_TOKEN: 'tadm' });
  assert.equal(r.code, 0, r.err);
  for (const conf of ['io-impl=org.apache.iceberg.aws.s3.S3FileIO', `s3.endpoint=${s3.endpoint}`, 's3.path-style-access=true',
    'client.region=us-east-1', 'header.X-Iceberg-Access-Delegation=vended-credentials', 'token=tadm']) {
    assert.ok(r.out.includes(`--conf spark.sql.catalog.idbsync.${conf} `), `${conf} in\n${r.out}`);
  }
  assert.match(r.out, /iceberg-aws-bundle:1\.10\.0/);
  assert.ok(!r.out.includes('s3.access-key-id='));
  r = await ddl('spark', ['--s3-endpoint', s3.endpoint], env);
  assert.ok(r.out.includes(`--conf spark.sql.catalog.idbsync.s3.access-key-id=${s3.access} `), r.out);
  assert.ok(!r.out.includes('X-Iceberg-Access-Delegation'));
  // no endpoint: AWS's own S3 (no endpoint, no path style), and a comment saying how
  r = await ddl('trino', [], env);
  assert.doesNotMatch(r.out, /"s3\.endpoint"/);
  assert.match(r.out, /--s3-endpoint URL prints s3\.endpoint/);
  // a value that would need escaping in SQL is refused
  r = await ddl('trino', ['--s3-endpoint', "http://x'y"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /--s3-endpoint: a value with a quote/);

  // Hive: the catalog's settings as session SETs (S3FileIO, the keys from $AWS_*), a database
  // and a table naming each catalog table
  r = await ddl('hive', ['--s3-endpoint', s3.endpoint], { ...env, IDBSYNC_ICEBERG_TOKEN: 'tadm' });
  assert.equal(r.code, 0, r.err);
  for (const line of ['type=rest', 'uri=http://127.0.0.1:1/iceberg', 'token=tadm', 'io-impl=org.apache.iceberg.aws.s3.S3FileIO',
    `s3.endpoint=${s3.endpoint}`, 's3.path-style-access=true', 'client.region=us-east-1', `s3.access-key-id=${s3.access}`,
    `s3.secret-access-key=${s3.secret}`]) {
    assert.ok(r.out.includes(`\nSET iceberg.catalog.idbsync.${line};\n`), `${line} in\n${r.out}`);
  }
  // Hadoop's S3A mapped to s3:// with the same endpoint, region and keys, and each table's
  // LOCATION: Hive's MapReduce jobs (an aggregate) find a split by it through that file system
  for (const line of ['fs.s3.impl=org.apache.hadoop.fs.s3a.S3AFileSystem', `fs.s3a.endpoint=${s3.endpoint}`,
    'fs.s3a.path.style.access=true', 'fs.s3a.endpoint.region=us-east-1', `fs.s3a.access.key=${s3.access}`,
    `fs.s3a.secret.key=${s3.secret}`]) {
    assert.ok(r.out.includes(`\nSET ${line};\n`), `${line} in\n${r.out}`);
  }
  assert.match(r.out, /\nCREATE DATABASE IF NOT EXISTS app;\n/);
  assert.match(r.out, /CREATE EXTERNAL TABLE IF NOT EXISTS app\.docs_changes STORED BY ICEBERG LOCATION 's3:\/\/lake\/wh\/app\/docs_changes'\n {2}TBLPROPERTIES \('iceberg\.catalog'='idbsync', 'name'='app\.docs_changes'\);/);
  r = await ddl('hive', ['--s3-endpoint', s3.endpoint]);
  assert.ok(!r.out.includes('\nSET iceberg.catalog.idbsync.s3.access-key-id'), r.out);
  assert.ok(!r.out.includes('\nSET fs.s3a.access.key'), r.out);
  assert.match(r.out, /-- SET iceberg\.catalog\.idbsync\.s3\.access-key-id=<key>/);
  assert.match(r.out, /-- SET fs\.s3a\.access\.key=<key>/);

  // the file-system catalog cannot find these tables: refused, naming the served catalog
  for (const args of [['--dialect', 'spark'], ['--dialect', 'hive'], ['--dialect', 'duckdb']]) {
    r = await run(['ddl', '--lake', lake, ...args], { env: bare });
    assert.equal(r.code, 2, `${args}: ${r.out}`);
    assert.match(r.err, /on S3 \(s3:\/\/lake\/wh\) with the running server as their catalog: .*hive .*--catalog-uri/);
  }
  await s3.stop();
});
