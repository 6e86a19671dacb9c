// A partitioned current state (--lake-partition app/orders=region) as an Iceberg table: an
// identity partition spec on the column, the column in the data files (the plain layout takes
// it from the path), a file per partition and bucket, the manifest entries' partition values.
// pyiceberg reads the state equal to the pull feed, a filter on the partition column plans only
// that partition's files (partition pruning), a row that moves to another partition is in the
// new one only, files whose column holds more than one value (a value past the plain layout's
// 60-byte directory cut) stay readable unpartitioned (spec 0), a restart keeps each entry's spec,
// and the served catalog reads the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { serve, push, flush, tempDir } from './lib.mjs';
import { py, pyEnv, pullChanges, stateOf } from './iceberg_lib.mjs';

const latest = (dir) => {
  const v = fs.readdirSync(path.join(dir, 'metadata')).map((n) => /^v(\d+)\.metadata\.json$/.exec(n)).filter(Boolean)
    .map((m) => Number(m[1])).sort((a, b) => b - a)[0];
  return JSON.parse(fs.readFileSync(path.join(dir, 'metadata', `v${v}.metadata.json`), 'utf8'));
};

for (const profile of ['compat', 'modern']) {
  test(`partitioned state as an Iceberg identity partition, pruned by pyiceberg (${profile})`, async () => {
    const lake = tempDir(), data = tempDir();
    const args = ['--lake-format', 'iceberg', '--lake-profile', profile, '--lake-partition', 'app/orders=region',
      '--flush-interval', '100ms'];
    let srv = await serve({ data, lake, args });
    const long = 'x'.repeat(70);   // two values the plain layout's 60-byte cut puts in one dir
    const regions = ['eu', 'us', 'apac', null, `${long}A`, `${long}B`];
    let id = 1;
    const want = new Map();   // key -> region as pushed (undefined: no field)
    const put = (k, region) => {
      const v = { n: k, note: `order ${k}` };
      if (region !== null) v.region = region;
      want.set(k, region);
      return { id: id++, store: 'orders', op: 'put', key: k, value: v };
    };
    const check = async (url) => {
      const dir = `${lake}/_iceberg/app/orders`;
      const T = url ? `rest+${url}/iceberg/app.orders` : dir;
      const [st, eu, none] = await (url ? pyEnv({}, 'scan', T, `${T}#region == 'eu'`, `${T}#region == 'nowhere'`)
        : py('scan', T, `${T}#region == 'eu'`, `${T}#region == 'nowhere'`));
      const feed = stateOf(await pullChanges(srv.url, 'app')).get('orders');
      assert.equal(st.rows.length, feed.size, 'every key once');
      for (const row of st.rows) {
        const c = feed.get(row.idb_key);
        assert.equal(row.idb_seq, c?.seq, `key ${row.idb_key}`);
        assert.equal(row.region ?? null, c.value.region ?? null, `key ${row.idb_key}: the partition column`);
      }
      // pruning: the filter plans the files of partition eu only (one per bucket), no
      // unpartitioned file holds an eu row; a value no partition has plans nothing
      const euKeys = [...want].filter(([, r]) => r === 'eu').map(([k]) => JSON.stringify(k)).sort();
      assert.deepEqual(eu.rows.map((r) => r.idb_key).sort(), euKeys);
      assert.ok(eu.files >= 1 && eu.files < st.files, `${eu.files} of ${st.files} files planned`);
      for (const [spec, vals] of eu.parts) assert.ok(spec > 0 && vals[0] === 'eu', JSON.stringify(eu.parts));
      assert.equal(none.files, 0, JSON.stringify(none.parts));
      return st;
    };

    const m = [];
    for (let k = 0; k < 60; k++) m.push(put(k, regions[k % regions.length]));
    await push(srv.url, 'app', { client: 'c1', mutations: m });
    await flush(srv.url, 'app');
    const st = await check();
    // one identity spec on the column's field id, the default; the mixed dir's file in spec 0
    const meta = latest(`${lake}/_iceberg/app/orders`);
    const col = meta.schemas.find((s) => s['schema-id'] === meta['current-schema-id']).fields.find((f) => f.name === 'region');
    const spec = meta['partition-specs'].find((s) => s['spec-id'] === meta['default-spec-id']);
    assert.deepEqual(spec.fields.map((f) => [f['source-id'], f.transform, f.name]), [[col.id, 'identity', 'region']]);
    const parts = st.parts.map(([s, v]) => `${s}:${JSON.stringify(v)}`);
    for (const r of ['eu', 'us', 'apac']) assert.ok(parts.includes(`${spec['spec-id']}:${JSON.stringify([r])}`), parts.join(' '));
    assert.ok(parts.includes(`${spec['spec-id']}:[null]`), parts.join(' '));
    assert.ok(parts.includes('0:[]'), `the ${long.length + 1}-byte values' file is unpartitioned: ${parts.join(' ')}`);

    // rows move between partitions and are deleted: each key in its new partition only
    const m2 = [];
    for (let k = 0; k < 60; k += 4) m2.push(put(k, regions[(k + 1) % 4]));
    for (let k = 1; k < 60; k += 9) { m2.push({ id: id++, store: 'orders', op: 'delete', key: k }); want.delete(k); }
    await push(srv.url, 'app', { client: 'c1', mutations: m2 });
    await flush(srv.url, 'app');
    await check();

    // a restart reads each entry's spec back and the next commits keep them
    await srv.stop();
    srv = await serve({ data, lake, args });
    const m3 = [];
    for (let k = 60; k < 80; k++) m3.push(put(k, regions[k % 3]));
    for (let k = 2; k < 60; k += 5) m3.push(put(k, 'eu'));
    await push(srv.url, 'app', { client: 'c1', mutations: m3 });
    await flush(srv.url, 'app');
    await check();
    await check(srv.url);   // the served catalog: the same table
    await srv.stop();
  });
}
