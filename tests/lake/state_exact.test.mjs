// The current state the lake writes is exactly the state at the seq it records, SQLite state,
// both profiles (tests/lake/exact_lib.mjs), while several clients push during every pass:
// - Iceberg: pyiceberg time travel to EVERY snapshot of each state table, compared key by key
//   and value by value with the change log's newest change per key at or below its idbsync.seq;
// - the plain layout: after each flush call, the state files against progress.json's state_seq.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from './lib.mjs';
import { checkEverySnapshot, checkPlainAfterEachFlush, STORES } from './exact_lib.mjs';

for (const profile of ['compat', 'modern']) {
  test(`every Iceberg state snapshot is the state at its idbsync.seq (SQLite, ${profile})`, { timeout: 600000 }, async () => {
    const r = await checkEverySnapshot({ data: tempDir(), lake: tempDir(), args: ['--lake-profile', profile], pushes: 30 });
    for (const s of STORES) assert.ok(r.snapshots[s] >= 30, `${s}: only ${r.snapshots[s]} state snapshots`);
    console.log(`# iceberg ${profile}: ${r.flushed} changes, state snapshots checked ${JSON.stringify(r.snapshots)}`);
  });

  test(`the plain layout's state is the state at its state_seq after every pass (SQLite, ${profile})`, { timeout: 600000 }, async () => {
    const r = await checkPlainAfterEachFlush({ data: tempDir(), lake: tempDir(), args: ['--lake-profile', profile], pushes: 30 });
    assert.equal(r.passes, 31);
    console.log(`# plain ${profile}: ${r.flushed} changes, ${r.passes} states checked`);
  });
}
