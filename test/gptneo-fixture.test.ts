// Parity on shared/fixtures/tiny-gptneo-a (GPTNeoForCausalLM: learned positions, q/k/v without bias,
// unscaled scores, layers global/local/global/local with window 5, gelu_new, tied lm_head; batch 2 × 16,
// row 1 left-padded by 3): the folder loaded through loadModel (config.json → GptNeoConfig, weights
// without lm_head.weight), then every reference tensor — logits, token log-probs, loss, hidden states,
// hooks, and the gradient of every parameter, the tied wte total among them. The two halves of the
// tied gradient are checked apart: the lm_head half recomputed here in float64 from the engine's own
// logits and final hidden state, the embedding half as the rest. Tolerances are the fixture's:
// ~1e-5 absolute on activations, max|diff| / max|ref| < 1e-4 on gradients. The verify-model CLI is
// run on the same folder.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { loadModel, type LoadedModel } from '../src/model/load.js';
import type { GptNeoConfig } from '../src/model/neox-config.js';
import type { NeoxEngine, NeoxForwardResult } from '../src/model/neox-engine.js';
import { runCli } from './helpers/cli.js';

const DIR = '/work/shared/fixtures/tiny-gptneo-a';
const here = existsSync(join(DIR, 'reference.safetensors'));

