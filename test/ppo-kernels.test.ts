// The PPO kernels against the float64 reference (test/reference/ppo-reference.ts), against
// central finite differences, on hand-worked cases, and on bad inputs.
import { describe, expect, it } from 'vitest';
import { ppoBinding } from '../src/rlhf/native-ppo.js';
import {
  gae, klPenaltyRewards, maskedWhiten, PPO_LOSS_DEFAULTS, ppoLoss, tokenLogprobs, tokenLogprobsBackward,
} from '../src/rlhf/ppo-kernels.js';
import { makeRng, type TestRng } from './helpers/rng.js';
import * as ref from './reference/ppo-reference.js';

// ---- helpers --------------------------------------------------------------------------------

/** Fails with the worst index when any |a − e| > abs + rel·|e|. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, abs: number, rel: number, what: string) {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (abs + rel * Math.abs(expected[i]));
    if (!(excess <= worstExcess)) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  if (worst >= 0) {
    expect.fail(`${what}: index ${worst}: got ${actual[worst]}, expected ${expected[worst]} (abs ${abs}, rel ${rel})`);
  }
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/**
 * A [B,T] 0/1 mask shaped like a padded batch: each row has `left` zeros (left padding, as in
 * left-padded queries), then ones, then `right` zeros (right padding after the response); every
 * row keeps at least one 1.
 */
function paddedMask(rng: TestRng, B: number, T: number): Uint8Array {
  const m = new Uint8Array(B * T);
  for (let b = 0; b < B; b++) {
    const left = rng.int(Math.ceil(T / 2));
    const right = rng.int(Math.max(1, T - left - 1));
    for (let t = left; t < T - right; t++) m[b * T + t] = 1;
  }
  return m;
}

function randomTargets(rng: TestRng, n: number, V: number, skipEvery = 5): Int32Array {
  const t = new Int32Array(n);
  for (let i = 0; i < n; i++) t[i] = i % skipEvery === skipEvery - 1 ? -1 : rng.int(V);
  return t;
}

const f32 = (a: ArrayLike<number>) => Float32Array.from(a);

// ---- token log-probs: forward ------------------------------------------------------------------

describe('tokenLogprobs (forward) vs the float64 reference', () => {
  const cases = [
    { B: 3, T: 7, V: 61, temperature: 1, scale: 3 },
    { B: 1, T: 1, V: 1, temperature: 1, scale: 1 },
    { B: 1, T: 1, V: 2, temperature: 1, scale: 1 },
    { B: 2, T: 5, V: 97, temperature: 1.9, scale: 20 },
    { B: 2, T: 3, V: 4133, temperature: 0.7, scale: 5 }, // three 2048-wide chunks of the online max
    { B: 2, T: 2, V: 50304, temperature: 1, scale: 2 }, // Pythia's vocabulary
  ];
  for (const c of cases) {
    it(`B=${c.B} T=${c.T} V=${c.V} temperature=${c.temperature}`, async () => {
      const rng = makeRng(c.B * 131 + c.T * 17 + c.V);
      const logits = rng.normalArray(c.B * c.T * c.V, c.scale);
      const targets = randomTargets(rng, c.B * c.T, c.V);
      if (c.B * c.T === 1) targets[0] = c.V - 1;
      const got = await tokenLogprobs(logits, targets, c, { temperature: c.temperature });
      const want = ref.refTokenLogprobs(logits, targets, c.B, c.T, c.V, c.temperature);
      // measured: logp and lse within ~3e-7 relative, entropy within ~6e-7 absolute (float32 sums)
      expectClose(got.logp, want.logp, 2e-6, 5e-7, 'logp');
      expectClose(got.entropy, want.entropy, 2e-6, 1e-6, 'entropy');
      expectClose(got.lse, want.lse, 2e-6, 5e-7, 'lse');
      for (let i = 0; i < targets.length; i++) {
        if (targets[i] === -1) expect([got.logp[i], got.entropy[i], got.lse[i]]).toEqual([0, 0, 0]);
      }
    });
  }

  it('merges chunks whichever holds the maximum (rising and falling rows, V=5000)', async () => {
    const V = 5000;
    const logits = new Float32Array(2 * V);
    for (let v = 0; v < V; v++) {
      logits[v] = (30 * v) / V; // max in the last chunk: the running max moves up at every chunk
      logits[V + v] = 30 - (30 * v) / V; // max in the first chunk
    }
    const targets = new Int32Array([4999, 17]);
    const got = await tokenLogprobs(logits, targets, { B: 1, T: 2, V });
    const want = ref.refTokenLogprobs(logits, targets, 1, 2, V);
    expectClose(got.logp, want.logp, 2e-6, 5e-7, 'logp');
    expectClose(got.entropy, want.entropy, 2e-6, 1e-6, 'entropy');
  });

  it('V=1 gives logp 0 and entropy 0; uniform logits give entropy log V', async () => {
    const one = await tokenLogprobs(f32([3.5]), new Int32Array([0]), { B: 1, T: 1, V: 1 });
    expect(one.logp[0]).toBe(0);
    expect(one.entropy[0]).toBe(0);
    expect(one.lse[0]).toBeCloseTo(3.5, 6);
    const V = 1000;
    const u = await tokenLogprobs(new Float32Array(V).fill(-2), new Int32Array([3]), { B: 1, T: 1, V });
    expect(u.logp[0]).toBeCloseTo(-Math.log(V), 5);
    expect(u.entropy[0]).toBeCloseTo(Math.log(V), 5);
  });

  it('accepts −Infinity logits (p = 0 there)', async () => {
    const logits = f32([0, -Infinity, 1, -Infinity, 2, 0.5]);
    const targets = new Int32Array([2, 0]); // the second target's logit is −Infinity
    const got = await tokenLogprobs(logits, targets, { B: 1, T: 2, V: 3 });
    const want = ref.refTokenLogprobs(logits, targets, 1, 2, 3);
    expectClose(got.logp.subarray(0, 1), want.logp.subarray(0, 1), 1e-6, 1e-6, 'logp');
    expect(got.logp[1]).toBe(-Infinity);
    expectClose(got.entropy, want.entropy, 1e-6, 1e-6, 'entropy');
  });

  it('reports NaN and +Infinity in logits as a RangeError naming logits and the flat index', async () => {
    const V = 3000;
    const logits = makeRng(5).normalArray(2 * 3 * V);
    const targets = new Int32Array(6);
    logits[4 * V + 2500] = NaN;
    logits[5 * V + 7] = NaN;
    await expect(tokenLogprobs(logits, targets, { B: 2, T: 3, V })).rejects.toThrow(RangeError);
    await expect(tokenLogprobs(logits, targets, { B: 2, T: 3, V }))
      .rejects.toThrow(new RegExp(`for logits but received NaN at index ${4 * V + 2500}$`));
    logits[4 * V + 2500] = 0;
    logits[5 * V + 7] = 0;
    logits[V + 1] = Infinity;
    await expect(tokenLogprobs(logits, targets, { B: 2, T: 3, V }))
      .rejects.toThrow(new RegExp(`for logits but received Infinity at index ${V + 1}$`));
  });

  it('does not read (nor check) the logits of skipped positions', async () => {
    const logits = f32([1, 2, NaN, NaN, 0, 1]);
    const got = await tokenLogprobs(logits, new Int32Array([0, -1, 1]), { B: 1, T: 3, V: 2 });
    expect(got.logp[1]).toBe(0);
    expect(got.logp[2]).toBeCloseTo(-Math.log(1 + Math.exp(-1)), 6);
  });

  it('two calls in flight at once give the same results as one after the other', async () => {
    const rng = makeRng(41);
    const shape = { B: 4, T: 8, V: 3001 };
    const a = rng.normalArray(4 * 8 * 3001, 2);
    const b = rng.normalArray(4 * 8 * 3001, 2);
    const ta = randomTargets(rng, 32, 3001);
    const tb = randomTargets(rng, 32, 3001);
    const [ra, rb] = await Promise.all([tokenLogprobs(a, ta, shape), tokenLogprobs(b, tb, shape)]);
    const sa = await tokenLogprobs(a, ta, shape);
    const sb = await tokenLogprobs(b, tb, shape);
    expect(Array.from(ra.logp)).toEqual(Array.from(sa.logp));
    expect(Array.from(rb.entropy)).toEqual(Array.from(sb.entropy));
  });

  it('rejects a row of only −Infinity', async () => {
    await expect(tokenLogprobs(f32([0, 1, -Infinity, -Infinity]), new Int32Array([0, 0]), { B: 1, T: 2, V: 2 }))
      .rejects.toThrow(/row of -Infinity at row 1/);
  });
});

