// Generation with a KV cache (native/cpu/neox_generate.cc): the incremental forward against full
// forward passes at every step (left padding, padded columns, chunks, given positions), greedy
// generation against the argmax of repeated full forwards (EOS, minNewTokens, per-row maxima),
// log-probs against forward's token log-probs, seeded sampling (repeatable, thread-count
// independent), top-k / top-p / temperature against the distributions they define (chi-square
// tests over many seeded draws), bad inputs, and the busy and disposed guards.
//
// Models: the transformers fixture tiny-neox-a (parallel residual, untied), and random models whose
// weights are O(1)-effective (as test/neox-reference.test.ts), sequential residual with tied
// embeddings among them. Tolerance of the incremental logits: 2e-5 absolute (float32 sums of a
// different length and order: the cached path and the full pass run different GEMMs).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/model/load.js';
import type { NeoxConfig } from '../src/model/neox-config.js';
import { NeoxEngine, type NeoxGenerateOptions } from '../src/model/neox-engine.js';
import { neoxBinding } from '../src/model/native-neox.js';
import { runtime } from '../src/native.js';
import { FIXTURE_DIR } from './helpers/hf-files.js';
import { makeRng, type TestRng } from './helpers/rng.js';

function config(over: Partial<NeoxConfig>): NeoxConfig {
  return {
    modelType: 'gpt_neox', vocabSize: 37, hiddenSize: 24, numLayers: 2, numHeads: 3, intermediateSize: 44,
    rotaryPct: 0.5, rotaryBase: 10000, maxPositions: 64, layerNormEps: 1e-5, parallelResidual: true,
    hiddenAct: 'gelu', tieWordEmbeddings: false, attentionBias: true, bosTokenId: null, eosTokenId: null, ...over,
  };
}

/** Every parameter random and O(1)-effective: LayerNorm weights 1 + 0.2·N, biases 0.2·N, matrices N(0, 1/in), embeddings N(0, 1). */
function randomEngine(cfg: NeoxConfig, seed: number): NeoxEngine {
  const engine = NeoxEngine.create(cfg, { init: 'zeros' });
  const rng = makeRng(seed);
  for (const { name, shape } of engine.parameters()) {
    const p = engine.parameter(name);
    const isLnWeight = /layernorm\.weight$|final_layer_norm\.weight$/.test(name);
    const std = isLnWeight || shape.length === 1 ? 0.2 : name.includes('embed') ? 1 : 1 / Math.sqrt(shape[1]);
    for (let i = 0; i < p.length; i++) p[i] = (isLnWeight ? 1 : 0) + std * rng.normal();
  }
  return engine;
}

const SEQUENTIAL_TIED = config({ parallelResidual: false, hiddenAct: 'gelu_new', tieWordEmbeddings: true, attentionBias: false });
const PARALLEL_FULL_ROTARY = config({ vocabSize: 29, hiddenSize: 20, numHeads: 2, intermediateSize: 36, rotaryPct: 1, rotaryBase: 500 });

interface Seqs {
  ids: Int32Array;
  mask: Uint8Array;
  B: number;
  T: number;
}

/** B rows of T tokens, row b left-padded by pads[b]; pad id 0. */
function leftPadded(B: number, T: number, pads: number[], V: number, rng: TestRng): Seqs {
  const ids = new Int32Array(B * T);
  const mask = new Uint8Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = pads[b]; t < T; t++) {
      ids[b * T + t] = rng.int(V);
      mask[b * T + t] = 1;
    }
  }
  return { ids, mask, B, T };
}

/** s with one more column per row. */
function append(s: Seqs, tokens: ArrayLike<number>, mask: ArrayLike<number>): Seqs {
  const T = s.T + 1;
  const ids = new Int32Array(s.B * T);
  const m = new Uint8Array(s.B * T);
  for (let b = 0; b < s.B; b++) {
    ids.set(s.ids.subarray(b * s.T, (b + 1) * s.T), b * T);
    m.set(s.mask.subarray(b * s.T, (b + 1) * s.T), b * T);
    ids[b * T + s.T] = tokens[b];
    m[b * T + s.T] = mask[b];
  }
  return { ids, mask: m, B: s.B, T };
}

