// The SparseAutoencoder handle: encode vs forward, the SAELens weight round trip, the config
// resolver, bad inputs (TypeScript checks and the raw binding's last-line checks), the busy guard
// and disposal, and that long calls leave the event loop free.
import { describe, expect, it } from 'vitest';
import {
  SAE_DEFAULTS, SparseAutoencoder, resolveSaeConfig, saeBinding, type SaeConfig,
} from '../src/sae/index.js';
import { makeRng } from './helpers/rng.js';

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A model trained a few steps, so every parameter is away from its initial value. */
async function trained(cfg: Partial<SaeConfig> & { dIn: number; dSae: number }, seed = 1): Promise<SparseAutoencoder> {
  const sae = SparseAutoencoder.create({ ...cfg, lr: 1e-2, seed });
  const rng = makeRng(seed);
  for (let s = 0; s < 5; s++) await sae.step(rng.normalArray(16 * cfg.dIn));
  return sae;
}

const variants: { name: string; cfg: Partial<SaeConfig> }[] = [
  { name: 'tied normalised (paper)', cfg: {} },
  { name: 'untied free, x − b_dec', cfg: { tied: false, normalizeDecoder: false, applyBDecToInput: true } },
  { name: 'untied normalised', cfg: { tied: false } },
  { name: 'tied free, x − b_dec', cfg: { normalizeDecoder: false, applyBDecToInput: true } },
];