// ---- token log-probs: backward -----------------------------------------------------------------

describe('tokenLogprobsBackward vs the float64 reference', () => {
  const cases = [
    { B: 3, T: 7, V: 61, temperature: 1, entropy: false },
    { B: 3, T: 7, V: 61, temperature: 1.3, entropy: true },
    { B: 1, T: 1, V: 1, temperature: 1, entropy: true },
    { B: 2, T: 3, V: 4133, temperature: 0.7, entropy: true },
  ];
  for (const c of cases) {
    it(`B=${c.B} T=${c.T} V=${c.V} temperature=${c.temperature} dentropy=${c.entropy}, into out and in place`, async () => {
      const rng = makeRng(c.B * 7 + c.T * 3 + c.V + (c.entropy ? 1 : 0));
      const shape = { B: c.B, T: c.T, V: c.V };
      const logits = rng.normalArray(c.B * c.T * c.V, 3);
      const targets = randomTargets(rng, c.B * c.T, c.V, 4);
      const dlogp = rng.normalArray(c.B * c.T);
      if (dlogp.length > 2) dlogp[1] = 0; // a row with no gradient (still written as 0)
      const dentropy = c.entropy ? rng.normalArray(c.B * c.T) : undefined;
      if (dentropy && dentropy.length > 2) dentropy[1] = 0;
      const { lse } = await tokenLogprobs(logits, targets, shape, { temperature: c.temperature });
      const out = new Float32Array(logits.length).fill(NaN); // every entry must be written
      const got = await tokenLogprobsBackward(logits, targets, lse, dlogp, shape, { dentropy, temperature: c.temperature, out });
      expect(got).toBe(out);
      const want = ref.refTokenLogprobsBackward(logits, targets, dlogp, dentropy ?? null, c.B, c.T, c.V, c.temperature);
      // float32: lse arrives rounded (~1e-6 absolute at |lse| ~ 15), so ~1e-6 relative per entry
      expectClose(got, want, 1e-7, 5e-6, 'dlogits (per entry)');
      expectClose(got, want, 1e-5 * maxAbs(want), 0, 'dlogits (relative to the largest)');
      // in place: the logits buffer becomes its own gradient, identical to the separate output
      const inPlace = logits.slice();
      const got2 = await tokenLogprobsBackward(inPlace, targets, lse, dlogp, shape, { dentropy, temperature: c.temperature, out: inPlace });
      expect(got2).toBe(inPlace);
      expect(Array.from(inPlace)).toEqual(Array.from(out));
      // without out: a fresh array
      const fresh = await tokenLogprobsBackward(logits, targets, lse, dlogp, shape, { dentropy, temperature: c.temperature });
      expect(Array.from(fresh)).toEqual(Array.from(out));
    });
  }

  it('skipped rows and rows with zero upstream gradient are exact zeros', async () => {
    const V = 5;
    const logits = makeRng(9).normalArray(3 * V);
    const targets = new Int32Array([1, -1, 2]);
    const { lse } = await tokenLogprobs(logits, targets, { B: 1, T: 3, V });
    const g = await tokenLogprobsBackward(logits, targets, lse, f32([0, 1, 0]), { B: 1, T: 3, V }, { dentropy: f32([0, 1, 0]) });
    expect(Array.from(g)).toEqual(new Array(3 * V).fill(0));
    // rows sum to 0 (softmax gradient) when dentropy is absent
    const h = await tokenLogprobsBackward(logits, targets, lse, f32([1, 1, -2]), { B: 1, T: 3, V });
    for (const r of [0, 2]) {
      let s = 0;
      for (let v = 0; v < V; v++) s += h[r * V + v];
      expect(Math.abs(s)).toBeLessThan(1e-6);
    }
  });
});

