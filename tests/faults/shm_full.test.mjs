// The WAL index (-shm) on a full disk, made exact: a crashed server's data dir on a 16 MB ext4
// image (1 KiB blocks), its -shm removed so that the restart builds the whole index anew,
// and the disk filled but for K KiB. SQLite extends the -shm by one byte per 4 KiB page and
// maps it; recovery then copies the index into every page, and the first store into each
// page's 3 KiB hole needs blocks the disk does not have: before the fix the restart died with
// SIGBUS for every K from 8 to 31 (a 32 KiB region; below 8 SQLite's own writes fail). Now
// every region gets its blocks before SQLite stores into it (walbuf.c, MADV_POPULATE_WRITE)
// and the data dir keeps a reserve deleted before the state opens (reserve.c), so:
//  - with the reserve, the restart on the full disk starts and serves everything acked;
//  - without it, it exits with an error that says the disk is full, never by a signal;
//  - once space is back it starts and nothing acked is lost.
// The same holds for a -shm left by the crash (faults/disk_full restarts on that one).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { startServer, pullAll, tempDir, postJson } from '../lib/server.mjs';
import { smallFsForTest } from './lib/smallfs.mjs';

const DB = 'shm';

/** Fills the filesystem holding file to ENOSPC, then gives back exactly kib KiB. */
function fillBut(file, kib) {
  const fd = fs.openSync(file, 'a');
  const chunk = Buffer.alloc(64 << 10, 0x5a);
  try {
    for (let n = chunk.length; n >= 1024;) {
      try {
        fs.writeSync(fd, chunk, 0, n);
      } catch (e) {
        if (e.code !== 'ENOSPC') throw e;
        n >>= 1; // the last blocks, a smaller write at a time
      }
    }
    fs.fsyncSync(fd);
    fs.ftruncateSync(fd, Math.max(0, fs.fstatSync(fd).size - kib * 1024));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  const s = fs.statfsSync(path.dirname(file));
  return s.bavail * s.bsize;
}

/** Starts the server again; {started} or {code, signal, stderr} of a process that exited first. */
async function tryRestart(srv) {
  try {
    await srv.restart();
    return { started: true };
  } catch (e) {
    const m = /exited \(code (\S+), signal (\S+)\)/.exec(e.message);
    assert.ok(m, `unexpected start failure: ${e.message}`);
    return { started: false, code: m[1], signal: m[2], message: e.message };
  }
}

test('the WAL index on a full disk: an error or a start, never SIGBUS; nothing acked lost', async (t) => {
  const h = smallFsForTest(t, 'ext4', 16, 'shm_full');
  if (!h) return;
  const { dataDir, filler } = h;
  const shm = path.join(dataDir, 'idbsync.sqlite-shm');
  const reserve = path.join(dataDir, 'idbsync.reserve');
  const srv = h.srv = await startServer({ dataDir, lakeDir: path.join(tempDir(), 'lake') });
  const agent = new http.Agent({ keepAlive: true });
  t.after(() => agent.destroy());

  // frames in the WAL (checkpoints are PASSIVE: they stay valid), so recovery fills the index
  const acked = [];
  for (let b = 0; b < 6; b++) {
    const muts = [];
    for (let i = 1; i <= 8; i++) {
      const id = b * 8 + i;
      muts.push({ id, store: 'docs', op: 'put', key: `k${id}`, value: { id, pad: 'x'.repeat(2000) } });
    }
    const r = await postJson(agent, `${srv.url}/v1/db/${DB}/push`, { client: 'c1', mutations: muts });
    assert.equal(r.status, 200, r.text);
    acked.push(...muts);
  }

  async function verify(label) {
    const { changes } = await pullAll(srv.url, DB, { limit: 500 });
    const got = new Map(changes.map((c) => [c.key, c.value]));
    for (const m of acked) assert.deepEqual(got.get(m.key), m.value, `${label}: acked ${m.key}`);
    assert.equal(got.size, acked.length, label);
  }

  // 1. without the reserve (a data dir copied or restored, or of an older idbsync): a crash,
  // the index built anew, the disk full but for K KiB
  for (const kib of [8, 12, 16, 24, 31]) {
    await srv.kill9();
    fs.rmSync(shm, { force: true });
    fs.rmSync(reserve, { force: true });
    const free = fillBut(filler, kib);
    const r = await tryRestart(srv);
    const said = r.started ? '' : (r.message.split('stderr:\n')[1] || '').trim().split('\n').slice(-1)[0];
    t.diagnostic(`${kib} KiB given back (${free} bytes free): ${r.started ? 'started' : `exit code ${r.code}, signal ${r.signal}: ${said}`}`);
    assert.notEqual(r.signal, 'SIGBUS', `${kib} KiB free: ${r.message}`);
    assert.equal(r.signal, 'null', `${kib} KiB free: ended by a signal: ${r.message}`);
    if (!r.started) {
      assert.notEqual(r.code, '0');
      assert.match(r.message, /disk is full/, `${kib} KiB free: the error names the cause`);
    } else {
      await verify(`started with ${kib} KiB free`);
    }
  }

  // 2. space back: starts, nothing acked lost, the reserve is made again
  fs.rmSync(filler);
  const r2 = await tryRestart(srv);
  assert.ok(r2.started, r2.message);
  await verify('space back');
  assert.ok(fs.existsSync(reserve), 'the data dir keeps its reserve');

  // 3. with the reserve: a crash, the disk full to the last block, the index built anew
  await srv.kill9();
  fs.rmSync(shm, { force: true });
  const free0 = fillBut(filler, 0);
  const r3 = await tryRestart(srv);
  assert.ok(r3.started, `restart on the full disk (${free0} bytes free) with the reserve: ${r3.message}`);
  await verify('restarted on the full disk');

  // 4. space back again: pushes go on, the reserve is made again
  fs.rmSync(filler);
  await srv.kill9();
  const r4 = await tryRestart(srv);
  assert.ok(r4.started, r4.message);
  const more = [{ id: acked.length + 1, store: 'docs', op: 'put', key: 'after', value: { ok: true } }];
  const r = await postJson(agent, `${srv.url}/v1/db/${DB}/push`, { client: 'c1', mutations: more });
  assert.equal(r.status, 200, r.text);
  acked.push(...more);
  await verify('after a push');
  assert.ok(fs.existsSync(reserve), 'the reserve is made again');
  await srv.stop();
});
