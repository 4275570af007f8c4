// The native SAE kernels against the float64 reference (test/reference/sae-reference.ts): forward
// outputs, metrics, every gradient, and the parameters after Adam steps, for tied/untied ×
// normalised/free × b_dec subtracted or not × masked or not, at odd sizes and at size 1; the
// reference's backward against central finite differences; both GEMM backends; initialisation;
// the dead-feature count.
//
// Tolerances: the native code runs in float32 with sums of at most a few hundred terms, so values
// agree with float64 to about 1e-6 of their scale; 2e-5 leaves room without hiding a wrong term
// (a missing or doubled term is an O(1) relative error). Parameters after Adam are compared in
// absolute terms: each update is at most lr = 1e-3 and float32 rounding of the stored parameter
// (≈ 1e-7 at magnitude 1) dominates.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtime } from '../src/native.js';
import { SparseAutoencoder, type SaeConfig } from '../src/sae/index.js';
import { makeRng, type TestRng } from './helpers/rng.js';
import {
  cloneParams, f64, refAdamInit, refAdamStep, refBackward, refForward, refLoss, toRefParams,
  type RefConfig, type RefParams,
} from './reference/sae-reference.js';

const rt = runtime();

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** max |actual − expected| ≤ rtol · max|expected| + atol, with the worst index in the message. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, name: string, rtol = 2e-5, atol = 1e-9): void {
  expect(actual.length, `${name}: length`).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.abs(actual[i] - expected[i]);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  const tol = rtol * maxAbs(expected) + atol;
  expect(worst, `${name}: max error ${worst} at ${at} (actual ${actual[at]}, expected ${expected[at]}), tolerance ${tol}`)
    .toBeLessThanOrEqual(tol);
}

function expectScalar(actual: number, expected: number, name: string, rtol = 2e-5): void {
  expect(Math.abs(actual - expected), `${name}: ${actual} vs ${expected}`).toBeLessThanOrEqual(rtol * Math.abs(expected) + 1e-12);
}

function makeMask(B: number, rng: TestRng): Uint8Array {
  const mask = new Uint8Array(B);
  for (let b = 0; b < B; b++) mask[b] = rng.next() < 0.6 ? 1 : 0;
  mask[0] = 1;
  if (B > 1) mask[B - 1] = 0;
  return mask;
}

/** A batch whose masked rows are large, so any leak of them into a result shows. */
function makeBatch(B: number, d: number, rng: TestRng, mask?: Uint8Array): Float32Array {
  const x = rng.normalArray(B * d);
  if (mask) for (let b = 0; b < B; b++) if (!mask[b]) for (let k = 0; k < d; k++) x[b * d + k] *= 1000;
  return x;
}

/** Non-trivial parameters: rows of W rescaled, biases random, an untied W_enc away from Wnᵀ. */
function perturbParameters(sae: SparseAutoencoder, rng: TestRng): RefParams {
  const { dIn: d, dSae: n } = sae.config;
  const p = sae.rawParameters();
  for (let i = 0; i < n; i++) {
    const s = 0.5 + 1.5 * rng.next();
    for (let k = 0; k < d; k++) p.W[i * d + k] *= s;
  }
  p.b_enc = rng.normalArray(n, 0.2);
  p.b_dec = rng.normalArray(d, 0.5);
  if (p.W_enc) for (let i = 0; i < p.W_enc.length; i++) p.W_enc[i] += 0.2 * rng.normal();
  sae.setRawParameters(p);
  return toRefParams(sae.rawParameters());
}

function refConfig(c: SaeConfig): RefConfig {
  return {
    dIn: c.dIn, dSae: c.dSae, tied: c.tied, normalizeDecoder: c.normalizeDecoder,
    applyBDecToInput: c.applyBDecToInput, l1Coefficient: c.l1Coefficient,
  };
}

interface Case {
  d: number;
  n: number;
  B: number;
  tied: boolean;
  normalizeDecoder: boolean;
  applyBDecToInput: boolean;
  masked: boolean;
}

const caseName = (c: Case) =>
  `d=${c.d} n=${c.n} B=${c.B} ${c.tied ? 'tied' : 'untied'} ${c.normalizeDecoder ? 'normalised' : 'free'}` +
  `${c.applyBDecToInput ? ' x−b_dec' : ''}${c.masked ? ' masked' : ''}`;

