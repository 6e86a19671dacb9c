// The harness itself (tests/lib/server.mjs): a kill -9 and a restart keep the data (and the
// port when asked), the server and its temp dirs go when the test ends, the CLI runs to
// completion, and run as a program it serves until its stdin closes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { startServer, pushOk, pullAll, request, cli, cliSync, tempDir, SRC, BIN } from '../lib/server.mjs';

test('kill -9 and restart on the same dirs and port keep what was acked', async (t) => {
  const srv = await startServer({ t, keepPort: true, args: ['--no-lake'] });
  const port = srv.port;
  await pushOk(srv.url, 'h', 'c', [{ id: 1, store: 's', op: 'put', key: 1, value: 'kept' }]);
  const ex = await srv.kill9();
  assert.equal(ex.signal, 'SIGKILL');
  assert.equal(srv.running, false);
  await srv.restart();
  assert.equal(srv.port, port);
  assert.equal(srv.running, true);
  const { changes } = await pullAll(srv.url, 'h');
  assert.deepEqual(changes.map((c) => c.value), ['kept']);
  const stopped = await srv.stop();
  assert.equal(stopped.code, 0);
});

test('a restart with extra flags; the test end removes the server and its dirs', async (t) => {
  let dirs;
  await t.test('inner', async (t2) => {
    const srv = await startServer({ t: t2 });
    dirs = [srv.dataDir, srv.lakeDir];
    await srv.restart({ extraArgs: ['--no-lake'] });
    assert.ok(srv.args.length === 0, 'the first start\'s args are kept');
    const r = await request(`${srv.url}/readyz`);
    assert.equal(r.json.lake, null);
    assert.ok(fs.existsSync(dirs[0]));
  });
  if (!process.env.IDBSYNC_KEEP_TMP) assert.ok(!fs.existsSync(path.dirname(dirs[0])), 'temp dirs removed');
});

test('a server that cannot start rejects with its stderr', async () => {
  await assert.rejects(startServer({ args: ['--no-such-flag'] }), /exited \(code \d+, signal null\) before listening[^]*no-such-flag/);
});

test('cli and cliSync run the binary to completion', async () => {
  const a = await cli(['--help']);
  const b = cliSync(['--help']);
  assert.equal(a.code, 0);
  assert.equal(a.out, b.out);
  assert.match(a.out, /idbsync serve/);
  assert.notEqual((await cli(['serve', '--frobnicate'])).code, 0);
});

test('run as a program: serves until stdin closes (for non-Node suites)', async () => {
  const data = path.join(tempDir(), 'mine');
  const p = spawn(process.execPath, [path.join(SRC, 'tests/lib/server.mjs'), '--no-lake', '--data', data],
    { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, IDBSYNC_BIN: BIN } });
  const line = await new Promise((resolve) => readline.createInterface({ input: p.stdout }).once('line', resolve));
  const info = JSON.parse(line);
  assert.match(info.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(info.dataDir, data);
  assert.equal((await request(`${info.url}/healthz`)).status, 200);
  const exited = new Promise((resolve) => p.once('exit', resolve));
  p.stdin.end();
  assert.equal(await exited, 0);
  assert.throws(() => process.kill(info.pid, 0), /ESRCH/, 'the server is gone');
  assert.ok(fs.existsSync(path.join(data, 'idbsync.db')) || fs.readdirSync(data).length > 0, 'the given data dir is kept');
  if (!process.env.IDBSYNC_KEEP_TMP) assert.ok(!fs.existsSync(path.dirname(info.lakeDir)), 'the temp dirs it made are gone');
});