/** The logits of each row's last column from a full forward pass, [B,V]. */
async function lastLogits(e: NeoxEngine, s: Seqs, positionIds?: Int32Array): Promise<Float32Array> {
  const V = e.config.vocabSize;
  const { logits } = await e.forward({ inputIds: s.ids, attentionMask: s.mask, positionIds, B: s.B, T: s.T }, { logits: true });
  const out = new Float32Array(s.B * V);
  for (let b = 0; b < s.B; b++) out.set(logits!.subarray((b * s.T + s.T - 1) * V, (b * s.T + s.T) * V), b * V);
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** argmax with ties to the smallest id, skipping `skip`; and the gap to the runner-up. */
function argmax(row: ArrayLike<number>, skip = -1): { id: number; gap: number } {
  let id = -1;
  let second = -Infinity;
  for (let v = 0; v < row.length; v++) {
    if (v === skip) continue;
    if (id < 0 || row[v] > row[id]) {
      if (id >= 0) second = Math.max(second, row[id]);
      id = v;
    } else {
      second = Math.max(second, row[v]);
    }
  }
  return { id, gap: row[id] - second };
}

/**
 * Greedy generation by repeated full forward passes, with generate's rules: EOS suppressed before
 * minNewTokens, a row stops after EOS or its maximum and its later columns are padding (mask 0).
 * Also returns the smallest top-2 logit gap met (a near tie would make the comparison fragile).
 */
async function referenceGreedy(e: NeoxEngine, prompts: Seqs, o: { maxNewTokens: number; minNewTokens?: number; eos?: number | null; pad?: number; perRow?: number[] }) {
  const V = e.config.vocabSize;
  const { B } = prompts;
  const S = o.maxNewTokens;
  const eos = o.eos ?? -1;
  const pad = o.pad ?? 0;
  const tokens = new Int32Array(B * S).fill(pad);
  const lengths = new Int32Array(B);
  const going = new Array<boolean>(B).fill(true);
  let seq = prompts;
  let minGap = Infinity;
  for (let s = 0; s < S && going.some(Boolean); s++) {
    const logits = await lastLogits(e, seq);
    const next = new Int32Array(B).fill(pad);
    const mask = new Uint8Array(B);
    for (let b = 0; b < B; b++) {
      if (!going[b]) continue;
      const rowMax = o.perRow?.[b] ?? S;
      const suppress = eos >= 0 && s < Math.min(o.minNewTokens ?? 0, rowMax) ? eos : -1;
      const { id, gap } = argmax(logits.subarray(b * V, (b + 1) * V), suppress);
      minGap = Math.min(minGap, gap);
      tokens[b * S + s] = id;
      lengths[b] = s + 1;
      next[b] = id;
      mask[b] = 1;
      if (id === eos || s + 1 >= rowMax) going[b] = false;
    }
    seq = append(seq, next, mask);
  }
  return { tokens, lengths, minGap };
}

/** prompts + generated tokens (masked after each row's length) as one batch. */
function concat(prompts: Seqs, tokens: Int32Array, lengths: Int32Array, S: number): Seqs {
  let seq = prompts;
  for (let s = 0; s < S; s++) {
    const col = Array.from({ length: prompts.B }, (_, b) => tokens[b * S + s]);
    const m = Array.from({ length: prompts.B }, (_, b) => (s < lengths[b] ? 1 : 0));
    seq = append(seq, col, m);
  }
  return seq;
}

function promptsOf(s: Seqs) {
  return { inputIds: s.ids, attentionMask: s.mask, B: s.B, T: s.T };
}

const here = existsSync(join(FIXTURE_DIR, 'model.safetensors'));

describe('the incremental forward equals full forward passes', () => {
  let fixture: NeoxEngine | null = null;
  beforeAll(async () => {
    if (here) fixture = (await loadModel(FIXTURE_DIR)).engine;
  });
  afterAll(() => fixture?.dispose());

  const models: { name: string; make: () => NeoxEngine | null }[] = [
    { name: 'tiny-neox-a (transformers fixture)', make: () => fixture },
    { name: 'random: sequential, tanh GELU, tied, no attention bias', make: () => randomEngine(SEQUENTIAL_TIED, 11) },
    { name: 'random: parallel, full rotary, untied', make: () => randomEngine(PARALLEL_FULL_ROTARY, 12) },
  ];

  for (const { name, make } of models) {
    it(`${name}: left-padded prompt, then one token per step (a padded column included)`, async () => {
      const e = make();
      if (!e) return; // fixture missing
      try {
        const V = e.config.vocabSize;
        const rng = makeRng(5);
        let seq = leftPadded(3, 6, [0, 2, 5], V, rng);
        const steps = 7;
        const cache = e.createCache(3, seq.T + steps);
        const got = await e.forwardCached(cache, promptsOf(seq));
        let worst = maxDiff(got, await lastLogits(e, seq));
        expect(cache.length).toBe(seq.T);
        for (let s = 0; s < steps; s++) {
          const next = Int32Array.from({ length: 3 }, () => rng.int(V));
          const mask = Uint8Array.from([1, s === 2 ? 0 : 1, 1]); // row 1 has a padded column at step 2
          const inc = await e.forwardCached(cache, { inputIds: next, attentionMask: mask, B: 3, T: 1 });
          seq = append(seq, next, mask);
          const d = maxDiff(inc, await lastLogits(e, seq));
          worst = Math.max(worst, d);
        }
        expect(cache.length).toBe(cache.maxLength);
        expect(worst).toBeLessThan(2e-5);
        cache.dispose();
      } finally {
        if (e !== fixture) e.dispose();
      }
    });

    it(`${name}: chunks of several columns, every column's logits`, async () => {
      const e = make();
      if (!e) return;
      try {
        const V = e.config.vocabSize;
        const rng = makeRng(6);
        const all = leftPadded(2, 11, [3, 0], V, rng);
        all.mask[1 * 11 + 7] = 0; // a padded column inside the second chunk
        const full = await e.forward({ inputIds: all.ids, attentionMask: all.mask, B: 2, T: 11 }, { logits: true });
        const cache = e.createCache(2, 11);
        let worst = 0;
        for (const [t0, tn] of [[0, 4], [4, 5], [9, 2]]) {
          const pick = <A extends Int32Array | Uint8Array>(x: A) => {
            const out = new (x.constructor as { new (n: number): A })(2 * tn);
            for (let b = 0; b < 2; b++) out.set(x.subarray(b * 11 + t0, b * 11 + t0 + tn) as never, b * tn);
            return out;
          };
          const lg = await e.forwardCached(cache, { inputIds: pick(all.ids), attentionMask: pick(all.mask), B: 2, T: tn }, { allPositions: true });
          for (let b = 0; b < 2; b++) {
            for (let t = 0; t < tn; t++) {
              const want = full.logits!.subarray((b * 11 + t0 + t) * V, (b * 11 + t0 + t + 1) * V);
              worst = Math.max(worst, maxDiff(lg.subarray((b * tn + t) * V, (b * tn + t + 1) * V), want));
            }
          }
        }
        expect(worst).toBeLessThan(2e-5);
        await expect(e.forwardCached(cache, { inputIds: new Int32Array(2), B: 2, T: 1 })).rejects.toThrow(/at most 0 columns .* for chunk.T/);
        cache.reset();
        expect(cache.length).toBe(0);
        cache.dispose();
      } finally {
        if (e !== fixture) e.dispose();
      }
    });
  }

  it('given position ids are used, and the default continues from each row\'s last real position', async () => {
    const e = randomEngine(PARALLEL_FULL_ROTARY, 13);
    try {
      const V = e.config.vocabSize;
      const rng = makeRng(7);
      const seq = leftPadded(2, 5, [2, 0], V, rng);
      const pos = Int32Array.from([0, 0, 10, 11, 12, 3, 4, 5, 6, 7]); // offsets, as a caller may give
      const cache = e.createCache(2, 7);
      const a = await e.forwardCached(cache, { ...promptsOf(seq), positionIds: pos });
      expect(maxDiff(a, await lastLogits(e, seq, pos))).toBeLessThan(2e-5);
      const next = Int32Array.from([1, 2]);
      const b = await e.forwardCached(cache, { inputIds: next, B: 2, T: 1 }); // positions 13 and 8
      const seq2 = append(seq, next, [1, 1]);
      const pos2 = Int32Array.from([0, 0, 10, 11, 12, 13, 3, 4, 5, 6, 7, 8]);
      expect(maxDiff(b, await lastLogits(e, seq2, pos2))).toBeLessThan(2e-5);
      cache.dispose();
    } finally {
      e.dispose();
    }
  });
});

describe('greedy generation', () => {
  const cases: { name: string; make: () => Promise<NeoxEngine | null> }[] = [
    { name: 'tiny-neox-a', make: async () => (here ? (await loadModel(FIXTURE_DIR)).engine : null) },
    { name: 'random sequential, tied', make: async () => randomEngine(SEQUENTIAL_TIED, 21) },
  ];
  for (const { name, make } of cases) {
    it(`${name}: the argmax of repeated full forwards; log-probs are forward's token log-probs`, async () => {
      const e = await make();
      if (!e) return;
      try {
        const V = e.config.vocabSize;
        const prompts = leftPadded(4, 5, [0, 1, 3, 4], V, makeRng(8));
        const S = 9;
        const ref = await referenceGreedy(e, prompts, { maxNewTokens: S, eos: null });
        expect(ref.minGap).toBeGreaterThan(1e-4); // no near tie: the comparison is well posed
        const out = await e.generate(promptsOf(prompts), { maxNewTokens: S, greedy: true, eosTokenId: null, returnLogprobs: true });
        expect(out.tokens).toEqual(ref.tokens);
        expect(out.lengths).toEqual(Int32Array.from([S, S, S, S]));
        // encodeBatch's explicit position ids (0 at padding, then 0, 1, ...) are the default ones
        const positionIds = new Int32Array(prompts.B * prompts.T);
        for (let b = 0; b < prompts.B; b++) {
          let n = 0;
          for (let t = 0; t < prompts.T; t++) if (prompts.mask[b * prompts.T + t]) positionIds[b * prompts.T + t] = n++;
        }
        const withPos = await e.generate({ ...promptsOf(prompts), positionIds }, { maxNewTokens: S, greedy: true, eosTokenId: null });
        expect(withPos.tokens).toEqual(out.tokens);
        // log p of each new token under the model = forward's token log-probs of the whole sequence
        const seq = concat(prompts, out.tokens, out.lengths, S);
        const targets = new Int32Array(seq.B * seq.T).fill(-1);
        for (let b = 0; b < seq.B; b++) for (let t = 0; t + 1 < seq.T; t++) targets[b * seq.T + t] = seq.ids[b * seq.T + t + 1];
        const fwd = await e.forward({ inputIds: seq.ids, attentionMask: seq.mask, B: seq.B, T: seq.T }, { targets });
        let worst = 0;
        for (let b = 0; b < 4; b++) {
          for (let s = 0; s < S; s++) {
            worst = Math.max(worst, Math.abs(out.logprobs![b * S + s] - fwd.tokenLogprobs![b * seq.T + prompts.T - 1 + s]));
          }
        }
        expect(worst).toBeLessThan(2e-5);
      } finally {
        e.dispose();
      }
    });
  }

  it('EOS stops a row (later tokens are padTokenId, log-probs 0); minNewTokens suppresses it; per-row maxima', async () => {
    const e = randomEngine(SEQUENTIAL_TIED, 22);
    try {
      const V = e.config.vocabSize;
      const prompts = leftPadded(3, 4, [0, 2, 1], V, makeRng(9));
      const S = 8;
      const free = await e.generate(promptsOf(prompts), { maxNewTokens: S, greedy: true, eosTokenId: null });
      const eos = free.tokens[0 * S + 2]; // row 0's third token
      const pad = (eos + 1) % V;
      // EOS at row 0's third token (or earlier, if eos came up before): the row stops there
      const ref = await referenceGreedy(e, prompts, { maxNewTokens: S, eos, pad });
      const out = await e.generate(promptsOf(prompts), { maxNewTokens: S, greedy: true, eosTokenId: eos, padTokenId: pad, returnLogprobs: true });
      expect(out.tokens).toEqual(ref.tokens);
      expect(out.lengths).toEqual(ref.lengths);
      expect(out.lengths[0]).toBeLessThanOrEqual(3);
      expect(out.tokens[out.lengths[0] - 1]).toBe(eos);
      for (let s = out.lengths[0]; s < S; s++) {
        expect(out.tokens[s]).toBe(pad);
        expect(out.logprobs![s]).toBe(0);
      }
      // minNewTokens 5: no EOS among the first 5 of any row
      const refMin = await referenceGreedy(e, prompts, { maxNewTokens: S, eos, pad, minNewTokens: 5 });
      const outMin = await e.generate(promptsOf(prompts), { maxNewTokens: S, greedy: true, eosTokenId: eos, padTokenId: pad, minNewTokens: 5 });
      expect(outMin.tokens).toEqual(refMin.tokens);
      expect(outMin.lengths).toEqual(refMin.lengths);
      for (let b = 0; b < 3; b++) {
        expect(outMin.lengths[b]).toBeGreaterThanOrEqual(5);
        for (let s = 0; s < 5; s++) expect(outMin.tokens[b * S + s]).not.toBe(eos);
      }
      // per-row maxima; the default eosTokenId is cfg.eosTokenId (null here) and padTokenId 0
      const perRow = [2, 8, 5];
      const refRow = await referenceGreedy(e, prompts, { maxNewTokens: S, perRow });
      const outRow = await e.generate(promptsOf(prompts), { maxNewTokens: S, greedy: true, maxNewTokensPerRow: Int32Array.from(perRow) });
      expect(outRow.lengths).toEqual(Int32Array.from(perRow));
      expect(outRow.tokens).toEqual(refRow.tokens);
    } finally {
      e.dispose();
    }
  });

  it('defaults: eosTokenId from the config, padTokenId = eosTokenId; every row ends at EOS', async () => {
    const e = randomEngine({ ...SEQUENTIAL_TIED, vocabSize: 5, eosTokenId: 3 }, 23);
    try {
      const prompts = leftPadded(6, 3, [0, 1, 2, 0, 1, 2], 5, makeRng(10));
      const out = await e.generate(promptsOf(prompts), { maxNewTokens: 40, temperature: 1.5, seed: 4 });
      for (let b = 0; b < 6; b++) {
        const n = out.lengths[b];
        expect(n).toBeGreaterThanOrEqual(1);
        if (n < 40) expect(out.tokens[b * 40 + n - 1]).toBe(3);
        for (let s = 0; s < n - 1; s++) expect(out.tokens[b * 40 + s]).not.toBe(3);
        for (let s = n; s < 40; s++) expect(out.tokens[b * 40 + s]).toBe(3);
      }
      expect(Math.min(...out.lengths)).toBeLessThan(40); // with 5 tokens, EOS comes up
    } finally {
      e.dispose();
    }
  });
});

describe('sampling', () => {
  it('the same seed gives the same tokens (whatever the thread count), another seed others', async () => {
    const e = randomEngine(PARALLEL_FULL_ROTARY, 31);
    const rt = runtime();
    const threads = rt.numThreads();
    try {
      const prompts = promptsOf(leftPadded(5, 4, [0, 1, 2, 3, 0], 29, makeRng(11)));
      const opts: NeoxGenerateOptions = { maxNewTokens: 12, seed: 1234, temperature: 1.3, returnLogprobs: true };
      const a = await e.generate(prompts, opts);
      const b = await e.generate(prompts, opts);
      expect(b.tokens).toEqual(a.tokens);
      expect(b.logprobs).toEqual(a.logprobs);
      rt.setNumThreads(1);
      const c = await e.generate(prompts, opts);
      rt.setNumThreads(threads);
      expect(c.tokens).toEqual(a.tokens);
      const d = await e.generate(prompts, { ...opts, seed: 1235 });
      expect(d.tokens).not.toEqual(a.tokens);
      // a sampled token is not always the argmax at this temperature
      const g = await e.generate(prompts, { ...opts, greedy: true });
      expect(g.tokens).not.toEqual(a.tokens);
    } finally {
      rt.setNumThreads(threads);
      e.dispose();
    }
  });

  it('topK 1 and a tiny topP are greedy (at any temperature)', async () => {
    const e = randomEngine(SEQUENTIAL_TIED, 32);
    try {
      const prompts = promptsOf(leftPadded(4, 5, [0, 2, 4, 1], 37, makeRng(12)));
      const greedy = await e.generate(prompts, { maxNewTokens: 10, greedy: true, eosTokenId: null });
      for (const o of [{ topK: 1 }, { topP: 1e-6 }, { topK: 1, temperature: 3 }, { topP: 1e-6, temperature: 0.2 }, { topK: 5, topP: 1e-6 }]) {
        const out = await e.generate(prompts, { maxNewTokens: 10, eosTokenId: null, seed: 77, ...o });
        expect(out.tokens, JSON.stringify(o)).toEqual(greedy.tokens);
      }
    } finally {
      e.dispose();
    }
  });

  /**
   * Pearson's chi-square of counts against probabilities (categories of expected count < 5 merged
   * into one) and its degrees of freedom.
   */
  function chiSquare(counts: number[], probs: number[], n: number): { chi2: number; df: number } {
    let chi2 = 0;
    let df = -1;
    let restC = 0;
    let restP = 0;
    for (let i = 0; i < counts.length; i++) {
      if (probs[i] * n < 5) {
        restC += counts[i];
        restP += probs[i];
        continue;
      }
      chi2 += (counts[i] - n * probs[i]) ** 2 / (n * probs[i]);
      df++;
    }
    if (restP * n >= 5) {
      chi2 += (restC - n * restP) ** 2 / (n * restP);
      df++;
    } else {
      expect(restC).toBeLessThanOrEqual(Math.max(5, 3 * restP * n + 3)); // rare tokens stay rare
    }
    return { chi2, df };
  }
  /** Upper 0.1% point of chi-square with df degrees of freedom (Wilson–Hilferty). */
  function chi2Critical(df: number): number {
    const z = 3.0902;
    return df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;
  }

  /** B copies of one prompt, one new token each: B draws from one distribution. */
  async function draws(e: NeoxEngine, prompt: number[], B: number, o: Omit<NeoxGenerateOptions, 'maxNewTokens'>) {
    const T = prompt.length;
    const inputIds = new Int32Array(B * T);
    for (let b = 0; b < B; b++) inputIds.set(prompt, b * T);
    const out = await e.generate({ inputIds, B, T }, { maxNewTokens: 1, ...o });
    const counts = new Array<number>(e.config.vocabSize).fill(0);
    for (let b = 0; b < B; b++) counts[out.tokens[b]]++;
    const lg = await lastLogits(e, { ids: Int32Array.from(prompt), mask: new Uint8Array(T).fill(1), B: 1, T });
    return { counts, logits: Array.from(lg) };
  }

  function softmax(z: number[], tau: number): number[] {
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp((v - m) / tau));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  }

  /** The standard deviation of the logits: as a temperature, it spreads the distribution over many tokens. */
  function spread(z: number[]): number {
    const mean = z.reduce((a, b) => a + b, 0) / z.length;
    return Math.sqrt(z.reduce((a, b) => a + (b - mean) ** 2, 0) / z.length);
  }

  /** Token ids sorted by logit, largest first (ties: smaller id first). */
  function order(z: number[]): number[] {
    return z.map((_, i) => i).sort((a, b) => z[b] - z[a] || a - b);
  }

  it('temperature: empirical frequencies match softmax(logits/τ) (chi-square, 0.1% level)', async () => {
    const e = randomEngine({ ...PARALLEL_FULL_ROTARY, vocabSize: 9 }, 33);
    try {
      const N = 6000;
      for (const [tau, seed] of [[1, 1], [0.6, 2], [2.5, 3]]) {
        const { counts, logits } = await draws(e, [1, 4, 2], N, { temperature: tau, seed, eosTokenId: null });
        const p = softmax(logits, tau);
        const { chi2, df } = chiSquare(counts, p, N);
        expect(df).toBeGreaterThanOrEqual(3);
        expect(chi2, `τ = ${tau}: χ² ${chi2.toFixed(1)} on ${df} df`).toBeLessThan(chi2Critical(df));
      }
    } finally {
      e.dispose();
    }
  });

  it('top-k and top-p sample only their set, renormalised; EOS suppression renormalises the rest', async () => {
    const e = randomEngine({ ...PARALLEL_FULL_ROTARY, vocabSize: 12 }, 34);
    try {
      const N = 6000;
      const prompt = [3, 1, 4, 1, 5];
      const { logits } = await draws(e, prompt, 1, { eosTokenId: null });
      const tau = Math.fround(spread(logits));
      const p = softmax(logits, tau);
      const ids = order(logits);
      const check = (counts: number[], keep: number[], what: string) => {
        const q = new Array<number>(p.length).fill(0);
        const mass = keep.reduce((s, i) => s + p[i], 0);
        for (const i of keep) q[i] = p[i] / mass;
        for (let i = 0; i < p.length; i++) if (q[i] === 0) expect(counts[i], `${what}: token ${i} is outside the set`).toBe(0);
        const { chi2, df } = chiSquare(counts.filter((_, i) => q[i] > 0), q.filter((v) => v > 0), N);
        expect(chi2, `${what}: χ² ${chi2.toFixed(1)} on ${df} df`).toBeLessThan(chi2Critical(Math.max(df, 1)));
      };
      // top-k 4
      check((await draws(e, prompt, N, { temperature: tau, topK: 4, seed: 5, eosTokenId: null })).counts, ids.slice(0, 4), 'topK 4');
      // top-p 0.7: the shortest prefix of the sorted distribution with mass >= 0.7
      let cum = 0;
      let m = 0;
      while (cum < 0.7) cum += p[ids[m++]];
      expect(m).toBeGreaterThan(1);
      check((await draws(e, prompt, N, { temperature: tau, topP: 0.7, seed: 6, eosTokenId: null })).counts, ids.slice(0, m), 'topP 0.7');
      // top-k 6 then top-p 0.8 over the renormalised top 6
      const top6 = ids.slice(0, 6);
      const mass6 = top6.reduce((s, i) => s + p[i], 0);
      cum = 0;
      m = 0;
      while (cum < 0.8) cum += p[top6[m++]] / mass6;
      check((await draws(e, prompt, N, { temperature: tau, topK: 6, topP: 0.8, seed: 7, eosTokenId: null })).counts, top6.slice(0, m), 'topK 6 + topP 0.8');
      // EOS (the most likely token) suppressed by minNewTokens: the others, renormalised
      const eos = ids[0];
      check((await draws(e, prompt, N, { temperature: tau, seed: 8, eosTokenId: eos, minNewTokens: 1 })).counts, ids.slice(1), 'EOS suppressed');
    } finally {
      e.dispose();
    }
  });

  it('a vocabulary of several blocks of 1024: frequencies by id range match (chi-square)', async () => {
    const e = randomEngine({ ...PARALLEL_FULL_ROTARY, vocabSize: 2600 }, 35);
    try {
      const N = 8000;
      const { logits: z } = await draws(e, [7, 1000, 2500], 1, { eosTokenId: null });
      const tau = Math.fround(spread(z));
      const { counts, logits } = await draws(e, [7, 1000, 2500], N, { temperature: tau, seed: 9, eosTokenId: null });
      const p = softmax(logits, tau);
      // 13 id ranges of 200: each block of the native draw is split over several
      const groups = 13;
      const gc = new Array<number>(groups).fill(0);
      const gp = new Array<number>(groups).fill(0);
      for (let v = 0; v < 2600; v++) {
        gc[Math.floor(v / 200)] += counts[v];
        gp[Math.floor(v / 200)] += p[v];
      }
      const { chi2, df } = chiSquare(gc, gp, N);
      expect(df).toBeGreaterThanOrEqual(5);
      expect(chi2, `χ² ${chi2.toFixed(1)} on ${df} df`).toBeLessThan(chi2Critical(df));
      // and top-p over the large vocabulary: only nucleus tokens
      const ids = order(logits);
      let cum = 0;
      let m = 0;
      while (cum < 0.5) cum += p[ids[m++]];
      const nucleus = new Set(ids.slice(0, m));
      const tp = await draws(e, [7, 1000, 2500], 2000, { temperature: tau, topP: 0.5, seed: 10, eosTokenId: null });
      for (let v = 0; v < 2600; v++) if (!nucleus.has(v)) expect(tp.counts[v]).toBe(0);
    } finally {
      e.dispose();
    }
  });
});

