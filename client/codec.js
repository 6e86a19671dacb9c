// Tagged JSON <-> JavaScript values and IndexedDB keys, exactly as docs/protocol.md "Keys and
// values" specifies. encodeValue has a fast path: a value made only of JSON-safe parts (the
// common case) is checked without allocating and handed to the native JSON.stringify.
import { UnsupportedValueError } from './errors.js';

const OBJ = Object.prototype;
const TYPED = ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array',
  'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array', 'DataView'];
if (typeof globalThis.Float16Array === 'function') TYPED.push('Float16Array');

/** True when JSON.stringify(v) is already the exact wire form of v. */
function plain(v, depth) {
  switch (typeof v) {
    case 'string': case 'boolean': return true;
    case 'number': return v === v && v !== Infinity && v !== -Infinity && (v !== 0 || 1 / v > 0);
    case 'object': {
      if (v === null) return true;
      if (depth > 64) return false;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const x = v[i];
          if (x === undefined || !plain(x, depth + 1)) return false;
        }
        return true;
      }
      const p = Object.getPrototypeOf(v);
      if (p !== OBJ && p !== null) return false;
      for (const k in v) {
        if (k.charCodeAt(0) === 36 /* $ */) return false;
        const x = v[k];
        if (x === undefined || !plain(x, depth + 1)) return false;
      }
      return true;
    }
    default: return false;
  }
}

