// A float64 reference of the GPT-NeoX forward pass (transformers' GPTNeoXForCausalLM + TRL's value
// head), written as plainly as the math in docs/neox.md, to test the native engine against and to
// differentiate by finite differences. Parameters are read by Hugging Face name.
// Padded positions follow the engine's documented rule: a query with no visible key attends to
// nothing (its attention output is 0).
import type { NeoxConfig } from '../../src/model/neox-config.js';
import { valueDropoutKeeps } from '../../src/model/neox-engine.js';

export type Params = Map<string, Float64Array>;

export interface RefInputs {
  ids: Int32Array;
  mask: Uint8Array;
  pos: Int32Array;
  B: number;
  T: number;
  targets?: Int32Array;
  valueHead?: boolean;
  /** TRL's value-head dropout with the engine's mask (valueDropoutKeeps of src/model/neox-engine.ts). */
  valueDropout?: { p: number; seed: number };
}

export interface RefOutputs {
  logits: Float64Array; // [B,T,V]
  logp: Float64Array; // [B,T], 0 where target −1
  loss: number; // mean next-token NLL over pairs with both tokens unpadded
  values: Float64Array | null; // [B,T]
  hooks: Map<string, Float64Array>; // hidden.i, resid.i, attn_out.i, mlp_post.i, mlp_out.i
}

/** erf in float64 (JS has none): Taylor series below 2.5, Lentz continued fraction for erfc above. */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 2.5) {
    // erf(x) = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
    let term = x; // (−1)^n x^(2n+1) / n!
    let sum = x;
    for (let n = 1; n < 80; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(a) = exp(−a²)/√π · 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + 2/(a + …)))))
  let f = a;
  let C = a;
  let D = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    D = a + an * D;
    D = D === 0 ? 1e-300 : 1 / D;
    C = a + an / C;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
  return x < 0 ? erfc - 1 : 1 - erfc;
}

export function gelu(x: number, tanhForm: boolean): number {
  if (tanhForm) return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

function layerNorm(x: Float64Array, w: Float64Array, b: Float64Array, N: number, C: number, eps: number): Float64Array {
  const out = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    let m = 0;
    for (let c = 0; c < C; c++) m += x[n * C + c];
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[n * C + c] - m) ** 2;
    v /= C;
    const r = 1 / Math.sqrt(v + eps);
    for (let c = 0; c < C; c++) out[n * C + c] = (x[n * C + c] - m) * r * w[c] + b[c];
  }
  return out;
}

/** y = x·Wᵀ + b for W [OUT,IN]. */
function linear(x: Float64Array, W: Float64Array, b: Float64Array | undefined, N: number, IN: number, OUT: number): Float64Array {
  const y = new Float64Array(N * OUT);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OUT; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < IN; i++) s += x[n * IN + i] * W[o * IN + i];
      y[n * OUT + o] = s;
    }
  }
  return y;
}

