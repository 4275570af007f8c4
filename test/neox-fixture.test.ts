// Parity with Hugging Face transformers on shared/fixtures/tiny-neox-a (GPTNeoXForCausalLM, float32,
// parallel residual, erf GELU, untied, attention biases; batch 2 × 16, row 1 left-padded by 3):
// every reference tensor — logits, token log-probs, loss, hidden states, hooks, and the gradient of
// the loss for every parameter. Tolerances are the fixture's: ~1e-5 absolute on activations, and
// max|diff| / max|ref| < 1e-4 on gradients.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../src/io/safetensors.js';
import type { NeoxConfig } from '../src/model/neox-config.js';
import { NeoxEngine, type NeoxForwardResult } from '../src/model/neox-engine.js';

const DIR = '/work/shared/fixtures/tiny-neox-a';
const here = existsSync(join(DIR, 'reference.safetensors'));

/** The fixture's config.json keys → NeoxConfig (both rotary forms; see shared/README.md). */
function fixtureConfig(path: string): NeoxConfig {
  const j = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const rope = (j.rope_parameters ?? {}) as Record<string, number>;
  return {
    modelType: 'gpt_neox',
    vocabSize: j.vocab_size as number,
    hiddenSize: j.hidden_size as number,
    numLayers: j.num_hidden_layers as number,
    numHeads: j.num_attention_heads as number,
    intermediateSize: j.intermediate_size as number,
    rotaryPct: rope.partial_rotary_factor ?? (j.rotary_pct as number),
    rotaryBase: rope.rope_theta ?? (j.rotary_emb_base as number),
    maxPositions: j.max_position_embeddings as number,
    layerNormEps: j.layer_norm_eps as number,
    parallelResidual: (j.use_parallel_residual as boolean) ?? true,
    hiddenAct: j.hidden_act as NeoxConfig['hiddenAct'],
    tieWordEmbeddings: (j.tie_word_embeddings as boolean) ?? false,
    attentionBias: (j.attention_bias as boolean) ?? true,
    bosTokenId: (j.bos_token_id as number) ?? null,
    eosTokenId: (j.eos_token_id as number) ?? null,
  };
}

function toI32(t: ArrayLike<number>): Int32Array {
  return Int32Array.from(t);
}

