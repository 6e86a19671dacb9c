// The pull's pure bookkeeping in Node (client/pullrun.js): what a failed page means, the restart
// from 0, the epoch a next page names, the progress figures, the stores a backfill fills and what
// GET /stores tells. pull.js's I/O (IndexedDB, pages) runs in tests/browser (sync, epoch, first_hour).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PullRun, freshStores, storeTotals } from '../../client/pullrun.js';
import { AuthError, CursorExpiredError, StateChangedError } from '../../client/errors.js';

const gone = () => new CursorExpiredError('410', { status: 410, serverCode: 'cursor_expired' });
const changed = () => new StateChangedError('409', { status: 409, serverCode: 'epoch_changed' });

test('a 410 past 0 restarts from 0 with a seen map (rows the server lacks are dropped); no reset', () => {
  const run = new PullRun(120, false);
  assert.equal(run.seen, null, 'an incremental pull drops nothing');
  run.progress(7);
  assert.equal(run.failed(gone(), 'e1'), 'resync');
  assert.equal(run.since, 0);
  assert.ok(run.seen instanceof Map && run.seen.size === 0);
  assert.equal(run.pulled, 0, 'progress starts again with the pull');
  assert.equal(run.reset, null);
});

test('a 409 past 0 is a reset of the server state: from the cursor epoch, with the server reason', () => {
  const run = new PullRun(5, false);
  assert.equal(run.failed(changed(), 'old', 1234), 'reset');
  assert.deepEqual(run.reset, { from: 'old', to: null, reason: 'epoch_changed', at: 1234 });
  assert.equal(run.since, 0);
  assert.ok(run.seen instanceof Map);
});

test('errors at 0, and other errors, go to the caller unchanged', () => {
  for (const e of [gone(), changed()]) {
    const run = new PullRun(0, true);
    assert.throws(() => run.failed(e, 'x'), (t) => t === e, 'a full pull has nothing to fall back to');
    assert.equal(run.reset, null);
  }
  const run = new PullRun(9, false);
  const auth = new AuthError('401', { status: 401 });
  assert.throws(() => run.failed(auth, 'x'), (t) => t === auth);
  assert.equal(run.since, 9, 'the cursor is kept for the next round');
  const plain = new TypeError('network');
  assert.throws(() => run.failed(plain, 'x'), (t) => t === plain);
});

test('the next page names the epoch of the page its cursor came from', () => {
  assert.deepEqual(PullRun.pageEpoch({ epoch: 'b' }, 'a'), { epoch: 'b', next: 'b' });
  assert.deepEqual(PullRun.pageEpoch({}, 'a'), { epoch: null, next: 'a' }, 'an older server sends none');
  assert.deepEqual(PullRun.pageEpoch({ epoch: 7 }, 'a'), { epoch: null, next: 'a' }, 'not a string: ignored');
});

test('progress: the total grows past the estimate, and shrinks at the head to what came', () => {
  const run = new PullRun(0, true);
  assert.deepEqual(run.progress(3), { pulled: 3, total: null }, 'unknown total stays unknown');
  assert.equal(run.finalTotal(), undefined);
  run.total = 10;
  assert.deepEqual(run.progress(4), { pulled: 7, total: 10 });
  assert.equal(run.finalTotal(), 7, 'fewer than estimated: the status says how many came');
  assert.deepEqual(run.progress(5), { pulled: 12, total: 12 }, 'more than estimated');
  assert.equal(run.finalTotal(), undefined);
});

test('freshStores: the synced stores the cursor did not cover; an old cursor covers all', () => {
  const local = new Set(['a', 'b', 'c']);
  assert.deepEqual([...freshStores(['a', 'c'], local)], ['b']);
  assert.deepEqual([...freshStores(['a', 'b', 'c', 'gone'], local)], []);
  assert.deepEqual([...freshStores(undefined, local)], [], 'saved by an older client: no list');
  assert.deepEqual([...freshStores([], new Set())], []);
});

test('storeTotals: rules of every store, rows and tombstones of the synced ones only', () => {
  const rules = new Map([['old', 'lww']]);
  const n = storeTotals([
    { name: 'a', rows: 10, tombstones: 2, conflict: 'merge' },
    { name: '_idbsync_x', rows: 100, tombstones: 0, conflict: 'lww' },
    { name: 'b', conflict: 'server-wins' },
  ], (s) => !s.startsWith('_idbsync_'), rules);
  assert.equal(n, 12);
  assert.deepEqual([...rules], [['old', 'lww'], ['a', 'merge'], ['_idbsync_x', 'lww'], ['b', 'server-wins']]);
});