describe('token log-prob gradients vs central finite differences', () => {
  const B = 1, T = 3, V = 7;
  const rng = makeRng(77);
  const logits = rng.normalArray(B * T * V, 1.5);
  const targets = new Int32Array([2, -1, 6]);
  const dlogp = f32([0.7, 0.3, -1.1]);
  const dentropy = f32([0.4, -0.2, 0.9]);

  it('float64 reference: analytic backward = finite differences (h 1e-5)', () => {
    for (const temperature of [1, 0.6]) {
      const objective = (x: Float64Array) => {
        const { logp, entropy } = ref.refTokenLogprobs(x, targets, B, T, V, temperature);
        let s = 0;
        for (let r = 0; r < B * T; r++) s += dlogp[r] * logp[r] + dentropy[r] * entropy[r];
        return s;
      };
      const analytic = ref.refTokenLogprobsBackward(logits, targets, dlogp, dentropy, B, T, V, temperature);
      const x64 = Float64Array.from(logits);
      const fd = Array.from({ length: x64.length }, (_, i) => ref.centralDiff(objective, x64, i, 1e-5));
      expectClose(analytic, fd, 1e-8, 1e-7, `reference dlogits, temperature ${temperature}`);
    }
  });

  it('native: dlogits = finite differences of the native forward (float32, h 1e-2)', async () => {
    const temperature = 1.3;
    const shape = { B, T, V };
    const objective = async (x: Float32Array) => {
      const { logp, entropy } = await tokenLogprobs(x, targets, shape, { temperature });
      let s = 0;
      for (let r = 0; r < B * T; r++) s += dlogp[r] * logp[r] + dentropy[r] * entropy[r];
      return s;
    };
    const { lse } = await tokenLogprobs(logits, targets, shape, { temperature });
    const g = await tokenLogprobsBackward(logits, targets, lse, dlogp, shape, { dentropy, temperature });
    // float32 outputs (~5e-7 absolute) over a step of 2e-2 and an O(h²) truncation: ~1e-4 each
    for (let i = 0; i < logits.length; i++) {
      const xp = logits.slice();
      const xm = logits.slice();
      xp[i] += 1e-2;
      xm[i] -= 1e-2;
      const fd = ((await objective(xp)) - (await objective(xm))) / (xp[i] - xm[i]);
      expect(Math.abs(g[i] - fd), `dlogits[${i}]: native ${g[i]} vs finite difference ${fd}`).toBeLessThan(5e-4);
    }
  });
});

// ---- rewards ----------------------------------------------------------------------------------

describe('klPenaltyRewards', () => {
  for (const [B, T] of [[3, 7], [1, 1], [5, 13]]) {
    for (const kind of ['kl', 'abs', 'mse'] as const) {
      it(`B=${B} T=${T} kind=${kind} vs the reference`, () => {
        const rng = makeRng(B * 100 + T + kind.length);
        const logp = rng.normalArray(B * T);
        const logpRef = rng.normalArray(B * T);
        const mask = paddedMask(rng, B, T);
        const scores = rng.normalArray(B, 3);
        const got = klPenaltyRewards(logp, logpRef, mask, scores, { B, T }, { klCoef: 0.37, kind });
        const want = ref.refKlPenaltyRewards(logp, logpRef, mask, scores, B, T, 0.37, kind);
        expectClose(got.rewards, want.rewards, 1e-6, 1e-6, 'rewards');
        expectClose(got.kl, want.kl, 1e-6, 1e-6, 'kl');
      });
    }
  }

  it('hand case: the score lands on the last position where mask = 1', () => {
    // row 0: mask [0,1,1,0] → last 1 at t = 2; row 1: mask [1,1,1,1] → t = 3.
    // d = logp − logpRef = 0.5 everywhere; β = 0.2 → −β·d = −0.1 at masked positions, 0 elsewhere.
    const logp = f32([-1, -1, -1, -1, -2, -2, -2, -2]);
    const logpRef = f32([-1.5, -1.5, -1.5, -1.5, -2.5, -2.5, -2.5, -2.5]);
    const mask = new Uint8Array([0, 1, 1, 0, 1, 1, 1, 1]);
    const { rewards, kl } = klPenaltyRewards(logp, logpRef, mask, f32([3, -1]), { B: 2, T: 4 }, { klCoef: 0.2 });
    // row 0: [0, −0.1, −0.1 + 3, 0]; row 1: [−0.1, −0.1, −0.1, −0.1 − 1]
    expectClose(rewards, [0, -0.1, 2.9, 0, -0.1, -0.1, -0.1, -1.1], 1e-7, 1e-6, 'rewards');
    expectClose(kl, [0, 0.5, 0.5, 0, 0.5, 0.5, 0.5, 0.5], 0, 0, 'kl');
  });

  it('accepts a Float32Array 0/1 mask like the Uint8Array one', () => {
    const rng = makeRng(3);
    const logp = rng.normalArray(6);
    const logpRef = rng.normalArray(6);
    const m8 = new Uint8Array([0, 1, 1, 1, 1, 0]);
    const a = klPenaltyRewards(logp, logpRef, m8, f32([1, 2]), { B: 2, T: 3 }, { klCoef: 0.1, kind: 'abs' });
    const b = klPenaltyRewards(logp, logpRef, Float32Array.from(m8), f32([1, 2]), { B: 2, T: 3 }, { klCoef: 0.1, kind: 'abs' });
    expect(Array.from(b.rewards)).toEqual(Array.from(a.rewards));
  });

  it('rejects a row without any 1 in its mask (its score would be lost)', () => {
    expect(() => klPenaltyRewards(f32([0, 0, 0, 0]), f32([0, 0, 0, 0]), new Uint8Array([1, 0, 0, 0]), f32([1, 1]), { B: 2, T: 2 }, { klCoef: 0.1 }))
      .toThrow(/for mask but received row 1 of zeros/);
  });
});

