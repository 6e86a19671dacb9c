// Pages of the served Iceberg catalog's two lists (GET /iceberg/v1/namespaces and
// .../namespaces/{db}/tables with the spec's pageToken and pageSize; docs/iceberg.md, "The
// served catalog"): over 6 databases and 24 tables, every page size from 1 up gives every name
// once, in order, and "next-page-token" null on the last page; a table added between pages is
// listed once if it sorts after the pages already read; a token or page size the catalog did not
// give is a 400 in the spec's error shape; pyiceberg, which does not page, still lists it all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serve, push, flush, tempDir } from './lib.mjs';
import { py } from './iceberg_lib.mjs';

const stores = Array.from({ length: 12 }, (_, i) => `s${String(i).padStart(2, '0')}`);
const dbs = ['app', 'd0', 'd1', 'd2', 'd3', 'd4'];

test('the served catalog pages its namespaces and tables as the REST spec says', async () => {
  const srv = await serve({ data: tempDir(), lake: tempDir(), args: ['--lake-format', 'iceberg', '--flush-interval', '3600s'] });
  const uri = `${srv.url}/iceberg`;
  const ids = new Map();   // a client's mutation ids run from 1 in each database
  const put = (db, store) => {
    const id = (ids.get(db) || 0) + 1;
    ids.set(db, id);
    return { id, store, op: 'put', key: id, value: { n: id } };
  };
  const pushed = async (db, names) => {
    const r = await push(srv.url, db, { client: 'c', mutations: names.map((n) => put(db, n)) });
    assert.equal(r.ack, ids.get(db), `${db}: every mutation acked`);
  };
  await pushed('app', stores);
  for (const db of dbs.slice(1)) await pushed(db, ['t']);
  for (const db of dbs) await flush(srv.url, db);

  const get = async (p, q = {}) => {
    const r = await fetch(`${uri}/v1/${p}?${new URLSearchParams(q)}`);
    return { status: r.status, body: await r.json() };
  };
  const names = (p, b) => (p === 'namespaces' ? b.namespaces.map((n) => n.join('.')) : b.identifiers.map((t) => t.name));
  // every page from pageToken "" (or from none) on, following next-page-token
  const pages = async (p, size, first = '') => {
    const got = [];
    let token = first;
    for (let i = 0; ; i++) {
      assert.ok(i < 100, `${p}: more pages than names`);
      const q = { pageSize: size, ...(token === null ? {} : { pageToken: token }) };
      const r = await get(p, q);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const page = names(p, r.body);
      assert.ok(page.length <= size, `${p} page of ${page.length} > ${size}`);
      got.push(...page);
      assert.ok('next-page-token' in r.body, `${p}: a paged answer names its next page`);
      token = r.body['next-page-token'];
      if (token === null) return got;
      assert.equal(typeof token, 'string');
      assert.equal(page.length, size, `${p}: only the last page is short`);
    }
  };

  const all = await get('namespaces');
  assert.deepEqual(names('namespaces', all.body), dbs);
  assert.ok(!('next-page-token' in all.body), 'without pageSize: one answer in the earlier shape');
  const tables = names('x', (await get('namespaces/app/tables')).body);
  assert.deepEqual(tables, stores.flatMap((s) => [s, `${s}_changes`]));
  for (const size of [1, 2, 5, 6, 7, 100]) assert.deepEqual(await pages('namespaces', size), dbs, `namespaces by ${size}`);
  for (const size of [1, 5, 23, 24, 25]) assert.deepEqual(await pages('namespaces/app/tables', size), tables, `tables by ${size}`);
  assert.deepEqual(await pages('namespaces/app/tables', 7, null), tables, 'the first page without a pageToken');
  // a token without pageSize: every name after it
  const p1 = await get('namespaces/app/tables', { pageToken: '', pageSize: 3 });
  const rest = await get('namespaces/app/tables', { pageToken: p1.body['next-page-token'] });
  assert.deepEqual([...names('x', p1.body), ...names('x', rest.body)], tables);

  // tables added between pages: one sorting before the pages read is not sent, one after once
  const first = await get('namespaces/app/tables', { pageToken: '', pageSize: 5 });
  await pushed('app', ['a_new', 'zz']);
  await flush(srv.url, 'app');
  const later = names('x', (await get('namespaces/app/tables')).body);
  assert.ok(later.includes('a_new') && later.includes('zz'), later.join(' '));
  const after = await pages('namespaces/app/tables', 4, first.body['next-page-token']);
  assert.deepEqual([...names('x', first.body), ...after], [...tables, 'zz', 'zz_changes']);

  // what the catalog did not give: 400 BadRequestException naming the parameter
  const long = Buffer.from('x'.repeat(300)).toString('base64');
  const slash = Buffer.from('a/b').toString('base64');
  for (const [q, field] of [[{ pageToken: '!!!' }, 'pageToken'], [{ pageToken: 'czAx' + '=' }, 'pageToken'],
    [{ pageToken: slash }, 'pageToken'], [{ pageToken: long, pageSize: 2 }, 'pageToken'],
    [{ pageSize: 0 }, 'pageSize'], [{ pageSize: -2 }, 'pageSize'], [{ pageSize: 'ten' }, 'pageSize'],
    [{ pageSize: '' }, 'pageSize'], [{ pageToken: '', pageSize: '2.5' }, 'pageSize']]) {
    for (const p of ['namespaces', 'namespaces/app/tables']) {
      const r = await get(p, q);
      assert.equal(r.status, 400, `${p} ${JSON.stringify(q)}`);
      assert.equal(r.body.error.type, 'BadRequestException');
      assert.equal(r.body.error.code, 400);
      assert.match(r.body.error.message, new RegExp(`^${field} `));
    }
  }
  // a missing namespace is still a 404, paged or not
  assert.equal((await get('namespaces/nope/tables', { pageToken: '', pageSize: 2 })).status, 404);

  // pyiceberg (no paging) lists every namespace and table
  const cat = await py('catalog', uri);
  assert.deepEqual(cat.namespaces, dbs);
  assert.deepEqual(cat.tables.app, later);
  await srv.stop();
});
