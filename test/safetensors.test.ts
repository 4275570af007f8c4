// safetensors reader/writer: round trips in every dtype, half-precision conversion, and each bad-file case.
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  SafetensorsFile, encodeSafetensors, floatToHalf, fromF32, halfToFloat, readSafetensors, toF32, writeSafetensors,
} from '../src/io/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'rl-st-'));

/** Build a file by hand: header JSON + raw data, independent of the writer. */
function handMade(header: object | string, data: Uint8Array, lenOverride?: number): string {
  const json = typeof header === 'string' ? header : JSON.stringify(header);
  const h = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(lenOverride ?? h.length));
  const path = join(dir, `hand-${Math.random().toString(36).slice(2)}.safetensors`);
  writeFileSync(path, Buffer.concat([len, h, Buffer.from(data)]));
  return path;
}

describe('safetensors', () => {
  it('reads a hand-made file', () => {
    const data = new Float32Array([1.5, -2, 3.25, 4, 5, 6]);
    const path = handMade({ x: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] }, __metadata__: { format: 'pt' } },
      new Uint8Array(data.buffer));
    const f = SafetensorsFile.open(path);
    expect(f.names()).toEqual(['x']);
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(Array.from(f.readF32('x', [2, 3]))).toEqual(Array.from(data));
    expect(Array.from(f.readF32('x', [-1, 3], 1, 1))).toEqual([4, 5, 6]);
    f.close();
  });

  it('round-trips every dtype, aligned to 8 bytes', () => {
    const path = join(dir, 'all.safetensors');
    writeSafetensors(path, {
      f64: { dtype: 'F64', shape: [3], data: new Float64Array([1, -2.5, 1e300]) },
      f32: { dtype: 'F32', shape: [2, 2], data: new Float32Array([0.1, 0.2, 0.3, 0.4]) },
      i32: { dtype: 'I32', shape: [3], data: new Int32Array([-1, 0, 2 ** 31 - 1]) },
      i64: { dtype: 'I64', shape: [1], data: new BigInt64Array([-5n]) },
      u8: { dtype: 'U8', shape: [5], data: new Uint8Array([0, 1, 2, 3, 255]) },
      empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    }, { note: 'hi' });
    const bytes = readFileSync(path);
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
    const { tensors, metadata } = readSafetensors(path);
    expect(metadata).toEqual({ note: 'hi' });
    expect(Array.from(tensors.f64.data as Float64Array)).toEqual([1, -2.5, 1e300]);
    expect(Array.from(tensors.f32.data as Float32Array)).toEqual(Array.from(new Float32Array([0.1, 0.2, 0.3, 0.4])));
    expect(Array.from(tensors.i32.data as Int32Array)).toEqual([-1, 0, 2 ** 31 - 1]);
    expect((tensors.i64.data as BigInt64Array)[0]).toBe(-5n);
    expect(Array.from(tensors.u8.data as Uint8Array)).toEqual([0, 1, 2, 3, 255]);
    expect(tensors.empty.shape).toEqual([0, 4]);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('converts half precision exactly (F16 and BF16)', () => {
    // Known bit patterns (IEEE 754 binary16): 1 = 0x3c00, -2 = 0xc000, 65504 = 0x7bff, 2^-24 = 0x0001.
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(floatToHalf(1)).toBe(0x3c00);
    expect(floatToHalf(65504)).toBe(0x7bff);
    expect(floatToHalf(1e6)).toBe(0x7c00);
    expect(floatToHalf(2 ** -24)).toBe(0x0001);
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    // every finite half survives half → float → half
    for (let h = 0; h < 0x7c00; h += 7) expect(floatToHalf(halfToFloat(h))).toBe(h);
    const x = new Float32Array([1, -2, 0.333251953125, 3.140625]);
    const f16 = fromF32('F16', x);
    expect(Array.from(toF32('F16', new Uint8Array(f16.buffer)))).toEqual(Array.from(x));
    const bf = fromF32('BF16', new Float32Array([1, -2, 3.140625]));
    expect(Array.from(bf)).toEqual([0x3f80, 0xc000, 0x4049]);
    expect(Array.from(toF32('BF16', new Uint8Array(bf.buffer)))).toEqual([1, -2, 3.140625]);
  });

  it('reads F16 and BF16 tensors as Float32', () => {
    const path = join(dir, 'half.safetensors');
    writeSafetensors(path, {
      a: { dtype: 'F16', shape: [2], data: fromF32('F16', new Float32Array([0.5, -1.25])) },
      b: { dtype: 'BF16', shape: [2], data: fromF32('BF16', new Float32Array([0.5, -1.25])) },
    });
    const f = SafetensorsFile.open(path);
    expect(Array.from(f.readF32('a'))).toEqual([0.5, -1.25]);
    expect(Array.from(f.readF32('b'))).toEqual([0.5, -1.25]);
    f.close();
  });

  describe('bad files name the file and the tensor', () => {
    const ok = new Uint8Array(8);
    it('missing file', () => {
      expect(() => SafetensorsFile.open(join(dir, 'nope.safetensors'))).toThrow(/nope\.safetensors: file not found/);
    });
    it('too short', () => {
      const p = join(dir, 'short.safetensors');
      writeFileSync(p, Buffer.from([1, 2, 3]));
      expect(() => SafetensorsFile.open(p)).toThrow(/short\.safetensors: not a safetensors file/);
    });
    it('header length past the end', () => {
      const p = handMade({}, ok, 1e6);
      expect(() => SafetensorsFile.open(p)).toThrow(/header length 1000000 exceeds the file/);
    });
    it('bad JSON', () => {
      expect(() => SafetensorsFile.open(handMade('{"x": ', ok))).toThrow(/header is not valid JSON/);
    });
    it('unknown dtype', () => {
      const p = handMade({ w: { dtype: 'F8', shape: [2], data_offsets: [0, 2] } }, ok);
      expect(() => SafetensorsFile.open(p)).toThrow(/tensor "w": unknown dtype "F8"/);
    });
    it('offsets past the end (truncated)', () => {
      const p = handMade({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, ok);
      expect(() => SafetensorsFile.open(p)).toThrow(/tensor "w": data_offsets end at 16 past the end of the data \(8 bytes\)/);
    });
    it('offsets that disagree with the shape', () => {
      const p = handMade({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, ok);
      expect(() => SafetensorsFile.open(p)).toThrow(/tensor "w": data_offsets span 8 bytes but shape \[3\] of F32 needs 12/);
    });
    it('bad shape', () => {
      const p = handMade({ w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, ok);
      expect(() => SafetensorsFile.open(p)).toThrow(/tensor "w": shape must be an array of non-negative integers/);
    });
    it('missing and misshapen tensors', () => {
      const p = handMade({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, ok);
      const f = SafetensorsFile.open(p);
      expect(() => f.readF32('activations')).toThrow(/tensor "activations" is missing \(the file holds "w"\)/);
      expect(() => f.readF32('w', [2, 1])).toThrow(/tensor "w": expected shape \[2,1\] but found \[2\]/);
      f.close();
    });
    it('a non-float tensor read as floats', () => {
      const p = handMade({ w: { dtype: 'I32', shape: [2], data_offsets: [0, 8] } }, ok);
      const f = SafetensorsFile.open(p);
      expect(() => f.readF32('w')).toThrow(/tensor "w": expected dtype F32, F16, BF16 or F64 but found I32/);
      f.close();
    });
  });

  it('rejects data whose size disagrees with the shape when writing', () => {
    expect(() => encodeSafetensors({ x: { dtype: 'F32', shape: [3], data: new Float32Array(2) } }))
      .toThrow(/Expected 12 bytes \(shape \[3\] of F32\) for tensor x but received 8/);
  });
});
