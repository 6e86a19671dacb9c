// The push benchmarks' documents: orders-like mutations ({id, store:'orders', op:'put', key, value}
// with ~150-byte values), cut into push bodies of `batch` mutations; ids start at `first`, keys
// are `${client}-${id}` (keys 'text'), a random UUID ('uuid') or the number client * 1e9 + id
// ('number'), the pushing client is `name`.
import http from 'node:http';
import { randomUUID } from 'node:crypto';

const KEYS = {
  text: (client, id) => `${client}-${id}`,
  uuid: () => randomUUID(),
  number: (client, id) => client * 1e9 + id,
};

export function orderBodies(client, n, batch, first = 1, name = `bench-${client}`, keys = 'text') {
  const keyOf = KEYS[keys];
  if (!keyOf) throw new Error(`keys: ${keys}? (text, uuid or number)`);
  const bodies = [];
  let id = first;
  for (let done = 0; done < n; done += batch) {
    const muts = [];
    for (let i = 0; i < batch && done + i < n; i++, id++) {
      muts.push({ id, store: 'orders', op: 'put', key: keyOf(client, id),
        value: { id: `${client}-${id}`, customer: `customer ${id % 977}`, total: (id * 7.31) % 1000,
          items: id % 9, status: ['new', 'paid', 'shipped'][id % 3], note: 'x'.repeat(40) } });
    }
    bodies.push(JSON.stringify({ client: name, mutations: muts }));
  }
  return bodies;
}

/** POSTs one push body (as the user of bearer `token`, if given); resolves with the response
 * text, rejects on a status other than 200. */
export function postPush(agent, port, body, token) {
  return new Promise((resolve, reject) => {
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    if (token) headers.authorization = `Bearer ${token}`;
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/db/bench/push', agent,
      headers }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(data) : reject(new Error(`push ${res.statusCode}: ${data}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}
