// GPT-Neo in the engine, against an independent float64 forward written here from transformers'
// GPTNeoForCausalLM math (wte + wpe, pre-LN sequential blocks, q/k/v without bias, scores q·k NOT
// scaled, global layers: keys j <= i, local layers: i − window < j <= i over sequence indices with
// padding included, gelu_new, tied lm_head): forward with left padding and a window shorter than the
// sequence; the window really applied (the same weights with every layer global agree before the
// window fills and differ after); gradients against central finite differences of the float64 loss
// (wte's tied total, wpe, a local layer's q/k/v); the KV cache against full forwards across the
// window boundary; greedy generation; position limits; config errors naming the field; save → load
// (lm_head not written, as transformers saves it; a checkpoint that has it, and the old mask buffers,
// still loads).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../src/io/safetensors.js';
import { saveNeoxCheckpoint } from '../src/model/hf-checkpoint.js';
import { parseNeoxConfig } from '../src/model/hf-config.js';
import { loadModel } from '../src/model/load.js';
import type { GptNeoConfig } from '../src/model/neox-config.js';
import { NeoxEngine } from '../src/model/neox-engine.js';
import { makeRng } from './helpers/rng.js';

function neoConfig(over: Partial<GptNeoConfig> = {}): GptNeoConfig {
  return {
    modelType: 'gpt_neo', vocabSize: 29, hiddenSize: 16, numLayers: 3, numHeads: 2, intermediateSize: 24,
    maxPositions: 40, layerNormEps: 1e-5, hiddenAct: 'gelu_new', tieWordEmbeddings: true,
    attentionLayers: ['global', 'local', 'local'], windowSize: 3, bosTokenId: null, eosTokenId: null, ...over,
  };
}

/** Every parameter random and O(1)-effective: LayerNorm weights 1 + 0.2·N, biases 0.2·N, matrices N(0, 1/in), wte N(0, 1), wpe N(0, 0.5²). */
function randomEngine(cfg: GptNeoConfig, seed: number): NeoxEngine {
  const engine = NeoxEngine.create(cfg, { init: 'zeros' });
  const rng = makeRng(seed);
  for (const { name, shape } of engine.parameters()) {
    const p = engine.parameter(name);
    const isLnWeight = /ln_[12f]\.weight$/.test(name);
    const std = isLnWeight || shape.length === 1 ? 0.2 : name.endsWith('wte.weight') ? 1 : name.endsWith('wpe.weight') ? 0.5 : 1 / Math.sqrt(shape[1]);
    for (let i = 0; i < p.length; i++) p[i] = (isLnWeight ? 1 : 0) + std * rng.normal();
  }
  return engine;
}

type Params = (name: string) => ArrayLike<number>;