describe('encode and the weight round trip', () => {
  for (const v of variants) {
    it(`${v.name}: encode equals forward's c, over chunk boundaries and into a given buffer`, async () => {
      const d = 24;
      const n = 40;
      const sae = await trained({ dIn: d, dSae: n, ...v.cfg });
      try {
        const N = 2500; // more than one internal chunk of 1024 rows
        const x = makeRng(2).normalArray(N * d);
        const f = await sae.forward(x);
        const c = await sae.encode(x);
        expect(c.length).toBe(N * n);
        expect(maxDiff(c, f.c)).toBeLessThanOrEqual(1e-5);
        expect(c.some((v) => v > 0)).toBe(true);
        const out = new Float32Array(N * n).fill(NaN);
        expect(await sae.encode(x, out)).toBe(out);
        expect(maxDiff(out, c)).toBe(0);
      } finally {
        sae.dispose();
      }
    });

    it(`${v.name}: fromWeights(weights()) gives the same weights and forward, bit for bit`, async () => {
      const d = 17;
      const n = 29;
      const sae = await trained({ dIn: d, dSae: n, ...v.cfg });
      const loaded = SparseAutoencoder.fromWeights(sae.config, sae.weights());
      try {
        const x = makeRng(3).normalArray(9 * d);
        const a = await sae.forward(x);
        const b = await loaded.forward(x);
        expect(maxDiff(a.xHat, b.xHat)).toBe(0);
        expect(maxDiff(a.c, b.c)).toBe(0);
        expect(b.metrics).toEqual(a.metrics);
        const wa = sae.weights();
        const wb = loaded.weights();
        for (const k of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) expect(maxDiff(wa[k], wb[k])).toBe(0);
        expect(loaded.stepCount).toBe(0);
      } finally {
        sae.dispose();
        loaded.dispose();
      }
    });
  }

  it('weights() is in SAELens layout: W_dec rows at unit norm, W_enc = W_decᵀ when tied', async () => {
    const d = 6;
    const n = 10;
    const sae = await trained({ dIn: d, dSae: n });
    const w = sae.weights();
    const raw = sae.rawParameters();
    sae.dispose();
    for (let i = 0; i < n; i++) {
      let ss = 0;
      let rawSs = 0;
      for (let k = 0; k < d; k++) {
        ss += w.W_dec[i * d + k] ** 2;
        rawSs += raw.W[i * d + k] ** 2;
        expect(w.W_enc[k * n + i]).toBe(w.W_dec[i * d + k]);
      }
      expect(ss).toBeCloseTo(1, 6);
      expect(Math.abs(rawSs - 1)).toBeGreaterThan(1e-4); // the raw dictionary drifts off the sphere
    }
  });

  it('the metrics follow their documented definitions', async () => {
    const d = 5;
    const n = 9;
    const sae = await trained({ dIn: d, dSae: n, l1Coefficient: 0.1 });
    const x = makeRng(4).normalArray(6 * d);
    const mask = new Uint8Array([1, 1, 0, 1, 0, 1]);
    const { xHat, c, metrics } = await sae.forward(x, { mask });
    sae.dispose();
    let sse = 0;
    let sxx = 0;
    let l1 = 0;
    let l0 = 0;
    for (let b = 0; b < 6; b++) {
      if (!mask[b]) continue;
      for (let k = 0; k < d; k++) {
        sse += (xHat[b * d + k] - x[b * d + k]) ** 2;
        sxx += x[b * d + k] ** 2;
      }
      for (let j = 0; j < n; j++) {
        l1 += c[b * n + j];
        l0 += c[b * n + j] > 0 ? 1 : 0;
      }
    }
    expect(metrics.mse).toBeCloseTo(sse / (4 * d), 6);
    expect(metrics.nmse).toBeCloseTo(sse / sxx, 6);
    expect(metrics.l1).toBeCloseTo(l1 / 4, 6);
    expect(metrics.l0).toBe(l0 / 4);
    expect(metrics.loss).toBeCloseTo(sse / (4 * d) + 0.1 * (l1 / 4), 6);
  });

  it('fromWeights checks shapes, finiteness, and W_enc ≈ W_decᵀ for a tied model', async () => {
    const d = 4;
    const n = 6;
    const sae = SparseAutoencoder.create({ dIn: d, dSae: n });
    const w = sae.weights();
    sae.dispose();
    const bad = { ...w, W_enc: w.W_enc.slice() };
    bad.W_enc[1 * n + 2] += 0.01;
    expect(() => SparseAutoencoder.fromWeights({ dIn: d, dSae: n }, bad)).toThrow(RangeError);
    expect(() => SparseAutoencoder.fromWeights({ dIn: d, dSae: n }, bad)).toThrow(/for W_enc but received W_enc\[1,2\]/);
    // the same weights are fine for an untied model
    SparseAutoencoder.fromWeights({ dIn: d, dSae: n, tied: false }, bad).dispose();
    expect(() => SparseAutoencoder.fromWeights({ dIn: d, dSae: n }, { ...w, b_dec: new Float32Array(d + 1) }))
      .toThrow(/Expected Float32Array of shape \[4\] \(length 4\) for b_dec but received length 5/);
    // rows off the unit sphere are normalised by a normalizeDecoder model
    const scaled = { ...w, W_dec: w.W_dec.map((v) => 3 * v) };
    const un = SparseAutoencoder.fromWeights({ dIn: d, dSae: n, tied: false }, scaled);
    expect(maxDiff(un.weights().W_dec, w.W_dec)).toBeLessThan(1e-6);
    un.dispose();
    const nan = { ...w, W_dec: w.W_dec.slice() };
    nan.W_dec[3] = Infinity;
    expect(() => SparseAutoencoder.fromWeights({ dIn: d, dSae: n, tied: false }, nan)).toThrow(/W_dec.*Infinity at index 3/);
  });
});

describe('config', () => {
  it('SAE_DEFAULTS are the paper settings', () => {
    expect(SAE_DEFAULTS).toEqual({
      tied: true, normalizeDecoder: true, applyBDecToInput: false, l1Coefficient: 1e-3, lr: 1e-3,
      adamBeta1: 0.9, adamBeta2: 0.999, adamEps: 1e-8, init: 'orthogonal', seed: 0, deadWindow: 1000,
    });
    expect(resolveSaeConfig({ dIn: 3, dSae: 4 })).toEqual({ ...SAE_DEFAULTS, dIn: 3, dSae: 4 });
    expect(resolveSaeConfig({ dIn: 3, dSae: 4, lr: undefined }).lr).toBe(1e-3);
  });

  it('names the field, the expectation and the value', () => {
    const base = { dIn: 3, dSae: 4 };
    expect(() => resolveSaeConfig({ ...base, dIn: 0 })).toThrow(/Expected integer between 1 and \d+ for dIn but received 0 of type number/);
    expect(() => resolveSaeConfig({ ...base, dSae: 2.5 })).toThrow(TypeError);
    expect(() => resolveSaeConfig({ ...base, lr: 0 })).toThrow(/Expected finite number > 0 for lr but received 0/);
    expect(() => resolveSaeConfig({ ...base, adamBeta2: 1 })).toThrow(/Expected number in \[0, 1\) for adamBeta2 but received 1/);
    expect(() => resolveSaeConfig({ ...base, l1Coefficient: -1 })).toThrow(/for l1Coefficient but received -1/);
    expect(() => resolveSaeConfig({ ...base, tied: 'yes' as unknown as boolean })).toThrow(/Expected boolean for tied but received string "yes"/);
    expect(() => resolveSaeConfig({ ...base, init: 'xavier' as 'kaiming' })).toThrow(/for init but received string "xavier"/);
    expect(() => resolveSaeConfig({ ...base, deadWindow: 0 })).toThrow(/for deadWindow/);
    expect(() => resolveSaeConfig({ ...base, seed: -1 })).toThrow(/for seed/);
    expect(() => resolveSaeConfig({ ...base, l1_coefficient: 1 } as unknown as SaeConfig)).toThrow(/for config key but received string "l1_coefficient"/);
  });
});