async function checkAgainstReference(c: Case, seed: number): Promise<void> {
  const sae = SparseAutoencoder.create({
    dIn: c.d, dSae: c.n, tied: c.tied, normalizeDecoder: c.normalizeDecoder,
    applyBDecToInput: c.applyBDecToInput, l1Coefficient: 0.05, seed,
  });
  try {
    const cfg = refConfig(sae.config);
    const rng = makeRng(seed * 7919 + 13);
    const ref = perturbParameters(sae, rng);
    const mask = c.masked ? makeMask(c.B, rng) : undefined;
    // a batch on which some feature fires on a valid row (one draw in two at size 1)
    let x = makeBatch(c.B, c.d, rng, mask);
    for (let tries = 0; !refForward(cfg, ref, x, c.B, mask).c.some((v, j) => v > 0 && (!mask || mask[Math.floor(j / c.n)])); tries++) {
      expect(tries, 'a batch that fires a feature').toBeLessThan(50);
      x = makeBatch(c.B, c.d, rng, mask);
    }
    const opts = mask ? { mask } : undefined;

    // forward
    const r = refBackward(cfg, ref, x, c.B, mask);
    const f = await sae.forward(x, opts);
    expectClose(f.xHat, r.fwd.xHat, 'xHat');
    expectClose(f.c, r.fwd.c, 'c');
    for (const k of ['loss', 'mse', 'l1', 'nmse'] as const) expectScalar(f.metrics[k], r.fwd.metrics[k], k);
    expect(f.metrics.l0).toBeCloseTo(r.fwd.metrics.l0, 12);

    // backward
    const g = await sae.lossAndGrad(x, opts);
    expectScalar(g.metrics.loss, r.fwd.metrics.loss, 'loss (lossAndGrad)');
    expectClose(g.grads.W, r.grads.W, 'dW');
    expectClose(g.grads.b_enc, r.grads.b_enc, 'db_enc');
    expectClose(g.grads.b_dec, r.grads.b_dec, 'db_dec');
    if (c.tied) {
      expect(g.grads.W_enc).toBeUndefined();
    } else {
      expectClose(g.grads.W_enc!, r.grads.W_enc!, 'dW_enc');
    }

    // Adam: three steps on fresh batches. Along the way the native gradients are checked against
    // the reference's (relative to their scale, as above), and the native update against the
    // reference Adam applied to the native gradients: Adam divides by √v ≈ |g| on the first steps,
    // so an element whose gradient is near eps (a feature that barely fires) would turn float32
    // rounding of an otherwise correct gradient into an O(lr) difference.
    const params = cloneParams(ref);
    const state = refAdamInit(params);
    const hyper = { lr: sae.config.lr, beta1: sae.config.adamBeta1, beta2: sae.config.adamBeta2, eps: sae.config.adamEps };
    for (let s = 1; s <= 3; s++) {
      const ms = c.masked ? makeMask(c.B, rng) : undefined;
      const xs = s === 1 ? x : makeBatch(c.B, c.d, rng, ms);
      const mask1 = s === 1 ? mask : ms;
      const o = mask1 ? { mask: mask1 } : undefined;
      const rs = refBackward(cfg, params, xs, c.B, mask1);
      const gs = (await sae.lossAndGrad(xs, o)).grads;
      expectClose(gs.W, rs.grads.W, `step ${s} dW`);
      expectClose(gs.b_enc, rs.grads.b_enc, `step ${s} db_enc`);
      expectClose(gs.b_dec, rs.grads.b_dec, `step ${s} db_dec`);
      if (!c.tied) expectClose(gs.W_enc!, rs.grads.W_enc!, `step ${s} dW_enc`);
      const m = await sae.step(xs, o);
      expect(m.step).toBe(s);
      expect(sae.stepCount).toBe(s);
      for (const k of ['loss', 'mse', 'l1', 'nmse'] as const) expectScalar(m[k], rs.fwd.metrics[k], `step ${s} ${k}`);
      refAdamStep(params, toRefParams(gs), state, hyper);
      const p = sae.rawParameters();
      expectClose(p.W, params.W, `step ${s} W`, 1e-6, 1e-6);
      expectClose(p.b_enc, params.b_enc, `step ${s} b_enc`, 1e-6, 1e-6);
      expectClose(p.b_dec, params.b_dec, `step ${s} b_dec`, 1e-6, 1e-6);
      if (!c.tied) expectClose(p.W_enc!, params.W_enc!, `step ${s} W_enc`, 1e-6, 1e-6);
    }

    // SAELens layout after the updates: W_dec = Wn, W_enc = Wnᵀ (tied) or the free encoder
    const w = sae.weights();
    const rf = refForward(cfg, params, x, c.B, mask);
    expectClose(w.W_dec, rf.Wn, 'W_dec', 1e-5, 1e-6);
    expectClose(w.W_enc, rf.Wenc, 'W_enc', 1e-5, 1e-6);
    expectClose(w.b_enc, params.b_enc, 'b_enc', 1e-6, 1e-6);
    expectClose(w.b_dec, params.b_dec, 'b_dec', 1e-6, 1e-6);
  } finally {
    sae.dispose();
  }
}

