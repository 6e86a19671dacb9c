// `idbsync parquet cat|head` as analysts use it: several files, a directory (listed as engines
// list it), a quoted glob, --limit over all of them, --columns in the asked order (a missing one
// named with the columns the file has), CSV with a header, and head.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const BIN = process.env.IDBSYNC_BIN || resolve(import.meta.dirname, '../../build/idbsync');
const run = (...args) => spawnSync(BIN, args, { encoding: 'utf8' });

test('parquet cat: files, dirs, globs, --limit, --columns, --format csv, head', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'idbsync-cat-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const rows = [];
  for (let i = 0; i < 12; i++) rows.push({ id: i, name: i % 2 ? 'a,"b"' : `n${i}`, at: { $date: `2024-01-0${1 + (i % 9)}T00:00:00.000Z` }, bin: { $bin: 'AAEC' }, tags: [i, i + 1], opt: i % 3 ? null : 'x' });
  writeFileSync(join(dir, 'in.ndjson'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const t1 = join(dir, 't');
  mkdirSync(join(t1, '_tmp'), { recursive: true });
  assert.equal(run('parquet', 'write', join(dir, 'in.ndjson'), join(t1, 'a.parquet')).status, 0);
  copyFileSync(join(t1, 'a.parquet'), join(t1, 'b.parquet'));
  copyFileSync(join(t1, 'a.parquet'), join(t1, '_tmp', 'hidden.parquet'));
  const lines = (r) => r.stdout.trim().split('\n');

  let r = run('parquet', 'cat', t1);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(lines(r).length, 24, 'a directory: its two files, not the hidden one');
  r = run('parquet', 'cat', join(t1, '*.parquet'), '--limit', '15');
  assert.equal(lines(r).length, 15, '--limit counts over every file');
  r = run('parquet', 'cat', join(t1, 'a.parquet'), '--columns', 'opt,id', '--limit', '2');
  assert.deepEqual(lines(r).map((l) => JSON.parse(l)), [{ opt: 'x', id: 0 }, { opt: null, id: 1 }]);
  r = run('parquet', 'cat', join(t1, 'a.parquet'), '--columns', 'nope');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /has no column 'nope'; its columns: id, name, at, bin, tags, opt/);
  r = run('parquet', 'cat', join(t1, 'a.parquet'), '--format', 'csv', '--limit', '2');
  assert.equal(r.stdout, 'id,name,at,bin,tags,opt\r\n0,n0,2024-01-01T00:00:00.000Z,AAEC,"[0,1]",x\r\n'
    + '1,"a,""b""",2024-01-02T00:00:00.000Z,AAEC,"[1,2]",\r\n');
  r = run('parquet', 'head', join(t1, 'a.parquet'), join(t1, 'b.parquet'));
  assert.equal(lines(r).length, 10);
  r = run('parquet', 'cat', join(dir, 'missing.parquet'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /missing\.parquet/);
  assert.equal(run('parquet', 'cat', '--format', 'xml', t1).status, 2);
});
