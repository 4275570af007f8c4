// Both GEMM backends (OpenBLAS when linked, and rewardlens's own fallback) against a float64 loop.
import { afterAll, describe, expect, it } from 'vitest';
import { runtime } from '../src/native.js';
import { makeRng } from './helpers/rng.js';

const rt = runtime();

function refGemm(ta: boolean, tb: boolean, M: number, N: number, K: number, alpha: number,
  A: Float32Array, B: Float32Array, beta: number, C: Float32Array): Float64Array {
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const a = ta ? A[k * M + i] : A[i * K + k];
        const b = tb ? B[j * K + k] : B[k * N + j];
        s += a * b;
      }
      out[i * N + j] = alpha * s + (beta === 0 ? 0 : beta * C[i * N + j]);
    }
  }
  return out;
}

const backends = rt.hasOpenblas() ? [false, true] : [true];
afterAll(() => rt.forceFallbackGemm(false));

describe.each(backends)('sgemm (fallback forced: %s)', (fallback) => {
  const shapes: [number, number, number][] = [
    [1, 1, 1], [7, 131, 61], [61, 7, 131], [130, 33, 257], [5, 2100, 3], [257, 17, 600],
  ];
  for (const [M, N, K] of shapes) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        it(`M=${M} N=${N} K=${K} transA=${ta} transB=${tb}`, () => {
          rt.forceFallbackGemm(fallback);
          expect(rt.gemmBackend()).toBe(fallback ? 'fallback' : 'openblas');
          const rng = makeRng(M * 1000 + N * 10 + K + (ta ? 1 : 0) + (tb ? 2 : 0));
          const A = rng.normalArray(M * K);
          const B = rng.normalArray(K * N);
          const C = rng.normalArray(M * N);
          const beta = ta ? 0.5 : 0;
          if (beta === 0) C.fill(NaN); // beta 0 must overwrite without reading
          const ref = refGemm(ta, tb, M, N, K, 0.75, A, B, beta, C);
          rt.sgemm(ta, tb, M, N, K, 0.75, A, B, beta, C);
          let maxErr = 0;
          for (let i = 0; i < ref.length; i++) maxErr = Math.max(maxErr, Math.abs(C[i] - ref[i]));
          expect(maxErr).toBeLessThan(1e-4 * Math.sqrt(K));
        });
      }
    }
  }

  it('K = 0 scales C by beta', () => {
    rt.forceFallbackGemm(fallback);
    const C = new Float32Array([1, 2, 3, 4]);
    rt.sgemm(false, false, 2, 2, 0, 1, new Float32Array(0), new Float32Array(0), 2, C);
    expect(Array.from(C)).toEqual([2, 4, 6, 8]);
  });
});

describe('sgemm argument checks', () => {
  it('names the argument and the expected length', () => {
    expect(() => rt.sgemm(false, false, 2, 2, 2, 1, new Float32Array(3), new Float32Array(4), 0, new Float32Array(4)))
      .toThrow(/Expected Float32Array of length 4 for A but received length 3/);
    expect(() => rt.sgemm(false, false, 2, 2, 2, 1, new Float64Array(4) as unknown as Float32Array,
      new Float32Array(4), 0, new Float32Array(4))).toThrow(TypeError);
  });
});