function b64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
function unb64(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function encNumber(v) {
  if (v !== v) return { $num: 'NaN' };
  if (v === Infinity) return { $num: 'Infinity' };
  if (v === -Infinity) return { $num: '-Infinity' };
  if (v === 0 && 1 / v < 0) return { $num: '-0' };
  return v;
}

// Brand checks: they work on values from any realm (an iframe's Date is not `instanceof Date`) and
// cannot be faked with Symbol.toStringTag. Each reads an internal slot through a built-in getter.
const getter = (C, p) => C && Object.getOwnPropertyDescriptor(C.prototype, p).get;
const BRANDS = {
  date: Date.prototype.getTime, buffer: getter(ArrayBuffer, 'byteLength'), map: getter(Map, 'size'), set: getter(Set, 'size'),
  regexp: getter(RegExp, 'source'), bool: Boolean.prototype.valueOf, num: Number.prototype.valueOf, str: String.prototype.valueOf,
  bigint: BigInt.prototype.valueOf, blob: typeof Blob === 'function' ? getter(Blob, 'size') : null,
  file: typeof File === 'function' ? getter(File, 'name') : null, files: typeof FileList === 'function' ? getter(FileList, 'length') : null,
  image: typeof ImageData === 'function' ? getter(ImageData, 'width') : null,
};
const TAGS = {
  '[object Date]': 'date', '[object ArrayBuffer]': 'buffer', '[object Map]': 'map', '[object Set]': 'set', '[object RegExp]': 'regexp',
  '[object Boolean]': 'bool', '[object Number]': 'num', '[object String]': 'str', '[object BigInt]': 'bigint', '[object Blob]': 'blob',
  '[object File]': 'file', '[object FileList]': 'files', '[object ImageData]': 'image',
};
const toStr = Object.prototype.toString;

/** The built-in type of object v ('date', 'map', 'blob', ...; 'file' before 'blob'), or null for anything else. */
export function brandOf(v) {
  const b = TAGS[toStr.call(v)];
  if (b === undefined) return null;
  try { BRANDS[b].call(v); } catch { return null; }
  return b;
}

/** Thrown by toTagged for a Blob whose bytes it was not given (they can only be read asynchronously). */
export class BlobBytesNeeded extends UnsupportedValueError {
  constructor() { super('Blob and File values are encoded asynchronously (encodeValueAsync): their bytes must be read first'); }
}

/**
 * JS value -> tagged JSON tree (plain objects/arrays/strings/numbers only). bytes: Map Blob ->
 * Uint8Array of its contents (encodeValueAsync reads them); without it a Blob throws BlobBytesNeeded.
 */
export function toTagged(v, depth = 0, seen, bytes) {
  switch (typeof v) {
    case 'string': case 'boolean': return v;
    case 'number': return encNumber(v);
    case 'undefined': return { $undefined: true };
    case 'bigint': return { $bigint: v.toString() };
    case 'function': case 'symbol':
      throw new DOMException(`${typeof v} could not be cloned`, 'DataCloneError');
  }
  if (v === null) return null;
  if (depth > 64) throw new UnsupportedValueError('value nested deeper than 64 levels (the server\'s JSON limit)');
  if (!seen) seen = new Set();
  if (seen.has(v)) throw new UnsupportedValueError('value has a cycle (the wire format is JSON)');
  seen.add(v);
  try {
    const d = depth + 1;
    if (Array.isArray(v)) {
      const out = new Array(v.length);
      for (let i = 0; i < v.length; i++) out[i] = toTagged(v[i], d, seen, bytes);
      return out;
    }
    if (ArrayBuffer.isView(v)) {
      const type = toStr.call(v).slice(8, -1);
      return { $bin: b64(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)), $type: TYPED.includes(type) ? type : 'Uint8Array' };
    }
    switch (brandOf(v)) {
      case 'date': { const t = v.getTime(); return { $date: t === t ? Date.prototype.toISOString.call(v) : null }; }
      case 'buffer': return { $bin: b64(new Uint8Array(v)) };
      case 'map': return { $map: Array.from(Map.prototype.entries.call(v), ([k, x]) => [toTagged(k, d, seen, bytes), toTagged(x, d, seen, bytes)]) };
      case 'set': return { $set: Array.from(Set.prototype.values.call(v), (x) => toTagged(x, d, seen, bytes)) };
      case 'regexp': return { $regexp: BRANDS.regexp.call(v), $flags: getter(RegExp, 'flags').call(v) };
      case 'bool': return BRANDS.bool.call(v);
      case 'num': return encNumber(BRANDS.num.call(v));
      case 'str': return BRANDS.str.call(v);
      case 'bigint': return { $bigint: BRANDS.bigint.call(v).toString() };
      case 'file': case 'blob': {
        const b = bytes && bytes.get(v);
        if (!b) throw new BlobBytesNeeded();
        const out = { $bin: b64(b), $type: 'Blob', $mime: v.type };
        if (brandOf(v) === 'file') { out.$type = 'File'; out.$name = v.name; out.$modified = v.lastModified; }
        return out;
      }
      // No tag of their own: a FileList arrives as an array of File, an ImageData as {data, width, height, colorSpace}.
      case 'files': return Array.from(v, (f) => toTagged(f, d, seen, bytes));
      case 'image': return { data: toTagged(v.data, d, seen, bytes), width: v.width, height: v.height, colorSpace: v.colorSpace };
    }
    const tag = toStr.call(v);
    if (tag !== '[object Object]' && tag !== '[object Arguments]') {
      throw new UnsupportedValueError(`${tag.slice(8, -1)} values cannot be synced (the wire format has no form for them)`);
    }
    let esc = false;
    const out = {};
    for (const k of Object.keys(v)) {
      if (k.charCodeAt(0) === 36) esc = true;
      out[k] = toTagged(v[k], d, seen, bytes);
    }
    return esc ? { $esc: out } : out;
  } finally {
    seen.delete(v);
  }
}

/** JS value -> tagged JSON text. Throws UnsupportedValueError / DataCloneError, BlobBytesNeeded for a Blob. */
export function encodeValue(v) {
  return plain(v, 0) ? JSON.stringify(v) : JSON.stringify(toTagged(v));
}

/** The Blobs and Files in v (a structured-clone result: plain data, no getters), in any order. */
function blobsIn(v, out, depth) {
  if (typeof v !== 'object' || v === null || depth > 64) return out;
  const b = brandOf(v);
  if (b === 'blob' || b === 'file') { out.add(v); return out; }
  if (b === 'map') { for (const [k, x] of v) { blobsIn(k, out, depth + 1); blobsIn(x, out, depth + 1); } return out; }
  if (b === 'set' || b === 'files') { for (const x of v) blobsIn(x, out, depth + 1); return out; }
  if (b !== null || ArrayBuffer.isView(v)) return out;
  for (const k of Object.keys(v)) blobsIn(v[k], out, depth + 1);
  return out;
}

/** Bytes of Blob/File data in v. */
export function blobBytes(v) {
  let n = 0;
  for (const b of blobsIn(v, new Set(), 0)) n += b.size;
  return n;
}

/**
 * Like encodeValue, for values holding Blobs/Files: reads their bytes first. Rejects with
 * UnsupportedValueError (code 'too_large' in `reason`) when they add up to more than maxBytes.
 */