// ---- GAE --------------------------------------------------------------------------------------

describe('gae', () => {
  for (const [B, T, gamma, lam] of [[3, 7, 1, 0.95], [1, 1, 1, 0.95], [5, 13, 0.99, 0.9], [2, 9, 0.5, 0]]) {
    it(`B=${B} T=${T} γ=${gamma} λ=${lam} vs the reference`, () => {
      const rng = makeRng(B * 1000 + T * 10 + lam * 100);
      const rewards = rng.normalArray(B * T);
      const values = rng.normalArray(B * T);
      const mask = paddedMask(rng, B, T);
      const got = gae(rewards, values, mask, { B, T }, { gamma, lam });
      const want = ref.refGae(rewards, values, mask, B, T, gamma, lam);
      expectClose(got.advantages, want.advantages, 2e-6, 1e-6, 'advantages');
      expectClose(got.returns, want.returns, 2e-6, 1e-6, 'returns');
    });
  }

  it('hand case 1×3, γ = 1, λ = 0.95', () => {
    // r = [1, 0, 2], v = [0.5, 1, 1.5]
    // t=2: delta = 2 + 0 − 1.5 = 0.5;    A2 = 0.5;                  R2 = 0.5 + 1.5 = 2
    // t=1: delta = 0 + 1.5 − 1 = 0.5;    A1 = 0.5 + 0.95·0.5 = 0.975;  R1 = 1.975
    // t=0: delta = 1 + 1 − 0.5 = 1.5;    A0 = 1.5 + 0.95·0.975 = 2.42625; R0 = 2.92625
    const { advantages, returns } = gae(f32([1, 0, 2]), f32([0.5, 1, 1.5]), new Uint8Array([1, 1, 1]), { B: 1, T: 3 });
    expectClose(advantages, [2.42625, 0.975, 0.5], 1e-6, 0, 'advantages');
    expectClose(returns, [2.92625, 1.975, 2], 1e-6, 0, 'returns');
  });

  it('hand case with padding: masked rewards and values count as 0 (TRL)', () => {
    // mask [0,1,1,0]; r·m = [0, 1, 2, 0], v·m = [0, 0.5, 1, 0]; γ = 1, λ = 0.5
    // t=3: delta = 0;                     A3 = 0;      R3 = 0
    // t=2: delta = 2 + 0 − 1 = 1;         A2 = 1;      R2 = 2
    // t=1: delta = 1 + 1 − 0.5 = 1.5;     A1 = 1.5 + 0.5·1 = 2;  R1 = 2.5
    // t=0: delta = 0 + 0.5 − 0 = 0.5;     A0 = 0.5 + 0.5·2 = 1.5; R0 = 1.5 (masked, as TRL leaves it)
    const { advantages, returns } = gae(f32([9, 1, 2, 9]), f32([9, 0.5, 1, 9]), new Uint8Array([0, 1, 1, 0]), { B: 1, T: 4 }, { lam: 0.5 });
    expectClose(advantages, [1.5, 2, 1, 0], 1e-6, 0, 'advantages');
    expectClose(returns, [1.5, 2.5, 2, 0], 1e-6, 0, 'returns');
  });
});

// ---- whitening --------------------------------------------------------------------------------

describe('maskedWhiten', () => {
  it('hand case [1, 2, 3, 4]', () => {
    // mean 2.5; Σ(x − mean)² = 2.25 + 0.25 + 0.25 + 2.25 = 5; unbiased var = 5/3;
    // rsqrt(5/3 + 1e-8) = 0.7745966668 → [−1.161895, −0.387298, 0.387298, 1.161895]
    const x = f32([1, 2, 3, 4]);
    const m = new Uint8Array([1, 1, 1, 1]);
    expectClose(maskedWhiten(x, m), [-1.161895, -0.387298, 0.387298, 1.161895], 1e-6, 0, 'whitened');
    // shiftMean false adds 2.5 back
    expectClose(maskedWhiten(x, m, { shiftMean: false }), [1.338105, 2.112702, 2.887298, 3.661895], 1e-6, 0, 'shiftMean false');
  });

  it('ignores masked entries and writes 0 there', () => {
    // [1, 100, 2, 3, 4, −50] with those two masked out whitens like [1, 2, 3, 4]
    const got = maskedWhiten(f32([1, 100, 2, 3, 4, -50]), new Uint8Array([1, 0, 1, 1, 1, 0]));
    expectClose(got, [-1.161895, 0, -0.387298, 0.387298, 1.161895, 0], 1e-6, 0, 'whitened');
  });

  for (const [n, shiftMean] of [[21, true], [2, true], [97, false]] as const) {
    it(`n=${n} shiftMean=${shiftMean} vs the reference`, () => {
      const rng = makeRng(n);
      const x = rng.normalArray(n, 4);
      for (let i = 0; i < n; i++) x[i] += 3;
      const mask = paddedMask(rng, 1, n);
      mask[0] = 1;
      mask[n - 1] = 1;
      expectClose(maskedWhiten(x, mask, { shiftMean }), ref.refMaskedWhiten(x, mask, shiftMean), 1e-6, 1e-6, 'whitened');
    });
  }

  it('needs at least two 1s in the mask', () => {
    expect(() => maskedWhiten(f32([1, 2, 3]), new Uint8Array([0, 1, 0]))).toThrow(RangeError);
    expect(() => maskedWhiten(f32([1, 2, 3]), new Uint8Array([0, 1, 0]))).toThrow(/Expected at least 2 entries of 1 .* for mask but received 1/);
    expect(() => ppoBinding().ppoMaskedWhiten(f32([1, 2, 3]), new Uint8Array([0, 0, 0]), true, new Float32Array(3)))
      .toThrow(/for mask but received 0/);
  });
});