const allCases: Case[] = [];
for (const [d, n, B] of [[61, 131, 7], [1, 1, 1]] as const) {
  for (const tied of [true, false]) {
    for (const normalizeDecoder of [true, false]) {
      for (const applyBDecToInput of [false, true]) {
        for (const masked of [false, true]) allCases.push({ d, n, B, tied, normalizeDecoder, applyBDecToInput, masked });
      }
    }
  }
}

describe('SAE kernels vs the float64 reference', () => {
  allCases.forEach((c, i) => {
    it(caseName(c), async () => {
      await checkAgainstReference(c, 100 + i);
    });
  });

  it('d=32 n=16 B=40 (fewer features than inputs, batch above the parallel threshold) tied normalised masked', async () => {
    await checkAgainstReference({ d: 32, n: 16, B: 40, tied: true, normalizeDecoder: true, applyBDecToInput: true, masked: true }, 5);
  });
  it('d=64 n=600 B=130 (elementwise passes run in parallel) untied free', async () => {
    await checkAgainstReference({ d: 64, n: 600, B: 130, tied: false, normalizeDecoder: false, applyBDecToInput: false, masked: true }, 6);
  });
});

describe('SAE kernels with the fallback GEMM', () => {
  beforeAll(() => rt.forceFallbackGemm(true));
  afterAll(() => rt.forceFallbackGemm(false));

  const picks = allCases.filter((c) => c.d === 61 && ((c.tied && c.normalizeDecoder && c.masked && !c.applyBDecToInput) ||
    (!c.tied && !c.normalizeDecoder && c.applyBDecToInput && !c.masked)));
  for (const c of picks) {
    it(caseName(c), async () => {
      expect(rt.gemmBackend()).toBe('fallback');
      await checkAgainstReference(c, 300);
    });
  }
});