/** transformers' GPTNeoForCausalLM in float64: logits [B·T·V] at every position. */
function referenceLogits(cfg: GptNeoConfig, P: Params, ids: Int32Array, mask: Uint8Array, pos: Int32Array, B: number, T: number): Float64Array {
  const C = cfg.hiddenSize, H = cfg.numHeads, D = C / H, I = cfg.intermediateSize, V = cfg.vocabSize, N = B * T;
  const linear = (x: Float64Array, rows: number, inW: number, outW: number, w: ArrayLike<number>, b: ArrayLike<number> | null) => {
    const y = new Float64Array(rows * outW);
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < outW; o++) {
        let s = b ? b[o] : 0;
        for (let k = 0; k < inW; k++) s += x[r * inW + k] * w[o * inW + k];
        y[r * outW + o] = s;
      }
    }
    return y;
  };
  const layerNorm = (x: Float64Array, w: ArrayLike<number>, b: ArrayLike<number>) => {
    const y = new Float64Array(N * C);
    for (let r = 0; r < N; r++) {
      let m = 0;
      for (let c = 0; c < C; c++) m += x[r * C + c];
      m /= C;
      let v = 0;
      for (let c = 0; c < C; c++) v += (x[r * C + c] - m) ** 2;
      const rs = 1 / Math.sqrt(v / C + cfg.layerNormEps);
      for (let c = 0; c < C; c++) y[r * C + c] = (x[r * C + c] - m) * rs * w[c] + b[c];
    }
    return y;
  };
  const wte = P('transformer.wte.weight');
  const wpe = P('transformer.wpe.weight');
  const x = new Float64Array(N * C);
  for (let r = 0; r < N; r++) for (let c = 0; c < C; c++) x[r * C + c] = wte[ids[r] * C + c] + wpe[pos[r] * C + c];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `transformer.h.${l}`;
    const local = cfg.attentionLayers[l] === 'local';
    const h1 = layerNorm(x, P(`${p}.ln_1.weight`), P(`${p}.ln_1.bias`));
    const q = linear(h1, N, C, C, P(`${p}.attn.attention.q_proj.weight`), null);
    const k = linear(h1, N, C, C, P(`${p}.attn.attention.k_proj.weight`), null);
    const v = linear(h1, N, C, C, P(`${p}.attn.attention.v_proj.weight`), null);
    const ctx = new Float64Array(N * C);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < T; i++) {
          const keys: number[] = [];
          for (let j = 0; j <= i; j++) {
            if (local && !(i - cfg.windowSize < j)) continue;
            if (!mask[b * T + j]) continue;
            keys.push(j);
          }
          if (!keys.length) continue;
          const s = keys.map((j) => {
            let d = 0;
            for (let e = 0; e < D; e++) d += q[(b * T + i) * C + h * D + e] * k[(b * T + j) * C + h * D + e];
            return d; // no 1/√D
          });
          const mx = Math.max(...s);
          const ex = s.map((z) => Math.exp(z - mx));
          const sum = ex.reduce((a, z) => a + z, 0);
          keys.forEach((j, n) => {
            for (let e = 0; e < D; e++) ctx[(b * T + i) * C + h * D + e] += (ex[n] / sum) * v[(b * T + j) * C + h * D + e];
          });
        }
      }
    }
    const a = linear(ctx, N, C, C, P(`${p}.attn.attention.out_proj.weight`), P(`${p}.attn.attention.out_proj.bias`));
    for (let i = 0; i < N * C; i++) x[i] += a[i];
    const h2 = layerNorm(x, P(`${p}.ln_2.weight`), P(`${p}.ln_2.bias`));
    const f = linear(h2, N, C, I, P(`${p}.mlp.c_fc.weight`), P(`${p}.mlp.c_fc.bias`));
    for (let i = 0; i < f.length; i++) {
      const z = f[i];
      f[i] = 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3)));
    }
    const m = linear(f, N, I, C, P(`${p}.mlp.c_proj.weight`), P(`${p}.mlp.c_proj.bias`));
    for (let i = 0; i < N * C; i++) x[i] += m[i];
  }
  const hf = layerNorm(x, P('transformer.ln_f.weight'), P('transformer.ln_f.bias'));
  return linear(hf, N, C, V, cfg.tieWordEmbeddings ? wte : P('lm_head.weight'), null);
}

/** The mean next-token loss over pairs of unpadded tokens, in float64. */
function referenceLoss(logits: Float64Array, ids: Int32Array, mask: Uint8Array, B: number, T: number, V: number): number {
  let sum = 0;
  let n = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      const r = b * T + t;
      if (!mask[r] || !mask[r + 1]) continue;
      let mx = -Infinity;
      for (let v = 0; v < V; v++) mx = Math.max(mx, logits[r * V + v]);
      let s = 0;
      for (let v = 0; v < V; v++) s += Math.exp(logits[r * V + v] - mx);
      sum += mx + Math.log(s) - logits[r * V + ids[r + 1]];
      n++;
    }
  }
  return sum / n;
}

/** Positions counted from the first real token of each row, 0 at padding. */
function defaultPositions(mask: Uint8Array, B: number, T: number): Int32Array {
  const pos = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    let n = 0;
    for (let t = 0; t < T; t++) pos[b * T + t] = mask[b * T + t] ? n++ : 0;
  }
  return pos;
}

