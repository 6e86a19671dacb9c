// A partitioned current state (--lake-partition) committed through an external REST catalog
// (Iceberg's own server, --iceberg-rest): the commit adds the identity spec with the REST
// updates add-spec / set-default-spec (requirements assert-last-assigned-partition-id and
// assert-default-spec-id). A table that an earlier idbsync committed unpartitioned through the
// catalog (IDBSYNC_TEST_ICEBERG_NO_SPEC: that behaviour) gets the spec at its next commit, its
// old files staying in spec 0 until their buckets are rewritten; a table created now is
// partitioned from its first snapshot. pyiceberg reads through the catalog: the state equals the
// pull feed and a filter on the partition column plans only that partition's files; again after
// a server restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serve, push, flush, tempDir } from './lib.mjs';
import { py, pullChanges, stateOf, restCatalog } from './iceberg_lib.mjs';

const regions = ['eu', 'us', 'apac', null];

test('partitioned state through a REST catalog: add-spec on an unpartitioned table, pruning, restart', async () => {
  const lake = tempDir(), data = tempDir(), cdir = tempDir('idbsync-cat-');
  const cat = await restCatalog(cdir);
  const args = ['--lake-format', 'iceberg', '--iceberg-rest', cat.uri, '--flush-interval', '100ms',
    '--lake-partition', 'app/orders=region', '--lake-partition', 'app/shops=region'];
  let id = 1;
  const want = { orders: new Map(), shops: new Map() };   // key -> region as pushed
  const put = (store, k, region) => {
    want[store].set(JSON.stringify(k), region);
    return { id: id++, store, op: 'put', key: k, value: { n: id, ...(region === null ? {} : { region }) } };
  };
  const T = (t) => `rest+${cat.uri}/app.${t}`;
  const meta = async (t) => (await (await fetch(`${cat.uri}/v1/namespaces/app/tables/${t}`)).json()).metadata;
  // the state equals the pull feed (partition column included); the eu filter's rows are the eu
  // keys and it plans no file of the partition spec that holds another value; strict: every
  // planned file is of the identity spec with value eu, fewer than all, and 'nowhere' plans none
  const check = async (srv, store, strict) => {
    const [st, eu, none] = await py('scan', T(store), `${T(store)}#region == 'eu'`, `${T(store)}#region == 'nowhere'`);
    const feed = stateOf(await pullChanges(srv.url, 'app')).get(store);
    assert.equal(st.rows.length, feed.size, `${store}: every key once`);
    for (const row of st.rows) {
      const c = feed.get(row.idb_key);
      assert.equal(row.idb_seq, c?.seq, `${store}: key ${row.idb_key}`);
      assert.equal(row.region ?? null, c.value.region ?? null, `${store}: key ${row.idb_key}: the partition column`);
    }
    const euKeys = [...want[store]].filter(([, r]) => r === 'eu').map(([k]) => k).sort();
    assert.deepEqual(eu.rows.map((r) => r.idb_key).sort(), euKeys, `${store}: the eu rows`);
    for (const [spec, vals] of eu.parts) assert.ok(spec === 0 || vals[0] === 'eu', JSON.stringify(eu.parts));
    if (strict) {
      for (const [spec, vals] of eu.parts) assert.ok(spec > 0 && vals[0] === 'eu', JSON.stringify(eu.parts));
      assert.ok(eu.files >= 1 && eu.files < st.files, `${store}: ${eu.files} of ${st.files} files planned`);
      assert.equal(none.files, 0, JSON.stringify(none.parts));
    }
    return st;
  };
  // the catalog's metadata: one identity spec on the column's current field id, the default
  const specOf = async (t) => {
    const m = await meta(t);
    const col = m.schemas.find((s) => s['schema-id'] === m['current-schema-id']).fields.find((f) => f.name === 'region');
    const spec = m['partition-specs'].find((s) => s['spec-id'] === m['default-spec-id']);
    assert.deepEqual(spec.fields.map((f) => [f['source-id'], f['field-id'], f.transform, f.name]),
      [[col.id, 1000, 'identity', 'region']], JSON.stringify(m['partition-specs']));
    return m;
  };

  // an earlier idbsync: the state committed unpartitioned through the catalog
  let srv = await serve({ data, lake, args, env: { IDBSYNC_TEST_ICEBERG_NO_SPEC: '1' } });
  const m1 = [];
  for (let k = 0; k < 40; k++) m1.push(put('orders', k, regions[k % 4]));
  await push(srv.url, 'app', { client: 'c1', mutations: m1 });
  await flush(srv.url, 'app');
  const st1 = await check(srv, 'orders', false);
  assert.ok(st1.parts.every(([spec]) => spec === 0), JSON.stringify(st1.parts));
  assert.equal((await meta('orders'))['default-spec-id'], 0);
  await srv.stop();

  // this idbsync: the next commit adds the spec; files of rewritten buckets get it, the others
  // keep spec 0. A store first written now is partitioned from its first snapshot.
  srv = await serve({ data, lake, args });
  const m2 = [];
  for (let k = 0; k < 40; k += 7) m2.push(put('orders', k, regions[(k + 1) % 4]));
  for (let k = 0; k < 30; k++) m2.push(put('shops', k, regions[k % 4]));
  await push(srv.url, 'app', { client: 'c1', mutations: m2 });
  await flush(srv.url, 'app');
  const st2 = await check(srv, 'orders', false);
  const mo = await specOf('orders');
  const pid = mo['default-spec-id'];
  assert.ok(pid > 0 && mo['partition-specs'].some((s) => s['spec-id'] === 0 && !s.fields.length));
  assert.ok(st2.parts.some(([spec]) => spec === pid), JSON.stringify(st2.parts));
  const ms = await specOf('shops');
  assert.equal(ms.snapshots.length, 1);
  await check(srv, 'shops', true);

  // every key of orders rewritten (moved partitions, deleted): no file left in spec 0
  const m3 = [];
  for (let k = 0; k < 40; k++) {
    if (k % 9 === 4) { m3.push({ id: id++, store: 'orders', op: 'delete', key: k }); want.orders.delete(String(k)); } else m3.push(put('orders', k, regions[(k + 2) % 4]));
  }
  await push(srv.url, 'app', { client: 'c1', mutations: m3 });
  await flush(srv.url, 'app');
  const st3 = await check(srv, 'orders', true);
  assert.ok(st3.parts.every(([spec]) => spec === pid), JSON.stringify(st3.parts));

  // a restart: the tables (and each entry's spec) are read back through the catalog, the next
  // commits keep the spec
  await srv.stop();
  srv = await serve({ data, lake, args });
  const m4 = [];
  for (let k = 40; k < 50; k++) m4.push(put('orders', k, regions[k % 3]));
  for (let k = 0; k < 30; k += 4) m4.push(put('shops', k, 'eu'));
  await push(srv.url, 'app', { client: 'c1', mutations: m4 });
  await flush(srv.url, 'app');
  await check(srv, 'orders', true);
  await check(srv, 'shops', true);
  assert.equal((await specOf('orders'))['default-spec-id'], pid);
  assert.equal((await meta('orders'))['partition-specs'].length, 2, 'no spec added twice');
  await srv.stop();
  await cat.stop();
});
