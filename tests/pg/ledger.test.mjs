// The ledger's C suites against a real PostgreSQL: test_ledger (the suite the SQLite backend passes
// too, run here with IDBSYNC_TEST_PG) and test_ledger_multi (several ledgers, as several servers
// would, on one database: exactly-once pushes, cursors that skip nothing under forced commit
// delays, wake-ups across ledgers, leases). The PostgreSQL is started in a temp dir on a Unix socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPostgres } from './lib/pg.mjs';
import { BIN } from '../integration/lib/server.mjs';

const dir = path.dirname(BIN); // the unit test executables sit beside the binary

for (const name of ['test_ledger', 'test_ledger_multi', 'test_ledger_icecat']) {
  test(`${name} on PostgreSQL`, { timeout: 600000 }, async (t) => {
    const pg = await startPostgres({ t });
    const exe = path.join(dir, name);
    assert.ok(fs.existsSync(exe), `${exe} is not built`);
    const r = spawnSync(exe, [], {
      encoding: 'utf8',
      env: { ...process.env, IDBSYNC_TEST_PG: pg.uri('{db}') },
      timeout: 590000,
    });
    console.log(`${name}: ${(r.stdout + r.stderr).trim().split("\n").slice(-3).join(" | ")}`);
    assert.equal(r.status, 0, `${name} failed: ${r.stderr.slice(-4000)}`);
    assert.match(r.stdout + r.stderr, /passed, 0 failed/);
  });
}

test('--state: a URI that is not PostgreSQL, and a PostgreSQL that is not there, are clear errors', async () => {
  const bad = spawnSync(BIN, ['serve', '--state', 'mysql://x/y', '--listen', '127.0.0.1:0'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--state: expected a postgres:\/\/\.\.\. or postgresql:\/\/\.\.\. URI, got "mysql:\/\/x\/y"/);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'idbsync-nopg-'));
  try {
    const gone = spawnSync(BIN, ['serve', '--state', `postgresql:///x?host=${encodeURIComponent(tmp)}`, '--data',
      path.join(tmp, 'data'), '--lake', path.join(tmp, 'lake'), '--listen', '127.0.0.1:0'], { encoding: 'utf8', timeout: 60000 });
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /cannot connect to PostgreSQL \(--state\)/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
