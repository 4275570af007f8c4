// AdamW and grad-norm clipping against float64 references (test/reference/optim-reference.ts).
// Tolerance: the native update runs in float32 (as torch does for float32 parameters); after a
// few steps of size ~lr the parameters agree with float64 to a few float32 ulps of their size,
// so we allow 2e-6·(1 + |p|).
import { describe, expect, it } from 'vitest';
import { AdamW, ADAMW_DEFAULTS, clipGradNorm, gradNorm } from '../src/optim/index.js';
import { runtime } from '../src/native.js';
import { optimBinding } from '../src/optim/native.js';
import { makeRng, type TestRng } from './helpers/rng.js';
import { adamwStepReference, clipReference, gradNormReference, type RefAdamWState } from './reference/optim-reference.js';

function expectClose(got: Float32Array, want: Float64Array, what: string, tol = 2e-6): void {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
  expect(worst, what).toBeLessThanOrEqual(tol);
}

const refState = (n: number): RefAdamWState => ({ m: new Float64Array(n), v: new Float64Array(n) });

describe('AdamW against a float64 reference', () => {
  it('one tensor list, default config, several steps', () => {
    const rng = makeRng(1);
    const sizes = [1, 7, 1000, 70_000]; // the last spans several native work chunks
    const params = sizes.map((n) => rng.normalArray(n));
    const ref = params.map((p) => Float64Array.from(p));
    const st = sizes.map(refState);
    const opt = new AdamW(params);
    const c = ADAMW_DEFAULTS;
    for (let t = 1; t <= 6; t++) {
      const grads = sizes.map((n) => rng.normalArray(n, 0.1));
      opt.step(grads);
      grads.forEach((g, i) => adamwStepReference(ref[i], g, st[i], t, c.lr, c.beta1, c.beta2, c.eps, c.weightDecay));
    }
    expect(opt.stepCount).toBe(6);
    params.forEach((p, i) => expectClose(p, ref[i], `params[${i}]`));
    const s = opt.state();
    expect(s.step).toBe(6);
    s.m.forEach((m, i) => expectClose(m, st[i].m, `m[${i}]`));
    s.v.forEach((v, i) => expectClose(v, st[i].v, `v[${i}]`));
    opt.dispose();
  });

  it('param groups with their own lr / weight decay, and an lr override for one step', () => {
    const rng = makeRng(2);
    const cfg = { lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1 };
    const g0 = [rng.normalArray(50), rng.normalArray(3)];
    const g1 = [rng.normalArray(40)];
    const g2 = [rng.normalArray(33)];
    const opt = new AdamW([
      { params: g0 }, // the optimiser's lr and weight decay
      { params: g1, lr: 0.05, weightDecay: 0 },
      { params: g2, weightDecay: 0.5 },
    ], cfg);
    const all = [...g0, ...g1, ...g2];
    const hyper = [
      { lr: 0.01, wd: 0.1 }, { lr: 0.01, wd: 0.1 }, { lr: 0.05, wd: 0 }, { lr: 0.01, wd: 0.5 },
    ];
    const ref = all.map((p) => Float64Array.from(p));
    const st = all.map((p) => refState(p.length));
    for (let t = 1; t <= 5; t++) {
      const grads = all.map((p) => rng.normalArray(p.length));
      const override = t === 3 ? 0.002 : undefined;
      // nested form on odd steps, flat form on even steps
      if (t % 2 === 1) opt.step([grads.slice(0, 2), [grads[2]], [grads[3]]], { lr: override });
      else opt.step(grads, { lr: override });
      grads.forEach((g, i) => adamwStepReference(ref[i], g, st[i], t, override ?? hyper[i].lr,
        cfg.beta1, cfg.beta2, cfg.eps, hyper[i].wd));
    }
    all.forEach((p, i) => expectClose(p, ref[i], `params ${i}`));
    expect(opt.lrs).toEqual([0.01, 0.05, 0.01]);
    opt.dispose();
  });

  it('setLr changes every group, or one group', () => {
    const rng = makeRng(3);
    const a = rng.normalArray(10);
    const b = rng.normalArray(10);
    const opt = new AdamW([{ params: [a] }, { params: [b], lr: 0.5 }], { weightDecay: 0 });
    opt.setLr(0.2, 1);
    expect(opt.lrs).toEqual([1e-3, 0.2]);
    opt.setLr(0.03);
    expect(opt.lrs).toEqual([0.03, 0.03]);
    const ra = Float64Array.from(a);
    const rb = Float64Array.from(b);
    const sa = refState(10);
    const sb = refState(10);
    const ga = rng.normalArray(10);
    const gb = rng.normalArray(10);
    opt.step([[ga], [gb]]);
    adamwStepReference(ra, ga, sa, 1, 0.03, 0.9, 0.999, 1e-8, 0);
    adamwStepReference(rb, gb, sb, 1, 0.03, 0.9, 0.999, 1e-8, 0);
    expectClose(a, ra, 'a');
    expectClose(b, rb, 'b');
    opt.dispose();
  });

  it('the first step moves each parameter by about lr (Adam\'s normalised step)', () => {
    const p = new Float32Array([1, -2, 3]);
    const opt = new AdamW([p], { lr: 0.1, weightDecay: 0 });
    opt.step([new Float32Array([5, -0.001, 1e3])]);
    // m̂ = g, v̂ = g², so the update is lr·g/(|g| + eps) = ±lr
    expect(Array.from(p, (x) => Number(x.toFixed(5)))).toEqual([0.9, -1.9, 2.9]);
    opt.dispose();
  });

  it('state() / loadState() resume bit for bit', () => {
    const rng = makeRng(4);
    const mk = () => [rng.normalArray(100), rng.normalArray(9)];
    const p1 = mk();
    const p2 = p1.map((p) => p.slice());
    const grads = Array.from({ length: 6 }, () => [rng.normalArray(100), rng.normalArray(9)]);
    const o1 = new AdamW(p1, { lr: 0.01 });
    const o2 = new AdamW(p2, { lr: 0.01 });
    for (let t = 0; t < 3; t++) {
      o1.step(grads[t]);
      o2.step(grads[t]);
    }
    const saved = o1.state();
    // o3 restarts from p1's values and o1's moments
    const p3 = p1.map((p) => p.slice());
    const o3 = new AdamW(p3, { lr: 0.01 });
    o3.loadState(saved);
    expect(o3.stepCount).toBe(3);
    saved.m[0].fill(123); // state() and loadState() copy: this must not reach o1 or o3
    for (let t = 3; t < 6; t++) {
      o1.step(grads[t]);
      o3.step(grads[t]);
    }
    expect(Array.from(p3[0])).toEqual(Array.from(p1[0]));
    expect(Array.from(p3[1])).toEqual(Array.from(p1[1]));
    [o1, o2, o3].forEach((o) => o.dispose());
  });

  it('a parameter set large enough to be split over threads', () => {
    const rng = makeRng(9);
    const sizes = [3_000_000, 5]; // above the 2M-element threshold for the parallel loops
    const params = sizes.map((n) => rng.normalArray(n));
    const ref = params.map((p) => Float64Array.from(p));
    const st = sizes.map(refState);
    const opt = new AdamW(params, { lr: 0.01 });
    for (let t = 1; t <= 2; t++) {
      const grads = sizes.map((n) => rng.normalArray(n));
      opt.step(grads);
      grads.forEach((g, i) => adamwStepReference(ref[i], g, st[i], t, 0.01, 0.9, 0.999, 1e-8, 0.01));
    }
    params.forEach((p, i) => expectClose(p, ref[i], `params[${i}]`));
    opt.dispose();
  });

  it('the raw one-tensor kernel matches the reference', () => {
    const rng = makeRng(5);
    const n = 1000;
    const p = rng.normalArray(n);
    const m = new Float32Array(n);
    const v = new Float32Array(n);
    const ref = Float64Array.from(p);
    const st = refState(n);
    for (let t = 1; t <= 4; t++) {
      const g = rng.normalArray(n);
      optimBinding().adamwStep(p, g, m, v, 0.003, 0.9, 0.95, 1e-8, 0.2, t);
      adamwStepReference(ref, g, st, t, 0.003, 0.9, 0.95, 1e-8, 0.2);
    }
    expectClose(p, ref, 'param');
    expectClose(m, st.m, 'm');
  });
});