describe('the engine around generate', () => {
  const cfg = config({ eosTokenId: 2 });

  it('bad inputs: errors name the argument', async () => {
    const e = NeoxEngine.create(cfg, { seed: 1 });
    try {
      const good = { inputIds: Int32Array.from([1, 2, 3, 4, 5, 6]), B: 2, T: 3 };
      const bad = async (p: unknown, o: unknown, re: RegExp, kind: typeof TypeError | typeof RangeError = RangeError) => {
        const err = await e.generate(p as never, o as never).then(() => null, (x: unknown) => x);
        expect(err, String(re)).toBeInstanceOf(kind);
        expect((err as Error).message).toMatch(re);
      };
      await bad(good, { maxNewTokens: 0 }, /integer between 1 and 16777216 for opts.maxNewTokens but received 0/);
      await bad(good, {}, /for opts.maxNewTokens but received undefined/, TypeError);
      await bad(good, null, /NeoxGenerateOptions object .* for opts/, TypeError);
      await bad(good, { maxNewTokens: 4, minNewTokens: 5 }, /between 0 and 4 for opts.minNewTokens/);
      await bad(good, { maxNewTokens: 4, temperature: 0 }, /number > 0 \(greedy: true for the argmax\) for opts.temperature/);
      await bad(good, { maxNewTokens: 4, temperature: Infinity }, /opts.temperature/);
      await bad(good, { maxNewTokens: 4, topK: 38 }, /between 0 and 37 for opts.topK/);
      await bad(good, { maxNewTokens: 4, topK: 1.5 }, /opts.topK/, TypeError);
      await bad(good, { maxNewTokens: 4, topP: 0 }, /\(0, 1\] .* for opts.topP/);
      await bad(good, { maxNewTokens: 4, topP: 1.5 }, /for opts.topP/);
      await bad(good, { maxNewTokens: 4, eosTokenId: 37 }, /for opts.eosTokenId/);
      await bad(good, { maxNewTokens: 4, padTokenId: -1 }, /for opts.padTokenId/);
      await bad(good, { maxNewTokens: 4, seed: -1 }, /for opts.seed/);
      await bad(good, { maxNewTokens: 4, greedy: 1 }, /boolean for opts.greedy/, TypeError);
      await bad(good, { maxNewTokens: 4, maxNewTokensPerRow: Int32Array.from([1]) }, /shape \[2\] .* for opts.maxNewTokensPerRow/);
      await bad(good, { maxNewTokens: 4, maxNewTokensPerRow: Int32Array.from([1, 5]) }, /\[1, 4\] .* for opts.maxNewTokensPerRow but received 5 at index 1/);
      await bad(good, { maxNewTokens: 4, topk: 3 }, /unknown key "topk"/);
      await bad({ ...good, inputIds: Int32Array.from([1, 2, 3, 4, 5, 37]) }, { maxNewTokens: 4 }, /for prompts.inputIds but received 37 at index 5/);
      await bad({ ...good, inputIds: new Int32Array(5) }, { maxNewTokens: 4 }, /shape \[2,3\] \(length 6\) for prompts.inputIds/);
      await bad({ ...good, attentionMask: Uint8Array.from([1, 1, 1, 1, 1, 0]) }, { maxNewTokens: 4 }, /left-padded prompts .* for prompts.attentionMask but received 0 at row 1/);
      await bad({ ...good, B: 0 }, { maxNewTokens: 4 }, /prompts.B/);
      await bad(null, { maxNewTokens: 4 }, /for prompts/, TypeError);
      // forwardCached and createCache
      expect(() => e.createCache(0, 4)).toThrow(/between 1 and .* for B/);
      expect(() => e.createCache(2, 1.5)).toThrow(/for maxLength/);
      const cache = e.createCache(2, 4);
      await expect(e.forwardCached({} as never, good)).rejects.toThrow(/NeoxCache .* for cache/);
      await expect(e.forwardCached(cache, { ...good, B: 3, inputIds: new Int32Array(9) })).rejects.toThrow(/B = 2 \(the cache's rows\) for chunk.B but received 3/);
      await expect(e.forwardCached(cache, { inputIds: new Int32Array(10), B: 2, T: 5 })).rejects.toThrow(/at most 4 columns .* for chunk.T but received 5/);
      await expect(e.forwardCached(cache, good, { all: true } as never)).rejects.toThrow(/unknown key "all"/);
      const wide = NeoxEngine.create(config({ hiddenSize: 36 }), {});
      await expect(wide.forwardCached(cache, good)).rejects.toThrow(/for cache but received one for 2 layers, 3 heads, hidden 24/);
      wide.dispose();
      cache.dispose();
      await expect(e.forwardCached(cache, good)).rejects.toThrow(/KV cache has been disposed/);
      expect(() => cache.length).toThrow(/disposed/);
      // still usable
      expect((await e.generate(good, { maxNewTokens: 2 })).tokens.length).toBe(4);
    } finally {
      e.dispose();
    }
  });

  it('the raw binding re-checks and rejects instead of crashing', async () => {
    const { NeoxHandle, NeoxCacheHandle } = neoxBinding();
    const h = new NeoxHandle(cfg, { valueHead: false, init: 'normal', seed: 0, initStd: 0.02 });
    try {
      const req = {
        inputIds: Int32Array.from([1, 2, 3, 4]), attentionMask: null, positionIds: null, B: 2, T: 2, maxNewTokens: 3,
        minNewTokens: 0, maxNewTokensPerRow: null, temperature: 1, topK: 0, topP: 1, greedy: false, eosTokenId: -1,
        padTokenId: 0, seed: 0, tokens: new Int32Array(6), lengths: new Int32Array(2), logprobs: null,
      };
      expect(() => h.generate({ ...req, tokens: new Int32Array(5) })).toThrow(RangeError);
      expect(() => h.generate({ ...req, topK: 99 })).toThrow(RangeError);
      expect(() => h.generate({ ...req, eosTokenId: -2 })).toThrow(RangeError);
      expect(() => h.generate({ ...req, inputIds: new Float32Array(4) as never })).toThrow(TypeError);
      await expect(h.generate({ ...req, temperature: 0 })).rejects.toThrow(/temperature/);
      await expect(h.generate({ ...req, topP: 0 })).rejects.toThrow(/topP/);
      await expect(h.generate({ ...req, inputIds: Int32Array.from([1, 2, 3, 99]) })).rejects.toThrow(/prompts.inputIds but received 99 at index 3/);
      await expect(h.generate({ ...req, attentionMask: Uint8Array.from([1, 0, 1, 1]) })).rejects.toThrow(/left-padded/);
      await expect(h.generate({ ...req, maxNewTokensPerRow: Int32Array.from([0, 1]) })).rejects.toThrow(/maxNewTokensPerRow/);
      await h.generate(req);
      expect(req.lengths).toEqual(Int32Array.from([3, 3]));
      expect(() => new NeoxCacheHandle({} as never, 2, 4)).toThrow(TypeError);
      const c = new NeoxCacheHandle(h, 2, 4);
      const chunk = { inputIds: Int32Array.from([1, 2, 3, 4]), attentionMask: null, positionIds: null, B: 2, T: 2, logits: null, allPositions: false };
      expect(() => h.forwardCached(h as never, chunk)).toThrow(/NeoxCacheHandle for cache/);
      expect(() => h.forwardCached(c, { ...chunk, logits: new Float32Array(5) })).toThrow(RangeError);
      await expect(h.forwardCached(c, { ...chunk, B: 1, inputIds: Int32Array.from([1, 2]) })).rejects.toThrow(/the cache's rows/);
      await h.forwardCached(c, chunk);
      await expect(h.forwardCached(c, { ...chunk, inputIds: Int32Array.from([1, 2, 3, 4, 5, 6]), T: 3 })).rejects.toThrow(/for T/);
      expect(c.length()).toBe(2);
      c.dispose();
      expect(() => h.forwardCached(c, chunk)).toThrow(/disposed/);
    } finally {
      h.dispose();
    }
  });

  it('busy and disposed guards; generate keeps the training state; memory is counted', async () => {
    const e = NeoxEngine.create(cfg, { seed: 2 });
    const prompts = { inputIds: Int32Array.from([1, 2, 3, 4, 5, 6]), B: 2, T: 3 };
    const before = e.memoryBytes;
    const running = e.generate(prompts, { maxNewTokens: 5 });
    await expect(e.generate(prompts, { maxNewTokens: 5 })).rejects.toThrow(/busy/);
    await expect(e.forward(prompts)).rejects.toThrow(/busy/);
    expect(() => e.createCache(2, 4)).toThrow(/busy/);
    await running;
    expect(e.memoryBytes).toBeGreaterThan(before);
    // a cache is busy while a forwardCached uses it, even from another engine
    const cache = e.createCache(2, 8);
    const e2 = NeoxEngine.create(cfg, { seed: 3 });
    const p = e.forwardCached(cache, prompts);
    await expect(e2.forwardCached(cache, prompts)).rejects.toThrow(/KV cache is busy/);
    await p;
    expect((await e2.forwardCached(cache, prompts)).length).toBe(2 * 37); // any engine of the shape
    expect(cache.length).toBe(6);
    e2.dispose();
    // training forward, generate, backward: the backward still has its forward
    await e.forward(prompts, { loss: true, train: true });
    await e.generate(prompts, { maxNewTokens: 3 });
    await e.backward({ loss: 1 });
    expect(e.allGradients().some((v) => v !== 0)).toBe(true);
    // dispose while generating: the call settles, then the engine is gone
    const last = e.generate(prompts, { maxNewTokens: 4, returnLogprobs: true });
    e.dispose();
    expect((await last).logprobs!.length).toBe(8);
    await expect(e.generate(prompts, { maxNewTokens: 2 })).rejects.toThrow(/disposed/);
    expect(() => e.createCache(1, 1)).toThrow(/disposed/);
    cache.dispose();
  });
});
