// safetensors reader and writer (no maintained npm reader exists). Format: an 8-byte little-endian
// header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
// {string: string}}, then the tensor bytes; offsets count from the end of the header.
// Reading validates the whole header up front and reads tensors one at a time (files may be large);
// writing goes to a temporary file renamed into place, so a reader never sees a half-written file.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { FileFormatError } from '../errors.js';
import { writeFileAtomic } from './atomic.js';

export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Record<Dtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Byte offset of the tensor in the file (header included). */
  offset: number;
  byteLength: number;
}

export type TensorData =
  | Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

export interface Tensor {
  dtype: Dtype;
  shape: number[];
  /** F16 and BF16 are raw bits in a Uint16Array; use readF32 to get floats. */
  data: TensorData;
}

const MAX_HEADER = 100 * 1024 * 1024;

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** An open safetensors file: the validated header; tensors are read on demand. */
export class SafetensorsFile {
  readonly tensors: Map<string, TensorInfo>;
  readonly metadata: Record<string, string>;
  private fd: number | null;

  private constructor(readonly path: string, fd: number, tensors: Map<string, TensorInfo>, metadata: Record<string, string>) {
    this.fd = fd;
    this.tensors = tensors;
    this.metadata = metadata;
  }

  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new FileFormatError(path, e.code === 'ENOENT' ? 'file not found' : `cannot open: ${e.message}`);
    }
    try {
      const { tensors, metadata } = parseHeader(path, fd);
      return new SafetensorsFile(path, fd, tensors, metadata);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) {
      const have = this.names();
      throw new FileFormatError(this.path, `tensor "${name}" is missing (the file holds ${have.length ? have.map((n) => `"${n}"`).join(', ') : 'no tensors'})`);
    }
    return t;
  }

  /** Raw bytes of one tensor (or of a range of its leading-dimension rows). */
  readBytes(name: string, rowStart = 0, rowCount?: number): Uint8Array {
    const t = this.info(name);
    const rows = t.shape.length === 0 ? 1 : t.shape[0];
    const rowBytes = rows === 0 ? 0 : t.byteLength / rows;
    const count = rowCount ?? rows - rowStart;
    if (rowStart < 0 || count < 0 || rowStart + count > rows) {
      throw new RangeError(`Expected rows within [0, ${rows}) for ${name} in ${this.path} but received [${rowStart}, ${rowStart + count})`);
    }
    const len = count * rowBytes;
    const buf = new Uint8Array(new ArrayBuffer(len));
    let done = 0;
    while (done < len) {
      const n = readSync(this.requireFd(), buf, done, Math.min(len - done, 1 << 30), t.offset + rowStart * rowBytes + done);
      if (n <= 0) throw new FileFormatError(this.path, `tensor "${name}": file truncated while reading`);
      done += n;
    }
    return buf;
  }

  /** One tensor in its stored dtype. */
  read(name: string): Tensor {
    const t = this.info(name);
    return { dtype: t.dtype, shape: [...t.shape], data: view(t.dtype, this.readBytes(name)) };
  }

  /**
   * One floating-point tensor as Float32Array (F16 and BF16 widened, F64 narrowed). With `expectShape`,
   * a mismatch is an error naming the file, the tensor and both shapes (-1 matches any size).
   */
  readF32(name: string, expectShape?: readonly number[], rowStart = 0, rowCount?: number): Float32Array {
    const t = this.info(name);
    if (expectShape) checkShape(this.path, name, t.shape, expectShape);
    if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16' && t.dtype !== 'F64') {
      throw new FileFormatError(this.path, `tensor "${name}": expected dtype F32, F16, BF16 or F64 but found ${t.dtype}`);
    }
    return toF32(t.dtype, this.readBytes(name, rowStart, rowCount));
  }

  close(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }

  private requireFd(): number {
    if (this.fd === null) throw new Error(`${this.path}: safetensors file has been closed`);
    return this.fd;
  }
}

export function checkShape(file: string, name: string, actual: readonly number[], expected: readonly number[]): void {
  const ok = actual.length === expected.length && expected.every((e, i) => e < 0 || e === actual[i]);
  if (!ok) {
    const fmt = (s: readonly number[]) => `[${s.map((v) => (v < 0 ? '*' : String(v))).join(',')}]`;
    throw new FileFormatError(file, `tensor "${name}": expected shape ${fmt(expected)} but found ${fmt(actual)}`);
  }
}