export function refNeoxForward(cfg: NeoxConfig, P: Params, inp: RefInputs): RefOutputs {
  const { ids, mask, pos, B, T } = inp;
  const C = cfg.hiddenSize;
  const V = cfg.vocabSize;
  const I = cfg.intermediateSize;
  const NH = cfg.numHeads;
  const HD = C / NH;
  const RD = Math.floor(HD * cfg.rotaryPct);
  const N = B * T;
  const tanhForm = cfg.hiddenAct !== 'gelu';
  const get = (name: string): Float64Array => {
    const p = P.get(name);
    if (!p) throw new Error(`reference: missing parameter ${name}`);
    return p;
  };
  const hooks = new Map<string, Float64Array>();

  // embeddings
  const wte = get('gpt_neox.embed_in.weight');
  let x = new Float64Array(N * C);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) x[n * C + c] = wte[ids[n] * C + c];
  hooks.set('hidden.0', x);

  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `gpt_neox.layers.${l}`;
    const ln1 = layerNorm(x, get(`${p}.input_layernorm.weight`), get(`${p}.input_layernorm.bias`), N, C, cfg.layerNormEps);
    const qkv = linear(ln1, get(`${p}.attention.query_key_value.weight`), P.get(`${p}.attention.query_key_value.bias`), N, C, 3 * C);
    // rotate_half rotary on the first RD dims of q and k of every head; qkv is [N][head][q,k,v][HD]
    const half = RD / 2;
    for (let n = 0; n < N; n++) {
      for (let h = 0; h < NH; h++) {
        for (const part of [0, 1]) {
          const o = n * 3 * C + h * 3 * HD + part * HD;
          const rot = new Float64Array(RD);
          for (let j = 0; j < half; j++) {
            const angle = pos[n] * Math.pow(cfg.rotaryBase, -(2 * j) / RD);
            const c = Math.cos(angle);
            const s = Math.sin(angle);
            const x1 = qkv[o + j];
            const x2 = qkv[o + j + half];
            rot[j] = x1 * c - x2 * s;
            rot[j + half] = x2 * c + x1 * s;
          }
          for (let j = 0; j < RD; j++) qkv[o + j] = rot[j];
        }
      }
    }
    // causal attention with the padding mask; softmax over visible keys; none visible → output 0
    const ctx = new Float64Array(N * C);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < NH; h++) {
        for (let t = 0; t < T; t++) {
          const q = (b * T + t) * 3 * C + h * 3 * HD;
          const s: number[] = [];
          const keys: number[] = [];
          for (let j = 0; j <= t; j++) {
            if (!mask[b * T + j]) continue;
            const k = (b * T + j) * 3 * C + h * 3 * HD + HD;
            let d = 0;
            for (let e = 0; e < HD; e++) d += qkv[q + e] * qkv[k + e];
            s.push(d / Math.sqrt(HD));
            keys.push(j);
          }
          if (keys.length === 0) continue;
          const m = Math.max(...s);
          const ex = s.map((v) => Math.exp(v - m));
          const z = ex.reduce((a, v) => a + v, 0);
          for (let i = 0; i < keys.length; i++) {
            const v = (b * T + keys[i]) * 3 * C + h * 3 * HD + 2 * HD;
            for (let e = 0; e < HD; e++) ctx[(b * T + t) * C + h * HD + e] += (ex[i] / z) * qkv[v + e];
          }
        }
      }
    }
    const attnOut = linear(ctx, get(`${p}.attention.dense.weight`), P.get(`${p}.attention.dense.bias`), N, C, C);
    let mlpIn = x;
    if (!cfg.parallelResidual) {
      mlpIn = new Float64Array(N * C);
      for (let i = 0; i < N * C; i++) mlpIn[i] = x[i] + attnOut[i];
    }
    const ln2 = layerNorm(mlpIn, get(`${p}.post_attention_layernorm.weight`), get(`${p}.post_attention_layernorm.bias`), N, C, cfg.layerNormEps);
    const fc = linear(ln2, get(`${p}.mlp.dense_h_to_4h.weight`), get(`${p}.mlp.dense_h_to_4h.bias`), N, C, I);
    const post = fc.map((v) => gelu(v, tanhForm));
    const mlpOut = linear(post, get(`${p}.mlp.dense_4h_to_h.weight`), get(`${p}.mlp.dense_4h_to_h.bias`), N, I, C);
    const y = new Float64Array(N * C);
    for (let i = 0; i < N * C; i++) y[i] = cfg.parallelResidual ? x[i] + attnOut[i] + mlpOut[i] : mlpIn[i] + mlpOut[i];
    hooks.set(`attn_out.${l}`, attnOut);
    hooks.set(`mlp_post.${l}`, post);
    hooks.set(`mlp_out.${l}`, mlpOut);
    hooks.set(`resid.${l}`, y);
    if (l + 1 < cfg.numLayers) hooks.set(`hidden.${l + 1}`, y);
    x = y;
  }

  const hf = layerNorm(x, get('gpt_neox.final_layer_norm.weight'), get('gpt_neox.final_layer_norm.bias'), N, C, cfg.layerNormEps);
  hooks.set(`hidden.${cfg.numLayers}`, hf);
  const wout = cfg.tieWordEmbeddings ? wte : get('embed_out.weight');
  const logits = linear(hf, wout, undefined, N, C, V);
  const lse = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, logits[n * V + v]);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(logits[n * V + v] - m);
    lse[n] = m + Math.log(s);
  }
  const logp = new Float64Array(N);
  if (inp.targets) {
    for (let n = 0; n < N; n++) if (inp.targets[n] >= 0) logp[n] = logits[n * V + inp.targets[n]] - lse[n];
  }
  let nll = 0;
  let pairs = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      const n = b * T + t;
      if (!mask[n] || !mask[n + 1]) continue;
      nll += lse[n] - logits[n * V + ids[n + 1]];
      pairs++;
    }
  }
  let values: Float64Array | null = null;
  if (inp.valueHead) {
    const w = get('v_head.summary.weight');
    const vb = get('v_head.summary.bias');
    values = new Float64Array(N);
    const drop = inp.valueDropout ?? { p: 0, seed: 0 };
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let c = 0; c < C; c++) {
        if (drop.p === 0 || valueDropoutKeeps(drop.seed, n, c, drop.p)) s += hf[n * C + c] * w[c];
      }
      values[n] = s / (1 - drop.p) + vb[0];
    }
  }
  return { logits, logp, loss: pairs ? nll / pairs : NaN, values, hooks };
}
