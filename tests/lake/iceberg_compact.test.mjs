// Compaction reaches the Iceberg change log: when the plain layout merges a day's small
// change-log files, the next commit swaps the merged file in for the Iceberg files it was merged
// from (a "replace" snapshot, only when their rows add up to its rows). pyiceberg then plans
// fewer files than flushes, finds every change once, and an older snapshot still reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serve, push, flush, tempDir } from './lib.mjs';
import { py } from './iceberg_lib.mjs';

test('the plain layout\'s compaction becomes a replace snapshot of the Iceberg change log', async () => {
  const lake = tempDir(), data = tempDir();
  const srv = await serve({ data, lake, args: ['--lake-format', 'iceberg', '--flush-interval', '30ms'] });
  const T = `${lake}/_iceberg/app/docs_changes`;
  let id = 1, rounds = 0, log = null;
  for (; rounds < 200; rounds++) {
    const muts = Array.from({ length: 10 }, (_, j) => ({ id: id++, store: 'docs', op: 'put', key: j, value: { v: rounds } }));
    await push(srv.url, 'app', { client: 'c1', mutations: muts });
    await flush(srv.url, 'app');
    if (rounds >= 20 && rounds % 5 === 0) {
      [log] = await py('scan', T);
      if (log.snapshots.some((s) => s.op === 'replace')) break;
    }
  }
  const { flushed } = await flush(srv.url, 'app');
  await srv.stop();
  const [now, first] = await py('scan', T, `${T}@10`);
  assert.ok(now.snapshots.some((s) => s.op === 'replace'), `no replace snapshot after ${rounds} flushes`);
  const seqs = now.rows.map((r) => r.idb_seq).sort((a, b) => a - b);
  assert.deepEqual(seqs, Array.from({ length: flushed }, (_, i) => i + 1), 'every change once');
  assert.ok(now.files < rounds, `${now.files} files for ${rounds} flushes`);
  // time travel before the compaction still reads the small files
  assert.deepEqual(first.rows.map((r) => r.idb_seq).sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => i + 1));
});