// ---- PPO loss ---------------------------------------------------------------------------------

/** Random PPO inputs whose ratios, values and ties all stay at least 0.02 from a kink. */
function ppoInputs(rng: TestRng, B: number, T: number) {
  const n = B * T;
  const I = {
    logp: new Float32Array(n), oldLogp: new Float32Array(n), values: new Float32Array(n), oldValues: new Float32Array(n),
    advantages: new Float32Array(n), returns: new Float32Array(n), mask: paddedMask(rng, B, T), entropy: rng.uniformArray(n, 0, 5),
  };
  const cr = 0.2;
  for (let i = 0; i < n; i++) {
    let d: number, A: number, v: number, ov: number, R: number;
    for (;;) {
      d = (rng.next() - 0.5) * 1.2;
      A = rng.normal();
      const r = Math.exp(d);
      if (Math.abs(r - (1 - cr)) > 0.02 && Math.abs(r - (1 + cr)) > 0.02 && Math.abs(A) > 0.05) break;
    }
    for (;;) {
      ov = rng.normal();
      v = ov + (rng.next() - 0.5);
      R = v + rng.normal();
      const vc = Math.min(Math.max(v, ov - cr), ov + cr);
      if (Math.abs(Math.abs(v - ov) - cr) > 0.02 && (vc === v || Math.abs(Math.abs(v - R) - Math.abs(vc - R)) > 0.02)) break;
    }
    I.oldLogp[i] = -1 - 4 * rng.next();
    I.logp[i] = I.oldLogp[i] + d;
    I.advantages[i] = A;
    I.values[i] = v;
    I.oldValues[i] = ov;
    I.returns[i] = R;
  }
  return I;
}

const STAT_KEYS = ['loss', 'pgLoss', 'vfLoss', 'pgClipfrac', 'vfClipfrac', 'approxkl', 'policykl', 'ratioMean', 'entropy'] as const;

describe('ppoLoss vs the float64 reference', () => {
  for (const [B, T] of [[3, 7], [1, 1], [4, 16]]) {
    it(`B=${B} T=${T}`, () => {
      const rng = makeRng(B * 31 + T);
      const inp = ppoInputs(rng, B, T);
      const got = ppoLoss(inp, { B, T });
      const want = ref.refPpoLoss(inp);
      for (const k of STAT_KEYS) expect(got.stats[k], k).toBeCloseTo(want[k] as number, 9);
      expect(got.stats.skipped).toBe(false);
      const g = ref.refPpoLossGrad(inp);
      expectClose(got.dlogp, g.dlogp, 1e-9, 1e-6, 'dlogp');
      expectClose(got.dvalues, g.dvalues, 1e-9, 1e-6, 'dvalues');
      for (let i = 0; i < B * T; i++) {
        if (!inp.mask[i]) expect([got.dlogp[i], got.dvalues[i]]).toEqual([0, 0]);
      }
    });
  }

  it('non-default config, no entropy given', () => {
    const rng = makeRng(99);
    const inp = ppoInputs(rng, 3, 5);
    const cfg = { cliprange: 0.1, clipRangeValue: 0.5, vfCoef: 0.7, ratioThreshold: 3 };
    const { entropy: _unused, ...noEntropy } = inp;
    const got = ppoLoss(noEntropy, { B: 3, T: 5 }, cfg);
    const want = ref.refPpoLoss(noEntropy, cfg);
    for (const k of STAT_KEYS.filter((x) => x !== 'entropy')) expect(got.stats[k], k).toBeCloseTo(want[k] as number, 9);
    expect('entropy' in got.stats).toBe(false);
    const g = ref.refPpoLossGrad(noEntropy, cfg);
    expectClose(got.dlogp, g.dlogp, 1e-9, 1e-6, 'dlogp');
    expectClose(got.dvalues, g.dvalues, 1e-9, 1e-6, 'dvalues');
  });

  it('PPO_LOSS_DEFAULTS are TRL 0.7\'s', () => {
    expect(PPO_LOSS_DEFAULTS).toEqual({ cliprange: 0.2, clipRangeValue: 0.2, vfCoef: 0.1, ratioThreshold: 10 });
  });
});