describe.skipIf(!here)('tiny-gptneo-a: parity with transformers GPT-Neo', () => {
  let loaded: LoadedModel;
  let cfg: GptNeoConfig;
  let engine: NeoxEngine;
  let ref: SafetensorsFile;
  let mask: Uint8Array;
  let ids: Int32Array;
  let B: number;
  let T: number;
  let fwd: NeoxForwardResult;
  const hooks: Record<string, Float32Array> = {};
  const report: string[] = [];

  const refF32 = (name: string) => ref.readF32(name);

  /** max |a − b| over positions with mask 1 (rows of `width`). */
  function maskedMaxDiff(a: Float32Array, b: Float32Array, width: number): number {
    expect(a.length).toBe(b.length);
    let m = 0;
    for (let r = 0; r < B * T; r++) {
      if (!mask[r]) continue;
      for (let k = 0; k < width; k++) m = Math.max(m, Math.abs(a[r * width + k] - b[r * width + k]));
    }
    return m;
  }

  /** max|got − want| / max|want|. */
  function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
    let maxRef = 0;
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) {
      maxRef = Math.max(maxRef, Math.abs(want[i]));
      maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
    }
    return maxDiff / maxRef;
  }

  beforeAll(async () => {
    loaded = await loadModel(DIR);
    engine = loaded.engine;
    expect(loaded.config.modelType).toBe('gpt_neo');
    cfg = loaded.config as GptNeoConfig;
    ref = SafetensorsFile.open(join(DIR, 'reference.safetensors'));
    const idsT = ref.read('input_ids');
    [B, T] = idsT.shape;
    ids = Int32Array.from(idsT.data as Int32Array);
    mask = Uint8Array.from(ref.read('attention_mask').data as Int32Array);
    const positionIds = Int32Array.from(ref.read('position_ids').data as Int32Array);
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
    if (report.length) console.log(`tiny-gptneo-a max errors:\n  ${report.join('\n  ')}`);
  });

  it('reads config.json as transformers does, and loads every weight but the tied lm_head', () => {
    expect(cfg).toMatchObject({
      vocabSize: 96, hiddenSize: 64, numLayers: 4, numHeads: 4, intermediateSize: 256, maxPositions: 64,
      windowSize: 5, hiddenAct: 'gelu_new', tieWordEmbeddings: true, layerNormEps: 1e-5, bosTokenId: 95, eosTokenId: 95,
    });
    expect(cfg.attentionLayers).toEqual(['global', 'local', 'global', 'local']);
    const names = engine.parameters().map((p) => p.name);
    expect(names).not.toContain('lm_head.weight');
    expect(names).toContain('transformer.wpe.weight');
    expect(loaded.report.loaded.length).toBe(names.length);
    expect(loaded.report.skipped).toEqual([]);
  });

  it('logits: every position of the unpadded row, and the unpadded positions of the padded row', () => {
    const V = cfg.vocabSize;
    const want = refF32('logits');
    let full = 0;
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
    const want = refF32('token_logprobs');
    let m = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t + 1 < T; t++) {
        if (!mask[b * T + t] || !mask[b * T + t + 1]) continue;
        m = Math.max(m, Math.abs(fwd.tokenLogprobs![b * T + t] - want[b * (T - 1) + t]));
      }
    }
    const dl = Math.abs(fwd.loss! - refF32('loss')[0]);
    report.push(`token_logprobs ${m.toExponential(2)}, loss ${dl.toExponential(2)}`);
    expect(m).toBeLessThan(2e-5);
    expect(dl).toBeLessThan(1e-5);
  });

  it('hidden states (wte + wpe, block outputs, ln_f), resid.i and the hooks', () => {
    for (let i = 0; i <= cfg.numLayers; i++) {
      const d = maskedMaxDiff(hooks[`hidden.${i}`], refF32(`hidden.${i}`), cfg.hiddenSize);
      report.push(`hidden.${i} ${d.toExponential(2)}`);
      expect(d, `hidden.${i}`).toBeLessThan(2e-5);
    }
    expect(fwd.lastHidden).toEqual(hooks[`hidden.${cfg.numLayers}`]);
    for (let i = 0; i + 1 < cfg.numLayers; i++) expect(hooks[`resid.${i}`]).toEqual(hooks[`hidden.${i + 1}`]);
    for (let i = 0; i < cfg.numLayers; i++) {
      for (const [name, width] of [[`attn_out.${i}`, cfg.hiddenSize], [`mlp_post.${i}`, cfg.intermediateSize], [`mlp_out.${i}`, cfg.hiddenSize]] as const) {
        const d = maskedMaxDiff(hooks[name], refF32(name), width);
        report.push(`${name} ${d.toExponential(2)}`);
        expect(d, name).toBeLessThan(2e-5);
      }
    }
  });

  it('the last block output (resid.3) under ln_f gives hidden.4', () => {
    const L = cfg.numLayers;
    const C = cfg.hiddenSize;
    const x = hooks[`resid.${L - 1}`];
    const w = engine.parameter('transformer.ln_f.weight');
    const bias = engine.parameter('transformer.ln_f.bias');
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

  it('gradient of the loss for every parameter, wte the tied total', () => {
    const names = ref.names().filter((n) => n.startsWith('grad.'));
    expect(names.length).toBe(engine.parameters().length);
    let worst = 0;
    let worstName = '';
    for (const refName of names) {
      const param = refName.slice(5);
      const want = refF32(refName);
      const got = engine.gradient(param);
      expect(got.length, param).toBe(want.length);
      const rel = relErr(got, want);
      expect(rel, param).toBeLessThan(1e-4);
      if (rel > worst) {
        worst = rel;
        worstName = param;
      }
    }
    report.push(`gradients: worst max|diff|/max|ref| ${worst.toExponential(2)} (${worstName})`);
  });

  it('both halves of the tied gradient: lm_head (recomputed in float64) and the embedding lookup', () => {
    // loss = mean over pairs of −log softmax(z_r)[y_r]; z_r = h_r·wteᵀ  →  d wte (head part) = Σ_r (p_r − e_y)·h_rᵀ / pairs
    const V = cfg.vocabSize;
    const C = cfg.hiddenSize;
    const z = fwd.logits!;
    const h = fwd.lastHidden!;
    const head = new Float64Array(V * C);
    let pairs = 0;
    for (let b = 0; b < B; b++) for (let t = 0; t + 1 < T; t++) if (mask[b * T + t] && mask[b * T + t + 1]) pairs++;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t + 1 < T; t++) {
        const r = b * T + t;
        if (!mask[r] || !mask[r + 1]) continue;
        let mx = -Infinity;
        for (let v = 0; v < V; v++) mx = Math.max(mx, z[r * V + v]);
        let s = 0;
        for (let v = 0; v < V; v++) s += Math.exp(z[r * V + v] - mx);
        for (let v = 0; v < V; v++) {
          const g = (Math.exp(z[r * V + v] - mx) / s - (v === ids[r + 1] ? 1 : 0)) / pairs;
          for (let c = 0; c < C; c++) head[v * C + c] += g * h[r * C + c];
        }
      }
    }
    const total = engine.gradient('transformer.wte.weight');
    const embedding = Float64Array.from(total, (x, i) => x - head[i]);
    const relHead = relErr(head, refF32('tied_part.lm_head'));
    const relEmb = relErr(embedding, refF32('tied_part.embedding'));
    report.push(`tied parts: lm_head ${relHead.toExponential(2)}, embedding ${relEmb.toExponential(2)}`);
    expect(relHead).toBeLessThan(1e-4);
    expect(relEmb).toBeLessThan(1e-4);
  });

  it('rewardlens verify-model passes on the folder at the default tolerances', () => {
    const r = runCli(['verify-model', '--model', DIR, '--reference', join(DIR, 'reference.safetensors'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; tensors: { name: string; ok: boolean }[] };
    expect(out.ok).toBe(true);
    const names = out.tensors.map((t) => t.name);
    expect(names).toContain('grad.transformer.wte.weight');
    expect(names).toContain('grad.transformer.wpe.weight');
    expect(names).toContain('logits');
    expect(out.tensors.length).toBe(76);
  });
});
