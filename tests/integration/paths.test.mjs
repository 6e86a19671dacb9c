// Paths: a --lake or --data directory too long for the names idbsync builds beneath it is
// refused at start-up with an error naming the flag (never a cut name acted on), and one
// just inside the limit works end to end: a push reaches a Parquet file under it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, startServer, tempDir, pushOk, request } from '../lib/server.mjs';

/** A directory name of about `bytes` bytes under base, in 200-byte components. */
function longDir(base, bytes, ch = 'x') {
  const parts = [];
  for (let n = base.length; n < bytes - 201; n += 201) parts.push(ch.repeat(200));
  return path.join(base, ...parts);
}

function serve(args) {
  const r = spawnSync(BIN, ['serve', '--listen', '127.0.0.1:0', ...args], { encoding: 'utf8', timeout: 60000 });
  return { code: r.status, err: r.stderr };
}

test('an over-long --lake or --data is refused naming the flag, before anything is created', () => {
  const dir = tempDir();
  const long = longDir(dir, 4000);
  let r = serve(['--data', path.join(dir, 'd'), '--lake', long]);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /idbsync serve: --lake: the directory name is \d+ bytes; at most \d+ leave room/);
  r = serve(['--data', long, '--lake', path.join(dir, 'l')]);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /idbsync serve: --data: the directory name is \d+ bytes/);
  // the same from the config file
  const cfg = path.join(dir, 'c.json');
  fs.writeFileSync(cfg, JSON.stringify({ lake: long, data: path.join(dir, 'd') }));
  r = serve(['--config', cfg]);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /--lake: the directory name/);
  assert.ok(!fs.existsSync(path.join(dir, 'd')), 'no state directory was created');
  assert.ok(!fs.existsSync(path.join(dir, 'x'.repeat(200))), 'no lake directory was created');
});

test('a long lake directory within the limit holds the lake', async (t) => {
  const base = tempDir();
  const lake = longDir(base, 2700, 'l');
  const srv = await startServer({ args: [], lakeDir: lake, t });
  await pushOk(srv.url, 'deep', 'c-long', [{ id: 1, store: 'things', op: 'put', key: 1, value: { a: 1 } }]);
  const f = await request(`${srv.url}/v1/db/deep/flush`, { method: 'POST' });
  assert.equal(f.status, 200, f.text);
  await srv.stop();
  const files = fs.readdirSync(path.join(lake, 'deep'), { recursive: true }).filter((n) => n.endsWith('.parquet'));
  assert.ok(files.length > 0, 'the flush wrote Parquet under the long directory');
});

test('import --data and backup/restore --data refuse an over-long directory the same way', () => {
  const dir = tempDir();
  const long = longDir(dir, 4000);
  for (const args of [['import', '--db', 'a', '--store', 's', '--data', long, path.join(dir, 'x.parquet')],
    ['backup', '--data', long, path.join(dir, 'out.sqlite')], ['restore', '--data', long, path.join(dir, 'b.sqlite')]]) {
    const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 2, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`idbsync ${args[0]}: --data: the directory name is \\d+ bytes`));
  }
});