describe('ppoLoss hand cases', () => {
  const one = (logp: number, A: number, v: number, R: number) => ({
    logp: f32([logp]), oldLogp: f32([0]), values: f32([v]), oldValues: f32([0]),
    advantages: f32([A]), returns: f32([R]), mask: new Uint8Array([1]),
  });

  it('clipped ratio and clipped value: gradients 0', () => {
    // ratio = exp(ln 1.5) = 1.5, A = 1: pg1 = −1.5, pg2 = −1·clip(1.5, 0.8, 1.2) = −1.2 → max = pg2 (clipped), d/dlogp = 0
    // v = 0.5, old 0, R = 1: vclip = 0.2; vf1 = 0.25, vf2 = 0.64 → max = vf2, vf_loss = 0.32, d/dv = 0
    // loss = −1.2 + 0.1·0.32 = −1.168; approxkl = ½·ln(1.5)² = 0.0822013; policykl = −ln 1.5 = −0.4054651
    const { stats, dlogp, dvalues } = ppoLoss(one(Math.log(1.5), 1, 0.5, 1), { B: 1, T: 1 });
    expect(stats.pgLoss).toBeCloseTo(-1.2, 6);
    expect(stats.vfLoss).toBeCloseTo(0.32, 6);
    expect(stats.loss).toBeCloseTo(-1.168, 6);
    expect(stats.pgClipfrac).toBe(1);
    expect(stats.vfClipfrac).toBe(1);
    expect(stats.approxkl).toBeCloseTo(0.0822013, 6);
    expect(stats.policykl).toBeCloseTo(-0.4054651, 6);
    expect(stats.ratioMean).toBeCloseTo(1.5, 6);
    expect(dlogp[0]).toBe(0);
    expect(dvalues[0]).toBe(0);
  });

  it('unclipped: the gradients of pg1 and vf1', () => {
    // ratio 1.5, A = −1: pg1 = 1.5, pg2 = 1.2 → max = pg1, d/dlogp = −A·ratio = 1.5
    // v = 0.1, old 0, R = 1: vclip = 0.1 = v, vf1 = vf2 = 0.81 (tie → vf1), vf_loss = 0.405,
    // d/dv = vf_coef·½·2(v − R) = 0.1·(−0.9) = −0.09; loss = 1.5 + 0.0405 = 1.5405
    const { stats, dlogp, dvalues } = ppoLoss(one(Math.log(1.5), -1, 0.1, 1), { B: 1, T: 1 });
    expect(stats.loss).toBeCloseTo(1.5405, 6);
    expect(stats.pgClipfrac).toBe(0);
    expect(stats.vfClipfrac).toBe(0);
    expect(dlogp[0]).toBeCloseTo(1.5, 6);
    expect(dvalues[0]).toBeCloseTo(-0.09, 7);
  });

  it('both tokens together plus a masked one: means over the two', () => {
    // pg_loss = (−1.2 + 1.5)/2 = 0.15; vf_loss = ½·(0.64 + 0.81)/2 = 0.3625; loss = 0.15 + 0.03625 = 0.18625
    // dlogp = [0, 1.5/2, 0]; dvalues = [0, −0.09/2, 0]; clip fractions ½
    const inp = {
      logp: f32([Math.log(1.5), Math.log(1.5), 7]), oldLogp: f32([0, 0, -3]), values: f32([0.5, 0.1, 4]),
      oldValues: f32([0, 0, -4]), advantages: f32([1, -1, 5]), returns: f32([1, 1, 9]), mask: new Uint8Array([1, 1, 0]),
    };
    const { stats, dlogp, dvalues } = ppoLoss(inp, { B: 1, T: 3 });
    expect(stats.pgLoss).toBeCloseTo(0.15, 6);
    expect(stats.vfLoss).toBeCloseTo(0.3625, 6);
    expect(stats.loss).toBeCloseTo(0.18625, 6);
    expect(stats.pgClipfrac).toBe(0.5);
    expect(stats.vfClipfrac).toBe(0.5);
    expectClose(dlogp, [0, 0.75, 0], 1e-7, 0, 'dlogp');
    expectClose(dvalues, [0, -0.045, 0], 1e-8, 0, 'dvalues');
  });

  it('ratio mean above ratioThreshold zeroes loss, pgLoss, vfLoss and the gradients', () => {
    // ratio = 12 > 10: TRL multiplies the three losses by 0; other statistics stay
    const inp = one(Math.log(12), -1, 0.1, 1);
    const { stats, dlogp, dvalues } = ppoLoss(inp, { B: 1, T: 1 });
    expect(stats.skipped).toBe(true);
    expect([stats.loss, stats.pgLoss, stats.vfLoss]).toEqual([0, 0, 0]);
    expect(stats.ratioMean).toBeCloseTo(12, 5);
    expect(stats.policykl).toBeCloseTo(-Math.log(12), 6);
    expect([dlogp[0], dvalues[0]]).toEqual([0, 0]);
    // the same input under a higher threshold is not skipped
    const kept = ppoLoss(inp, { B: 1, T: 1 }, { ratioThreshold: 13 });
    expect(kept.stats.skipped).toBe(false);
    expect(kept.dlogp[0]).toBeCloseTo(12, 5);
  });
});

