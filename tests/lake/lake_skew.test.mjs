// What a reader of the plain layout sees while rows move between files (docs/lake-layout.md,
// "What a reader sees"). The server stops before every rename and exchange of a state pass
// (IDBSYNC_TEST_LAKE_PAUSE) and the table is read at each of those instants: never a key twice.
// Then a query that opens its files one after another, as DuckDB, Spark and Trino do, reads
// partition a before a pass that moves every key to b and partition b after it: it counts each
// key twice, which no order of renames prevents, and _idbsync/<t>.pass tells it so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer } from '../lib/server.mjs';
import { push, flush, duck, glob, tempDir } from './lib.mjs';

const KEYS = 60;
const pass = (lake) => {
  try { return BigInt(fs.readFileSync(`${lake}/app/_idbsync/events.pass`, 'utf8').trim()); } catch { return null; }
};
const files = (lake, part) => fs.readdirSync(`${lake}/app/events/region=${part}`)
  .filter((f) => f.endsWith('.parquet')).map((f) => `'${lake}/app/events/region=${part}/${f}'`);

test('every instant of a pass holds each key at most once; a query spanning a pass is told', async () => {
  const lake = tempDir(), data = tempDir(), gate = tempDir();
  const srv = await startServer({ dataDir: data, lakeDir: lake, env: { IDBSYNC_TEST_LAKE_PAUSE: gate },
    args: ['--flush-interval', '60s', '--lake-bucket-bytes', '2k', '--lake-partition', 'app/events=region'] });
  const checker = await duck(), reader = await duck();
  const steps = [];   // {step, rows, dups} at every pause
  let stop = false;
  const pauser = (async () => {
    for (let n = 1; !stop; ) {
      if (!fs.existsSync(`${gate}/paused-${n}`)) { await new Promise((r) => setTimeout(r, 5)); continue; }
      const step = fs.readFileSync(`${gate}/paused-${n}`, 'utf8');
      const p = pass(lake);
      let rows = 0, dups = [];
      if (fs.existsSync(`${lake}/app/events`)) {
        try {
          dups = await checker.rows(`SELECT idb_key, count(*) c FROM ${glob(lake, 'app', 'events')} GROUP BY ALL HAVING c > 1`);
          rows = Number((await checker.rows(`SELECT count(*) n FROM ${glob(lake, 'app', 'events')}`))[0].n);
        } catch (e) {
          dups = [e.message];   // the server is stopped: nothing may fail to read
        }
      }
      steps.push({ step, rows, dups, odd: p !== null && p % 2n === 1n });
      fs.writeFileSync(`${gate}/go-${n++}`, '');
    }
  })();
  const put = (region, from) => push(srv.url, 'app', { client: 'c', mutations: Array.from({ length: KEYS }, (_, i) =>
    ({ id: from + i, store: 'events', op: 'put', key: i, value: { region, n: i, pad: 'x'.repeat(40) } })) });
  try {
    await put('a', 1);
    await flush(srv.url, 'app');
    const before = steps.length;
    assert.ok(before > 0, 'the first pass paused before its renames');

    // a query that opens region=a's files, then (after a whole pass) region=b's
    const g1 = pass(lake);
    assert.ok(g1 !== null && g1 % 2n === 0n, `no pass runs: ${g1}`);
    const inA = await reader.rows(`SELECT idb_key FROM read_parquet([${files(lake, 'a')}])`);
    assert.equal(inA.length, KEYS);
    await put('b', 1 + KEYS);
    await flush(srv.url, 'app');
    const inB = await reader.rows(`SELECT idb_key FROM read_parquet([${files(lake, 'b')}])`);
    const g2 = pass(lake);
    // every key read twice: the window renames cannot close (docs/lake-layout.md) ...
    const a = new Set(inA.map((r) => r.idb_key));
    assert.equal(inB.filter((r) => a.has(r.idb_key)).length, KEYS);
    // ... which the reader can tell: the pass number moved during its query
    assert.ok(g2 > g1 && g2 % 2n === 0n, `pass ${g1} -> ${g2}`);

    // the moving pass paused at every rename: no instant held a key twice, and while it was
    // odd the moved rows were absent at most, never doubled
    const moving = steps.slice(before);
    console.log(`# ${steps.length} pauses (${moving.map((s) => `${s.step}:${s.rows}`).join(' ')} in the moving pass)`);
    assert.ok(moving.length >= 2, JSON.stringify(moving));
    for (const s of steps) {
      assert.deepEqual(s.dups, [], `${s.step}: ${JSON.stringify(s)}`);
      assert.ok(s.rows <= KEYS, JSON.stringify(s));
      assert.ok(s.odd, `the pass number is odd while files are swapped: ${JSON.stringify(s)}`);
    }
    assert.ok(moving.some((s) => s.step === 'minus') && moving.some((s) => s.step === 'full'), JSON.stringify(moving));

    // a query between two equal even pass numbers: one state, each key once, all in b
    const g3 = pass(lake);
    const all = await reader.rows(`SELECT region, count(*) n, count(DISTINCT idb_key) d FROM ${glob(lake, 'app', 'events')} GROUP BY ALL`);
    assert.equal(pass(lake), g3);
    assert.deepEqual(all.map((r) => [r.region, Number(r.n), Number(r.d)]), [['b', KEYS, KEYS]]);
  } finally {
    await srv.stop();   // its last flush may pause too: the pauser lets it go
    stop = true;
    await pauser;
  }
});