describe('SAE backward vs central finite differences', () => {
  const d = 5;
  const n = 7;
  const B = 3;
  const h = 1e-6;

  /** Parameters and a batch whose pre-activations keep clear of the ReLU kink (|pre| > 1e-3). */
  function pickCase(cfg: RefConfig, seed: number) {
    for (let attempt = 0; attempt < 200; attempt++) {
      const rng = makeRng(seed * 1000 + attempt);
      const p: RefParams = {
        W: f64(rng.normalArray(n * d)),
        W_enc: cfg.tied ? undefined : f64(rng.normalArray(d * n)),
        b_enc: f64(rng.normalArray(n, 0.3)),
        b_dec: f64(rng.normalArray(d, 0.3)),
      };
      // round to float32 so the native model holds exactly these values
      for (const a of [p.W, p.W_enc, p.b_enc, p.b_dec]) if (a) a.set(Float32Array.from(a));
      const x = rng.normalArray(B * d);
      const mask = new Uint8Array([1, 0, 1]);
      const f = refForward(cfg, p, x, B, mask);
      let margin = Infinity;
      for (let b = 0; b < B; b++) if (mask[b]) for (let i = 0; i < n; i++) margin = Math.min(margin, Math.abs(f.pre[b * n + i]));
      const fires = f.c.some((v, j) => v > 0 && mask[Math.floor(j / n)] === 1);
      if (margin > 1e-3 && fires) return { p, x, mask };
    }
    throw new Error('no case clear of the ReLU kink found');
  }

  function finiteDifferences(cfg: RefConfig, p: RefParams, x: Float32Array, mask: Uint8Array): RefParams {
    const fd = (a: Float64Array) => {
      const out = new Float64Array(a.length);
      for (let i = 0; i < a.length; i++) {
        const keep = a[i];
        a[i] = keep + h;
        const up = refLoss(cfg, p, x, B, mask);
        a[i] = keep - h;
        const down = refLoss(cfg, p, x, B, mask);
        a[i] = keep;
        out[i] = (up - down) / (2 * h);
      }
      return out;
    };
    return { W: fd(p.W), W_enc: p.W_enc ? fd(p.W_enc) : undefined, b_enc: fd(p.b_enc), b_dec: fd(p.b_dec) };
  }

  let seed = 1;
  for (const tied of [true, false]) {
    for (const normalizeDecoder of [true, false]) {
      for (const applyBDecToInput of [false, true]) {
        const s = seed++;
        it(`${tied ? 'tied' : 'untied'} ${normalizeDecoder ? 'normalised' : 'free'}${applyBDecToInput ? ' x−b_dec' : ''}`, async () => {
          const cfg: RefConfig = { dIn: d, dSae: n, tied, normalizeDecoder, applyBDecToInput, l1Coefficient: 0.05 };
          const { p, x, mask } = pickCase(cfg, s);
          const fd = finiteDifferences(cfg, p, x, mask);
          const analytic = refBackward(cfg, p, x, B, mask).grads;
          // the reference's backward: float64 central differences are good to ~1e-9 here
          expectClose(analytic.W, fd.W, 'reference dW vs FD', 1e-6, 1e-9);
          expectClose(analytic.b_enc, fd.b_enc, 'reference db_enc vs FD', 1e-6, 1e-9);
          expectClose(analytic.b_dec, fd.b_dec, 'reference db_dec vs FD', 1e-6, 1e-9);
          if (!tied) expectClose(analytic.W_enc!, fd.W_enc!, 'reference dW_enc vs FD', 1e-6, 1e-9);

          // the native backward at the same (float32) parameters
          const sae = SparseAutoencoder.create({ dIn: d, dSae: n, tied, normalizeDecoder, applyBDecToInput, l1Coefficient: 0.05 });
          try {
            sae.setRawParameters({
              W: Float32Array.from(p.W), W_enc: p.W_enc ? Float32Array.from(p.W_enc) : undefined,
              b_enc: Float32Array.from(p.b_enc), b_dec: Float32Array.from(p.b_dec),
            });
            const g = (await sae.lossAndGrad(x, { mask })).grads;
            expectClose(g.W, fd.W, 'native dW vs FD', 1e-4, 1e-8);
            expectClose(g.b_enc, fd.b_enc, 'native db_enc vs FD', 1e-4, 1e-8);
            expectClose(g.b_dec, fd.b_dec, 'native db_dec vs FD', 1e-4, 1e-8);
            if (!tied) expectClose(g.W_enc!, fd.W_enc!, 'native dW_enc vs FD', 1e-4, 1e-8);
          } finally {
            sae.dispose();
          }
        });
      }
    }
  }
});

