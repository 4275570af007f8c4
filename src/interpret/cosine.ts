// Cosine similarity between two dictionaries (rows of A [n1,d] and B [n2,d]) and the statistics the
// method needs from it, computed natively tile by tile without holding the n1×n2 matrix:
//   rowMax/rowArgmax  for each row of A, its best cosine to any row of B and which row
//   colMax/colArgmax  for each row of B, its best cosine to any row of A and which row
//   top               the k largest entries of the whole matrix, (a, b, cos), sorted by cos
//                     descending, ties by smaller a then smaller b
//   mmcs              mean over A's rows of rowMax: MMCS(A, B), the paper's Eq. 2 (not symmetric)
// A zero row has cosine 0 with every row (a zero row of A contributes 0 to MMCS). Ties in an argmax
// go to the smallest index; results do not depend on the thread count. Values come from float32
// arithmetic and may exceed 1 by a few ulps.
import { invalidRange, invalidType, withCallerStack } from '../errors.js';
import { checkBool, checkInt, checkRows } from '../validate.js';
import { cosineBinding, type RawCosineStats } from './native-cosine.js';

export interface CosinePair {
  a: number;
  b: number;
  cos: number;
}

export interface CosineStats {
  n1: number;
  n2: number;
  d: number;
  rowMax: Float32Array;
  rowArgmax: Int32Array;
  colMax: Float32Array;
  colArgmax: Int32Array;
  top: CosinePair[];
  mmcs: number;
  /** [n1,n2] row-major, only when opts.full. */
  full?: Float32Array;
}

export interface CosineOptions {
  /** How many of the largest entries to return in `top` (default min(10, n1·n2); at most n1·n2). */
  topK?: number;
  /** Also return the whole n1×n2 matrix (n1·n2·4 bytes). */
  full?: boolean;
}

export const COSINE_DEFAULTS = { topK: 10, full: false } as const;

interface Checked {
  n1: number;
  n2: number;
  topK: number;
  full: Float32Array | null;
}

function checkInputs(A: unknown, B: unknown, d: unknown, opts: CosineOptions | undefined): Checked {
  const width = checkInt(d, 'd', 1, 2 ** 31 - 1);
  const n1 = checkRows(A, 'A', width);
  const n2 = checkRows(B, 'B', width);
  if (n1 > 2 ** 31 - 1) throw invalidRange('fewer than 2^31 rows', 'A', `${n1} rows`);
  if (n2 > 2 ** 31 - 1) throw invalidRange('fewer than 2^31 rows', 'B', `${n2} rows`);
  // NaN/±Inf entries are found natively, inside the pass that computes the row norms (a JS scan
  // would cost a third of the whole 512×1024×512 kernel); the RangeError reads as checkFinite's.
  if (opts !== undefined && (opts === null || typeof opts !== 'object')) {
    throw invalidType('options object { topK?, full? }', 'opts', opts);
  }
  // The default never exceeds n1·n2; an explicit topK must not.
  const topK = checkInt(opts?.topK ?? Math.min(COSINE_DEFAULTS.topK, n1 * n2), 'topK', 0, n1 * n2);
  const wantFull = checkBool(opts?.full ?? COSINE_DEFAULTS.full, 'full');
  return { n1, n2, topK, full: wantFull ? new Float32Array(n1 * n2) : null };
}


function toStats(raw: RawCosineStats, c: Checked, d: number): CosineStats {
  const top: CosinePair[] = new Array(raw.topA.length);
  for (let i = 0; i < top.length; i++) top[i] = { a: raw.topA[i], b: raw.topB[i], cos: raw.topCos[i] };
  const out: CosineStats = {
    n1: c.n1, n2: c.n2, d,
    rowMax: raw.rowMax, rowArgmax: raw.rowArgmax, colMax: raw.colMax, colArgmax: raw.colArgmax,
    top, mmcs: raw.mmcs,
  };
  if (c.full) out.full = c.full;
  return out;
}

/**
 * Every statistic of cos(A_i, B_j) for A [n1,d] and B [n2,d], on a worker thread. A and B are
 * read in place (no copy): do not write to them until the Promise settles.
 */
export async function cosineStats(A: Float32Array, B: Float32Array, d: number, opts?: CosineOptions): Promise<CosineStats> {
  const c = checkInputs(A, B, d, opts);
  return toStats(await withCallerStack(cosineBinding().cosineStats(A, B, d, c.topK, c.full), new Error()), c, d);
}

/** The same on the calling thread (small inputs, benchmarks). */
export function cosineStatsSync(A: Float32Array, B: Float32Array, d: number, opts?: CosineOptions): CosineStats {
  const c = checkInputs(A, B, d, opts);
  return toStats(cosineBinding().cosineStatsSync(A, B, d, c.topK, c.full), c, d);
}

/** MMCS(A, B) = mean over A's rows of the max cosine to any row of B (Eq. 2), on a worker thread. */
export async function mmcs(A: Float32Array, B: Float32Array, d: number): Promise<number> {
  checkInputs(A, B, d, { topK: 0 });
  return withCallerStack(cosineBinding().mmcs(A, B, d), new Error());
}
