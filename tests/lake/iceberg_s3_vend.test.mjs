// Credential vending on the served catalog (--iceberg-vend-credentials): the lake's Iceberg
// tables on a real S3 server (versitygw on 127.0.0.1) with idbsync as the catalog; pyiceberg
// given only the catalog URI and an admin token (no endpoint, no keys: it asks with
// X-Iceberg-Access-Delegation: vended-credentials, its default) reads the state equal to the pull
// feed and the change log with every change once. No credentials without the header, to a
// user's token (403) or with the option off; the option is refused with --auth none and
// without an S3 warehouse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { serve, tempDir, run, SRC } from './lib.mjs';
import { s3Server, pyEnv, stateOf, seqs, upto } from './iceberg_lib.mjs';

test('the served catalog vends S3 credentials to an admin reader that asks, and to no one else', async (t) => {
  const lake = tempDir(), data = tempDir(), sdir = tempDir('idbsync-s3-');
  const s3 = await s3Server(sdir);
  const env = { AWS_ACCESS_KEY_ID: s3.access, AWS_SECRET_ACCESS_KEY: s3.secret };
  const tokens = path.join(data, 'tokens');
  fs.writeFileSync(tokens, 'tuser alice\ntadm root admin\n');
  const base = ['--lake-format', 'iceberg', '--iceberg-warehouse', 's3://lake/idbsync', '--s3-endpoint', s3.endpoint,
    '--flush-interval', '100ms', '--auth', `tokens:${tokens}`];
  let srv = await serve({ data, lake, args: [...base, '--iceberg-vend-credentials'], env });
  const m = [];
  for (let k = 0; k < 40; k++) m.push({ id: k + 1, store: 'docs', op: 'put', key: k % 25, value: { n: k, s: `v${k}` } });
  const auth = (t) => ({ authorization: `Bearer ${t}` });
  const pushAs = (url, body) => fetch(`${url}/v1/db/app/push`, { method: 'POST', headers: { ...auth('tuser'), 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal((await pushAs(srv.url, { client: 'c1', mutations: m })).status, 200);

  // pyiceberg with the catalog URI and the admin token only: the S3 endpoint, region and keys
  // come from the LoadTableResult's config (the reader's environment has none)
  const bare = { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_ENDPOINT_URL: '' };
  const read = { ...bare, ICEBERG_READ_PROPS: JSON.stringify({ token: 'tadm' }) };
  const flushed = (await (await fetch(`${srv.url}/v1/db/app/flush`, { method: 'POST', headers: auth('tuser') })).json()).flushed;
  assert.equal(flushed, 40);
  const feed = await (await fetch(`${srv.url}/v1/db/app/pull?since=0&limit=10000`, { headers: auth('tuser') })).json();
  assert.ok(!feed.more);
  const T = (t) => `rest+${srv.url}/iceberg/app.${t}`;
  const [st, log] = await pyEnv(read, 'scan', T('docs'), T('docs_changes'));
  assert.deepEqual(seqs(log.rows), upto(flushed), 'the change log: every change once');
  const want = stateOf(feed.changes).get('docs');
  assert.equal(st.rows.length, want.size);
  for (const row of st.rows) assert.equal(row.idb_seq, want.get(row.idb_key)?.seq, `key ${row.idb_key}`);
  assert.ok(st.paths.length && st.paths.every((p) => p.startsWith('s3://lake/idbsync/')), st.paths.join(' '));
  // DuckDB 1.5.5's ATTACH (TYPE iceberg) with the token only, as `idbsync ddl --dialect duckdb
  // --catalog-uri` prints it: it asks for vended credentials by default. Its release and
  // extensions come from the engines cache (tests/engines/run duckdb_iceberg installs them).
  const duckHome = path.join(os.homedir(), '.cache/idbsync-engines/duckdb-iceberg-1.5.5');
  if (fs.existsSync(path.join(duckHome, 'extensions'))) {
    const job = {
      statements: ['INSTALL iceberg', 'LOAD iceberg', 'INSTALL httpfs', 'LOAD httpfs',
        "CREATE OR REPLACE SECRET idbsync_catalog (TYPE iceberg, TOKEN 'tadm')",
        `ATTACH 'idbsync' AS idbsync (TYPE iceberg, ENDPOINT '${srv.url}/iceberg', SECRET idbsync_catalog)`],
      queries: { st: 'SELECT idb_key, idb_seq FROM idbsync.app.docs', log: 'SELECT idb_seq FROM idbsync.app.docs_changes' },
    };
    const out = JSON.parse(execFileSync('node', [path.join(SRC, 'tests/engines/duckdb_iceberg.mjs')], {
      input: `${JSON.stringify(job)}\n`, encoding: 'utf8', env: { ...process.env, ...bare, IDBSYNC_DUCKDB_HOME: duckHome },
    }));
    assert.deepEqual(out.log.map((r) => Number(r.idb_seq)).sort((a, b) => a - b), upto(flushed), 'DuckDB: the change log');
    assert.deepEqual(new Map(out.st.map((r) => [r.idb_key, Number(r.idb_seq)])), new Map([...want].map(([k, c]) => [k, c.seq])),
      'DuckDB: the state');
  } else {
    t.diagnostic(`DuckDB part not run: ${duckHome} is missing (tests/engines/run duckdb_iceberg installs it)`);
  }

  const load = async (url, headers) => {
    const r = await fetch(`${url}/iceberg/v1/namespaces/app/tables/docs`, { headers });
    return { status: r.status, body: await r.json() };
  };
  const ask = { 'x-iceberg-access-delegation': 'vended-credentials' };
  const got = await load(srv.url, { ...auth('tadm'), ...ask });
  assert.equal(got.status, 200);
  assert.deepEqual(got.body.config, {
    's3.endpoint': s3.endpoint, 's3.region': 'us-east-1', 's3.path-style-access': 'true',
    's3.access-key-id': s3.access, 's3.secret-access-key': s3.secret,
  });
  assert.deepEqual(got.body['storage-credentials'], [{ prefix: 's3://lake/idbsync', config: got.body.config }]);
  assert.match(got.body['metadata-location'], /^s3:\/\/lake\/idbsync\/app\/docs\/metadata\//);
  assert.match(srv.stderr(), /S3 credentials vended for app\.docs to root/);
  // not asked: nothing; a user's token: 403 and nothing; no token: 401
  const plain = await load(srv.url, auth('tadm'));
  assert.deepEqual([plain.status, plain.body.config, plain.body['storage-credentials']], [200, {}, undefined]);
  const user = await load(srv.url, { ...auth('tuser'), ...ask });
  assert.equal(user.status, 403);
  assert.ok(!JSON.stringify(user.body).includes(s3.secret));
  assert.equal((await load(srv.url, ask)).status, 401);

  // the option off: a reader that asks gets no credentials
  await srv.stop();
  srv = await serve({ data, lake, args: base, env });
  const off = await load(srv.url, { ...auth('tadm'), ...ask });
  assert.deepEqual([off.status, off.body.config, off.body['storage-credentials']], [200, {}, undefined]);
  assert.ok(!JSON.stringify(off.body).includes(s3.secret));
  await srv.stop();

  // refused: with --auth none (anyone reaching the port would get the keys), without an S3
  // warehouse (nothing to vend)
  const noauth = await run(['serve', '--data', data, '--lake', lake, ...base.slice(0, -2), '--iceberg-vend-credentials'], { env: { ...process.env, ...env } });
  assert.notEqual(noauth.code, 0);
  assert.match(noauth.err, /--iceberg-vend-credentials needs --auth tokens:FILE/);
  const local = await run(['serve', '--data', tempDir(), '--lake', tempDir(), '--lake-format', 'iceberg', '--auth', `tokens:${tokens}`,
    '--listen', '127.0.0.1:0', '--iceberg-vend-credentials']);
  assert.notEqual(local.code, 0);
  assert.match(local.err, /--iceberg-vend-credentials needs --iceberg-warehouse s3:\/\//);
  await s3.stop();
});
