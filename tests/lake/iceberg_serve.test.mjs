// The Iceberg REST catalog idbsync serves itself (GET /iceberg/v1/..., docs/iceberg.md, "The
// served catalog"): pyiceberg attaches with load_catalog(type="rest", uri=<server>/iceberg),
// lists a namespace per database and its tables, and reads state and change log equal to the
// pull feed; after another push and flush a fresh load sees the new snapshot. Unknown tables
// are a 404 in the spec's error shape, writes are refused, and with --auth tokens:FILE the
// catalog needs an admin token (401 without a token, 403 with a user's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { serve, push, flush, tempDir, run } from './lib.mjs';
import { py, pyEnv, pullChanges, stateOf } from './iceberg_lib.mjs';

const seqs = (rows) => rows.map((r) => r.idb_seq).sort((a, b) => a - b);

test('pyiceberg reads the lake through the catalog idbsync serves; 404, 405, auth', async () => {
  const lake = tempDir(), data = tempDir();
  const args = ['--lake-format', 'iceberg', '--flush-interval', '100ms'];
  let srv = await serve({ data, lake, args });
  let id = 1;
  const put = (store, key, value) => ({ id: id++, store, op: 'put', key, value });
  const m1 = [];
  for (let k = 0; k < 20; k++) m1.push(put('docs', k, { n: k, s: `s${k}` }));
  m1.push(put('notes', 'a', { text: 'hello' }));
  await push(srv.url, 'app', { client: 'c1', mutations: m1 });
  const crmSeq = (await push(srv.url, 'crm', { client: 'c2', mutations: [{ id: 1, store: 'leads', op: 'put', key: 1, value: { name: 'x' } }] })).cursor;
  await flush(srv.url, 'crm');
  const f1 = (await flush(srv.url, 'app')).flushed;

  const uri = `${srv.url}/iceberg`;
  const T = (t) => `rest+${uri}/app.${t}`;
  const check = async () => {
    const changes = await pullChanges(srv.url, 'app');
    const [docs, log, notes, nlog] = await py('scan', T('docs'), T('docs_changes'), T('notes'), T('notes_changes'));
    for (const [st, store] of [[docs, 'docs'], [notes, 'notes']]) {
      const want = stateOf(changes).get(store);
      assert.equal(st.rows.length, want.size, `${store}: rows`);
      for (const r of st.rows) assert.equal(r.idb_seq, want.get(r.idb_key)?.seq, `${store}: key ${r.idb_key}`);
    }
    // every change of app once: each seq up to the last flush but crm's
    const upTo = Math.max(...changes.map((c) => c.seq));
    const app = Array.from({ length: upTo }, (_, i) => i + 1).filter((q) => q !== crmSeq);
    assert.deepEqual([...seqs(log.rows), ...seqs(nlog.rows)].sort((a, b) => a - b), app, 'every change of app once');
    return { docs, log };
  };

  // the catalog: a namespace per database, the tables that have a committed version
  const cat = await py('catalog', uri);
  assert.deepEqual(cat.namespaces, ['app', 'crm']);
  for (const t of ['docs', 'docs_changes', 'notes', 'notes_changes']) assert.ok(cat.tables.app.includes(t), `${t} in ${cat.tables.app}`);
  assert.ok(cat.tables.crm.includes('leads_changes'), cat.tables.crm.join(' '));
  assert.ok(cat.write, 'create_namespace must be refused');
  assert.ok(!fs.existsSync(path.join(lake, '_iceberg', 'idbsync_test_new')));
  const first = await check();
  assert.ok(first.log.snapshots.length >= 1);

  // load table: the metadata location is the newest committed vN, the metadata its content
  const lt = await (await fetch(`${uri}/v1/namespaces/app/tables/docs_changes`)).json();
  const mdir = path.join(lake, '_iceberg/app/docs_changes/metadata');
  const newest = Math.max(...fs.readdirSync(mdir).map((n) => +(/^v(\d+)\.metadata\.json$/.exec(n)?.[1] ?? 0)));
  assert.equal(lt['metadata-location'], `file://${fs.realpathSync(mdir)}/v${newest}.metadata.json`);
  assert.deepEqual(lt.metadata, JSON.parse(fs.readFileSync(path.join(mdir, `v${newest}.metadata.json`), 'utf8')));
  assert.deepEqual(lt.config, {});
  const cfg = await (await fetch(`${uri}/v1/config`)).json();
  // the spec's templates, as Iceberg's Java client (Trino, Spark) compares them
  assert.ok(cfg.endpoints.includes('GET /v1/{prefix}/namespaces/{namespace}/tables/{table}'));
  const head = await fetch(`${uri}/v1/namespaces/app/tables/docs`, { method: 'HEAD' });
  assert.equal(head.status, 204);

  // another push and flush: a fresh load sees the new snapshot
  const m2 = [];
  for (let k = 0; k < 20; k += 2) m2.push({ id: id++, store: 'docs', op: 'delete', key: k });
  m2.push(put('docs', 100, { n: 100, s: 'new', extra: true }));
  await push(srv.url, 'app', { client: 'c1', mutations: m2 });
  const f2 = (await flush(srv.url, 'app')).flushed;
  assert.ok(f2 > f1);
  const second = await check();
  assert.ok(second.log.snapshots.length > first.log.snapshots.length);
  assert.equal(Math.max(...second.log.rows.map((r) => r.idb_seq)), f2);

  // errors in the spec's shape: an unknown table or namespace, a write
  let r = await fetch(`${uri}/v1/namespaces/app/tables/nope`);
  assert.equal(r.status, 404);
  assert.deepEqual((await r.json()).error, { message: 'no table app.nope', type: 'NoSuchTableException', code: 404 });
  // a table in a namespace that cannot exist (Spark's lookup of the metadata table app.items.snapshots)
  r = await fetch(`${uri}/v1/namespaces/app%1Fitems/tables/snapshots`);
  assert.equal(r.status, 404);
  assert.equal((await r.json()).error.type, 'NoSuchTableException');
  r = await fetch(`${uri}/v1/namespaces/nope/tables`);
  assert.equal(r.status, 404);
  assert.equal((await r.json()).error.type, 'NoSuchNamespaceException');
  r = await fetch(`${uri}/v1/namespaces/app/tables`, { method: 'POST', body: JSON.stringify({ name: 'x', schema: {} }) });
  assert.equal(r.status, 405);
  assert.equal((await r.json()).error.code, 405);
  r = await fetch(`${uri}/v1/namespaces/app/tables/docs`, { method: 'DELETE' });
  assert.equal(r.status, 405);
  await srv.stop();
  // idbsync ddl points Spark and Trino at the served catalog
  assert.match((await run(['ddl', '--lake', lake, '--dialect', 'trino'])).out, /--dialect trino --catalog-uri http:\/\/<server>\/iceberg/);
  // with --catalog-uri: Trino's CREATE CATALOG for the served catalog (run by tests/engines/test_trino_iceberg.py)
  const tr = await run(['ddl', '--lake', lake, '--dialect', 'trino', '--catalog-uri', 'http://127.0.0.1:9/iceberg']);
  assert.match(tr.out, /CREATE CATALOG idbsync USING iceberg WITH \(\n {2}"iceberg\.catalog\.type" = 'rest',\n {2}"iceberg\.rest-catalog\.uri" = 'http:\/\/127\.0\.0\.1:9\/iceberg',/);
  assert.match(tr.out, /SELECT count\(\*\) FROM idbsync\."crm"\."leads";/);
  assert.doesNotMatch(tr.out, /register_table|CREATE SCHEMA/);
  // DuckDB's ATTACH to the same catalog, the token in a secret (run by tests/engines/test_duckdb_iceberg.py)
  const du = await run(['ddl', '--lake', lake, '--dialect', 'duckdb', '--catalog-uri', 'http://127.0.0.1:9/iceberg'],
    { env: { ...process.env, IDBSYNC_ICEBERG_TOKEN: 'admintok' } });
  assert.match(du.out, /CREATE OR REPLACE SECRET idbsync_catalog \(TYPE iceberg, TOKEN 'admintok'\);\nATTACH 'idbsync' AS idbsync \(TYPE iceberg, ENDPOINT 'http:\/\/127\.0\.0\.1:9\/iceberg', SECRET idbsync_catalog\);/);
  const bad = await run(['ddl', '--lake', lake, '--dialect', 'trino', '--catalog-uri', "http://x/'; DROP"]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /--catalog-uri/);
  assert.match((await run(['ddl', '--lake', lake, '--dialect', 'spark'])).out, /spark\.sql\.catalog\.idbsync\.uri=http:\/\/<server>\/iceberg/);
  // Hive 4 on this local lake with --catalog-uri: every table of the catalog, named by it and
  // created at the location its metadata names (Hive's jobs find a split's table by its
  // LOCATION; without one the metastore's default is taken). engines/iceberg_s3 runs the S3 form.
  const hv = await run(['ddl', '--lake', lake, '--dialect', 'hive', '--catalog-uri', 'http://127.0.0.1:9/iceberg']);
  assert.equal(hv.code, 0, hv.err);
  assert.match(hv.out, /^SET iceberg\.catalog\.idbsync\.type=rest;\nSET iceberg\.catalog\.idbsync\.uri=http:\/\/127\.0\.0\.1:9\/iceberg;$/m);
  assert.doesNotMatch(hv.out, /fs\.s3|S3FileIO|s3:\/\//);
  const made = [...hv.out.matchAll(/^CREATE EXTERNAL TABLE IF NOT EXISTS (\w+)\.(\w+) STORED BY ICEBERG LOCATION '([^']+)'\n {2}TBLPROPERTIES \('iceberg\.catalog'='idbsync', 'name'='(\w+)\.(\w+)'\);$/gm)];
  assert.equal(made.length, (hv.out.match(/CREATE EXTERNAL TABLE/g) || []).length, hv.out);
  const located = (ns, t) => {
    const md = path.join(lake, '_iceberg', ns, t, 'metadata');
    const v = Math.max(...fs.readdirSync(md).map((n) => +(/^v(\d+)\.metadata\.json$/.exec(n)?.[1] ?? 0)));
    return JSON.parse(fs.readFileSync(path.join(md, `v${v}.metadata.json`), 'utf8')).location;
  };
  const want = cat.namespaces.flatMap((ns) => cat.tables[ns].map((t) => `${ns}.${t} ${located(ns, t)}`)).sort();
  assert.deepEqual(made.map((m) => `${m[4]}.${m[5]} ${m[3]}`).sort(), want);
  for (const m of made) {
    assert.equal(`${m[1]}.${m[2]}`, `${m[4]}.${m[5]}`);
    assert.ok(hv.out.indexOf(`CREATE DATABASE IF NOT EXISTS ${m[1]};`) < m.index, `${m[1]} created before ${m[2]}`);
    assert.ok(hv.out.indexOf(`CREATE DATABASE IF NOT EXISTS ${m[1]};`) >= 0);
  }

  // with tokens: 401 without one, 403 for a user's, an admin's reads the tables
  const tokens = path.join(tempDir(), 'tokens');
  fs.writeFileSync(tokens, 'usertok alice\nadmintok ops admin\n');
  srv = await serve({ data, lake, args: [...args, '--auth', `tokens:${tokens}`] });
  const auri = `${srv.url}/iceberg`;
  r = await fetch(`${auri}/v1/config`);
  assert.equal(r.status, 401);
  assert.equal((await r.json()).error.type, 'NotAuthorizedException');
  r = await fetch(`${auri}/v1/namespaces/app/tables/docs`, { headers: { Authorization: 'Bearer wrong' } });
  assert.equal(r.status, 401);
  r = await fetch(`${auri}/v1/namespaces`, { headers: { Authorization: 'Bearer usertok' } });
  assert.equal(r.status, 403);
  assert.equal((await r.json()).error.type, 'ForbiddenException');
  await assert.rejects(py('catalog', auri), /iceberg_read\.py catalog/);
  const [docs] = await pyEnv({ ICEBERG_READ_PROPS: JSON.stringify({ token: 'admintok' }) }, 'scan', `rest+${auri}/app.docs`);
  assert.equal(docs.rows.length, second.docs.rows.length);
  assert.deepEqual(docs.rows.map((x) => x.idb_seq).sort(), second.docs.rows.map((x) => x.idb_seq).sort());
  await srv.stop();
});

test('a lake without Iceberg tables serves no catalog', async () => {
  const srv = await serve({ data: tempDir(), lake: tempDir(), args: [] });
  const r = await fetch(`${srv.url}/iceberg/v1/namespaces`);
  assert.equal(r.status, 404);
  const e = (await r.json()).error;
  assert.equal(e.code, 404);
  assert.match(e.message, /--lake-format iceberg/);
  await srv.stop();
});