function parseHeader(path: string, fd: number): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  const size = fstatSync(fd).size;
  if (size < 8) throw new FileFormatError(path, `not a safetensors file: ${size} bytes, shorter than the 8-byte header length`);
  const lenBuf = Buffer.alloc(8);
  readSync(fd, lenBuf, 0, 8, 0);
  const headerLen = Number(lenBuf.readBigUInt64LE(0));
  if (headerLen > MAX_HEADER || headerLen > size - 8) {
    throw new FileFormatError(path, `header length ${headerLen} exceeds the file (${size} bytes) or the 100 MiB limit: not a safetensors file, or truncated`);
  }
  const headerBuf = Buffer.alloc(headerLen);
  readSync(fd, headerBuf, 0, headerLen, 8);
  let header: unknown;
  try {
    header = JSON.parse(headerBuf.toString('utf8'));
  } catch (err) {
    throw new FileFormatError(path, `header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new FileFormatError(path, 'header is not a JSON object');
  }
  const dataStart = 8 + headerLen;
  const dataLen = size - dataStart;
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        throw new FileFormatError(path, '__metadata__ must be an object of strings');
      }
      metadata = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, String(v)]));
      continue;
    }
    const where = `tensor "${name}"`;
    if (typeof raw !== 'object' || raw === null) throw new FileFormatError(path, `${where}: entry is not an object`);
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) {
      throw new FileFormatError(path, `${where}: unknown dtype ${JSON.stringify(e.dtype)} (expected one of ${Object.keys(DTYPE_BYTES).join(', ')})`);
    }
    const dtype = e.dtype as Dtype;
    if (!Array.isArray(e.shape) || !e.shape.every((v) => Number.isInteger(v) && v >= 0)) {
      throw new FileFormatError(path, `${where}: shape must be an array of non-negative integers, found ${JSON.stringify(e.shape)}`);
    }
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((v) => Number.isInteger(v) && v >= 0) || offs[1] < offs[0]) {
      throw new FileFormatError(path, `${where}: data_offsets must be [begin, end] with 0 <= begin <= end, found ${JSON.stringify(offs)}`);
    }
    const shape = e.shape as number[];
    const byteLength = offs[1] - offs[0];
    const expected = numel(shape) * DTYPE_BYTES[dtype];
    if (byteLength !== expected) {
      throw new FileFormatError(path, `${where}: data_offsets span ${byteLength} bytes but shape [${shape.join(',')}] of ${dtype} needs ${expected}`);
    }
    if (offs[1] > dataLen) {
      throw new FileFormatError(path, `${where}: data_offsets end at ${offs[1]} past the end of the data (${dataLen} bytes): file truncated`);
    }
    tensors.set(name, { name, dtype, shape, offset: dataStart + offs[0], byteLength });
  }
  return { tensors, metadata };
}

function view(dtype: Dtype, bytes: Uint8Array): TensorData {
  const buf = bytes.buffer as ArrayBuffer;
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  switch (dtype) {
    case 'F64': return new Float64Array(buf, bytes.byteOffset, n);
    case 'F32': return new Float32Array(buf, bytes.byteOffset, n);
    case 'F16': case 'BF16': case 'I16':
      return dtype === 'I16' ? new Int16Array(buf, bytes.byteOffset, n) : new Uint16Array(buf, bytes.byteOffset, n);
    case 'I64': return new BigInt64Array(buf, bytes.byteOffset, n);
    case 'I32': return new Int32Array(buf, bytes.byteOffset, n);
    case 'I8': return new Int8Array(buf, bytes.byteOffset, n);
    case 'U8': case 'BOOL': return bytes;
  }
}

/** IEEE half → float. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** float → IEEE half, round to nearest even. */
export function floatToHalf(f: number): number {
  const f32 = new Float32Array([f]);
  const x = new Uint32Array(f32.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

let halfTable: Float32Array | null = null;
function getHalfTable(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) halfTable[i] = halfToFloat(i);
  }
  return halfTable;
}

/** Widen little-endian F16/BF16/F64 elements from `src` into `dst` (dst.length elements). */
export function decodeFloatsInto(dtype: Dtype, src: Uint8Array, dst: Float32Array): void {
  const n = dst.length;
  if (dtype === 'F16') {
    const t = getHalfTable();
    for (let i = 0; i < n; i++) dst[i] = t[src[2 * i] | (src[2 * i + 1] << 8)];
  } else if (dtype === 'BF16') {
    const u = new Uint32Array(dst.buffer, dst.byteOffset, n);
    for (let i = 0; i < n; i++) u[i] = ((src[2 * i] | (src[2 * i + 1] << 8)) << 16) >>> 0;
  } else if (dtype === 'F64') {
    const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
    for (let i = 0; i < n; i++) dst[i] = dv.getFloat64(8 * i, true);
  } else if (dtype === 'F32') {
    const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
    for (let i = 0; i < n; i++) dst[i] = dv.getFloat32(4 * i, true);
  } else {
    throw new Error(`decodeFloatsInto: ${dtype} is not a float dtype`);
  }
}

/** Decode little-endian bytes of a float dtype into a Float32Array (F32 aligned: a view, no copy). */
export function toF32(dtype: Dtype, bytes: Uint8Array): Float32Array {
  if (dtype === 'F32' && bytes.byteOffset % 4 === 0) {
    return new Float32Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / 4);
  }
  const out = new Float32Array(bytes.byteLength / DTYPE_BYTES[dtype]);
  decodeFloatsInto(dtype, bytes, out);
  return out;
}

/**
 * float32 → IEEE half bits into `out`, round to nearest even: the same results as floatToHalf,
 * without its per-value allocation (70M values in about a second instead of ~20 s).
 */
export function encodeF16Into(src: Float32Array, out: Uint16Array): Uint16Array {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    let h: number;
    if (exp === 0xff) {
      h = sign | 0x7c00 | (mant ? 0x200 : 0);
    } else {
      const e = exp - 112;
      if (e >= 31) {
        h = sign | 0x7c00;
      } else if (e <= 0) {
        if (e < -10) {
          h = sign;
        } else {
          mant |= 0x800000;
          const shift = 14 - e;
          let half = mant >>> shift;
          const rem = mant & ((1 << shift) - 1);
          const mid = 1 << (shift - 1);
          if (rem > mid || (rem === mid && (half & 1))) half++;
          h = sign | half;
        }
      } else {
        let half = (e << 10) | (mant >>> 13);
        const rem = mant & 0x1fff;
        if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
        h = sign | half;
      }
    }
    out[i] = h;
  }
  return out;
}

/** Encode a Float32Array as F16 or BF16 bits (round to nearest even). */
export function fromF32(dtype: 'F16' | 'BF16', data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  if (dtype === 'F16') return encodeF16Into(data, out);
  const u = new Uint32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < data.length; i++) {
    const x = u[i];
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff)) out[i] = (x >>> 16) | 0x40;
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

export interface TensorToWrite {
  dtype: Dtype;
  shape: number[];
  data: ArrayBufferView;
}

/** Serialise tensors (sorted by name) and metadata to one Buffer. */
export function encodeSafetensors(tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): Buffer {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    if (!(t.dtype in DTYPE_BYTES)) throw new TypeError(`Expected a safetensors dtype for ${name}.dtype but received ${String(t.dtype)}`);
    const need = numel(t.shape) * DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== need) {
      throw new RangeError(`Expected ${need} bytes (shape [${t.shape.join(',')}] of ${t.dtype}) for tensor ${name} but received ${t.data.byteLength}`);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + need] };
    offset += need;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // align the data to 8 bytes
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  return out;
}

/** Write a safetensors file atomically (temporary file + rename). */
export function writeSafetensors(path: string, tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** Convenience: read a whole file into a record of tensors. */
export function readSafetensors(path: string): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const f = SafetensorsFile.open(path);
  try {
    const tensors: Record<string, Tensor> = {};
    for (const name of f.names()) tensors[name] = f.read(name);
    return { tensors, metadata: f.metadata };
  } finally {
    f.close();
  }
}
