// trainSae: recovery of a known sparse dictionary (MMCS computed here in plain TypeScript),
// determinism, batching (shuffle, last partial batch, row mask), progress, abort, bad options.
import { describe, expect, it } from 'vitest';
import { SparseAutoencoder, trainSae, type SaeMetrics } from '../src/sae/index.js';
import { makeRng } from './helpers/rng.js';

/** Rows that are sparse non-negative combinations of a random unit-norm dictionary [F, d]. */
function sparseData(d: number, F: number, rows: number, active: number, seed: number) {
  const rng = makeRng(seed);
  const dict = new Float64Array(F * d);
  for (let f = 0; f < F; f++) {
    let ss = 0;
    for (let k = 0; k < d; k++) {
      dict[f * d + k] = rng.normal();
      ss += dict[f * d + k] ** 2;
    }
    for (let k = 0; k < d; k++) dict[f * d + k] /= Math.sqrt(ss);
  }
  const data = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) {
    for (let a = 0; a < active; a++) {
      const f = rng.int(F);
      const coef = 0.5 + rng.next();
      for (let k = 0; k < d; k++) data[r * d + k] += coef * dict[f * d + k];
    }
  }
  return { data, dict };
}

/** Mean over the true features of the best cosine to any learned dictionary row. */
function mmcs(truth: Float64Array, learned: Float32Array, d: number): number {
  const F = truth.length / d;
  const n = learned.length / d;
  let total = 0;
  for (let f = 0; f < F; f++) {
    let best = -Infinity;
    for (let i = 0; i < n; i++) {
      let dot = 0;
      let tt = 0;
      let ll = 0;
      for (let k = 0; k < d; k++) {
        dot += truth[f * d + k] * learned[i * d + k];
        tt += truth[f * d + k] ** 2;
        ll += learned[i * d + k] ** 2;
      }
      best = Math.max(best, dot / Math.sqrt(tt * ll));
    }
    total += best;
  }
  return total / F;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function sameWeights(a: SparseAutoencoder, b: SparseAutoencoder): boolean {
  const wa = a.weights();
  const wb = b.weights();
  return (['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const).every((k) => sameBits(wa[k], wb[k]));
}

describe('trainSae recovers a known dictionary', () => {
  it('d=32, 64 true features, 3 active per row, a 128-feature SAE: MMCS > 0.9', async () => {
    const d = 32;
    const { data, dict } = sparseData(d, 64, 20_000, 3, 11);
    const before = SparseAutoencoder.create({ dIn: d, dSae: 128, seed: 3 });
    const untrained = mmcs(dict, before.weights().W_dec, d);
    before.dispose();

    const { sae, history } = await trainSae(data, { dIn: d, dSae: 128, l1Coefficient: 1e-2, seed: 3 }, { epochs: 10, batchSize: 32 });
    try {
      const score = mmcs(dict, sae.weights().W_dec, d);
      expect(untrained).toBeLessThan(0.7);
      expect(score).toBeGreaterThan(0.9);
      const first = history[0];
      const last = history[history.length - 1];
      expect(last.step).toBe(10 * Math.ceil(20_000 / 32));
      expect(last.mse).toBeLessThan(first.mse);
      expect(last.nmse).toBeLessThan(0.5);
      expect(last.l0).toBeLessThan(16);
    } finally {
      sae.dispose();
    }
  });
});

describe('trainSae batching and determinism', () => {
  const d = 8;
  const n = 12;
  const rows = 100;
  const data = makeRng(5).normalArray(rows * d);

  it('the same seed twice gives bit-identical weights; another seed, or another shuffle seed, does not', async () => {
    const cfg = { dIn: d, dSae: n, seed: 9, l1Coefficient: 1e-2 };
    const a = await trainSae(data, cfg, { epochs: 2, batchSize: 16 });
    const b = await trainSae(data, cfg, { epochs: 2, batchSize: 16 });
    const c = await trainSae(data, { ...cfg, seed: 10 }, { epochs: 2, batchSize: 16 });
    const s = await trainSae(data, cfg, { epochs: 2, batchSize: 16, seed: 77 });
    try {
      expect(sameWeights(a.sae, b.sae)).toBe(true);
      expect(a.history).toEqual(b.history);
      expect(sameWeights(a.sae, c.sae)).toBe(false);
      expect(sameWeights(a.sae, s.sae)).toBe(false);
    } finally {
      for (const r of [a, b, c, s]) r.sae.dispose();
    }
  });

  it('keeps the last partial batch and reports progress for every step', async () => {
    const seen: { m: SaeMetrics; epoch: number; batch: number; batchesPerEpoch: number }[] = [];
    const { sae, history } = await trainSae(data, { dIn: d, dSae: n }, {
      epochs: 3, batchSize: 32, onStep: (m, p) => seen.push({ m, ...p }),
    });
    sae.dispose();
    expect(history.length).toBe(3 * 4); // 100 rows = 32 + 32 + 32 + 4
    expect(history.map((m) => m.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(seen.map((s) => [s.epoch, s.batch, s.batchesPerEpoch])).toEqual(
      Array.from({ length: 12 }, (_, i) => [Math.floor(i / 4), i % 4, 4]),
    );
    expect(seen.map((s) => s.m)).toEqual(history);
  });

  it('shuffle: false steps through the rows in order, partial batch last (same as stepping by hand)', async () => {
    const cfg = { dIn: d, dSae: n, seed: 4 };
    const { sae, history } = await trainSae(data, cfg, { epochs: 2, batchSize: 30, shuffle: false });
    const manual = SparseAutoencoder.create(cfg);
    const manualHistory: SaeMetrics[] = [];
    for (let e = 0; e < 2; e++) {
      for (let start = 0; start < rows; start += 30) {
        manualHistory.push(await manual.step(data.slice(start * d, Math.min(rows, start + 30) * d)));
      }
    }
    try {
      expect(history).toEqual(manualHistory);
      expect(sameWeights(sae, manual)).toBe(true);
    } finally {
      sae.dispose();
      manual.dispose();
    }
  });

  it('a row mask leaves the masked rows out (same as training on the valid rows alone)', async () => {
    const mask = new Uint8Array(rows);
    for (let i = 0; i < rows; i++) mask[i] = i % 3 === 0 ? 0 : 1;
    const valid = data.filter((_, j) => mask[Math.floor(j / d)] === 1);
    const poisoned = data.slice();
    for (let i = 0; i < rows; i++) if (!mask[i]) poisoned.fill(1e6, i * d, (i + 1) * d);
    const cfg = { dIn: d, dSae: n, seed: 4 };
    for (const shuffle of [false, true]) {
      const a = await trainSae(poisoned, cfg, { epochs: 2, batchSize: 16, shuffle, mask });
      const b = await trainSae(valid, cfg, { epochs: 2, batchSize: 16, shuffle });
      try {
        expect(a.history.length).toBe(2 * Math.ceil(valid.length / d / 16));
        // the valid rows keep their relative order, so even the shuffled runs draw the same batches
        expect(sameWeights(a.sae, b.sae)).toBe(true);
        expect(a.history.every((m) => Number.isFinite(m.loss) && m.loss < 100)).toBe(true);
      } finally {
        a.sae.dispose();
        b.sae.dispose();
      }
    }
  });

  it('stops between steps when the signal aborts', async () => {
    const ac = new AbortController();
    let steps = 0;
    const run = trainSae(data, { dIn: d, dSae: n }, {
      epochs: 5, batchSize: 10, signal: ac.signal,
      onStep: () => {
        if (++steps === 3) ac.abort();
      },
    });
    await expect(run).rejects.toThrow(/abort/i);
    expect(steps).toBe(3);
    const pre = new AbortController();
    pre.abort();
    await expect(trainSae(data, { dIn: d, dSae: n }, { signal: pre.signal })).rejects.toThrow(/abort/i);
  });

  it('rejects bad data and options, naming them', async () => {
    const cfg = { dIn: d, dSae: n };
    await expect(trainSae(new Float64Array(rows * d) as unknown as Float32Array, cfg)).rejects.toThrow(TypeError);
    await expect(trainSae(new Float32Array(d * 3 + 1), cfg)).rejects.toThrow(/Expected Float32Array of shape \[rows,8\].* for data but received length 25/);
    const nan = data.slice();
    nan[17] = NaN;
    await expect(trainSae(nan, cfg)).rejects.toThrow(/Expected finite values in data for data but received NaN at index 17/);
    await expect(trainSae(data, cfg, { epochs: 0 })).rejects.toThrow(/for epochs but received 0/);
    await expect(trainSae(data, cfg, { batchSize: 2.5 })).rejects.toThrow(/Expected integer .* for batchSize/);
    await expect(trainSae(data, cfg, { mask: new Uint8Array(3) })).rejects.toThrow(/Expected Uint8Array of shape \[100\].* for mask but received length 3/);
    await expect(trainSae(data, cfg, { mask: new Uint8Array(rows) })).rejects.toThrow(/at least one non-zero entry for mask/);
    await expect(trainSae(data, { ...cfg, lr: -1 })).rejects.toThrow(/for lr but received -1/);
  });
});