describe('AdamW argument checks', () => {
  const rng: TestRng = makeRng(6);
  it('mismatched gradient counts and lengths name the tensor and both lengths', () => {
    const opt = new AdamW([{ params: [rng.normalArray(4), rng.normalArray(5)] }, { params: [rng.normalArray(6)] }]);
    expect(() => opt.step([new Float32Array(4), new Float32Array(5)])).toThrow(/Expected 3 tensors \(as params\) for grads but received 2/);
    expect(() => opt.step([[new Float32Array(4)], [new Float32Array(6)]])).toThrow(/Expected 2 tensors \(as params\[0\]\) for grads\[0\] but received 1/);
    expect(() => opt.step([[new Float32Array(4), new Float32Array(5)], [new Float32Array(7)]]))
      .toThrow(/Expected Float32Array of length 6 \(that of params\[1\]\[0\]\) for grads\[1\]\[0\] but received length 7/);
    expect(() => opt.step([new Float32Array(4), new Float32Array(3), new Float32Array(6)]))
      .toThrow(/Expected Float32Array of length 5 \(that of params\[0\]\[1\]\) for grads\[1\] but received length 3/);
    expect(() => opt.step([new Float32Array(4), new Float64Array(5) as unknown as Float32Array, new Float32Array(6)]))
      .toThrow(TypeError);
    expect(() => opt.step([[new Float32Array(4), new Float32Array(5)]])).toThrow(RangeError);
    expect(opt.stepCount).toBe(0); // nothing stepped
    opt.dispose();
  });

  it('bad groups and config', () => {
    expect(() => new AdamW([])).toThrow(/for groups/);
    expect(() => new AdamW([new Float32Array(2)], { lr: -1 })).toThrow(/for lr/);
    expect(() => new AdamW([new Float32Array(2)], { beta1: 1 })).toThrow(/for beta1/);
    expect(() => new AdamW([new Float32Array(2)], { beta2: NaN })).toThrow(/for beta2/);
    expect(() => new AdamW([new Float32Array(2)], { eps: Infinity })).toThrow(/for eps/);
    expect(() => new AdamW([{ params: [new Float32Array(2)], lr: -0.1 }])).toThrow(/for groups\[0\]\.lr/);
    expect(() => new AdamW([{ params: [new Float64Array(2) as unknown as Float32Array] }])).toThrow(/for groups\[0\]\.params\[0\]/);
    const p = new Float32Array(3);
    expect(() => new AdamW([{ params: [p] }, { params: [p] }])).toThrow(/for groups\[1\]\.params\[0\] but received a tensor listed twice/);
    const opt = new AdamW([p]);
    expect(() => opt.step([p], { lr: -2 })).toThrow(/for lr/);
    expect(() => opt.setLr(1, 3)).toThrow(/for group/);
    expect(() => opt.loadState({ m: [new Float32Array(2)], v: [new Float32Array(3)], step: 1 }))
      .toThrow(/Expected Float32Array of length 3 \(that of params\[0\]\) for state\.m\[0\] but received length 2/);
    opt.dispose();
  });

  it('a disposed optimiser throws Error', () => {
    const opt = new AdamW([new Float32Array(2)]);
    opt.dispose();
    opt.dispose(); // twice is fine
    expect(() => opt.step([new Float32Array(2)])).toThrow(/disposed/);
    expect(() => opt.stepCount).toThrow(/disposed/);
    expect(() => opt.state()).toThrow(/disposed/);
  });

  it('the raw binding checks its arguments too (throws, never aborts)', () => {
    const raw = optimBinding();
    const s = new raw.AdamWState([2, 3]);
    const f64 = (n: number) => new Float64Array(n).fill(0.1);
    expect(() => s.step([new Float32Array(2)], [new Float32Array(2)], f64(2), f64(2), 0.9, 0.999, 1e-8)).toThrow(RangeError);
    expect(() => s.step([new Float32Array(2), new Float32Array(4)], [new Float32Array(2), new Float32Array(3)], f64(2), f64(2), 0.9, 0.999, 1e-8))
      .toThrow(/Expected Float32Array of length 3 for params\[1\] but received length 4/);
    expect(() => s.step([new Float32Array(2), new Float32Array(3)], [new Float32Array(2), new Float32Array(3)], f64(1), f64(2), 0.9, 0.999, 1e-8))
      .toThrow(/for lr/);
    expect(() => s.step([new Float32Array(2), new Float32Array(3)], [new Float32Array(2), new Float32Array(3)], f64(2), f64(2), 1.5, 0.999, 1e-8))
      .toThrow(/beta1/);
    expect(s.stepCount()).toBe(0);
    s.dispose();
    expect(() => s.stepCount()).toThrow(/disposed/);
    expect(() => new raw.AdamWState([-1])).toThrow(RangeError);
    expect(() => raw.adamwStep(new Float32Array(2), new Float32Array(3), new Float32Array(2), new Float32Array(2), 1e-3, 0.9, 0.999, 1e-8, 0, 1))
      .toThrow(/for grad but received length 3/);
    expect(() => raw.adamwStep(new Float32Array(2), new Float32Array(2), new Float32Array(2), new Float32Array(2), 1e-3, 0.9, 0.999, 1e-8, 0, 0))
      .toThrow(/for t/);
    expect(() => raw.gradNormSq([new Float32Array(1), 3 as unknown as Float32Array])).toThrow(/for grads\[1\]/);
    expect(() => raw.clipGradNorm([new Float32Array(1)], -1)).toThrow(RangeError);
  });
});

