// The current state the lake writes is exactly the state at the seq it records, PostgreSQL
// state (tests/lake/exact_lib.mjs; the lake's round and state pass read one REPEATABLE READ
// snapshot), while several clients push during every pass: pyiceberg time travel to EVERY
// snapshot of each state table (both profiles), and the plain layout after each flush call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres } from './lib/pg.mjs';
import { tempDir } from '../lake/lib.mjs';
import { checkEverySnapshot, checkPlainAfterEachFlush, STORES } from '../lake/exact_lib.mjs';

for (const profile of ['compat', 'modern']) {
  test(`every Iceberg state snapshot is the state at its idbsync.seq (PostgreSQL, ${profile})`, { timeout: 600000 }, async (t) => {
    const pg = await startPostgres({ t });
    const r = await checkEverySnapshot({ data: tempDir(), lake: tempDir(), args: ['--state', pg.uri(), '--lake-profile', profile], pushes: 30 });
    for (const s of STORES) assert.ok(r.snapshots[s] >= 30, `${s}: only ${r.snapshots[s]} state snapshots`);
    console.log(`# iceberg ${profile}: ${r.flushed} changes, state snapshots checked ${JSON.stringify(r.snapshots)}`);
  });
}

test('the plain layout\'s state is the state at its state_seq after every pass (PostgreSQL)', { timeout: 600000 }, async (t) => {
  const pg = await startPostgres({ t });
  const r = await checkPlainAfterEachFlush({ data: tempDir(), lake: tempDir(), args: ['--state', pg.uri()], pushes: 30 });
  assert.equal(r.passes, 31);
  console.log(`# plain: ${r.flushed} changes, ${r.passes} states checked`);
});
