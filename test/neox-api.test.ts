// The NeoxEngine handle: zero-copy parameter and gradient views, initialisation, the chunked LM
// head, padding (no NaN anywhere, even for a row of padding), default position ids, bad inputs
// (TypeScript checks and the raw binding's last-line checks), the training-state rules of
// backward, the busy guard, disposal, and a few AdamW steps on allParameters()/allGradients().
import { describe, expect, it } from 'vitest';
import type { NeoxConfig } from '../src/model/neox-config.js';
import { neoxParameterSpecs } from '../src/model/neox-config.js';
import { NeoxEngine, hookShape } from '../src/model/neox-engine.js';
import { neoxBinding } from '../src/model/native-neox.js';
import { AdamW } from '../src/optim/index.js';
import { makeRng } from './helpers/rng.js';

const cfg: NeoxConfig = {
  modelType: 'gpt_neox', vocabSize: 41, hiddenSize: 16, numLayers: 2, numHeads: 2, intermediateSize: 24,
  rotaryPct: 0.25, rotaryBase: 10000, maxPositions: 64, layerNormEps: 1e-5, parallelResidual: true,
  hiddenAct: 'gelu', tieWordEmbeddings: false, attentionBias: true, bosTokenId: 0, eosTokenId: 0,
};

function ids(n: number, seed = 1): Int32Array {
  const rng = makeRng(seed);
  return Int32Array.from({ length: n }, () => rng.int(cfg.vocabSize));
}

function withEngine(opts: Parameters<typeof NeoxEngine.create>[1], fn: (e: NeoxEngine) => Promise<void> | void) {
  return async () => {
    const e = NeoxEngine.create(cfg, opts);
    try {
      await fn(e);
    } finally {
      e.dispose();
    }
  };
}

describe('parameters and gradients', () => {
  it('parameters() is neoxParameterSpecs; the views share one allocation, without copies', withEngine({ valueHead: true, seed: 3 }, async (e) => {
    expect(e.parameters()).toEqual(neoxParameterSpecs(cfg, { valueHead: true }));
    const all = e.allParameters();
    expect(all.length).toBe(e.parameters().reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0));
    // the concatenation, in order
    let off = 0;
    for (const { name } of e.parameters()) {
      const p = e.parameter(name);
      expect(p.buffer).toBe(all.buffer);
      expect(p.byteOffset).toBe(off * 4);
      off += p.length;
    }
    expect(e.parameter('embed_out.weight')).toBe(e.parameter('embed_out.weight')); // cached view
    // a write through a view is what the model computes with
    const batch = { inputIds: ids(10), B: 2, T: 5 };
    const before = (await e.forward(batch, { logits: true })).logits!;
    e.parameter('gpt_neox.final_layer_norm.bias')[0] += 1;
    const after = (await e.forward(batch, { logits: true })).logits!;
    expect(after.some((v, i) => v !== before[i])).toBe(true);
    all[all.length - 1] = 0.5; // v_head.summary.bias through the whole allocation
    const v = (await e.forward(batch, { values: true })).values!;
    const w = e.parameter('v_head.summary.weight');
    const h = (await e.forward(batch, { lastHidden: true })).lastHidden!;
    let dot = 0.5;
    for (let c = 0; c < cfg.hiddenSize; c++) dot += h[c] * w[c];
    expect(v[0]).toBeCloseTo(dot, 5);
  }));

  it('gradient views and allGradients() share the gradient allocation; zeroGrad is one memset', withEngine({ seed: 4 }, async (e) => {
    const g = e.allGradients();
    expect(g.every((v) => v === 0)).toBe(true);
    await e.forward({ inputIds: ids(12), B: 2, T: 6 }, { loss: true, train: true });
    await e.backward({ loss: 1 });
    const gq = e.gradient('gpt_neox.layers.1.attention.query_key_value.weight');
    expect(gq.buffer).toBe(g.buffer);
    expect(gq.some((v) => v !== 0)).toBe(true);
    for (const { name } of e.parameters()) expect(e.gradient(name).some((v) => v !== 0), name).toBe(true);
    e.zeroGrad();
    expect(g.every((v) => v === 0)).toBe(true);
  }));

  it('unknown names: RangeError naming the argument and a few valid names', withEngine({}, (e) => {
    expect(() => e.parameter('lm_head.weight')).toThrow(RangeError);
    expect(() => e.parameter('lm_head.weight')).toThrow(/for name but received "lm_head.weight"/);
    expect(() => e.parameter('nope')).toThrow(/gpt_neox\.embed_in\.weight/);
    expect(() => e.gradient('v_head.summary.weight')).toThrow(RangeError); // no value head here
    expect(() => e.parameter(3 as unknown as string)).toThrow(TypeError);
  }));

  it('init: normal is seeded (LayerNorm 1/0, biases 0, weights N(0, initStd)); zeros is all zero', () => {
    const a = NeoxEngine.create(cfg, { seed: 7 });
    const b = NeoxEngine.create(cfg, { seed: 7 });
    const c = NeoxEngine.create(cfg, { seed: 8, initStd: 0.5 });
    const z = NeoxEngine.create(cfg, { init: 'zeros' });
    try {
      expect(a.allParameters()).toEqual(b.allParameters());
      expect(a.allParameters()).not.toEqual(c.allParameters());
      expect(z.allParameters().every((v) => v === 0)).toBe(true);
      expect(a.parameter('gpt_neox.layers.0.input_layernorm.weight').every((v) => v === 1)).toBe(true);
      expect(a.parameter('gpt_neox.layers.0.mlp.dense_h_to_4h.bias').every((v) => v === 0)).toBe(true);
      const w = c.parameter('gpt_neox.embed_in.weight');
      const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
      expect(std).toBeGreaterThan(0.45);
      expect(std).toBeLessThan(0.55);
    } finally {
      for (const e of [a, b, c, z]) e.dispose();
    }
  });
});

