// --lake-format iceberg --iceberg-rest URL: the tables are created in and committed through a
// real Apache Iceberg REST catalog (Iceberg's own server side over a JDBC catalog, started on
// 127.0.0.1), and pyiceberg reads them through that catalog: state equal to the pull feed,
// every change once, conflicts, time travel. Another writer's commit makes idbsync's next
// commit fail its requirement (HTTP 409): it re-reads the table and commits again, keeping the
// other writer's snapshot. A restarted server finds its tables through the catalog.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { serve, push, flush, tempDir, run } from './lib.mjs';
import { py, pullChanges, stateOf, restCatalog } from './iceberg_lib.mjs';

const seqs = (rows) => rows.map((r) => r.idb_seq).sort((a, b) => a - b);
const upto = (n) => Array.from({ length: n }, (_, i) => i + 1);

test('pyiceberg reads through a REST catalog; a 409 is retried on the re-read table; restart', async () => {
  const lake = tempDir(), data = tempDir(), cdir = tempDir('idbsync-cat-');
  const cat = await restCatalog(cdir);
  const args = ['--lake-format', 'iceberg', '--iceberg-rest', cat.uri, '--flush-interval', '100ms'];
  let srv = await serve({ data, lake, args });
  let id = 1;
  const put = (store, key, value, hlc) => ({ id: id++, store, op: 'put', key, value, ...(hlc ? { hlc } : {}) });
  const m1 = [];
  for (let k = 0; k < 30; k++) m1.push(put('docs', k, { n: k, s: `s${k}`, d: { $date: new Date(Date.UTC(2024, 0, 1 + k)).toISOString() } }));
  m1.push(put('notes', 'a', { text: 'hello' }));
  await push(srv.url, 'app', { client: 'c1', mutations: m1 });
  const f1 = (await flush(srv.url, 'app')).flushed;
  const m2 = [];
  for (let k = 0; k < 30; k += 3) m2.push({ id: id++, store: 'docs', op: 'delete', key: k });
  for (let k = 1; k < 30; k += 3) m2.push(put('docs', k, { n: k + 0.5, s: `t${k}`, extra: 'new' }));
  m2.push(put('docs', 2, { n: 99, s: 'loser' }, '1000000000000-0000-c1'));   // older hlc: a conflict
  await push(srv.url, 'app', { client: 'c1', mutations: m2 });
  const f2 = (await flush(srv.url, 'app')).flushed;

  const T = (t) => `rest+${cat.uri}/app.${t}`;
  const check = async (upTo, foreign) => {
    const changes = await pullChanges(srv.url, 'app');
    const [docs, log, notes, nlog] = await py('scan', T('docs'), T('docs_changes'), T('notes'), T('notes_changes'));
    for (const [st, store] of [[docs, 'docs'], [notes, 'notes']]) {
      const want = stateOf(changes).get(store);
      assert.equal(st.rows.length, want.size, `${store}: rows`);
      for (const r of st.rows) assert.equal(r.idb_seq, want.get(r.idb_key)?.seq, `${store}: key ${r.idb_key}`);
    }
    // every change once across the change logs (plus the other writer's row, kept)
    const all = [...seqs(log.rows), ...seqs(nlog.rows)].sort((a, b) => a - b);
    assert.deepEqual(all, [...(foreign ? [-1] : []), ...upto(upTo)]);
    return log;
  };
  await check(f2, false);
  const [conf, old] = await py('scan', T('docs_conflicts'), `${T('docs')}@${f1}`);
  assert.equal(conf.rows.length, 1);
  assert.equal(conf.rows[0].s, 'loser');
  // time travel by the snapshots' idbsync.seq: the first flush's state
  assert.equal(old.rows.length, 30);
  assert.ok(old.rows.every((r) => r.idb_seq <= f1));
  // the catalog wrote the metadata files, not the file-system catalog
  const md = fs.readdirSync(`${lake}/_iceberg/app/docs_changes/metadata`);
  assert.ok(md.some((n) => /^\d{5}-.*\.metadata\.json$/.test(n)), md.join(' '));
  assert.ok(!md.some((n) => /^v\d+\.metadata\.json$/.test(n)), md.join(' '));

  // another writer commits to the change log through the catalog: idbsync's commit built on
  // the snapshot before it fails its assert-ref-snapshot-id (409), re-reads, commits again
  await py('append', cat.uri, 'app.docs_changes', JSON.stringify([{ idb_seq: -1, idb_op: 'foreign', idb_key: 'x' }]));
  await push(srv.url, 'app', { client: 'c1', mutations: [put('docs', 100, { n: 1 }), put('docs', 101, { n: 2 })] });
  const f3 = (await flush(srv.url, 'app')).flushed;
  assert.match(srv.stderr(), /iceberg rest: commit conflict on \S*docs_changes/);
  const log = await check(f3, true);
  assert.ok(log.snapshots.some((s) => s.seq === -1), 'the other writer\'s snapshot is in the history');

  // restart: the tables are found through the catalog and the commits go on from its metadata
  await srv.stop();
  srv = await serve({ data, lake, args });
  await push(srv.url, 'app', { client: 'c1', mutations: [put('docs', 102, { n: 3 }), put('notes', 'b', { text: 'again' })] });
  const f4 = (await flush(srv.url, 'app')).flushed;
  await check(f4, true);
  await srv.stop();
  await cat.stop();
});

test('--iceberg-rest: a bad URL or an unreachable catalog is a clear error', async () => {
  const lake = tempDir(), data = tempDir();
  const bad = await run(['serve', '--data', data, '--lake', lake, '--lake-format', 'iceberg', '--iceberg-rest', 'ftp://x']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /--iceberg-rest.*expected the catalog's base URL/);
  // a port nothing listens on: the lake does not open, the message names the catalog
  await assert.rejects(serve({ data, lake, args: ['--lake-format', 'iceberg', '--iceberg-rest', 'http://127.0.0.1:9'] }),
    /iceberg rest catalog http:\/\/127\.0\.0\.1:9: GET http:\/\/127\.0\.0\.1:9\/v1\/config/);
  // without --lake-format iceberg it means nothing: refused
  const plain = await run(['serve', '--data', data, '--lake', lake, '--iceberg-rest', 'http://127.0.0.1:9']);
  assert.notEqual(plain.code, 0);
  assert.match(plain.err, /--iceberg-rest and --iceberg-warehouse need --lake-format iceberg/);
  // an S3 warehouse: only with an endpoint and credentials (the catalog: --iceberg-rest, or
  // the state without it: iceberg_s3_catalog.test.mjs)
  const ice = ['serve', '--data', data, '--lake', lake, '--lake-format', 'iceberg', '--iceberg-warehouse', 's3://b/p'];
  const noend = await run(ice);
  assert.notEqual(noend.code, 0);
  assert.match(noend.err, /--iceberg-warehouse: s3:\/\/b\/p: an S3 endpoint URL \(http:\/\/host:port\) is required/);
  const env = { ...process.env, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' };
  const nokey = await run([...ice, '--iceberg-rest', 'http://127.0.0.1:9', '--s3-endpoint', 'http://127.0.0.1:9'], { env });
  assert.notEqual(nokey.code, 0);
  assert.match(nokey.err, /s3:\/\/b\/p: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  const badwh = await run([...ice.slice(0, -1), 'b/p']);
  assert.match(badwh.err, /--iceberg-warehouse.*expected s3:\/\/bucket\[\/prefix\]/);
});