describe('bad inputs', () => {
  const d = 4;
  const n = 5;

  it('x: type, length and NaN; mask: type, length, all zero (TypeError / RangeError naming them)', async () => {
    const sae = SparseAutoencoder.create({ dIn: d, dSae: n });
    try {
      const x = new Float32Array(3 * d);
      await expect(sae.step(new Float64Array(3 * d) as unknown as Float32Array)).rejects.toThrow(TypeError);
      await expect(sae.step(new Float64Array(3 * d) as unknown as Float32Array)).rejects.toThrow(/Expected Float32Array of shape \[rows,4\] for x but received Float64Array of length 12/);
      await expect(sae.step([1, 2, 3, 4] as unknown as Float32Array)).rejects.toThrow(/for x but received Array of length 4/);
      await expect(sae.step(new Float32Array(7))).rejects.toThrow(RangeError);
      await expect(sae.step(new Float32Array(7))).rejects.toThrow(/Expected Float32Array of shape \[rows,4\] with rows >= 1 for x but received length 7/);
      await expect(sae.step(new Float32Array(0))).rejects.toThrow(/for x but received length 0/);
      const nan = x.slice();
      nan[6] = NaN;
      await expect(sae.step(nan)).rejects.toThrow(/Expected finite values in x for x but received NaN at index 6/);
      const inf = x.slice();
      inf[2] = -Infinity;
      await expect(sae.forward(inf)).rejects.toThrow(/-Infinity at index 2/);
      await expect(sae.encode(nan)).rejects.toThrow(RangeError);
      // masked rows too (0·inf is NaN inside a GEMM); and past encode's first chunk of 1024 rows
      await expect(sae.step(nan, { mask: new Uint8Array([1, 0, 1]) })).rejects.toThrow(/NaN at index 6/);
      const big = new Float32Array(2500 * d);
      big[1500 * d + 1] = Infinity;
      await expect(sae.encode(big)).rejects.toThrow(/Expected finite values in x for x but received Infinity at index 6001/);
      await expect(sae.step(x, { mask: new Uint8Array(2) })).rejects.toThrow(/Expected Uint8Array of shape \[3\] \(length 3\) for mask but received length 2/);
      await expect(sae.step(x, { mask: new Int8Array(3) as unknown as Uint8Array })).rejects.toThrow(/for mask but received Int8Array of length 3/);
      await expect(sae.step(x, { mask: new Uint8Array(3) })).rejects.toThrow(/Expected at least one non-zero entry for mask but received all 3 entries 0/);
      await expect(sae.encode(x, new Float32Array(3))).rejects.toThrow(/Expected Float32Array of shape \[3,5\] \(length 15\) for out but received length 3/);
      expect(() => sae.setRawParameters({ ...sae.rawParameters(), W: new Float32Array(1) })).toThrow(/for W but received length 1/);
      // nothing above reached the model
      expect(sae.stepCount).toBe(0);
      expect((await sae.step(x)).step).toBe(1);
    } finally {
      sae.dispose();
    }
  });

  it('a disposed handle throws an Error naming it, from every method; dispose is idempotent', async () => {
    const sae = SparseAutoencoder.create({ dIn: d, dSae: n });
    sae.dispose();
    sae.dispose();
    expect(sae.disposed).toBe(true);
    const x = new Float32Array(d);
    await expect(sae.step(x)).rejects.toThrow(/^SAE handle has been disposed$/);
    await expect(sae.forward(x)).rejects.toThrow(/SAE handle has been disposed/);
    await expect(sae.encode(x)).rejects.toThrow(/SAE handle has been disposed/);
    await expect(sae.lossAndGrad(x)).rejects.toThrow(/SAE handle has been disposed/);
    expect(() => sae.weights()).toThrow(/SAE handle has been disposed/);
    expect(() => sae.rawParameters()).toThrow(/SAE handle has been disposed/);
    expect(() => sae.stepCount).toThrow(/SAE handle has been disposed/);
  });

  it('a call on a busy handle throws; the running call finishes; dispose while busy frees at the end', async () => {
    const sae = SparseAutoencoder.create({ dIn: 64, dSae: 256 });
    const x = makeRng(1).normalArray(512 * 64);
    const first = sae.step(x);
    await expect(sae.step(x)).rejects.toThrow(/SAE handle is busy/);
    await expect(sae.forward(x)).rejects.toThrow(Error);
    await expect(sae.encode(x)).rejects.toThrow(/busy/);
    expect(() => sae.weights()).toThrow(/SAE handle is busy/);
    expect(() => sae.stepCount).toThrow(/busy/);
    expect((await first).step).toBe(1);
    expect(sae.stepCount).toBe(1);

    const pending = sae.step(x);
    sae.dispose();
    expect((await pending).step).toBe(2);
    await expect(sae.step(x)).rejects.toThrow(/SAE handle has been disposed/);
  });

  it('the raw binding checks types and lengths itself, and never aborts the process', async () => {
    const { SaeHandle } = saeBinding();
    const cfg = resolveSaeConfig({ dIn: d, dSae: n });
    expect(() => new SaeHandle(undefined as unknown as SaeConfig)).toThrow(TypeError);
    expect(() => new SaeHandle({ ...cfg, dIn: 0 })).toThrow(/config\.dIn/);
    expect(() => new SaeHandle({ ...cfg, init: 'xavier' as 'kaiming' })).toThrow(RangeError);
    const h = new SaeHandle(cfg);
    try {
      const x = new Float32Array(2 * d);
      expect(() => h.step(new Float64Array(2 * d) as unknown as Float32Array, null)).toThrow(/Expected Float32Array for x but received Float64Array/);
      expect(() => h.step(new Float32Array(5), null)).toThrow(RangeError);
      expect(() => h.step(x, new Uint8Array(3))).toThrow(/Expected Uint8Array of length 2 for mask but received length 3/);
      await expect(h.step(x, new Uint8Array(2))).rejects.toThrow(/at least one non-zero entry for mask/);
      await expect(h.step(new Float32Array(2 * d).fill(NaN), null)).rejects.toThrow(/NaN at index 0/);
      expect(() => h.forward(x, null, new Float32Array(1), new Float32Array(2 * n))).toThrow(/for xHat/);
      expect(() => h.lossAndGrad(x, null, new Float32Array(n * d), null, new Float32Array(1), new Float32Array(d))).toThrow(/for b_enc/);
      expect(() => h.encode(x, new Float32Array(1))).toThrow(/for c/);
      expect(() => h.getWeights(new Float32Array(1), new Float32Array(n), new Float32Array(n * d), new Float32Array(d))).toThrow(/for W_enc/);
      expect(() => h.setParams(new Float32Array(n * d), null, new Float32Array(n), new Float32Array(2))).toThrow(/for b_dec/);
      const m = await h.step(x, null);
      expect(m.step).toBe(1);
      expect(Object.keys(m).sort()).toEqual(['dead', 'l0', 'l1', 'loss', 'mse', 'nmse', 'step']);
    } finally {
      h.dispose();
    }
    expect(() => h.stepCount()).toThrow(/SAE handle has been disposed/);
  });
});

describe('async', () => {
  it('a long step leaves the event loop free', async () => {
    const sae = SparseAutoencoder.create({ dIn: 256, dSae: 1024 });
    try {
      const x = makeRng(1).normalArray(2048 * 256);
      let ticks = 0;
      let done = false;
      const tick = () => {
        ticks++;
        if (!done) setImmediate(tick);
      };
      setImmediate(tick);
      await sae.step(x);
      done = true;
      expect(ticks).toBeGreaterThan(0);
    } finally {
      sae.dispose();
    }
  });
});