/** B rows of T random tokens; row b left-padded by pads[b]. */
function batch(V: number, B: number, T: number, pads: number[], seed: number) {
  const rng = makeRng(seed);
  const inputIds = new Int32Array(B * T);
  const attentionMask = new Uint8Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      inputIds[b * T + t] = rng.int(V);
      attentionMask[b * T + t] = t >= pads[b] ? 1 : 0;
    }
  }
  return { inputIds, attentionMask, B, T };
}

/** max |engine − reference| over unpadded positions, and max |reference| there. */
function compareLogits(got: Float32Array, want: Float64Array, mask: Uint8Array, V: number): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (let r = 0; r < mask.length; r++) {
    if (!mask[r]) continue;
    for (let v = 0; v < V; v++) {
      diff = Math.max(diff, Math.abs(got[r * V + v] - want[r * V + v]));
      scale = Math.max(scale, Math.abs(want[r * V + v]));
    }
  }
  return { diff, scale };
}

const engines: NeoxEngine[] = [];
const dirs: string[] = [];
afterAll(() => {
  for (const e of engines) e.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function keep(e: NeoxEngine): NeoxEngine {
  engines.push(e);
  return e;
}

describe('GPT-Neo forward against a float64 reference', () => {
  const cfg = neoConfig();
  const engine = keep(randomEngine(cfg, 7));
  const P: Params = (n) => engine.parameter(n);
  const data = batch(cfg.vocabSize, 2, 9, [0, 2], 11);
  const pos = defaultPositions(data.attentionMask, 2, 9);

  it('logits at every unpadded position, with left padding and a window (3) shorter than the sequence (9)', async () => {
    const out = await engine.forward(data, { logits: true });
    const want = referenceLogits(cfg, P, data.inputIds, data.attentionMask, pos, 2, 9);
    const { diff, scale } = compareLogits(out.logits!, want, data.attentionMask, cfg.vocabSize);
    expect(scale).toBeGreaterThan(1);
    expect(diff / scale).toBeLessThan(2e-6);
  });

  it('the window is applied: with every layer global the logits agree before the window fills and differ after', async () => {
    const global = keep(NeoxEngine.create({ ...cfg, attentionLayers: ['global', 'global', 'global'] }, { init: 'zeros' }));
    global.allParameters().set(engine.allParameters());
    const a = (await engine.forward(data, { logits: true })).logits!;
    const g = (await global.forward(data, { logits: true })).logits!;
    const V = cfg.vocabSize;
    const gref = referenceLogits({ ...cfg, attentionLayers: ['global', 'global', 'global'] }, P, data.inputIds, data.attentionMask, pos, 2, 9);
    const { diff, scale } = compareLogits(g, gref, data.attentionMask, V);
    expect(diff / scale).toBeLessThan(2e-6);
    // row 0 (no padding): query t sees the same keys in both while t < window
    for (let t = 0; t < 9; t++) {
      let d = 0;
      for (let v = 0; v < V; v++) d = Math.max(d, Math.abs(a[t * V + v] - g[t * V + v]));
      if (t < cfg.windowSize) expect(d, `t=${t}`).toBeLessThan(1e-5);
      else expect(d, `t=${t}`).toBeGreaterThan(1e-2);
    }
    // a window one wider is a different model too (the bound is i − window < j, not <=)
    const wider = referenceLogits({ ...cfg, windowSize: cfg.windowSize + 1 }, P, data.inputIds, data.attentionMask, pos, 2, 9);
    expect(compareLogits(a, wider, data.attentionMask, V).diff).toBeGreaterThan(1e-2);
  });

  it('left padding: a padded row gives the logits of its tokens unpadded (the window cuts only padding there)', async () => {
    const T = 9;
    const unpadded = { inputIds: data.inputIds.slice(T + 2), attentionMask: new Uint8Array(T - 2).fill(1), B: 1, T: T - 2 };
    const u = (await engine.forward(unpadded, { logits: true })).logits!;
    const p = (await engine.forward(data, { logits: true })).logits!;
    const V = cfg.vocabSize;
    for (let t = 0; t < T - 2; t++) {
      let d = 0;
      for (let v = 0; v < V; v++) d = Math.max(d, Math.abs(u[t * V + v] - p[(T + 2 + t) * V + v]));
      expect(d, `t=${t}`).toBeLessThan(1e-5);
    }
  });

  it('the window counts sequence indices, padding included: a masked column inside a row shrinks the window', async () => {
    // row 0 has a hole at column 4: query 6 (window 3: columns 4..6) sees 2 real keys, not 3
    const holed = { ...data, attentionMask: Uint8Array.from(data.attentionMask) };
    holed.attentionMask[4] = 0;
    const hpos = defaultPositions(holed.attentionMask, 2, 9);
    const got = (await engine.forward({ ...holed, positionIds: hpos }, { logits: true })).logits!;
    const want = referenceLogits(cfg, P, holed.inputIds, holed.attentionMask, hpos, 2, 9);
    const { diff, scale } = compareLogits(got, want, holed.attentionMask, cfg.vocabSize);
    expect(diff / scale).toBeLessThan(2e-6);
    // counting real tokens instead (the hole removed from the row) would be another model
    const squeezed = { inputIds: Int32Array.from([...data.inputIds.subarray(0, 4), ...data.inputIds.subarray(5, 9)]), B: 1, T: 8 };
    const s = (await engine.forward(squeezed, { logits: true })).logits!;
    const V = cfg.vocabSize;
    let d = 0;
    for (let v = 0; v < V; v++) d = Math.max(d, Math.abs(s[6 * V + v] - got[8 * V + v]));
    expect(d).toBeGreaterThan(1e-2); // column 8 of the holed row = token 7 of the squeezed one
  });

  it('gradients: the tied wte total, wpe and a local layer against central differences of the float64 loss', async () => {
    const V = cfg.vocabSize;
    engine.zeroGrad();
    await engine.forward({ ...data, positionIds: pos }, { loss: true, train: true });
    await engine.backward({ loss: 1 });
    const probes: [string, number][] = [
      ['transformer.wte.weight', data.inputIds[4] * cfg.hiddenSize + 3], // a token that is both input and target
      ['transformer.wte.weight', data.inputIds[5] * cfg.hiddenSize + 7],
      ['transformer.wpe.weight', 5 * cfg.hiddenSize + 1],
      ['transformer.h.1.attn.attention.q_proj.weight', 17],
      ['transformer.h.2.attn.attention.k_proj.weight', 40],
      ['transformer.h.2.attn.attention.v_proj.weight', 99],
      ['transformer.h.1.attn.attention.out_proj.bias', 2],
    ];
    for (const [name, i] of probes) {
      const p = engine.parameter(name);
      const base = p[i];
      const h = 1e-3;
      const copy = (n: string) => Float64Array.from(engine.parameter(n));
      const lossAt = (x: number) => {
        const P2: Params = (n) => {
          const a = copy(n);
          if (n === name) a[i] = x;
          return a;
        };
        return referenceLoss(referenceLogits(cfg, P2, data.inputIds, data.attentionMask, pos, 2, 9), data.inputIds, data.attentionMask, 2, 9, V);
      };
      const fd = (lossAt(base + h) - lossAt(base - h)) / (2 * h);
      const got = engine.gradient(name)[i];
      expect(Math.abs(fd), name).toBeGreaterThan(1e-4);
      expect(Math.abs(got - fd) / Math.abs(fd), `${name}[${i}]: ${got} vs ${fd}`).toBeLessThan(2e-3);
    }
  });

  it('value head: values = ln_f output · w + b', async () => {
    const vh = keep(NeoxEngine.create(cfg, { init: 'normal', seed: 3, valueHead: true }));
    vh.parameter('v_head.summary.bias')[0] = 0.25;
    const out = await vh.forward(data, { values: true, lastHidden: true });
    const w = vh.parameter('v_head.summary.weight');
    const C = cfg.hiddenSize;
    for (let r = 0; r < 18; r++) {
      let s = 0.25;
      for (let c = 0; c < C; c++) s += out.lastHidden![r * C + c] * w[c];
      expect(out.values![r]).toBeCloseTo(s, 5);
    }
  });
});

describe('GPT-Neo KV cache and generation across the window boundary', () => {
  const cfg = neoConfig({ windowSize: 4, attentionLayers: ['local', 'global', 'local'] });
  const engine = keep(randomEngine(cfg, 21));
  const V = cfg.vocabSize;

  it('incremental logits equal full-forward logits, one token at a time, far past the window', async () => {
    const B = 2;
    const prompt = batch(V, B, 3, [0, 1], 5);
    const steps = 10;
    const total = 3 + steps;
    const all = batch(V, B, total, [0, 1], 6);
    for (let b = 0; b < B; b++) for (let t = 0; t < 3; t++) all.inputIds[b * total + t] = prompt.inputIds[b * 3 + t];
    const cache = engine.createCache(B, total);
    try {
      await engine.forwardCached(cache, prompt);
      let worst = 0;
      for (let s = 0; s < steps; s++) {
        const col = 3 + s;
        const step = { inputIds: Int32Array.from([all.inputIds[col], all.inputIds[total + col]]), B, T: 1 };
        const inc = await engine.forwardCached(cache, step);
        const T = col + 1;
        const prefix = { inputIds: new Int32Array(B * T), attentionMask: new Uint8Array(B * T), B, T };
        for (let b = 0; b < B; b++) {
          for (let t = 0; t < T; t++) {
            prefix.inputIds[b * T + t] = all.inputIds[b * total + t];
            prefix.attentionMask[b * T + t] = all.attentionMask[b * total + t];
          }
        }
        const full = (await engine.forward(prefix, { logits: true })).logits!;
        for (let b = 0; b < B; b++) {
          for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(inc[b * V + v] - full[(b * T + T - 1) * V + v]));
        }
      }
      expect(cache.length).toBe(total);
      expect(worst).toBeLessThan(2e-5);
    } finally {
      cache.dispose();
    }
  });

  it('a chunk that crosses the window boundary gives every column the full forward gives', async () => {
    const B = 2;
    const all = batch(V, B, 11, [0, 2], 8);
    const full = (await engine.forward(all, { logits: true })).logits!;
    const cache = engine.createCache(B, 11);
    try {
      const take = (t0: number, t1: number) => {
        const T = t1 - t0;
        const c = { inputIds: new Int32Array(B * T), attentionMask: new Uint8Array(B * T), B, T };
        for (let b = 0; b < B; b++) {
          for (let t = 0; t < T; t++) {
            c.inputIds[b * T + t] = all.inputIds[b * 11 + t0 + t];
            c.attentionMask[b * T + t] = all.attentionMask[b * 11 + t0 + t];
          }
        }
        return c;
      };
      await engine.forwardCached(cache, take(0, 3));
      const chunk = await engine.forwardCached(cache, take(3, 11), { allPositions: true });
      let worst = 0;
      for (let b = 0; b < B; b++) {
        for (let t = 3; t < 11; t++) {
          for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(chunk[(b * 8 + t - 3) * V + v] - full[(b * 11 + t) * V + v]));
        }
      }
      expect(worst).toBeLessThan(2e-5);
    } finally {
      cache.dispose();
    }
  });

  it('greedy generation past the window equals the argmax of repeated full forwards, with its log-probs', async () => {
    const prompts = batch(V, 2, 3, [0, 1], 13);
    const N = 9;
    const out = await engine.generate(prompts, { maxNewTokens: N, greedy: true, eosTokenId: null, returnLogprobs: true });
    for (let b = 0; b < 2; b++) {
      const seq = Array.from(prompts.inputIds.subarray(b * 3, b * 3 + 3));
      const m = Array.from(prompts.attentionMask.subarray(b * 3, b * 3 + 3));
      for (let s = 0; s < N; s++) {
        const T = seq.length;
        const f = (await engine.forward({ inputIds: Int32Array.from(seq), attentionMask: Uint8Array.from(m), B: 1, T }, { logits: true })).logits!;
        const last = f.subarray((T - 1) * V, T * V);
        let arg = 0;
        for (let v = 1; v < V; v++) if (last[v] > last[arg]) arg = v;
        expect(out.tokens[b * N + s], `row ${b} token ${s}`).toBe(arg);
        let mx = -Infinity;
        for (let v = 0; v < V; v++) mx = Math.max(mx, last[v]);
        let z = 0;
        for (let v = 0; v < V; v++) z += Math.exp(last[v] - mx);
        expect(out.logprobs![b * N + s]).toBeCloseTo(last[arg] - mx - Math.log(z), 4);
        seq.push(arg);
        m.push(1);
      }
    }
  });

  it('a sampled sequence longer than the window: its incremental log-probs equal a full forward over it', async () => {
    const prompts = batch(V, 2, 3, [0, 2], 17);
    const N = 10;
    const out = await engine.generate(prompts, { maxNewTokens: N, seed: 5, eosTokenId: null, returnLogprobs: true });
    const T = 3 + N;
    const seq = { inputIds: new Int32Array(2 * T), attentionMask: new Uint8Array(2 * T), B: 2, T };
    const targets = new Int32Array(2 * T).fill(-1);
    for (let b = 0; b < 2; b++) {
      for (let t = 0; t < 3; t++) {
        seq.inputIds[b * T + t] = prompts.inputIds[b * 3 + t];
        seq.attentionMask[b * T + t] = prompts.attentionMask[b * 3 + t];
      }
      for (let s = 0; s < N; s++) {
        seq.inputIds[b * T + 3 + s] = out.tokens[b * N + s];
        seq.attentionMask[b * T + 3 + s] = 1;
        targets[b * T + 2 + s] = out.tokens[b * N + s];
      }
    }
    const full = await engine.forward(seq, { targets });
    let worst = 0;
    for (let b = 0; b < 2; b++) {
      for (let s = 0; s < N; s++) worst = Math.max(worst, Math.abs(out.logprobs![b * N + s] - full.tokenLogprobs![b * T + 2 + s]));
    }
    expect(worst).toBeLessThan(2e-5);
  });

  it('positions beyond maxPositions are errors naming the argument, for forward and generate', async () => {
    const small = keep(NeoxEngine.create(neoConfig({ maxPositions: 6 }), { init: 'normal', seed: 1 }));
    const long = batch(V, 1, 7, [0], 3);
    await expect(small.forward(long, { logits: true })).rejects.toThrow(/positionIds/);
    const ok = batch(V, 1, 7, [1], 3); // positions 0..5
    await expect(small.forward(ok, { logits: true })).resolves.toBeDefined();
    const prompt = batch(V, 1, 3, [0], 4);
    await expect(small.generate(prompt, { maxNewTokens: 5, greedy: true })).rejects.toThrow(/maxNewTokens/);
    await expect(small.generate(prompt, { maxNewTokens: 4, greedy: true })).resolves.toBeDefined();
  });
});

