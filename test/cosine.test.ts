// Cosine kernels against a float64 full-matrix reference (test/reference/cosine-reference.ts).
// Tolerances: values come from float32 (normalised rows, float32 GEMM with d ≤ 61 terms), so
// maxima agree with float64 to ~1e-6; we allow 1e-5, compare an argmax only where the reference's
// best beats its second best by more than that, and MMCS (a mean of such maxima) to 1e-6.
import { afterAll, describe, expect, it } from 'vitest';
import { cosineStats, cosineStatsSync, mmcs, type CosineStats } from '../src/interpret/cosine.js';
import { cosineBinding } from '../src/interpret/native-cosine.js';
import { runtime } from '../src/native.js';
import { makeRng } from './helpers/rng.js';
import { cosineReference, type CosineReference } from './reference/cosine-reference.js';

const TOL = 1e-5;
const rt = runtime();
afterAll(() => {
  rt.forceFallbackGemm(false);
  rt.setNumThreads(0);
});

function expectMatches(got: CosineStats, ref: CosineReference, topK: number): void {
  const n1 = ref.rowMax.length;
  const n2 = ref.colMax.length;
  expect(got.n1).toBe(n1);
  expect(got.n2).toBe(n2);
  expect(got.rowMax.length).toBe(n1);
  expect(got.colMax.length).toBe(n2);
  let checkedArg = 0;
  for (let i = 0; i < n1; i++) {
    expect(Math.abs(got.rowMax[i] - ref.rowMax[i]), `rowMax[${i}]`).toBeLessThanOrEqual(TOL);
    if (ref.rowGap[i] > TOL) {
      expect(got.rowArgmax[i], `rowArgmax[${i}]`).toBe(ref.rowArgmax[i]);
      checkedArg++;
    }
  }
  for (let j = 0; j < n2; j++) {
    expect(Math.abs(got.colMax[j] - ref.colMax[j]), `colMax[${j}]`).toBeLessThanOrEqual(TOL);
    if (ref.colGap[j] > TOL) {
      expect(got.colArgmax[j], `colArgmax[${j}]`).toBe(ref.colArgmax[j]);
      checkedArg++;
    }
  }
  expect(checkedArg).toBeGreaterThan(0.9 * (n1 + n2) - 2); // the gap rule must not skip most of them

  expect(got.top.length).toBe(topK);
  for (let r = 0; r < topK; r++) {
    const want = ref.top[r];
    expect(Math.abs(got.top[r].cos - want.cos), `top[${r}].cos`).toBeLessThanOrEqual(TOL);
    const before = r > 0 ? ref.top[r - 1].cos - want.cos : Infinity;
    const after = r + 1 < ref.top.length ? want.cos - ref.top[r + 1].cos : Infinity;
    if (before > TOL && after > TOL) {
      expect({ a: got.top[r].a, b: got.top[r].b }, `top[${r}]`).toEqual({ a: want.a, b: want.b });
    }
    if (r > 0) expect(got.top[r].cos).toBeLessThanOrEqual(got.top[r - 1].cos); // sorted
  }
  expect(Math.abs(got.mmcs - ref.mmcs)).toBeLessThanOrEqual(1e-6);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const CASES: { n1: number; n2: number; d: number; topK: number }[] = [
  { n1: 7, n2: 131, d: 61, topK: 10 },
  { n1: 131, n2: 7, d: 61, topK: 10 },
  { n1: 7, n2: 131, d: 61, topK: 7 * 131 }, // every entry, in order
  { n1: 1, n2: 1, d: 1, topK: 1 },
  { n1: 1500, n2: 2500, d: 33, topK: 50 }, // 2 × 2 tiles of 750 × 1250
];

describe('cosineStats against a float64 reference', () => {
  for (const { n1, n2, d, topK } of CASES) {
    it(`n1=${n1} n2=${n2} d=${d} topK=${topK}`, async () => {
      const rng = makeRng(n1 * 7919 + n2 * 31 + d + topK);
      const A = rng.normalArray(n1 * d);
      const B = rng.normalArray(n2 * d);
      const ref = cosineReference(A, B, d, topK);
      const got = await cosineStats(A, B, d, { topK });
      expectMatches(got, ref, topK);
      expect(got.full).toBeUndefined();
      expect(got.d).toBe(d);
    });
  }

  it('size 1 with a negative cosine: -1, argmax 0', async () => {
    const got = await cosineStats(new Float32Array([2]), new Float32Array([-3]), 1, { topK: 1 });
    expect(got.rowMax[0]).toBe(-1);
    expect(got.colMax[0]).toBe(-1);
    expect(got.top).toEqual([{ a: 0, b: 0, cos: -1 }]);
    expect(got.mmcs).toBe(-1);
  });

  it('returns the full matrix when asked, equal to the reference', async () => {
    const rng = makeRng(5);
    const [n1, n2, d] = [1500, 2500, 33];
    const A = rng.normalArray(n1 * d);
    const B = rng.normalArray(n2 * d);
    const ref = cosineReference(A, B, d, 10);
    const got = await cosineStats(A, B, d, { full: true });
    expect(got.full).toBeInstanceOf(Float32Array);
    expect(got.full!.length).toBe(n1 * n2);
    expect(maxAbsDiff(got.full!, ref.full)).toBeLessThanOrEqual(TOL);
    expectMatches(got, ref, 10); // the reductions are the same with or without the matrix
  });

  it('sync, async and mmcs() agree exactly', async () => {
    const rng = makeRng(11);
    const A = rng.normalArray(300 * 20);
    const B = rng.normalArray(2100 * 20);
    const a = await cosineStats(A, B, 20, { topK: 5 });
    const s = cosineStatsSync(A, B, 20, { topK: 5 });
    expect(s).toEqual(a);
    expect(await mmcs(A, B, 20)).toBe(a.mmcs);
  });

  // The reductions never depend on how rows are split over threads. The GEMM under them is another
  // matter: rewardlens's own GEMM is bitwise the same on any thread count, OpenBLAS splits its work
  // by thread count and may round a cosine differently in the last bit.
  it('bit for bit the same on any thread count with rewardlens\'s GEMM', async () => {
    const rng = makeRng(12);
    const A = rng.normalArray(1500 * 33);
    const B = rng.normalArray(2500 * 33);
    rt.forceFallbackGemm(true);
    try {
      rt.setNumThreads(1);
      const one = await cosineStats(A, B, 33, { topK: 20, full: true });
      rt.setNumThreads(2);
      const two = await cosineStats(A, B, 33, { topK: 20, full: true });
      rt.setNumThreads(3); // more threads than this machine may have cores
      const three = cosineStatsSync(A, B, 33, { topK: 20, full: true });
      for (const other of [two, three]) {
        const { full, ...rest } = other;
        const { full: fullOne, ...restOne } = one;
        expect(rest).toEqual(restOne);
        expect(Buffer.from(full!.buffer).equals(Buffer.from(fullOne!.buffer))).toBe(true);
      }
    } finally {
      rt.forceFallbackGemm(false);
      rt.setNumThreads(0);
    }
  });

  it('within an ulp on any thread count with the default GEMM', async () => {
    const rng = makeRng(14);
    const A = rng.normalArray(1500 * 33);
    const B = rng.normalArray(2500 * 33);
    const ref = cosineReference(A, B, 33, 20);
    rt.setNumThreads(1);
    const one = await cosineStats(A, B, 33, { topK: 20 });
    rt.setNumThreads(0);
    const all = await cosineStats(A, B, 33, { topK: 20 });
    expect(maxAbsDiff(one.rowMax, all.rowMax)).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDiff(one.colMax, all.colMax)).toBeLessThanOrEqual(1e-6);
    expectMatches(one, ref, 20);
    expectMatches(all, ref, 20);
  });

  it('the fallback GEMM gives the same statistics', async () => {
    const rng = makeRng(13);
    const [n1, n2, d] = [1500, 2500, 33];
    const A = rng.normalArray(n1 * d);
    const B = rng.normalArray(n2 * d);
    const ref = cosineReference(A, B, d, 10);
    rt.forceFallbackGemm(true);
    try {
      expect(rt.gemmBackend()).toBe('fallback');
      expectMatches(await cosineStats(A, B, d), ref, 10);
      expectMatches(cosineStatsSync(A, B, d), ref, 10);
    } finally {
      rt.forceFallbackGemm(false);
    }
  });
});