describe('ppoLoss gradients vs central finite differences', () => {
  const B = 2, T = 8;
  const rng = makeRng(2024);
  const inp = ppoInputs(rng, B, T);

  it('has clipped and unclipped tokens', () => {
    const s = ref.refPpoLoss(inp);
    expect(s.pgClipfrac).toBeGreaterThan(0);
    expect(s.pgClipfrac).toBeLessThan(1);
    expect(s.vfClipfrac).toBeGreaterThan(0);
    expect(s.vfClipfrac).toBeLessThan(1);
  });

  it('float64 reference (h 1e-6)', () => {
    const g = ref.refPpoLossGrad(inp);
    const lossOf = (key: 'logp' | 'values') => (x: Float64Array) => ref.refPpoLoss({ ...inp, [key]: x }).loss;
    for (const key of ['logp', 'values'] as const) {
      const fd = Array.from({ length: B * T }, (_, i) => ref.centralDiff(lossOf(key), inp[key], i, 1e-6));
      expectClose(key === 'logp' ? g.dlogp : g.dvalues, fd, 1e-8, 1e-6, `reference d${key}`);
    }
  });

  it('native dlogp and dvalues (h 1e-3 on the float32 inputs; the loss itself is float64)', () => {
    const { dlogp, dvalues } = ppoLoss(inp, { B, T });
    for (const key of ['logp', 'values'] as const) {
      const grad = key === 'logp' ? dlogp : dvalues;
      for (let i = 0; i < B * T; i++) {
        const xp = inp[key].slice();
        const xm = inp[key].slice();
        xp[i] += 1e-3;
        xm[i] -= 1e-3;
        const fd = (ppoLoss({ ...inp, [key]: xp }, { B, T }).stats.loss - ppoLoss({ ...inp, [key]: xm }, { B, T }).stats.loss) / (xp[i] - xm[i]);
        expect(Math.abs(grad[i] - fd), `d${key}[${i}]: native ${grad[i]} vs finite difference ${fd}`).toBeLessThan(1e-6 + 1e-4 * Math.abs(fd));
      }
    }
  });
});

// ---- bad inputs -------------------------------------------------------------------------------