describe('GPT-Neo configs', () => {
  const F = '/models/neo/config.json';
  const GOOD = {
    model_type: 'gpt_neo', vocab_size: 96, hidden_size: 64, num_layers: 4, num_heads: 4, intermediate_size: null,
    activation_function: 'gelu_new', attention_types: [[['global', 'local'], 2]], window_size: 5,
    max_position_embeddings: 64, layer_norm_epsilon: 1e-5, bos_token_id: 95, eos_token_id: 95, torch_dtype: 'float32',
  };
  const errorOf = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      return (e as Error).message;
    }
    return 'no error';
  };

  it('reads the transformers form: expansion, intermediate null → 4·hidden, tie default true, old torch_dtype', () => {
    const cfg = parseNeoxConfig(GOOD, F) as GptNeoConfig;
    expect(cfg).toEqual({
      modelType: 'gpt_neo', vocabSize: 96, hiddenSize: 64, numLayers: 4, numHeads: 4, intermediateSize: 256, maxPositions: 64,
      layerNormEps: 1e-5, hiddenAct: 'gelu_new', tieWordEmbeddings: true, attentionLayers: ['global', 'local', 'global', 'local'],
      windowSize: 5, bosTokenId: 95, eosTokenId: 95,
    });
    const neo125 = parseNeoxConfig({ ...GOOD, num_layers: 12, attention_types: [[['global', 'local'], 6]], intermediate_size: 3072, tie_word_embeddings: false }, F) as GptNeoConfig;
    expect(neo125.attentionLayers.length).toBe(12);
    expect(neo125.attentionLayers[11]).toBe('local');
    expect(neo125.tieWordEmbeddings).toBe(false);
    expect(neo125.intermediateSize).toBe(3072);
  });

  it('an unknown attention type names the field and its index', () => {
    const m = errorOf(() => parseNeoxConfig({ ...GOOD, attention_types: [[['global', 'sliding'], 2]] }, F));
    expect(m).toBe(`${F}: field "attention_types[0][0][1]": expected one of "global", "local" but found the string "sliding"`);
  });

  it('an expansion that does not match num_layers names attention_types and num_layers', () => {
    const m = errorOf(() => parseNeoxConfig({ ...GOOD, attention_types: [[['global', 'local'], 3]] }, F));
    expect(m).toContain(`${F}: field "attention_types": expected an expansion with num_layers (4) entries`);
    expect(errorOf(() => parseNeoxConfig({ ...GOOD, attention_types: [[['global', 'local'], -1]] }, F))).toContain('field "attention_types[0][1]"');
    expect(errorOf(() => parseNeoxConfig({ ...GOOD, attention_types: 'global' }, F))).toContain('field "attention_types": expected an array');
    expect(errorOf(() => parseNeoxConfig({ ...GOOD, attention_layers: ['global', 'global', 'global', 'local'] }, F))).toContain('field "attention_layers"');
  });

  it('local layers without window_size name the field; all-global configs do not need it', () => {
    const { window_size: _w, ...noWindow } = GOOD;
    expect(errorOf(() => parseNeoxConfig(noWindow, F))).toBe(`${F}: field "window_size": expected an integer >= 1 but found nothing (the field is missing)`);
    expect(errorOf(() => parseNeoxConfig({ ...GOOD, window_size: 0 }, F))).toContain('field "window_size"');
    const g = parseNeoxConfig({ ...noWindow, attention_types: [[['global'], 4]] }, F) as GptNeoConfig;
    expect(g.attentionLayers).toEqual(['global', 'global', 'global', 'global']);
  });

  it('GPT-NeoX key names and other bad fields are errors naming the GPT-Neo field', () => {
    const { num_layers: _l, num_heads: _h, ...rest } = GOOD;
    expect(errorOf(() => parseNeoxConfig({ ...rest, num_hidden_layers: 4, num_attention_heads: 4 }, F))).toContain('field "num_layers"');
    expect(errorOf(() => parseNeoxConfig({ ...GOOD, num_heads: 3 }, F))).toContain('field "hidden_size": expected a multiple of num_heads (3)');
    expect(errorOf(() => parseNeoxConfig({ ...GOOD, activation_function: 'relu' }, F))).toContain('field "activation_function"');
    expect(errorOf(() => parseNeoxConfig({ ...GOOD, dtype: 'int8' }, F))).toContain('field "dtype"');
  });

  it('the engine checks its config too, naming the field', () => {
    expect(() => NeoxEngine.create(neoConfig({ attentionLayers: ['global', 'local'] }))).toThrow(/cfg\.attentionLayers/);
    expect(() => NeoxEngine.create(neoConfig({ attentionLayers: ['global', 'sliding' as 'local', 'local'] }))).toThrow(/cfg\.attentionLayers\[1\]/);
    expect(() => NeoxEngine.create(neoConfig({ windowSize: 0 }))).toThrow(/cfg\.windowSize/);
    expect(() => NeoxEngine.create(neoConfig({ maxPositions: 0 }))).toThrow(/cfg\.maxPositions/);
  });
});

