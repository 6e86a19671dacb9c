// A generic Thrift compact-protocol codec for crafting Parquet files in tests: a struct decodes
// to an array of {id, type, value} fields (in file order) and encodes back byte for byte, so a
// test can change one field of a footer or page header and write the file again.
// Types: 1/2 bool, 3 byte, 4 i16, 5 i32, 6 i64 (BigInt), 7 double, 8 binary (Buffer), 9 list,
// 10 set ({etype, items}), 11 map ({ktype, vtype, items: [[k, v]]}), 12 struct.

export function decodeStruct(buf, pos = 0) {
  let p = pos;
  const byte = () => buf[p++];
  const uvarint = () => {
    let v = 0n, s = 0n;
    for (;;) {
      const b = byte();
      v |= BigInt(b & 0x7f) << s;
      if (!(b & 0x80)) return v;
      s += 7n;
    }
  };
  const zz = () => { const v = uvarint(); return (v >> 1n) ^ -(v & 1n); };
  const value = (t) => {
    switch (t) {
      case 1: case 2: return byte() === 1;   // list element form (field bools come from the header)
      case 3: return (byte() << 24) >> 24;
      case 4: case 5: return Number(zz());
      case 6: return zz();
      case 7: { const v = buf.readDoubleLE(p); p += 8; return v; }
      case 8: { const n = Number(uvarint()); const v = Buffer.from(buf.subarray(p, p + n)); p += n; return v; }
      case 9: case 10: {
        const h = byte();
        let n = h >> 4;
        const etype = h & 15;
        if (n === 15) n = Number(uvarint());
        const items = [];
        for (let i = 0; i < n; i++) items.push(value(etype));
        return { etype, items };
      }
      case 11: {
        const n = Number(uvarint());
        if (!n) return { ktype: 0, vtype: 0, items: [] };
        const kv = byte();
        const items = [];
        for (let i = 0; i < n; i++) items.push([value(kv >> 4), value(kv & 15)]);
        return { ktype: kv >> 4, vtype: kv & 15, items };
      }
      case 12: return struct();
      default: throw new Error(`thrift: unknown type ${t} at ${p}`);
    }
  };
  const struct = () => {
    const fields = [];
    let last = 0;
    for (;;) {
      const h = byte();
      if (h === 0) return fields;
      const type = h & 15, d = h >> 4;
      const id = d ? last + d : Number(zz());
      last = id;
      fields.push({ id, type, value: type === 1 || type === 2 ? type === 1 : value(type) });
    }
  };
  const s = struct();
  return { value: s, end: p };
}

export function encodeStruct(fields) {
  const out = [];
  const uvarint = (v) => {
    v = BigInt(v);
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v) b |= 0x80;
      out.push(b);
    } while (v);
  };
  const zz = (v) => { v = BigInt(v); uvarint((v << 1n) ^ (v >> 63n)); };
  const value = (t, v) => {
    switch (t) {
      case 1: case 2: out.push(v ? 1 : 2); break;
      case 3: out.push(v & 0xff); break;
      case 4: case 5: case 6: zz(v); break;
      case 7: { const b = Buffer.alloc(8); b.writeDoubleLE(v); out.push(...b); break; }
      case 8: { const b = Buffer.isBuffer(v) ? v : Buffer.from(v); uvarint(b.length); for (const x of b) out.push(x); break; }
      case 9: case 10:
        if (v.items.length < 15) out.push((v.items.length << 4) | v.etype);
        else { out.push(0xf0 | v.etype); uvarint(v.items.length); }
        for (const x of v.items) value(v.etype, x);
        break;
      case 11:
        uvarint(v.items.length);
        if (v.items.length) { out.push((v.ktype << 4) | v.vtype); for (const [k, x] of v.items) { value(v.ktype, k); value(v.vtype, x); } }
        break;
      case 12: struct(v); break;
      default: throw new Error(`thrift: unknown type ${t}`);
    }
  };
  const struct = (fields) => {
    let last = 0;
    for (const f of fields) {
      const type = f.type === 1 || f.type === 2 ? (f.value ? 1 : 2) : f.type;
      const d = f.id - last;
      if (d > 0 && d < 16) out.push((d << 4) | type);
      else { out.push(type); zz(f.id); }
      last = f.id;
      if (type !== 1 && type !== 2) value(type, f.value);
    }
    out.push(0);
  };
  struct(fields);
  return Buffer.from(out);
}

/** The field with id (or undefined). */
export const field = (s, id) => s.find((f) => f.id === id);
/** Sets (or inserts, keeping ids ascending) field id to {type, value}. */
export function setField(s, id, type, value) {
  const f = field(s, id);
  if (f) { f.type = type; f.value = value; return; }
  const i = s.findIndex((x) => x.id > id);
  s.splice(i < 0 ? s.length : i, 0, { id, type, value });
}

/** A Parquet file split into its body (magic + pages) and decoded footer. */
export function parseParquet(buf) {
  const flen = buf.readUInt32LE(buf.length - 8);
  const start = buf.length - 8 - flen;
  return { body: buf.subarray(0, start), footer: decodeStruct(buf, start).value };
}

export function writeParquet({ body, footer }) {
  const f = encodeStruct(footer);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(f.length);
  return Buffer.concat([body, f, len, Buffer.from('PAR1')]);
}

/** ColumnMetaData of row group g, column c (FileMetaData 4 -> RowGroup 1 -> ColumnChunk 3). */
export const columnMeta = (footer, g = 0, c = 0) => field(columnChunk(footer, g, c), 3).value;
export const columnChunk = (footer, g = 0, c = 0) => field(field(footer, 4).value.items[g], 1).value.items[c];
