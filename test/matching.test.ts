// The assignment solver against brute force over every injective matching, both orientations, min
// and max; selectFeatures' MMCS and top-k (max and hungarian) against float64 references computed here.
import { describe, expect, it } from 'vitest';
import { selectFeatures } from '../src/interpret/features.js';
import { linearAssignment } from '../src/interpret/matching.js';
import { makeRng } from './helpers/rng.js';

/** Best sum over injective maps from the smaller side into the larger (plain recursion). */
function bruteForce(m: Float64Array, rows: number, cols: number, maximize: boolean): number {
  const small = Math.min(rows, cols);
  const big = Math.max(rows, cols);
  const at = (i: number, j: number) => (rows <= cols ? m[i * cols + j] : m[j * cols + i]);
  const used = new Uint8Array(big);
  let best = maximize ? -Infinity : Infinity;
  const go = (i: number, sum: number) => {
    if (i === small) {
      best = maximize ? Math.max(best, sum) : Math.min(best, sum);
      return;
    }
    for (let j = 0; j < big; j++) {
      if (used[j]) continue;
      used[j] = 1;
      go(i + 1, sum + at(i, j));
      used[j] = 0;
    }
  };
  go(0, 0);
  return best;
}

describe('linearAssignment', () => {
  it('equals brute force on random rectangular and square matrices', () => {
    const rng = makeRng(5);
    let cases = 0;
    for (const [rows, cols] of [[1, 1], [1, 4], [4, 1], [3, 3], [4, 6], [6, 4], [5, 7], [7, 5], [6, 6]]) {
      for (let trial = 0; trial < 6; trial++) {
        const m = new Float64Array(rows * cols);
        // some trials with integer entries, so ties occur
        for (let i = 0; i < m.length; i++) m[i] = trial % 2 ? Math.floor(rng.next() * 4) : rng.normal();
        for (const maximize of [false, true]) {
          const a = linearAssignment(m, rows, cols, { maximize });
          const ref = bruteForce(m, rows, cols, maximize);
          expect(a.total).toBeCloseTo(ref, 10);
          // a valid one-to-one assignment whose entries sum to total
          const matched = Math.min(rows, cols);
          let sum = 0;
          let count = 0;
          const seen = new Set<number>();
          for (let i = 0; i < rows; i++) {
            const j = a.rowToCol[i];
            if (j < 0) continue;
            expect(a.colToRow[j]).toBe(i);
            expect(seen.has(j)).toBe(false);
            seen.add(j);
            sum += m[i * cols + j];
            count++;
          }
          expect(count).toBe(matched);
          expect(sum).toBeCloseTo(a.total, 10);
          cases++;
        }
      }
    }
    expect(cases).toBe(9 * 6 * 2);
  });

  it('rejects bad input, naming it', () => {
    expect(() => linearAssignment(new Float64Array(5), 2, 3)).toThrow(/length 6.*matrix.*length 5/);
    expect(() => linearAssignment(new Float64Array([1, NaN]), 1, 2)).toThrow(/finite.*matrix.*NaN at row 0, column 1/);
  });
});

function unitRows(n: number, d: number, rng: ReturnType<typeof makeRng>): Float32Array {
  return rng.normalArray(n * d);
}

function cosMatrix(A: Float32Array, B: Float32Array, d: number): Float64Array {
  const n1 = A.length / d;
  const n2 = B.length / d;
  const out = new Float64Array(n1 * n2);
  for (let i = 0; i < n1; i++) {
    for (let j = 0; j < n2; j++) {
      let dot = 0;
      let aa = 0;
      let bb = 0;
      for (let k = 0; k < d; k++) {
        dot += A[i * d + k] * B[j * d + k];
        aa += A[i * d + k] ** 2;
        bb += B[j * d + k] ** 2;
      }
      out[i * n2 + j] = dot / Math.sqrt(aa * bb);
    }
  }
  return out;
}

describe('selectFeatures', () => {
  const rng = makeRng(9);
  const d = 6;
  const large = unitRows(8, d, rng);
  const small = unitRows(4, d, rng);
  const C = cosMatrix(large, small, d);

  it('max: MMCS = mean over large features of the max cosine; top-k are large indices with their best small match', async () => {
    const s = await selectFeatures(large, small, d, { match: 'max', topK: 3 });
    const best = Array.from({ length: 8 }, (_, i) => {
      let j = 0;
      for (let k = 1; k < 4; k++) if (C[i * 4 + k] > C[i * 4 + j]) j = k;
      return { feature: i, matchedSmall: j, cos: C[i * 4 + j] };
    });
    expect(s.mmcs).toBeCloseTo(best.reduce((a, b) => a + b.cos, 0) / 8, 5);
    const ranked = [...best].sort((a, b) => b.cos - a.cos);
    expect(s.features.map((f) => f.feature)).toEqual(ranked.slice(0, 3).map((b) => b.feature));
    expect(s.features.map((f) => f.matchedSmall)).toEqual(ranked.slice(0, 3).map((b) => b.matchedSmall));
    for (const f of s.features) expect(f.matchCos).toBeCloseTo(C[f.feature * 4 + f.matchedSmall], 5);
    // the large index can exceed the small dictionary's size: indices are not swapped
    expect(s.nLarge).toBe(8);
    expect(s.nSmall).toBe(4);
  });

  it('hungarian: MMCS = best one-to-one mean cosine (brute force), only matched large features rank', async () => {
    const s = await selectFeatures(large, small, d, { match: 'hungarian', topK: 10 });
    expect(s.mmcs).toBeCloseTo(bruteForce(C, 8, 4, true) / 4, 5);
    expect(s.features.length).toBe(4);
    expect(new Set(s.features.map((f) => f.matchedSmall)).size).toBe(4);
    for (let i = 1; i < s.features.length; i++) expect(s.features[i - 1].matchCos).toBeGreaterThanOrEqual(s.features[i].matchCos);
    for (const f of s.features) expect(f.matchCos).toBeCloseTo(C[f.feature * 4 + f.matchedSmall], 5);
  });
});
