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

/** JS value -> tagged JSON tree (plain objects/arrays/strings/numbers only). */
export function toTagged(v, depth = 0, seen) {
  switch (typeof v) {
    case 'string': case 'boolean': return v;
    case 'number': return encNumber(v);
    case 'undefined': return { $undefined: true };
    case 'bigint': return { $bigint: v.toString() };
    case 'function': case 'symbol':
      throw new DOMException(`${typeof v} could not be cloned`, 'DataCloneError');
  }
  if (v === null) return null;
  if (depth > 64) throw new UnsupportedValueError('value nested deeper than 64 levels');
  if (!seen) seen = new Set();
  if (seen.has(v)) throw new UnsupportedValueError('value has a cycle (the wire format is JSON)');
  seen.add(v);
  try {
    const d = depth + 1;
    if (Array.isArray(v)) {
      const out = new Array(v.length);
      for (let i = 0; i < v.length; i++) out[i] = toTagged(v[i], d, seen);
      return out;
    }
    if (v instanceof Date) {
      const t = v.getTime();
      return { $date: t === t ? v.toISOString() : null };
    }
    if (v instanceof ArrayBuffer) return { $bin: b64(new Uint8Array(v)) };
    if (ArrayBuffer.isView(v)) {
      const type = v.constructor && v.constructor.name;
      return { $bin: b64(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)), $type: TYPED.includes(type) ? type : 'Uint8Array' };
    }
    if (v instanceof Map) return { $map: Array.from(v, ([k, x]) => [toTagged(k, d, seen), toTagged(x, d, seen)]) };
    if (v instanceof Set) return { $set: Array.from(v, (x) => toTagged(x, d, seen)) };
    if (v instanceof RegExp) return { $regexp: v.source, $flags: v.flags };
    if (v instanceof Boolean || v instanceof Number || v instanceof String || v instanceof BigInt) return toTagged(v.valueOf(), depth, seen);
    if ((typeof Blob === 'function' && v instanceof Blob) || (typeof FileList === 'function' && v instanceof FileList) ||
        (typeof ImageData === 'function' && v instanceof ImageData) || (typeof CryptoKey === 'function' && v instanceof CryptoKey)) {
      throw new UnsupportedValueError(`${v.constructor.name} values cannot be synced (store an ArrayBuffer instead)`);
    }
    let esc = false;
    const out = {};
    for (const k of Object.keys(v)) {
      if (k.charCodeAt(0) === 36) esc = true;
      out[k] = toTagged(v[k], d, seen);
    }
    return esc ? { $esc: out } : out;
  } finally {
    seen.delete(v);
  }
}

/** JS value -> tagged JSON text. Throws UnsupportedValueError / DataCloneError. */
export function encodeValue(v) {
  return plain(v, 0) ? JSON.stringify(v) : JSON.stringify(toTagged(v));
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
    case '$bin': case '$type': {
      const bytes = unb64(v.$bin);
      const type = v.$type;
      if (!type) return bytes.buffer;
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
  if (k instanceof Date) return { $date: k.toISOString() };
  if (k instanceof ArrayBuffer) return { $bin: b64(new Uint8Array(k)) };
  if (ArrayBuffer.isView(k)) return { $bin: b64(new Uint8Array(k.buffer, k.byteOffset, k.byteLength)) };
  throw new UnsupportedValueError(`not an IndexedDB key: ${Object.prototype.toString.call(k)}`);
}

/** Tagged JSON tree -> IndexedDB key (binary keys become ArrayBuffer, as IndexedDB returns them). */
export function decodeKey(k) {
  if (typeof k !== 'object' || k === null) return k;
  if (Array.isArray(k)) return k.map(decodeKey);
  const x = fromTagged(k);
  return ArrayBuffer.isView(x) ? x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength) : x;
}