describe.skipIf(!here)('tiny-neox-a: parity with transformers', () => {
  let cfg: NeoxConfig;
  let ref: SafetensorsFile;
  let engine: NeoxEngine;
  let mask: Uint8Array;
  let ids: Int32Array;
  let B: number;
  let T: number;
  let fwd: NeoxForwardResult;
  const hooks: Record<string, Float32Array> = {};
  const report: string[] = [];

  const refF32 = (name: string) => ref.readF32(name);

  /** max |a − b| over positions (b,t) with mask 1 (rows of `width`). */
  function maskedMaxDiff(a: Float32Array, b: Float32Array, width: number, skipPadded = true): number {
    expect(a.length).toBe(b.length);
    let m = 0;
    for (let r = 0; r < B * T; r++) {
      if (skipPadded && !mask[r]) continue;
      for (let k = 0; k < width; k++) m = Math.max(m, Math.abs(a[r * width + k] - b[r * width + k]));
    }
    return m;
  }

  beforeAll(async () => {
    cfg = fixtureConfig(join(DIR, 'config.json'));
    ref = SafetensorsFile.open(join(DIR, 'reference.safetensors'));
    const model = SafetensorsFile.open(join(DIR, 'model.safetensors'));
    engine = NeoxEngine.create(cfg, { init: 'zeros' });
    for (const spec of engine.parameters()) engine.parameter(spec.name).set(model.readF32(spec.name, spec.shape));
    model.close();
    const idsT = ref.read('input_ids');
    [B, T] = idsT.shape;
    ids = toI32(idsT.data as Int32Array);
    mask = Uint8Array.from(ref.read('attention_mask').data as Int32Array);
    const positionIds = toI32(ref.read('position_ids').data as Int32Array);
    const targets = new Int32Array(B * T).fill(-1);
    for (let b = 0; b < B; b++) for (let t = 0; t + 1 < T; t++) targets[b * T + t] = ids[b * T + t + 1];
    for (let i = 0; i <= cfg.numLayers; i++) hooks[`hidden.${i}`] = new Float32Array(B * T * cfg.hiddenSize);
    for (let i = 0; i < cfg.numLayers; i++) {
      hooks[`attn_out.${i}`] = new Float32Array(B * T * cfg.hiddenSize);
      hooks[`mlp_post.${i}`] = new Float32Array(B * T * cfg.intermediateSize);
      hooks[`mlp_out.${i}`] = new Float32Array(B * T * cfg.hiddenSize);
      hooks[`resid.${i}`] = new Float32Array(B * T * cfg.hiddenSize);
    }
    fwd = await engine.forward(
      { inputIds: ids, attentionMask: mask, positionIds, B, T },
      { logits: true, targets, loss: true, lastHidden: true, hooks, train: true },
    );
    engine.zeroGrad();
    await engine.backward({ loss: 1 });
  });

  afterAll(() => {
    engine?.dispose();
    ref?.close();
    if (report.length) console.log(`tiny-neox-a max errors:\n  ${report.join('\n  ')}`);
  });

  it('logits: every position of the unpadded row, and the unpadded positions of the padded row', () => {
    const V = cfg.vocabSize;
    const want = refF32('logits');
    let full = 0; // rows without padding: all positions
    for (let b = 0; b < B; b++) {
      let padded = false;
      for (let t = 0; t < T; t++) padded ||= mask[b * T + t] === 0;
      if (padded) continue;
      for (let i = b * T * V; i < (b + 1) * T * V; i++) full = Math.max(full, Math.abs(fwd.logits![i] - want[i]));
    }
    const unpadded = maskedMaxDiff(fwd.logits!, want, V);
    report.push(`logits ${full.toExponential(2)} (unpadded rows), ${unpadded.toExponential(2)} (unpadded positions)`);
    expect(full).toBeLessThan(2e-5);
    expect(unpadded).toBeLessThan(2e-5);
  });

  it('token log-probs of the next token and the loss', () => {
    const want = refF32('token_logprobs'); // [B, T−1]: log p(token t+1) at t
    let m = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t + 1 < T; t++) {
        if (!mask[b * T + t] || !mask[b * T + t + 1]) continue;
        m = Math.max(m, Math.abs(fwd.tokenLogprobs![b * T + t] - want[b * (T - 1) + t]));
      }
      expect(fwd.tokenLogprobs![b * T + T - 1]).toBe(0); // target −1: skipped
    }
    const dl = Math.abs(fwd.loss! - refF32('loss')[0]);
    report.push(`token_logprobs ${m.toExponential(2)}, loss ${dl.toExponential(2)}`);
    expect(m).toBeLessThan(2e-5);
    expect(dl).toBeLessThan(1e-5);
  });

  it('hidden states (embeddings, layer outputs, final layer norm) and lastHidden', () => {
    for (let i = 0; i <= cfg.numLayers; i++) {
      const d = maskedMaxDiff(hooks[`hidden.${i}`], refF32(`hidden.${i}`), cfg.hiddenSize);
      report.push(`hidden.${i} ${d.toExponential(2)}`);
      expect(d, `hidden.${i}`).toBeLessThan(2e-5);
    }
    expect(fwd.lastHidden).toEqual(hooks[`hidden.${cfg.numLayers}`]);
    // resid.i is the residual stream after layer i: hidden.(i+1) for all but the last layer
    for (let i = 0; i + 1 < cfg.numLayers; i++) expect(hooks[`resid.${i}`]).toEqual(hooks[`hidden.${i + 1}`]);
  });

  it('hooks attn_out.i, mlp_post.i, mlp_out.i at unpadded positions', () => {
    for (let i = 0; i < cfg.numLayers; i++) {
      for (const [name, width] of [[`attn_out.${i}`, cfg.hiddenSize], [`mlp_post.${i}`, cfg.intermediateSize], [`mlp_out.${i}`, cfg.hiddenSize]] as const) {
        const d = maskedMaxDiff(hooks[name], refF32(name), width);
        report.push(`${name} ${d.toExponential(2)}`);
        expect(d, name).toBeLessThan(2e-5);
      }
    }
  });

  it('the last layer output: resid.(L−1) under the final layer norm gives hidden.L', () => {
    // hidden.L is after the final norm, so resid.(L−1) is checked through it: recompute the norm.
    const L = cfg.numLayers;
    const C = cfg.hiddenSize;
    const x = hooks[`resid.${L - 1}`];
    const w = engine.parameter('gpt_neox.final_layer_norm.weight');
    const bias = engine.parameter('gpt_neox.final_layer_norm.bias');
    const want = refF32(`hidden.${L}`);
    let m = 0;
    for (let r = 0; r < B * T; r++) {
      if (!mask[r]) continue;
      let mean = 0;
      for (let c = 0; c < C; c++) mean += x[r * C + c];
      mean /= C;
      let v = 0;
      for (let c = 0; c < C; c++) v += (x[r * C + c] - mean) ** 2;
      const rs = 1 / Math.sqrt(v / C + cfg.layerNormEps);
      for (let c = 0; c < C; c++) m = Math.max(m, Math.abs((x[r * C + c] - mean) * rs * w[c] + bias[c] - want[r * C + c]));
    }
    expect(m).toBeLessThan(2e-5);
  });

  it('gradient of the loss for every parameter (grad.lm_head.weight is embed_out)', () => {
    const names = ref.names().filter((n) => n.startsWith('grad.'));
    expect(names.length).toBe(engine.parameters().length);
    let worst = 0;
    let worstName = '';
    for (const refName of names) {
      const param = refName === 'grad.lm_head.weight' ? 'embed_out.weight' : refName.slice(5);
      const want = refF32(refName);
      const got = engine.gradient(param);
      expect(got.length, param).toBe(want.length);
      let maxRef = 0;
      let maxDiff = 0;
      for (let i = 0; i < want.length; i++) {
        maxRef = Math.max(maxRef, Math.abs(want[i]));
        maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
      }
      const rel = maxDiff / maxRef;
      expect(maxRef, param).toBeGreaterThan(0);
      expect(rel, param).toBeLessThan(1e-4);
      if (rel > worst) {
        worst = rel;
        worstName = param;
      }
    }
    report.push(`gradients: worst max|diff|/max|ref| ${worst.toExponential(2)} (${worstName})`);
  });

  it('a second backward without a new training forward is an error, and gradients accumulate', async () => {
    await expect(engine.backward({ loss: 1 })).rejects.toThrow(/training forward/);
    const g1 = Float32Array.from(engine.gradient('gpt_neox.layers.0.attention.query_key_value.weight'));
    await engine.forward({ inputIds: ids, attentionMask: mask, B, T }, { loss: true, train: true });
    await engine.backward({ loss: 1 });
    const g2 = engine.gradient('gpt_neox.layers.0.attention.query_key_value.weight');
    let m = 0;
    let s = 0;
    for (let i = 0; i < g1.length; i++) {
      m = Math.max(m, Math.abs(g2[i] - 2 * g1[i]));
      s = Math.max(s, Math.abs(g1[i]));
    }
    expect(m / s).toBeLessThan(1e-5); // default positions = the fixture's; same gradient added again
  });
});