describe('forward', () => {
  it('token log-probs and loss agree across the three LM-head paths (logits, chunks of rows, training)', async () => {
    const e = NeoxEngine.create(cfg, { seed: 5, initStd: 0.3, lmHeadChunkRows: 5 }); // 18 rows: chunks 5,5,5,3
    try {
      const B = 2;
      const T = 9;
      const inputIds = ids(B * T, 2);
      const attentionMask = Uint8Array.from({ length: B * T }, (_, i) => (i >= T && i < T + 2 ? 0 : 1));
      const targets = Int32Array.from({ length: B * T }, (_, i) => (i % 4 === 3 ? -1 : (i * 5) % cfg.vocabSize));
      const batch = { inputIds, attentionMask, B, T };
      const a = await e.forward(batch, { logits: true, targets, loss: true });
      const b = await e.forward(batch, { targets, loss: true });
      const c = await e.forward(batch, { targets, loss: true, train: true });
      const d = await e.forward(batch, { targets }); // only the rows with a target, in chunks
      const f = await e.forward(batch, { targets, train: true }); // the same rows, kept
      expect(b.logits).toBeUndefined();
      // the same math; only the GEMM's blocking (row count) may change the last bit
      for (const o of [b, c, d, f]) {
        for (let i = 0; i < B * T; i++) expect(Math.abs(o.tokenLogprobs![i] - a.tokenLogprobs![i])).toBeLessThan(2e-6);
        if (o.loss !== undefined) expect(Math.abs(o.loss - a.loss!)).toBeLessThan(1e-6);
      }
      expect(d.loss).toBeUndefined();
      // against log-softmax of the returned logits, in float64
      const V = cfg.vocabSize;
      let nll = 0;
      let pairs = 0;
      for (let r = 0; r < B * T; r++) {
        const row = a.logits!.subarray(r * V, (r + 1) * V);
        const m = Math.max(...row);
        const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
        if (targets[r] >= 0) expect(a.tokenLogprobs![r]).toBeCloseTo(row[targets[r]] - lse, 5);
        else expect(a.tokenLogprobs![r]).toBe(0);
        const t = r % T;
        if (t + 1 < T && attentionMask[r] && attentionMask[r + 1]) {
          nll += lse - row[inputIds[r + 1]];
          pairs++;
        }
      }
      expect(a.loss!).toBeCloseTo(nll / pairs, 5);
    } finally {
      e.dispose();
    }
  });

  it('padding: no NaN anywhere (a row of only padding included); real positions do not see padding', withEngine({ valueHead: true, seed: 6 }, async (e) => {
    const B = 3;
    const T = 6;
    const inputIds = ids(B * T, 3);
    // row 0 left-padded by 2, row 1 all padding, row 2 right-padded by 2
    const attentionMask = Uint8Array.from([0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0]);
    const hooks: Record<string, Float32Array> = {};
    for (const n of ['hidden.0', 'resid.0', 'attn_out.0', 'mlp_post.1', 'mlp_out.1', 'hidden.2']) {
      hooks[n] = new Float32Array(hookShape(n, cfg, B, T).reduce((a, b) => a * b, 1));
    }
    const targets = Int32Array.from({ length: B * T }, (_, i) => i % cfg.vocabSize);
    const out = await e.forward(
      { inputIds, attentionMask, B, T },
      { logits: true, targets, loss: true, lastHidden: true, values: true, hooks, train: true },
    );
    for (const [k, v] of [...Object.entries(out), ...Object.entries(hooks)]) {
      if (v instanceof Float32Array) expect(v.every(Number.isFinite), k).toBe(true);
    }
    expect(Number.isFinite(out.loss)).toBe(true);
    // a query with no visible key attends to nothing: attn_out there is the dense bias
    const bias = e.parameter('gpt_neox.layers.0.attention.dense.bias');
    for (const r of [0, 1, 6, 11]) {
      for (let c = 0; c < cfg.hiddenSize; c++) expect(hooks['attn_out.0'][r * cfg.hiddenSize + c]).toBeCloseTo(bias[c], 6);
    }
    await e.backward({ loss: 1, tokenLogprobs: new Float32Array(B * T).fill(0.1), values: new Float32Array(B * T).fill(1) });
    expect(e.allGradients().every(Number.isFinite)).toBe(true);
    // the real tokens of row 0 give the same outputs as the same tokens unpadded
    const alone = await e.forward({ inputIds: inputIds.subarray(2, 6), B: 1, T: 4 }, { logits: true });
    const V = cfg.vocabSize;
    for (let i = 0; i < 4 * V; i++) expect(out.logits![2 * V + i]).toBeCloseTo(alone.logits![i], 5);
  }));

  it('default position ids count from the first real token (0 at padding)', withEngine({ seed: 7, initStd: 0.3 }, async (e) => {
    const B = 2;
    const T = 5;
    const inputIds = ids(B * T, 4);
    const attentionMask = Uint8Array.from([0, 0, 1, 1, 1, 1, 1, 1, 0, 0]);
    const positionIds = Int32Array.from([0, 0, 0, 1, 2, 0, 1, 2, 0, 0]);
    const a = await e.forward({ inputIds, attentionMask, B, T }, { logits: true });
    const b = await e.forward({ inputIds, attentionMask, positionIds, B, T }, { logits: true });
    expect(a.logits).toEqual(b.logits);
    const shifted = Int32Array.from(positionIds, (p) => p + 3); // rotary sees positions
    const c = await e.forward({ inputIds, attentionMask, positionIds: shifted, B, T }, { logits: true });
    expect(c.logits).not.toEqual(a.logits);
  }));
});

