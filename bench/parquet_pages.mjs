// Page headers of a Parquet file per column chunk, to see why two writers' columns differ in
// size (issue #20): pages, header bytes, compressed body bytes, uncompressed bytes and the
// data pages' encodings (type:encoding, type 0 DataPage, 2 dictionary, 3 DataPage V2).
// usage: node bench/parquet_pages.mjs FILE [COLUMN] [-v]   (-v: one line per page)
import { readFileSync } from 'node:fs';
import { decodeStruct, field, parseParquet } from '../tests/lake/thrift.mjs';

const args = process.argv.slice(2);
const verbose = args.includes('-v');
const [file, only] = args.filter((a) => a !== '-v');
const buf = readFileSync(file);
const { footer } = parseParquet(buf);
const tot = new Map();
field(footer, 4).value.items.forEach((rg, g) => {
  for (const cc of field(rg, 1).value.items) {
    const md = field(cc, 3).value;
    const name = field(md, 3).value.items.map((b) => b.toString()).join('.');
    if (only && name !== only) continue;
    const data = Number(field(md, 9).value);
    const dict = field(md, 11) ? Number(field(md, 11).value) : 0;
    let p = dict > 0 && dict < data ? dict : data;
    const end = p + Number(field(md, 7).value);
    if (!tot.has(name)) tot.set(name, { pages: 0, hdr: 0, body: 0, unc: 0, encs: new Set() });
    const t = tot.get(name);
    while (p < end) {
      const { value: h, end: body } = decodeStruct(buf, p);
      const type = field(h, 1).value, unc = field(h, 2).value, comp = field(h, 3).value;
      const sub = field(h, 5) || field(h, 8) || field(h, 7);
      const n = sub ? field(sub.value, 1).value : '';
      const enc = sub ? field(sub.value, type === 3 ? 4 : 2)?.value : '';
      t.pages++;
      t.hdr += body - p;
      t.body += comp;
      t.unc += unc;
      t.encs.add(`${type}:${enc}`);
      if (verbose) console.log(`rg${g} ${name} type=${type} header=${body - p} unc=${unc} comp=${comp} values=${n} enc=${enc}`);
      p = body + comp;
    }
  }
});
const fmt = (n) => n.toLocaleString('en-US');
for (const [n, t] of tot)
  console.log(`${n.padEnd(16)} pages ${String(t.pages).padStart(5)}  headers ${fmt(t.hdr).padStart(7)}  bodies ${fmt(t.body).padStart(12)}  total ${fmt(t.hdr + t.body).padStart(12)}  uncompressed ${fmt(t.unc).padStart(12)}  ${[...t.encs].join(' ')}`);