describe('cosineStats edge cases', () => {
  it('zero rows have cosine 0 with everything (argmax 0)', async () => {
    const rng = makeRng(21);
    const [n1, n2, d] = [9, 40, 17];
    const A = rng.normalArray(n1 * d);
    const B = rng.normalArray(n2 * d);
    A.fill(0, 0, d); // row 0
    A.fill(0, 3 * d, 4 * d); // row 3
    B.fill(0, 2 * d, 3 * d); // row 2
    const ref = cosineReference(A, B, d, 10);
    const got = await cosineStats(A, B, d, { full: true });
    expectMatches(got, ref, 10);
    for (const i of [0, 3]) {
      expect(got.rowMax[i]).toBe(0);
      expect(got.rowArgmax[i]).toBe(0);
      for (let j = 0; j < n2; j++) expect(got.full![i * n2 + j]).toBe(0);
    }
    for (let i = 0; i < n1; i++) expect(got.full![i * n2 + 2]).toBe(0);
  });

  it('all-zero inputs: every cosine 0, MMCS 0, ties to the smallest indices', async () => {
    const got = await cosineStats(new Float32Array(3 * 5), new Float32Array(4 * 5), 5, { topK: 6 });
    expect(Array.from(got.rowMax)).toEqual([0, 0, 0]);
    expect(Array.from(got.rowArgmax)).toEqual([0, 0, 0]);
    expect(Array.from(got.colArgmax)).toEqual([0, 0, 0, 0]);
    expect(got.top.map((p) => [p.a, p.b])).toEqual([[0, 0], [0, 1], [0, 2], [0, 3], [1, 0], [1, 1]]);
    expect(got.mmcs).toBe(0);
  });

  it('identical A and B: MMCS 1, each row its own best match', async () => {
    const rng = makeRng(22);
    const [n, d] = [300, 64];
    const A = rng.normalArray(n * d);
    const got = await cosineStats(A, A.slice(), d, { topK: 3 });
    expect(Math.abs(got.mmcs - 1)).toBeLessThanOrEqual(1e-6);
    for (let i = 0; i < n; i++) {
      expect(got.rowArgmax[i]).toBe(i);
      expect(got.colArgmax[i]).toBe(i);
    }
    expect(await mmcs(A, A, d)).toBeCloseTo(1, 6);
  });

  // d = 4, entries ±1: every cosine is a multiple of 0.25, exact in float32 whatever the summation
  // order, so ties are real ties. 4 threads split the 600 × 1500 tiles (2 threads do not: see
  // kMinParallelSaved), so the per-thread partial results and their merge are tested too.
  for (const threads of [0, 4]) {
    it(`exact ties (±1 entries, repeated rows) go to the smallest index (threads: ${threads || 'default'})`, async () => {
      const rng = makeRng(23);
      const d = 4;
      const signs = (n: number) => Float32Array.from({ length: n * d }, () => (rng.next() < 0.5 ? -1 : 1));
      const A = signs(600);
      const B = signs(3000); // 16 distinct rows: many repeats, and two column tiles
      A.fill(0, 5 * d, 6 * d);
      const topK = 40;
      const ref = cosineReference(A, B, d, topK);
      rt.setNumThreads(threads);
      try {
        const got = await cosineStats(A, B, d, { topK, full: true });
        expect(Array.from(got.rowMax)).toEqual(Array.from(ref.rowMax));
        expect(Array.from(got.rowArgmax)).toEqual(Array.from(ref.rowArgmax));
        expect(Array.from(got.colMax)).toEqual(Array.from(ref.colMax));
        expect(Array.from(got.colArgmax)).toEqual(Array.from(ref.colArgmax));
        expect(got.top).toEqual(ref.top.slice(0, topK));
        expect(maxAbsDiff(got.full!, ref.full)).toBe(0);
        expect(got.mmcs).toBe(ref.mmcs);
      } finally {
        rt.setNumThreads(0);
      }
    });
  }

  // Rows are multiplied as given while every norm is in [1e-15, 1e15], else as normalised copies.
  for (const scale of [1e10, 1e-10, 1e20, 1e-20]) {
    it(`one row of A and one of B scaled by ${scale.toExponential()} match the reference`, async () => {
      const rng = makeRng(25);
      const [n1, n2, d] = [50, 300, 24];
      const A = rng.normalArray(n1 * d);
      const B = rng.normalArray(n2 * d);
      for (let k = 0; k < d; k++) B[7 * d + k] *= scale;
      for (let k = 0; k < d; k++) A[3 * d + k] *= scale; // raw products of the two would be ~scale²
      const ref = cosineReference(A, B, d, 10);
      const got = await cosineStats(A, B, d, { full: true });
      expect(maxAbsDiff(got.full!, ref.full)).toBeLessThanOrEqual(TOL);
      expectMatches(got, ref, 10);
    });
  }

  it('topK 0 returns no pairs; the default is 10', async () => {
    const rng = makeRng(24);
    const A = rng.normalArray(20 * 3);
    const B = rng.normalArray(30 * 3);
    expect((await cosineStats(A, B, 3, { topK: 0 })).top).toEqual([]);
    expect((await cosineStats(A, B, 3)).top.length).toBe(10);
    expect(cosineStatsSync(A, B, 3).top.length).toBe(10);
  });

  it('rows of very different magnitudes (1e-30 and 1e30) still give exact cosines', async () => {
    const A = new Float32Array([1e-30, 2e-30, 0, 3e30, 0, 4e30]);
    const B = new Float32Array([2, 4, 0, -3, 0, -4]);
    const got = await cosineStats(A, B, 3, { full: true });
    const want = [1, -3 / (5 * Math.sqrt(5)), 6 / (5 * Math.sqrt(20)), -1];
    expect(maxAbsDiff(got.full!, want)).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDiff(got.full!, cosineReference(A, B, 3, 0).full)).toBeLessThanOrEqual(1e-6);
  });
});