describe('bad inputs', () => {
  it('TypeScript checks name the argument, the expected and the actual shape', withEngine({}, async (e) => {
    const B = 2;
    const T = 3;
    const good = { inputIds: ids(6), B, T };
    await expect(e.forward({ ...good, inputIds: new Float32Array(6) as unknown as Int32Array })).rejects.toThrow(TypeError);
    await expect(e.forward({ ...good, inputIds: ids(5) })).rejects.toThrow(/shape \[2,3\] \(length 6\) for batch.inputIds but received length 5/);
    await expect(e.forward({ ...good, inputIds: Int32Array.from([0, 1, 2, 3, 4, 41]) })).rejects.toThrow(/for batch.inputIds but received 41 at index 5/);
    await expect(e.forward({ ...good, attentionMask: Uint8Array.from([1, 1, 2, 1, 1, 1]) })).rejects.toThrow(/batch.attentionMask but received 2 at index 2/);
    await expect(e.forward({ ...good, attentionMask: new Uint8Array(5) })).rejects.toThrow(RangeError);
    await expect(e.forward({ ...good, positionIds: Int32Array.from([0, 1, -1, 0, 1, 2]) })).rejects.toThrow(/batch.positionIds but received -1/);
    await expect(e.forward({ ...good, B: 0 })).rejects.toThrow(/batch.B/);
    await expect(e.forward(good, { targets: Int32Array.from([0, -2, 0, 0, 0, 0]) })).rejects.toThrow(/req.targets but received -2 at index 1/);
    await expect(e.forward(good, { values: true })).rejects.toThrow(/value head/);
    await expect(e.forward(good, { hooks: { 'resid.2': new Float32Array(96) } })).rejects.toThrow(/resid.2/);
    await expect(e.forward(good, { hooks: { 'mlp_in.0': new Float32Array(96) } })).rejects.toThrow(RangeError);
    await expect(e.forward(good, { hooks: { 'mlp_post.0': new Float32Array(96) } })).rejects.toThrow(/shape \[2,3,24\] \(length 144\) for req.hooks\["mlp_post.0"\] but received length 96/);
    await expect(e.forward(good, { logprobs: true } as never)).rejects.toThrow(/unknown key "logprobs"/);
    await expect(e.forward({ ...good, attentionMask: Uint8Array.from([1, 0, 1, 0, 1, 0]) }, { loss: true })).rejects.toThrow(/consecutive unpadded tokens/);
    expect(() => hookShape('attn_out.x', cfg, 1, 1)).toThrow(RangeError);
    expect(hookShape('hidden.2', cfg, 2, 3)).toEqual([2, 3, 16]);
    expect(() => hookShape('hidden.3', cfg, 2, 3)).toThrow(/layer 3 of a 2-layer model/);
    // still usable afterwards
    expect((await e.forward(good, { loss: true })).loss).toBeGreaterThan(0);
  }));

  it('config and option checks', () => {
    expect(() => NeoxEngine.create({ ...cfg, numHeads: 3 })).toThrow(/divisor of hiddenSize 16 for cfg.numHeads/);
    expect(() => NeoxEngine.create({ ...cfg, rotaryPct: 0.125 })).toThrow(/even number of rotary dimensions/); // 8·0.125 = 1
    expect(() => NeoxEngine.create({ ...cfg, hiddenAct: 'relu' as never })).toThrow(/cfg.hiddenAct/);
    expect(() => NeoxEngine.create({ ...cfg, modelType: 'gpt2' as never })).toThrow(TypeError);
    expect(() => NeoxEngine.create(cfg, { init: 'xavier' as never })).toThrow(/opts.init/);
    expect(() => NeoxEngine.create(cfg, { initStd: -1 })).toThrow(/opts.initStd/);
  });

  it('backward: needs a training forward (one backward each), matching outputs and finite gradients', withEngine({ valueHead: true }, async (e) => {
    const batch = { inputIds: ids(8), B: 2, T: 4 };
    await expect(e.backward({ loss: 1 })).rejects.toThrow(/training forward/);
    await e.forward(batch, { loss: true }); // not a training forward
    await expect(e.backward({ loss: 1 })).rejects.toThrow(/training forward/);
    await e.forward(batch, { values: true, train: true });
    await expect(e.backward({ loss: 1 })).rejects.toThrow(/grads.loss/); // no loss in that forward
    await e.forward(batch, { loss: true, train: true });
    await expect(e.backward({ tokenLogprobs: new Float32Array(8) })).rejects.toThrow(/grads.tokenLogprobs/); // no targets
    await e.forward(batch, { loss: true, train: true });
    await expect(e.backward({ values: new Float32Array(7) })).rejects.toThrow(/shape \[2,4\]/);
    await e.forward(batch, { loss: true, train: true });
    await expect(e.backward({ values: new Float32Array(8).fill(NaN) })).rejects.toThrow(/finite/);
    await e.forward(batch, { loss: true, train: true });
    await expect(e.backward({})).rejects.toThrow(/at least one of loss, tokenLogprobs, values/);
    await e.forward(batch, { loss: true, train: true });
    await e.backward({ loss: 1, values: new Float32Array(8).fill(0.5) });
    await expect(e.backward({ loss: 1 })).rejects.toThrow(/training forward/);
  }));

  it('the raw binding re-checks everything and rejects instead of crashing', async () => {
    const { NeoxHandle } = neoxBinding();
    expect(() => new NeoxHandle({ ...cfg, numHeads: 3 }, { valueHead: false, init: 'zeros', seed: 0, initStd: 0.02 })).toThrow(RangeError);
    expect(() => new NeoxHandle(cfg, { valueHead: false, init: 'other' as never, seed: 0, initStd: 0.02 })).toThrow(TypeError);
    const h = new NeoxHandle(cfg, { valueHead: false, init: 'normal', seed: 0, initStd: 0.02 });
    try {
      const req = {
        inputIds: ids(6), attentionMask: null, positionIds: null, B: 2, T: 3, logits: null, targets: null,
        tokenLogprobs: null, loss: false, lastHidden: null, values: null, hookNames: [], hookBuffers: [], train: false,
      };
      expect(() => h.forward({ ...req, inputIds: ids(5) })).toThrow(RangeError);
      expect(() => h.forward({ ...req, inputIds: new Float32Array(6) as never })).toThrow(TypeError);
      expect(() => h.forward({ ...req, hookNames: ['resid.9'], hookBuffers: [new Float32Array(96)] })).toThrow(RangeError);
      expect(() => h.forward({ ...req, hookNames: ['resid.0'], hookBuffers: [new Float32Array(95)] })).toThrow(RangeError);
      expect(() => h.forward({ ...req, values: new Float32Array(6) })).toThrow(/value head/);
      await expect(h.forward({ ...req, inputIds: Int32Array.from([0, 1, 2, 3, 4, 99]) })).rejects.toThrow(/inputIds but received 99 at index 5/);
      await expect(h.forward({ ...req, attentionMask: Uint8Array.from([1, 0, 1, 0, 1, 0]), loss: true })).rejects.toThrow(RangeError);
      await expect(h.forward({ ...req, targets: Int32Array.from([0, 0, 0, 0, 0, 41]) })).rejects.toThrow(/targets/);
      await expect(h.backward(1, null, null)).rejects.toThrow(/training forward/);
      await h.forward({ ...req, loss: true, train: true });
      expect(() => h.backward(1, new Float32Array(5), null)).toThrow(RangeError);
      await expect(h.backward(1, new Float32Array(6), null)).rejects.toThrow(/targets/);
    } finally {
      h.dispose();
    }
  });
});