describe('GPT-Neo save → load', () => {
  it('round trip in the Hugging Face layout: lm_head not written, every parameter and the logits back', async () => {
    const cfg = neoConfig({ eosTokenId: 3, bosTokenId: 3 });
    const engine = keep(randomEngine(cfg, 31));
    const dir = mkdtempSync(join(tmpdir(), 'rl-gptneo-'));
    dirs.push(dir);
    await saveNeoxCheckpoint(join(dir, 'm'), cfg, engine);
    const f = SafetensorsFile.open(join(dir, 'm', 'model.safetensors'));
    const names = f.names();
    f.close();
    expect(names).not.toContain('lm_head.weight');
    expect(names).toContain('transformer.wpe.weight');
    expect(names).toContain('transformer.h.2.attn.attention.q_proj.weight');
    expect(names.length).toBe(engine.parameters().length);
    const json = JSON.parse(readFileSync(join(dir, 'm', 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(json).toMatchObject({ model_type: 'gpt_neo', architectures: ['GPTNeoForCausalLM'], num_layers: 3, num_heads: 2, window_size: 3 });
    expect(json.attention_types).toEqual([[['global', 'local', 'local'], 1]]);
    const loaded = await loadModel(join(dir, 'm'));
    keep(loaded.engine);
    expect(loaded.config).toEqual(cfg);
    for (const { name } of engine.parameters()) expect(loaded.engine.parameter(name), name).toEqual(engine.parameter(name));
    const data = batch(cfg.vocabSize, 2, 7, [0, 2], 2);
    expect((await loaded.engine.forward(data, { logits: true })).logits).toEqual((await engine.forward(data, { logits: true })).logits);
  });

  it('a checkpoint with lm_head.weight and the old mask buffers loads (skipped, with the reason); untied writes lm_head', async () => {
    const cfg = neoConfig();
    const engine = keep(randomEngine(cfg, 41));
    const dir = mkdtempSync(join(tmpdir(), 'rl-gptneo-'));
    dirs.push(dir);
    await saveNeoxCheckpoint(join(dir, 'm'), cfg, engine);
    const tensors: Record<string, TensorToWrite> = {};
    for (const { name, shape } of engine.parameters()) tensors[name] = { dtype: 'F32', shape, data: engine.parameter(name) };
    tensors['lm_head.weight'] = { dtype: 'F32', shape: [cfg.vocabSize, cfg.hiddenSize], data: engine.parameter('transformer.wte.weight') };
    tensors['transformer.h.0.attn.attention.bias'] = { dtype: 'U8', shape: [1, 1, 40, 40], data: new Uint8Array(1600) };
    tensors['transformer.h.0.attn.attention.masked_bias'] = { dtype: 'F32', shape: [], data: new Float32Array([-1e9]) };
    writeSafetensors(join(dir, 'm', 'model.safetensors'), tensors, { format: 'pt' });
    const loaded = await loadModel(join(dir, 'm'));
    keep(loaded.engine);
    expect(loaded.report.skipped).toEqual(expect.arrayContaining([
      { name: 'lm_head.weight', reason: 'tied to transformer.wte.weight' },
      { name: 'transformer.h.0.attn.attention.bias', reason: 'buffer' },
      { name: 'transformer.h.0.attn.attention.masked_bias', reason: 'buffer' },
    ]));
    expect(loaded.engine.parameter('transformer.wpe.weight')).toEqual(engine.parameter('transformer.wpe.weight'));

    const untied = neoConfig({ tieWordEmbeddings: false });
    const u = keep(randomEngine(untied, 43));
    await saveNeoxCheckpoint(join(dir, 'u'), untied, u);
    const uf = SafetensorsFile.open(join(dir, 'u', 'model.safetensors'));
    expect(uf.names()).toContain('lm_head.weight');
    uf.close();
    const back = await loadModel(join(dir, 'u'));
    keep(back.engine);
    expect(back.config.tieWordEmbeddings).toBe(false);
    expect(back.engine.parameter('lm_head.weight')).toEqual(u.parameter('lm_head.weight'));
  });
});
