// The cosine part of the native binding's interface (native/napi/cosine.cc).
import { addon } from '../native.js';

/** What the binding returns; the top-k list comes as three parallel arrays. */
export interface RawCosineStats {
  rowMax: Float32Array;
  rowArgmax: Int32Array;
  colMax: Float32Array;
  colArgmax: Int32Array;
  topA: Int32Array;
  topB: Int32Array;
  topCos: Float32Array;
  mmcs: number;
  full?: Float32Array;
}

export interface CosineBinding {
  /** A [n1,d], B [n2,d] borrowed without copies until the Promise settles; full [n1,n2] written when given. */
  cosineStats(A: Float32Array, B: Float32Array, d: number, topK?: number, full?: Float32Array | null): Promise<RawCosineStats>;
  cosineStatsSync(A: Float32Array, B: Float32Array, d: number, topK?: number, full?: Float32Array | null): RawCosineStats;
  mmcs(A: Float32Array, B: Float32Array, d: number): Promise<number>;
}

export function cosineBinding(): CosineBinding {
  return addon<CosineBinding>();
}