describe('SAE initialisation', () => {
  function gram(W: Float32Array, rows: number, cols: number, byRows: boolean): Float64Array {
    // byRows: W Wᵀ [rows,rows]; else Wᵀ W [cols,cols]
    const m = byRows ? rows : cols;
    const G = new Float64Array(m * m);
    for (let a = 0; a < m; a++) {
      for (let b = 0; b < m; b++) {
        let s = 0;
        if (byRows) for (let k = 0; k < cols; k++) s += W[a * cols + k] * W[b * cols + k];
        else for (let i = 0; i < rows; i++) s += W[i * cols + a] * W[i * cols + b];
        G[a * m + b] = s;
      }
    }
    return G;
  }
  const identity = (m: number) => {
    const I = new Float64Array(m * m);
    for (let i = 0; i < m; i++) I[i * m + i] = 1;
    return I;
  };

  for (const [n, d] of [[5, 9], [9, 5], [8, 8], [1, 1], [300, 40]] as const) {
    it(`orthogonal n=${n} d=${d}: ${n <= d ? 'rows' : 'columns'} orthonormal`, () => {
      const sae = SparseAutoencoder.create({ dIn: d, dSae: n, seed: 3 });
      const W = sae.rawParameters().W;
      sae.dispose();
      const byRows = n <= d;
      expectClose(gram(W, n, d, byRows), identity(byRows ? n : d), 'Gram matrix', 0, 1e-6);
    });
  }

  it('kaiming: uniform in ±√(6/d)', () => {
    const n = 200;
    const d = 100;
    const sae = SparseAutoencoder.create({ dIn: d, dSae: n, init: 'kaiming', seed: 4 });
    const W = sae.rawParameters().W;
    sae.dispose();
    const bound = Math.sqrt(6 / d);
    let mean = 0;
    let sq = 0;
    for (const w of W) {
      expect(Math.abs(w)).toBeLessThanOrEqual(bound);
      mean += w;
      sq += w * w;
    }
    mean /= W.length;
    const variance = sq / W.length - mean * mean;
    expect(Math.abs(mean)).toBeLessThan(0.01 * bound);
    expect(variance / (bound * bound / 3)).toBeGreaterThan(0.97);
    expect(variance / (bound * bound / 3)).toBeLessThan(1.03);
  });

  it('biases start at 0; an untied W_enc starts as the initial Wnᵀ', () => {
    const n = 6;
    const d = 4;
    const sae = SparseAutoencoder.create({ dIn: d, dSae: n, tied: false, seed: 8 });
    const p = sae.rawParameters();
    const w = sae.weights();
    sae.dispose();
    expect(maxAbs(p.b_enc)).toBe(0);
    expect(maxAbs(p.b_dec)).toBe(0);
    const ref = refForward({ dIn: d, dSae: n, tied: true, normalizeDecoder: true, applyBDecToInput: false, l1Coefficient: 0 },
      toRefParams(p), new Float32Array(d), 1);
    expectClose(p.W_enc!, ref.Wenc, 'W_enc', 0, 1e-7);
    expectClose(w.W_dec, ref.Wn, 'W_dec', 0, 1e-7);
  });

  it('the same seed gives the same parameters, another seed others', () => {
    const a = SparseAutoencoder.create({ dIn: 7, dSae: 11, seed: 42 });
    const b = SparseAutoencoder.create({ dIn: 7, dSae: 11, seed: 42 });
    const c = SparseAutoencoder.create({ dIn: 7, dSae: 11, seed: 43 });
    expect(a.rawParameters().W).toEqual(b.rawParameters().W);
    expect(a.rawParameters().W).not.toEqual(c.rawParameters().W);
    for (const s of [a, b, c]) s.dispose();
  });
});

describe('dead features', () => {
  it('counts features that fired on no valid row in the last deadWindow steps, from creation', async () => {
    const d = 4;
    const n = 3;
    const sae = SparseAutoencoder.create({ dIn: d, dSae: n, deadWindow: 3, lr: 1e-6, seed: 2 });
    try {
      // feature 0 never fires; feature 1 fires only on the masked row; feature 2 fires on every row
      const p = sae.rawParameters();
      p.W.fill(0);
      p.W[0 * d + 0] = 1;
      p.W[1 * d + 1] = 1;
      p.W[2 * d + 2] = 1;
      p.b_enc.set([-100, -0.5, 0.5]);
      sae.setRawParameters(p);
      const x = new Float32Array([
        0, 0, 1, 0, // row 0: only feature 2 (b_enc 0.5 + 1)
        0, 5, 1, 0, // row 1 (masked): feature 1 would fire
      ]);
      const mask = new Uint8Array([1, 0]);
      const dead: number[] = [];
      for (let s = 0; s < 4; s++) dead.push((await sae.step(x, { mask })).dead);
      expect(dead).toEqual([0, 0, 2, 2]);
      // feature 1 fires on a valid row: it is alive again at once
      expect((await sae.step(x)).dead).toBe(1);
    } finally {
      sae.dispose();
    }
  });
});
