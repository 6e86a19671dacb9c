// The column metrics of the Iceberg manifests' data-file entries that engines plan with,
// beyond counts and bounds (docs/iceberg.md, "Column metrics"): column_sizes (field 108) and
// nan_value_counts (137), read back by pyiceberg, equal what pyarrow reads in each file: the
// compressed bytes of each column's chunks, the NaNs of each double column; over the files of
// the state and of the change log the NaNs add up to the NaNs pushed (and still live).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serve, push, flush, tempDir } from './lib.mjs';
import { py } from './iceberg_lib.mjs';

test('column_sizes and nan_value_counts in the manifests equal the data files', async () => {
  const lake = tempDir();
  const srv = await serve({ data: tempDir(), lake, args: ['--lake-format', 'iceberg', '--flush-interval', '3600s'] });
  let id = 1;
  const x = (k) => (k % 3 === 0 ? { $num: 'NaN' } : k % 3 === 1 ? k + 0.5 : null);
  const live = new Map();   // key -> NaN in x
  let pushedNaN = 0;
  for (const round of [0, 1]) {
    const m = [];
    for (let k = round * 20; k < round * 20 + 40; k++) {   // keys 20-39 twice: a second value each
      const v = x(k + round);
      m.push({ id: id++, store: 'docs', op: 'put', key: k, value: { x: v, s: `s${k}`, n: k } });
      live.set(k, v?.$num === 'NaN');
      pushedNaN += v?.$num === 'NaN';
    }
    await push(srv.url, 'app', { client: 'c', mutations: m });
    await flush(srv.url, 'app');
  }
  await srv.stop();

  const root = `${lake}/_iceberg/app`;
  const nans = { docs: 0, docs_changes: 0 };
  for (const t of ['docs', 'docs_changes']) {
    const { files } = await py('files', `${root}/${t}`);
    assert.ok(files.length >= 1, t);
    for (const f of files) {
      const ids = Object.keys(f.value_counts).sort();
      assert.ok(ids.length >= 3, `${t}: metrics of ${ids}`);
      // a size for every column with metrics, the file's own
      assert.deepEqual(Object.keys(f.column_sizes).sort(), ids, `${t} ${f.path}: column_sizes keys`);
      for (const i of ids) assert.equal(f.column_sizes[i], f.footer_sizes[i], `${t} ${f.path}: size of field ${i}`);
      // a NaN count for every double column (x), the file's own
      assert.deepEqual(Object.keys(f.nan_value_counts).map(Number).sort((a, b) => a - b), f.doubles, `${t} ${f.path}: doubles`);
      assert.ok(f.doubles.length >= 1, `${t}: x is a double column`);
      for (const i of f.doubles) {
        assert.equal(f.nan_value_counts[i], f.footer_nans[i], `${t} ${f.path}: NaNs of field ${i}`);
        nans[t] += f.nan_value_counts[i];
      }
    }
  }
  assert.equal(nans.docs_changes, pushedNaN, 'every NaN pushed, in the change log');
  assert.equal(nans.docs, [...live.values()].filter(Boolean).length, 'the live NaNs, in the state');
  assert.ok(nans.docs > 0);
});
