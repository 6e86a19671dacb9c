// The data set the /query tests push and what its `orders` view must aggregate to: one copy
// for the SQLite engine (tests/integration/query.test.mjs) and PostgreSQL (tests/pg/query.test.mjs).

/** 120 orders (keys 1..120; `extra(i)` adds fields to order i), order 120 deleted, one row in
 * the store 'line items' (a space in its name, a quote in a field name). */
export function seedMutations(extra = () => ({})) {
  const muts = [];
  for (let i = 1; i <= 120; i++) {
    muts.push({ id: i, store: 'orders', op: 'put', key: i, value: {
      item: ['tea', 'cake', 'jam'][i % 3], qty: i % 5, price: i % 2 ? 1.5 : 2,
      at: { $date: new Date(Date.UTC(2024, i % 12, 1)).toISOString() }, tags: i % 4 ? ['x'] : [],
      nested: { a: i }, ...extra(i) } });
  }
  muts.push({ id: 121, store: 'orders', op: 'delete', key: 120 });
  muts.push({ id: 122, store: 'line items', op: 'put', key: [1, 'a'], value: { sku: 'T-1', "it's": 1 } });
  return muts;
}

/** `SELECT item, count(*) n, sum(qty) q, round(sum(qty*price), 2) v FROM orders GROUP BY item`
 * over the live orders (keys 1..119), recomputed from the seed: item -> {n, q, v}. */
export function expectedByItem() {
  const exp = new Map();
  for (let i = 1; i <= 119; i++) {
    const it = ['tea', 'cake', 'jam'][i % 3];
    const e = exp.get(it) ?? { n: 0, q: 0, v: 0 };
    e.n++; e.q += i % 5; e.v += (i % 5) * (i % 2 ? 1.5 : 2);
    exp.set(it, e);
  }
  for (const e of exp.values()) e.v = Math.round(e.v * 100) / 100;
  return exp;
}