describe('bad inputs name the argument', () => {
  const shape = { B: 2, T: 3, V: 5 };
  const logits = new Float32Array(30);
  const targets = new Int32Array(6);

  it('tokenLogprobs', async () => {
    await expect(tokenLogprobs(new Float32Array(100), targets, shape))
      .rejects.toThrow(/^Expected Float32Array of shape \[2,3,5\] \(length 30\) for logits but received length 100$/);
    await expect(tokenLogprobs(new Float64Array(30) as unknown as Float32Array, targets, shape))
      .rejects.toThrow(TypeError);
    await expect(tokenLogprobs(logits, new Int32Array(5), shape)).rejects.toThrow(/for targets but received length 5/);
    await expect(tokenLogprobs(logits, Int32Array.from([0, 1, 5, 0, 0, 0]), shape))
      .rejects.toThrow(/Expected integers in \[-1, 5\) .*for targets but received 5 at index 2/);
    await expect(tokenLogprobs(logits, Int32Array.from([0, -2, 0, 0, 0, 0]), shape)).rejects.toThrow(/targets but received -2 at index 1/);
    await expect(tokenLogprobs(logits, targets, { B: 2, T: 0, V: 5 })).rejects.toThrow(/shape\.T/);
    await expect(tokenLogprobs(logits, targets, { B: 2, T: 3 } as never)).rejects.toThrow(/shape\.V/);
    await expect(tokenLogprobs(logits, targets, shape, { temperature: 0 })).rejects.toThrow(/for temperature/);
    await expect(tokenLogprobs(logits, targets, shape, { temperature: NaN })).rejects.toThrow(/for temperature/);
    await expect(tokenLogprobs(logits, targets, shape, { temprature: 2 } as never)).rejects.toThrow(/opts key but received string "temprature"/);
  });

  it('tokenLogprobsBackward', async () => {
    const lse = new Float32Array(6);
    const dlogp = new Float32Array(6);
    await expect(tokenLogprobsBackward(logits, targets, new Float32Array(7), dlogp, shape)).rejects.toThrow(/for lse but received length 7/);
    await expect(tokenLogprobsBackward(logits, targets, lse, f32([0, 0, NaN, 0, 0, 0]), shape)).rejects.toThrow(/for dlogp but received NaN at index 2/);
    await expect(tokenLogprobsBackward(logits, targets, lse, dlogp, shape, { dentropy: new Float32Array(2) })).rejects.toThrow(/for dentropy/);
    await expect(tokenLogprobsBackward(logits, targets, lse, dlogp, shape, { out: new Float32Array(29) })).rejects.toThrow(/for out but received length 29/);
    const buf = new Float32Array(40);
    await expect(tokenLogprobsBackward(buf.subarray(0, 30), targets, lse, dlogp, shape, { out: buf.subarray(5, 35) }))
      .rejects.toThrow(/for out but received a partly overlapping view/);
  });

  it('the small kernels', () => {
    const a = new Float32Array(6);
    const m = new Uint8Array(6).fill(1);
    const s = { B: 2, T: 3 };
    expect(() => klPenaltyRewards(a, a, m, new Float32Array(3), s, { klCoef: 0.1 })).toThrow(/shape \[2\] \(length 2\) for scores but received length 3/);
    expect(() => klPenaltyRewards(a, a, m, new Float32Array(2), s, { klCoef: -1 })).toThrow(/for klCoef/);
    expect(() => klPenaltyRewards(a, a, m, new Float32Array(2), s, { klCoef: 0.1, kind: 'full' as never })).toThrow(/for kind but received string "full"/);
    expect(() => klPenaltyRewards(a, a, m, new Float32Array(2), s, undefined as never)).toThrow(/for opts/);
    expect(() => gae(a, a, new Uint8Array([1, 2, 1, 1, 1, 1]), s)).toThrow(/for mask but received 2 at index 1/);
    expect(() => gae(a, a, new Float32Array([1, 0.5, 1, 1, 1, 1]), s)).toThrow(/for mask but received 0.5 at index 1/);
    expect(() => gae(a, a, new Int8Array(6) as never, s)).toThrow(TypeError);
    expect(() => gae(a, a, m, s, { gamma: 1.5 })).toThrow(/for gamma/);
    expect(() => gae(f32([0, 0, Infinity, 0, 0, 0]), a, m, s)).toThrow(/for rewards but received Infinity at index 2/);
    expect(() => maskedWhiten([1, 2, 3] as never, m)).toThrow(/for x but received Array/);
    expect(() => maskedWhiten(a, new Uint8Array(5))).toThrow(/length 6\) for mask but received length 5/);
  });

  it('ppoLoss', () => {
    const rng = makeRng(1);
    const inp = ppoInputs(rng, 2, 3);
    const s = { B: 2, T: 3 };
    expect(() => ppoLoss({ ...inp, oldValues: new Float32Array(5) }, s)).toThrow(/length 6\) for oldValues but received length 5/);
    expect(() => ppoLoss({ ...inp, advantages: undefined as never }, s)).toThrow(/for advantages but received undefined/);
    expect(() => ppoLoss({ ...inp, mask: new Uint8Array(6) }, s)).toThrow(/Expected at least one 1 for mask but received all zeros/);
    expect(() => ppoLoss(inp, s, { cliprange: -0.1 })).toThrow(/for cliprange/);
    expect(() => ppoLoss(inp, s, { ratioThreshold: 0 })).toThrow(/for ratioThreshold/);
    expect(() => ppoLoss(inp, s, { cliprangeValue: 0.3 } as never)).toThrow(/for cfg key but received string "cliprangeValue"/);
    expect(() => ppoLoss(inp, s, { vfCoef: '0.1' } as never)).toThrow(TypeError);
  });

  it('the raw binding throws (or rejects) instead of aborting', async () => {
    const nb = ppoBinding() as unknown as Record<string, (...args: unknown[]) => unknown>;
    const f = (n: number) => new Float32Array(n);
    // wrong lengths, wrong types, missing arguments
    expect(() => nb.ppoTokenLogprobs(f(29), new Int32Array(6), 2, 3, 5, 1, f(6), f(6), f(6)))
      .toThrow(/Expected Float32Array of length 30 for logits but received length 29/);
    expect(() => nb.ppoTokenLogprobs(f(30), new Int32Array(6), 2, 3, 5, 1, f(6), f(6))).toThrow(/for lse but received undefined/);
    expect(() => nb.ppoTokenLogprobs()).toThrow(TypeError);
    expect(() => nb.ppoTokenLogprobs(f(30), new Int32Array(6), 2, 3, 5, 0, f(6), f(6), f(6))).toThrow(/for temperature/);
    expect(() => nb.ppoTokenLogprobs(f(30), new Int32Array(6), 2 ** 31, 3, 5, 1, f(6), f(6), f(6))).toThrow(RangeError);
    expect(() => nb.ppoTokenLogprobs(f(30), new Int32Array(6), 2 ** 30, 2 ** 30, 2 ** 30, 1, f(6), f(6), f(6))).toThrow(/below 2\^53/);
    const same = f(6);
    expect(() => nb.ppoTokenLogprobs(f(30), new Int32Array(6), 2, 3, 5, 1, same, same, f(6))).toThrow(/for entropy .*|overlap logp/);
    // targets out of range are checked natively too: the promise rejects with a RangeError
    await expect(nb.ppoTokenLogprobs(f(30), Int32Array.from([0, 0, 9, 0, 0, 0]), 2, 3, 5, 1, f(6), f(6), f(6)))
      .rejects.toThrow(/for targets but received 9 at index 2/);
    await expect(nb.ppoTokenLogprobsBackward(f(30), Int32Array.from([0, 0, 0, 0, 0, -3]), f(6), f(6), null, 2, 3, 5, 1, f(30)))
      .rejects.toThrow(RangeError);
    const big = f(40);
    expect(() => nb.ppoTokenLogprobsBackward(big.subarray(0, 30), new Int32Array(6), f(6), f(6), null, 2, 3, 5, 1, big.subarray(10, 40)))
      .toThrow(/for out but received one that does/);
    const lseInOut = f(30);
    expect(() => nb.ppoTokenLogprobsBackward(f(30), new Int32Array(6), lseInOut.subarray(0, 6), f(6), null, 2, 3, 5, 1, lseInOut))
      .toThrow(/overlap lse for out/);
    expect(() => nb.ppoKlPenaltyRewards(f(6), f(6), new Uint8Array(6).fill(1), f(2), 2, 3, 0.1, 'full', f(6), f(6)))
      .toThrow(/for kind but received string "full"/);
    expect(() => nb.ppoKlPenaltyRewards(f(6), f(6), new Float32Array(6), f(2), 2, 3, 0.1, 'kl', f(6), f(6)))
      .toThrow(/Expected Uint8Array for mask but received Float32Array of length 6/);
    expect(() => nb.ppoGae(f(6), f(6), new Uint8Array([1, 1, 3, 1, 1, 1]), 2, 3, 1, 0.95, f(6), f(6)))
      .toThrow(/for mask but received 3 at index 2/);
    expect(() => nb.ppoGae(f(6), f(6), new Uint8Array(6), 2, 3, 1, 0.95, f(6))).toThrow(/for returns/);
    expect(() => nb.ppoMaskedWhiten(f(0), new Uint8Array(0), true, f(0))).toThrow(/for x but received length 0/);
    expect(() => nb.ppoLoss(f(6), f(6), f(6), f(6), f(6), f(6), new Uint8Array(6).fill(1), null, 2, 3, 0.2, 0.2, 0.1, 10, f(6)))
      .toThrow(/for dvalues but received undefined/);
    expect(() => nb.ppoLoss(f(6), f(6), f(6), f(6), f(6), f(6), new Uint8Array(6), null, 2, 3, 0.2, 0.2, 0.1, 10, f(6), f(6)))
      .toThrow(/for mask but received all zeros/);
    expect(() => nb.ppoLoss(f(6), f(6), f(6), f(6), f(6), f(6), new Uint8Array(6).fill(1), null, 2, 3, 0.2, 0.2, 0.1, -1, f(6), f(6)))
      .toThrow(/for ratioThreshold/);
  });
});