describe('gradNorm and clipGradNorm', () => {
  it('return the global L2 norm over all tensors', () => {
    const rng = makeRng(7);
    const grads = [rng.normalArray(3), rng.normalArray(100_000), new Float32Array(0), rng.normalArray(17)];
    const want = gradNormReference(grads);
    expect(Math.abs(gradNorm(grads) - want) / want).toBeLessThanOrEqual(1e-12); // double accumulation
    expect(gradNorm([])).toBe(0);
  });

  it('the same norm, bit for bit, on any thread count', () => {
    const rng = makeRng(10);
    const grads = [rng.normalArray(2_500_000), rng.normalArray(777)];
    const want = gradNormReference(grads);
    const norms = [1, 2, 3].map((threads) => {
      runtime().setNumThreads(threads);
      return gradNorm(grads);
    });
    runtime().setNumThreads(0);
    expect(norms[1]).toBe(norms[0]);
    expect(norms[2]).toBe(norms[0]);
    expect(Math.abs(norms[0] - want) / want).toBeLessThanOrEqual(1e-12);
    const big = grads.map((g) => g.slice());
    const ref = clipReference(big, 10);
    expect(clipGradNorm(big, 10)).toBe(norms[0]);
    big.forEach((g, i) => expectClose(g, ref.clipped[i], `clipped[${i}]`, 1e-6));
  });

  it('scale in place by maxNorm / (norm + 1e-6) above the threshold', () => {
    const rng = makeRng(8);
    const grads = [rng.normalArray(1000, 2), rng.normalArray(50_000, 2)];
    const ref = clipReference(grads, 1);
    const norm = clipGradNorm(grads, 1);
    expect(Math.abs(norm - ref.norm) / ref.norm).toBeLessThanOrEqual(1e-12);
    grads.forEach((g, i) => expectClose(g, ref.clipped[i], `grads[${i}]`, 1e-6));
    expect(Math.abs(gradNorm(grads) - 1)).toBeLessThanOrEqual(1e-5);
  });

  it('leave gradients untouched at or below the threshold', () => {
    const g = new Float32Array([3, 4]); // norm 5
    expect(clipGradNorm([g], 5)).toBe(5);
    expect(Array.from(g)).toEqual([3, 4]);
    expect(clipGradNorm([g], 100)).toBe(5);
    expect(Array.from(g)).toEqual([3, 4]);
    expect(clipGradNorm([g], 1)).toBe(5);
    expect(Array.from(g, (x) => Number(x.toFixed(6)))).toEqual([0.6, 0.8]);
  });

  it('a NaN gradient gives a NaN norm and no scaling', () => {
    const g = new Float32Array([3, NaN]);
    expect(clipGradNorm([g], 1)).toBeNaN();
    expect(g[0]).toBe(3);
  });

  it('bad inputs → errors naming the argument', () => {
    expect(() => gradNorm(new Float32Array(3) as unknown as Float32Array[])).toThrow(/Expected Array of Float32Array for grads/);
    expect(() => gradNorm([new Float32Array(3), [1, 2] as unknown as Float32Array])).toThrow(/for grads\[1\] but received Array of length 2/);
    expect(() => clipGradNorm([new Float32Array(3)], -1)).toThrow(/for maxNorm/);
    expect(() => clipGradNorm([new Float32Array(3)], NaN)).toThrow(TypeError);
  });
});
