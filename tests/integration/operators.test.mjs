// What operators and analysts meet first: every command's --help, unknown options named as
// such, config files whose wrong types and unknown keys are named, structured request logs,
// a taken port named, and `make install` giving a binary that serves its installed client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BIN, SRC, startServer, tempDir, push, request } from '../lib/server.mjs';

function run(args, opts = {}) {
  const r = spawnSync(args[0] === 'make' ? 'make' : BIN, args[0] === 'make' ? args.slice(1) : args,
    { encoding: 'utf8', timeout: 300000, ...opts });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const COMMANDS = [['serve'], ['import'], ['ddl'], ['parquet'], ['parquet', 'write'], ['parquet', 'cat'],
  ['parquet', 'schema'], ['parquet', 'meta'], ['lake'], ['lake', 'quarantine'], ['backup'], ['restore']];

test('every command answers --help with exit 0 and names an unknown option as such', () => {
  const top = run(['--help']);
  assert.equal(top.code, 0);
  for (const c of ['serve', 'import', 'ddl', 'parquet', 'lake quarantine', 'backup', 'restore']) assert.ok(top.out.includes(`idbsync ${c}`), c);
  for (const c of COMMANDS) {
    const h = run([...c, '--help']);
    assert.equal(h.code, 0, `${c.join(' ')} --help: ${h.err}`);
    assert.match(h.out, /usage/, c.join(' '));
  }
  for (const c of [['serve'], ['import'], ['ddl'], ['parquet', 'write'], ['backup'], ['lake', 'quarantine', 'list']]) {
    const u = run([...c, '--frobnicate']);
    assert.equal(u.code, 2, c.join(' '));
    assert.match(u.err, /unknown option --frobnicate/, `${c.join(' ')}: ${u.err}`);
  }
  assert.match(run(['serve', '--data']).err, /--data needs a value/);
  for (const [flag, v] of [['--workers', '0'], ['--workers', '5000'], ['--max-connections', '0']]) {
    const r = run(['serve', flag, v]);
    assert.equal(r.code, 2, `${flag} ${v}`);
    assert.match(r.err, new RegExp(`${flag}: expected an integer from 1 to \\d+, got "${v}"`), r.err);
  }
});

test('config files: every flag is a key, wrong types and unknown keys are named', () => {
  const dir = tempDir();
  const cfg = path.join(dir, 'c.json');
  fs.writeFileSync(cfg, JSON.stringify({ max_body: 'big', listen: 8080, frobnicate: 1, no_lake: 'yes', log_level: 'loud' }));
  const r = run(['serve', '--config', cfg, '--data', path.join(dir, 'd')]);
  assert.equal(r.code, 2);
  assert.match(r.err, /field "max_body": must be a number/);
  assert.match(r.err, /field "listen": must be a string/);
  assert.match(r.err, /field "frobnicate": unknown setting/);
  assert.match(r.err, /field "no_lake": must be true or false/);
  assert.match(r.err, /--log-level: expected debug, info, warn, error or off/);
});

test('structured logs: a line per request with the push counts, errors naming the field, JSON format', async (t) => {
  const dir = tempDir();
  const cfg = path.join(dir, 'c.json');
  fs.writeFileSync(cfg, JSON.stringify({ log_format: 'json', no_lake: true, max_key: 64 }));
  const srv = await startServer({ args: ['--config', cfg], t });
  await push(srv.url, 'logs', { client: 'c-log', mutations: [{ id: 1, store: 's', op: 'put', key: 1, value: { a: 1 } }] });
  await push(srv.url, 'logs', { client: 'c-log', mutations: [{ id: 2, store: 's', op: 'put', key: 'k'.repeat(100), value: 1 }] });
  await request(`${srv.url}/healthz`);
  const page = await request(`${srv.url}/`);
  await srv.stop();
  const lines = srv.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  const reqs = lines.filter((l) => l.event === 'request');
  const ok = reqs.find((l) => l.status === 200 && l.path === '/v1/db/logs/push');
  assert.ok(ok, JSON.stringify(lines));
  assert.equal(ok.level, 'info');
  assert.equal(ok.client, 'c-log');
  assert.equal(ok.method, 'POST');
  assert.deepEqual([ok.mutations, ok.applied, ok.duplicates, ok.conflicts], [1, 1, 0, 0]);
  assert.ok(ok.bytes_in > 0 && ok.bytes_out > 0 && ok.ms >= 0);
  const bad = reqs.find((l) => l.status === 413);
  assert.equal(bad.level, 'warn');
  assert.match(bad.error, /mutations\[0\]\.key/);
  assert.ok(!reqs.some((l) => l.path === '/healthz'), 'health checks are debug');
  // a static file is logged with its size (it is sent from its file descriptor)
  const demo = reqs.find((l) => l.path === '/' && l.status === 200);
  assert.ok(demo, 'GET / is logged');
  assert.equal(demo.bytes_out, Buffer.byteLength(page.text));
  assert.ok(demo.bytes_out > 0);
  assert.ok(lines.some((l) => l.event === 'shutdown'));
});

// top -H, perf and gdb show which part of the server is busy by its threads' names
test('the server\'s threads are named by their part', async (t) => {
  const srv = await startServer({ t });
  await push(srv.url, 'names', { client: 'c-names', mutations: [{ id: 1, store: 's', op: 'put', key: 1, value: { a: 1 } }] });
  const task = `/proc/${srv.proc.pid}/task`;
  const names = fs.readdirSync(task).map((tid) => fs.readFileSync(`${task}/${tid}/comm`, 'utf8').trim());
  await srv.stop();
  for (const n of ['idb-writer', 'idb-checkpoint', 'idb-lake', 'idb-http', 'idb-http-slow', 'idb-park-watch'])
    assert.ok(names.includes(n), `${n} in ${names.join(' ')}`);
});

test('a taken port is named with its error', async (t) => {
  const busy = net.createServer();
  await new Promise((r) => busy.listen(0, '127.0.0.1', r));
  t.after(() => busy.close());
  const port = busy.address().port;
  const dir = tempDir();
  const r = run(['serve', '--data', path.join(dir, 'd'), '--no-lake', '--listen', `127.0.0.1:${port}`], { timeout: 20000 });
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: Address already in use`));
  assert.doesNotMatch(r.err, /port 0/);
});

test('make install: the installed binary serves its installed client and demo', async (t) => {
  const dest = tempDir('idbsync-install-');
  const build = path.dirname(BIN);
  const r = run(['make', '-s', '-C', SRC, 'install', `BUILD=${build}`, 'PREFIX=/opt/idbsync', `DESTDIR=${dest}`]);
  assert.equal(r.code, 0, r.out + r.err);
  const root = path.join(dest, 'opt/idbsync');
  for (const f of ['bin/idbsync', 'share/idbsync/client/idbsync.js', 'share/idbsync/demo/index.html',
    'share/doc/idbsync/README.md', 'lib/systemd/system/idbsync.service']) assert.ok(fs.existsSync(path.join(root, f)), f);
  assert.match(fs.readFileSync(path.join(root, 'lib/systemd/system/idbsync.service'), 'utf8'), /ExecStart=\/opt\/idbsync\/bin\/idbsync serve/);
  // mark the installed copy: the server must serve it, not the source tree's
  fs.appendFileSync(path.join(root, 'share/idbsync/client/idbsync.js'), '\n// installed copy\n');
  const data = path.join(dest, 'data');
  const p = spawn(path.join(root, 'bin/idbsync'), ['serve', '--data', data, '--no-lake', '--listen', '127.0.0.1:0'],
    { cwd: dest, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => p.kill('SIGKILL'));
  const url = await new Promise((resolve, reject) => {
    let out = '';
    p.stdout.on('data', (d) => { out += d; const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out); if (m) resolve(m[1]); });
    p.on('exit', (c) => reject(new Error('exited ' + c)));
  });
  const js = await (await fetch(`${url}/client/idbsync.js`)).text();
  assert.match(js, /installed copy/);
  assert.equal((await fetch(`${url}/`)).status, 200);
});