describe('cosine argument checks', () => {
  const A = new Float32Array(12);
  const B = new Float32Array(8);

  it('wrong dtype → TypeError naming the argument', async () => {
    await expect(cosineStats(new Float64Array(12) as unknown as Float32Array, B, 4)).rejects.toThrow(TypeError);
    await expect(cosineStats(new Float64Array(12) as unknown as Float32Array, B, 4)).rejects.toThrow(/Expected Float32Array of shape \[rows,4\] for A but received Float64Array of length 12/);
    expect(() => cosineStatsSync(A, [1, 2, 3, 4] as unknown as Float32Array, 4)).toThrow(/for B but received Array of length 4/);
    await expect(mmcs(A, null as unknown as Float32Array, 4)).rejects.toThrow(/for B but received null/);
  });

  it('length not a positive multiple of d → RangeError', async () => {
    await expect(cosineStats(A, new Float32Array(7), 4)).rejects.toThrow(RangeError);
    await expect(cosineStats(A, new Float32Array(7), 4)).rejects.toThrow(/Expected Float32Array of shape \[rows,4\] with rows >= 1 for B but received length 7/);
    expect(() => cosineStatsSync(new Float32Array(0), B, 4)).toThrow(/for A but received length 0/);
  });

  it('bad d → error naming d', async () => {
    await expect(cosineStats(A, B, 0)).rejects.toThrow(/for d but received 0/);
    await expect(cosineStats(A, B, 2.5)).rejects.toThrow(TypeError);
    await expect(cosineStats(A, B, '4' as unknown as number)).rejects.toThrow(/for d but received string "4"/);
  });

  it('NaN / Inf → RangeError naming the argument and the index', async () => {
    const bad = new Float32Array(12);
    bad[5] = NaN;
    await expect(cosineStats(bad, B, 4)).rejects.toThrow(RangeError);
    await expect(cosineStats(bad, B, 4)).rejects.toThrow(/Expected finite values in A for A but received NaN at index 5/);
    const badB = new Float32Array(8);
    badB[7] = -Infinity;
    badB[6] = Infinity;
    expect(() => cosineStatsSync(A, badB, 4)).toThrow(/finite values in B for B but received Infinity at index 6/);
    await expect(mmcs(A, badB, 4)).rejects.toThrow(/for B but received Infinity at index 6/);
  });

  it('the rejection carries the caller\'s stack', async () => {
    const bad = new Float32Array(12).fill(NaN);
    const err = await cosineStats(bad, B, 4).catch((e: Error) => e);
    expect(err).toBeInstanceOf(RangeError);
    expect((err as Error).stack).toMatch(/cosine\.test\.ts/);
  });

  it('bad topK or full → error naming them', async () => {
    await expect(cosineStats(A, B, 4, { topK: 1.5 })).rejects.toThrow(TypeError);
    await expect(cosineStats(A, B, 4, { topK: 1.5 })).rejects.toThrow(/for topK/);
    await expect(cosineStats(A, B, 4, { topK: -1 })).rejects.toThrow(RangeError);
    await expect(cosineStats(A, B, 4, { topK: 7 })).rejects.toThrow(/Expected integer between 0 and 6 for topK but received 7/);
    expect(() => cosineStatsSync(A, B, 4, { full: 1 as unknown as boolean })).toThrow(/for full/);
  });

  it('the raw binding checks its arguments too (throws, never aborts)', async () => {
    const raw = cosineBinding();
    expect(() => raw.cosineStatsSync(A, B, 0)).toThrow(RangeError);
    expect(() => raw.cosineStatsSync(A, new Float32Array(7), 4)).toThrow(/for B but received length 7/);
    expect(() => raw.cosineStatsSync(A, undefined as unknown as Float32Array, 4)).toThrow(TypeError);
    expect(() => raw.cosineStatsSync(A, B, 4, 7)).toThrow(/for topK/);
    expect(() => raw.cosineStatsSync(A, B, 4, 1, new Float32Array(5))).toThrow(/Expected Float32Array of length 6 for full/);
    expect(() => (raw.cosineStats as unknown as () => unknown)()).toThrow(TypeError);
    const shared = new Float32Array(12);
    expect(() => raw.cosineStatsSync(shared.subarray(0, 8), B, 4, 1, shared.subarray(6, 10))).toThrow(/full must not overlap/);
    expect(() => raw.mmcs(A, B, -1)).toThrow(RangeError);
    const bad = A.slice();
    bad[0] = NaN;
    await expect(raw.cosineStats(bad, B, 4)).rejects.toThrow(/NaN at index 0/);
  });
});
