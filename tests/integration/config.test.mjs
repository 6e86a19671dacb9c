// Settings files: serve's --config and the lake's --lake-config behave the same — a wrong type
// or an unknown key stops the start with the file, the line, the key and what was expected —
// and every flag, repeatable ones included, can be set from the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, startServer, tempDir, pushOk, request } from './lib/server.mjs';

function serve(args) {
  const r = spawnSync(BIN, ['serve', '--listen', '127.0.0.1:0', ...args], { encoding: 'utf8', timeout: 60000 });
  return { code: r.status, err: r.stderr };
}

test('serve --config: errors name file, line, key and the expected type', () => {
  const dir = tempDir();
  const cfg = path.join(dir, 'c.json');
  fs.writeFileSync(cfg, '{\n  "no_lake": true,\n  "flush_interval": "soon",\n  "lake_retry_max": 0,\n' +
    '  "conflict": {"orders": "merge", "bad": 3},\n  "read_only": ["prices", 7]\n}\n');
  const r = serve(['--config', cfg, '--data', path.join(dir, 'd')]);
  assert.equal(r.code, 2, r.err);
  assert.ok(r.err.includes(`${cfg}:3: field "flush_interval": --flush-interval: expected a duration`), r.err);
  assert.ok(r.err.includes(`${cfg}:4: field "lake_retry_max": --lake-retry-max: expected an integer from 1 to 1000, got "0"`), r.err);
  assert.ok(r.err.includes(`${cfg}:5: field "conflict.bad": must be a string`), r.err);
  assert.ok(r.err.includes(`${cfg}:6: field "read_only": [1]: must be a string`), r.err);
  assert.ok(!fs.existsSync(path.join(dir, 'd')), 'nothing started');
});

test('--lake-config: unknown keys and wrong types are errors like serve\'s', () => {
  const dir = tempDir();
  const lc = path.join(dir, 'lake.json');
  for (const [text, want] of [
    ['{\n  "stores": {\n    "orders": {"partition_by": 3}\n  }\n}\n', ':3: field "stores.orders": partition_by must be a string'],
    ['{\n  "profile": "modern",\n  "bucket_size": 5\n}\n', ':3: field "bucket_size": unknown setting'],
    ['{"nested": true}', ':1: field "nested": must be "auto", "struct" or "json"'],
  ]) {
    fs.writeFileSync(lc, text);
    const r = serve(['--data', path.join(dir, 'd'), '--lake', path.join(dir, 'l'), '--no-inbox', '--lake-config', lc]);
    assert.equal(r.code, 1, r.err);
    assert.ok(r.err.includes(lc + want), r.err);
  }
});

test('a config file sets repeatable flags, switches, sizes and durations', async (t) => {
  const dir = tempDir();
  const cfg = path.join(dir, 'c.json');
  fs.writeFileSync(cfg, JSON.stringify({
    read_only: ['prices'], conflict: { 'shop/orders': 'merge' }, lake_partition: ['shop/orders=region'],
    flush_interval: '250ms', lake_bucket_bytes: '64M', no_inbox: true, max_key: 64,
  }));
  const srv = await startServer({ args: ['--config', cfg], t });
  const ro = await request(`${srv.url}/v1/db/shop/push`, { method: 'POST', body: { client: 'c1', mutations: [{ id: 1, store: 'prices', op: 'put', key: 1, value: 1 }] } });
  assert.equal(ro.status, 403, ro.text);   // read_only from the file
  const big = await request(`${srv.url}/v1/db/shop/push`, { method: 'POST', body: { client: 'c1', mutations: [{ id: 2, store: 'orders', op: 'put', key: 'k'.repeat(100), value: 1 }] } });
  assert.equal(big.status, 413, big.text);   // max_key from the file
  await pushOk(srv.url, 'shop', 'c2', [{ id: 1, store: 'orders', op: 'put', key: 1, value: { region: 'eu', n: 1 } }]);
  const f = await request(`${srv.url}/v1/db/shop/flush`, { method: 'POST' });
  assert.equal(f.status, 200, f.text);
  await srv.stop();
  const parts = fs.readdirSync(path.join(srv.lakeDir, 'shop'), { recursive: true });
  assert.ok(parts.some((p) => p.includes('region=eu')), `partitioned by the file's lake_partition: ${parts.join(', ')}`);
});