describe('handle lifetime', () => {
  it('busy guard: a second call while forward runs throws; dispose() detaches the views', async () => {
    const e = NeoxEngine.create(cfg, {});
    const p = e.parameter('gpt_neox.embed_in.weight');
    expect(p.length).toBe(41 * 16);
    const running = e.forward({ inputIds: ids(8), B: 2, T: 4 }, { loss: true });
    await expect(e.forward({ inputIds: ids(8), B: 2, T: 4 })).rejects.toThrow(/busy/);
    expect(() => e.zeroGrad()).toThrow(/busy/);
    expect((await running).loss).toBeGreaterThan(0);
    expect(e.memoryBytes).toBeGreaterThan(e.allParameters().byteLength);
    e.dispose();
    e.dispose(); // idempotent
    expect(p.length).toBe(0); // detached: no access to freed memory
    expect(() => e.parameter('gpt_neox.embed_in.weight')).toThrow(/disposed/);
    await expect(e.forward({ inputIds: ids(8), B: 2, T: 4 })).rejects.toThrow(/disposed/);
    expect(e.memoryBytes).toBe(0);
  });

  it('dispose() while a forward runs: the call settles, then the handle is gone', async () => {
    const e = NeoxEngine.create(cfg, {});
    const running = e.forward({ inputIds: ids(8), B: 2, T: 4 }, { loss: true });
    e.dispose();
    expect((await running).loss).toBeGreaterThan(0);
    expect(() => e.allParameters()).toThrow(/disposed/);
  });
});

describe('training', () => {
  it('AdamW on allParameters()/allGradients() lowers the loss', async () => {
    const e = NeoxEngine.create(cfg, { seed: 9 });
    try {
      const opt = new AdamW([e.allParameters()], { lr: 1e-2, weightDecay: 0 });
      const batch = { inputIds: ids(32, 8), B: 4, T: 8 };
      const losses: number[] = [];
      for (let s = 0; s < 15; s++) {
        e.zeroGrad();
        losses.push((await e.forward(batch, { loss: true, train: true })).loss!);
        await e.backward({ loss: 1 });
        opt.step([e.allGradients()]);
      }
      opt.dispose();
      expect(losses[14]).toBeLessThan(losses[0] - 0.5);
    } finally {
      e.dispose();
    }
  });
});