export async function encodeValueAsync(v, maxBytes = Infinity) {
  const blobs = [...blobsIn(v, new Set(), 0)];
  const size = blobs.reduce((n, b) => n + b.size, 0);
  if (size > maxBytes) {
    const e = new UnsupportedValueError(`value holds ${size} bytes of Blob/File data, more than the ${maxBytes} bytes a value may have (maxValueBytes)`);
    e.reason = 'too_large';
    throw e;
  }
  const bytes = new Map();
  await Promise.all(blobs.map(async (b) => { bytes.set(b, new Uint8Array(await b.arrayBuffer())); }));
  return JSON.stringify(toTagged(v, 0, undefined, bytes));
}

/** Tagged JSON tree (as parsed by JSON.parse) -> JS value. */
export function fromTagged(v) {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (typeof x === 'object' && x !== null) v[i] = fromTagged(x);
    }
    return v;
  }
  let tag = null;
  for (const k in v) {
    if (k.charCodeAt(0) === 36) { tag = k; break; }
  }
  if (tag === null) {
    for (const k in v) {
      const x = v[k];
      if (typeof x === 'object' && x !== null) v[k] = fromTagged(x);
    }
    return v;
  }
  switch (tag) {
    case '$date': return v.$date === null ? new Date(NaN) : new Date(v.$date);
    case '$num': return Number(v.$num === '-0' ? -0 : v.$num);
    case '$undefined': return undefined;
    case '$bigint': return BigInt(v.$bigint);
    case '$bin': case '$type': case '$mime': case '$name': case '$modified': {
      const bytes = unb64(v.$bin);
      const type = v.$type;
      if (!type) return bytes.buffer;
      if (type === 'Blob') return new Blob([bytes], { type: v.$mime || '' });
      if (type === 'File') return new File([bytes], v.$name || '', { type: v.$mime || '', lastModified: v.$modified });
      if (type === 'DataView') return new DataView(bytes.buffer);
      const C = TYPED.includes(type) ? globalThis[type] : Uint8Array;
      return new C(bytes.buffer, 0, bytes.byteLength / C.BYTES_PER_ELEMENT);
    }
    case '$map': return new Map(v.$map.map(([k, x]) => [fromTagged(k), fromTagged(x)]));
    case '$set': return new Set(v.$set.map(fromTagged));
    case '$regexp': case '$flags': return new RegExp(v.$regexp, v.$flags || '');
    case '$esc': {
      const o = v.$esc;
      for (const k in o) {
        const x = o[k];
        if (typeof x === 'object' && x !== null) o[k] = fromTagged(x);
      }
      return o;
    }
    default: return v;
  }
}

/** Decodes a value holding undefined for an absent (deleted) value. */
export function decodeValue(v) { return fromTagged(v); }

/** IndexedDB key -> tagged JSON text (canonical: what the server would return). */
export function encodeKey(k) {
  if (typeof k === 'string') return JSON.stringify(k);
  if (typeof k === 'number') {
    if (k === Infinity) return '{"$num":"Infinity"}';
    if (k === -Infinity) return '{"$num":"-Infinity"}';
    return k === 0 ? '0' : JSON.stringify(k);
  }
  return JSON.stringify(keyTree(k));
}
function keyTree(k) {
  if (typeof k === 'number') return k === Infinity || k === -Infinity ? { $num: String(k) } : (k === 0 ? 0 : k);
  if (typeof k === 'string') return k;
  if (Array.isArray(k)) return k.map(keyTree);
  if (ArrayBuffer.isView(k)) return { $bin: b64(new Uint8Array(k.buffer, k.byteOffset, k.byteLength)) };
  const b = brandOf(k);
  if (b === 'date') return { $date: Date.prototype.toISOString.call(k) };
  if (b === 'buffer') return { $bin: b64(new Uint8Array(k)) };
  throw new UnsupportedValueError(`not an IndexedDB key: ${Object.prototype.toString.call(k)}`);
}

/** Tagged JSON tree -> IndexedDB key (binary keys become ArrayBuffer, as IndexedDB returns them). */
export function decodeKey(k) {
  if (typeof k !== 'object' || k === null) return k;
  if (Array.isArray(k)) return k.map(decodeKey);
  const x = fromTagged(k);
  return ArrayBuffer.isView(x) ? x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength) : x;
}
