// The native GPT-NeoX engine against a float64 TypeScript reference (test/reference/neox-reference.ts)
// on small random models beyond the fixture — sequential residual, tanh GELU, tied embeddings, no
// attention bias, odd sizes, full and no rotary — with left and right padding: every output and hook
// at every position (padded ones follow the documented rule), and the gradients of
// J = s·loss + Σ dlogp·logp + Σ dv·values against central finite differences of the reference.
import { describe, expect, it } from 'vitest';
import type { NeoxConfig } from '../src/model/neox-config.js';
import { NeoxEngine, hookShape, valueDropoutKeeps } from '../src/model/neox-engine.js';
import { makeRng, type TestRng } from './helpers/rng.js';
import { erf, refNeoxForward, type Params, type RefInputs } from './reference/neox-reference.js';

function config(over: Partial<NeoxConfig>): NeoxConfig {
  return {
    modelType: 'gpt_neox', vocabSize: 37, hiddenSize: 24, numLayers: 2, numHeads: 3, intermediateSize: 44,
    rotaryPct: 0.5, rotaryBase: 10000, maxPositions: 64, layerNormEps: 1e-5, parallelResidual: true,
    hiddenAct: 'gelu', tieWordEmbeddings: false, attentionBias: true, bosTokenId: null, eosTokenId: null, ...over,
  };
}

interface Case {
  name: string;
  cfg: NeoxConfig;
  B: number;
  T: number;
  /** Per row: [left padding, right padding]. */
  pad: [number, number][];
}

const cases: Case[] = [
  {
    name: 'sequential, gelu_new (tanh), tied, no attention bias, hidden 24 / 3 heads, rotary 0.5, vocab 37',
    cfg: config({ parallelResidual: false, hiddenAct: 'gelu_new', tieWordEmbeddings: true, attentionBias: false }),
    B: 3, T: 7, pad: [[0, 0], [2, 0], [0, 3]],
  },
  {
    name: 'parallel, erf GELU, untied, attention bias, full rotary (hidden 20 / 2 heads), vocab 29',
    cfg: config({ vocabSize: 29, hiddenSize: 20, numHeads: 2, intermediateSize: 36, rotaryPct: 1, rotaryBase: 500 }),
    B: 2, T: 6, pad: [[1, 0], [0, 0]],
  },
  {
    name: 'sequential, gelu_pytorch_tanh, no rotary (head dim 3), 3 layers, vocab 19',
    cfg: config({
      vocabSize: 19, hiddenSize: 12, numHeads: 4, intermediateSize: 20, numLayers: 3, rotaryPct: 0.25,
      parallelResidual: false, hiddenAct: 'gelu_pytorch_tanh',
    }),
    B: 2, T: 5, pad: [[0, 1], [3, 0]],
  },
];

/** Every parameter random and O(1)-effective: LayerNorm weights 1 + 0.2·N, biases 0.2·N, matrices N(0, 1/in). */
function randomise(engine: NeoxEngine, rng: TestRng): void {
  for (const { name, shape } of engine.parameters()) {
    const p = engine.parameter(name);
    const isLnWeight = /layernorm\.weight$|final_layer_norm\.weight$/.test(name);
    const std = isLnWeight || shape.length === 1 ? 0.2 : name.includes('embed') ? 1 : 1 / Math.sqrt(shape[1]);
    for (let i = 0; i < p.length; i++) p[i] = (isLnWeight ? 1 : 0) + std * rng.normal();
  }
}

function paramsOf(engine: NeoxEngine): Params {
  const P: Params = new Map();
  for (const { name } of engine.parameters()) P.set(name, Float64Array.from(engine.parameter(name)));
  return P;
}

function batchOf(c: Case, rng: TestRng) {
  const { B, T, cfg } = c;
  const ids = new Int32Array(B * T);
  const mask = new Uint8Array(B * T);
  const pos = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const [left, right] = c.pad[b];
    let n = 0;
    for (let t = 0; t < T; t++) {
      ids[b * T + t] = rng.int(cfg.vocabSize);
      const real = t >= left && t < T - right;
      mask[b * T + t] = real ? 1 : 0;
      pos[b * T + t] = real ? n++ : 0;
    }
  }
  // targets at most positions (some padded ones too, which the gradient must handle), −1 elsewhere
  const targets = new Int32Array(B * T);
  for (let i = 0; i < B * T; i++) targets[i] = rng.next() < 0.8 ? rng.int(cfg.vocabSize) : -1;
  return { ids, mask, pos, targets };
}

/**
 * The engine's gradients against J(θ ± εd) of the float64 reference along a random direction d over
 * every parameter (P: the reference's parameters, shifted in place and restored).
 */
function expectDirectionalDerivative(engine: NeoxEngine, P: Params, J: () => number, rng: TestRng): void {
  const dirs = new Map<string, Float64Array>();
  let analytic = 0;
  for (const { name } of engine.parameters()) {
    const g = engine.gradient(name);
    const d = Float64Array.from(rng.normalArray(g.length));
    dirs.set(name, d);
    for (let i = 0; i < g.length; i++) analytic += g[i] * d[i];
  }
  const eps = 1e-5;
  const shift = (k: number) => {
    for (const [name, d] of dirs) {
      const p = P.get(name)!;
      for (let i = 0; i < p.length; i++) p[i] += k * eps * d[i];
    }
  };
  shift(1);
  const jp = J();
  shift(-2);
  const jm = J();
  shift(1);
  const fd = (jp - jm) / (2 * eps);
  expect(Math.abs(fd)).toBeGreaterThan(1e-3);
  expect(Math.abs(analytic - fd) / Math.abs(fd)).toBeLessThan(1e-4);
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('float64 erf of the reference', () => {
  it('matches known values on both branches', () => {
    const known: [number, number][] = [
      [0, 0], [0.1, 0.1124629160182849], [0.5, 0.5204998778130465], [1, 0.8427007929497149],
      [2, 0.9953222650189527], [2.5, 0.9995930479825550], [3, 0.9999779095030014], [-1.5, -0.9661051464753108],
    ];
    for (const [x, v] of known) expect(Math.abs(erf(x) - v), `erf(${x})`).toBeLessThan(1e-14);
  });
});

for (const c of cases) {
  describe(c.name, () => {
    const setup = (seed: number) => {
      const rng = makeRng(seed);
      const engine = NeoxEngine.create(c.cfg, { valueHead: true, init: 'zeros' });
      randomise(engine, rng);
      const { ids, mask, pos, targets } = batchOf(c, rng);
      const inputs: RefInputs = { ids, mask, pos, B: c.B, T: c.T, targets, valueHead: true };
      return { engine, rng, ids, mask, pos, targets, inputs };
    };

    it('forward: logits, log-probs, loss, values, lastHidden and every hook, at every position', async () => {
      const { engine, ids, mask, targets, inputs } = setup(11);
      try {
        const { B, T, cfg } = c;
        const hooks: Record<string, Float32Array> = {};
        const names = [`hidden.${cfg.numLayers}`];
        for (let i = 0; i < cfg.numLayers; i++) names.push(`hidden.${i}`, `resid.${i}`, `attn_out.${i}`, `mlp_post.${i}`, `mlp_out.${i}`);
        for (const n of names) hooks[n] = new Float32Array(hookShape(n, cfg, B, T).reduce((a, b) => a * b, 1)).fill(NaN);
        // default position ids: the batch's are counted from the first real token, as the default
        const out = await engine.forward(
          { inputIds: ids, attentionMask: mask, B, T },
          { logits: true, targets, loss: true, lastHidden: true, values: true, hooks },
        );
        const ref = refNeoxForward(cfg, paramsOf(engine), inputs);
        const tol = (x: ArrayLike<number>) => 1e-5 * Math.max(1, maxAbs(x));
        expect(maxDiff(out.logits!, ref.logits)).toBeLessThan(tol(ref.logits));
        expect(maxDiff(out.tokenLogprobs!, ref.logp)).toBeLessThan(tol(ref.logp));
        expect(Math.abs(out.loss! - ref.loss)).toBeLessThan(1e-5 * Math.max(1, ref.loss));
        expect(maxDiff(out.values!, ref.values!)).toBeLessThan(tol(ref.values!));
        expect(maxDiff(out.lastHidden!, ref.hooks.get(`hidden.${cfg.numLayers}`)!)).toBeLessThan(1e-5 * 10);
        for (const n of names) {
          const want = ref.hooks.get(n)!;
          expect(maxDiff(hooks[n], want), n).toBeLessThan(tol(want));
        }
        for (let i = 0; i < B * T; i++) if (targets[i] < 0) expect(out.tokenLogprobs![i]).toBe(0);
      } finally {
        engine.dispose();
      }
    });

    it('backward of s·loss + Σ dlogp·logp + Σ dv·values: every tensor against finite differences', async () => {
      const { engine, rng, ids, mask, pos, targets, inputs } = setup(12);
      try {
        const { B, T, cfg } = c;
        const s = 0.7;
        const dlogp = rng.normalArray(B * T);
        const dv = rng.normalArray(B * T);
        engine.zeroGrad();
        await engine.forward(
          { inputIds: ids, attentionMask: mask, positionIds: pos, B, T },
          { targets, loss: true, values: true, train: true },
        );
        await engine.backward({ loss: s, tokenLogprobs: dlogp, values: dv });

        const P = paramsOf(engine);
        const J = () => {
          const r = refNeoxForward(cfg, P, inputs);
          let j = s * r.loss;
          for (let i = 0; i < B * T; i++) j += dlogp[i] * r.logp[i] + dv[i] * r.values![i];
          return j;
        };
        const h = 1e-5;
        let worst = 0;
        for (const { name } of engine.parameters()) {
          const g = engine.gradient(name);
          const p = P.get(name)!;
          // the entry with the largest gradient, and up to 5 random others
          let arg = 0;
          for (let i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[arg])) arg = i;
          const idx = new Set([arg]);
          while (idx.size < Math.min(6, g.length)) idx.add(rng.int(g.length));
          let md = 0;
          let mref = 0;
          for (const i of idx) {
            const keep = p[i];
            p[i] = keep + h;
            const jp = J();
            p[i] = keep - h;
            const jm = J();
            p[i] = keep;
            const fd = (jp - jm) / (2 * h);
            md = Math.max(md, Math.abs(g[i] - fd));
            mref = Math.max(mref, Math.abs(fd));
          }
          expect(mref, `${name}: the gradient is not 0`).toBeGreaterThan(0);
          expect(md / mref, name).toBeLessThan(1e-4);
          worst = Math.max(worst, md / mref);
        }
        expect(worst).toBeLessThan(1e-4);
      } finally {
        engine.dispose();
      }
    });

    for (const source of ['loss', 'tokenLogprobs', 'values'] as const) {
      it(`backward from ${source} alone: the directional derivative along a random direction`, async () => {
        const { engine, rng, ids, mask, targets, inputs } = setup(13);
        try {
          const { B, T, cfg } = c;
          const w = rng.normalArray(B * T);
          engine.zeroGrad();
          // only what the source needs: the LM head then runs on a subset of rows (those with a
          // target, or a loss pair), which the backward must scatter back
          const req = source === 'loss' ? { loss: true } : source === 'tokenLogprobs' ? { targets } : { values: true };
          await engine.forward({ inputIds: ids, attentionMask: mask, B, T }, { ...req, train: true });
          await engine.backward(source === 'loss' ? { loss: 1 } : source === 'tokenLogprobs' ? { tokenLogprobs: w } : { values: w });
          const P = paramsOf(engine);
          const J = () => {
            const r = refNeoxForward(cfg, P, inputs);
            if (source === 'loss') return r.loss;
            let j = 0;
            for (let i = 0; i < B * T; i++) j += w[i] * (source === 'tokenLogprobs' ? r.logp[i] : r.values![i]);
            return j;
          };
          expectDirectionalDerivative(engine, P, J, rng);
        } finally {
          engine.dispose();
        }
      });
    }

    it('value-head dropout: the float64 mask in the forward, the same mask in the backward (directional derivative)', async () => {
      const { engine, rng, ids, mask, pos, inputs } = setup(14);
      try {
        const { B, T, cfg } = c;
        const batch = { inputIds: ids, attentionMask: mask, positionIds: pos, B, T };
        const drop = { p: 0.3, seed: 987654321 };
        const plain = (await engine.forward(batch, { values: true })).values!;
        const out = (await engine.forward(batch, { values: true, valueDropout: drop.p, valueDropoutSeed: drop.seed })).values!;
        const ref = refNeoxForward(cfg, paramsOf(engine), { ...inputs, valueDropout: drop });
        expect(maxDiff(out, ref.values!)).toBeLessThan(1e-5 * Math.max(1, maxAbs(ref.values!)));
        expect(maxDiff(out, plain)).toBeGreaterThan(1e-3); // the mask is really applied
        const other = (await engine.forward(batch, { values: true, valueDropout: drop.p, valueDropoutSeed: drop.seed + 1 })).values!;
        expect(maxDiff(out, other)).toBeGreaterThan(1e-3); // a seed is a mask
        // the kept fraction of the mask is 1 − p
        let kept = 0;
        for (let n = 0; n < 4000; n++) for (let k = 0; k < 10; k++) kept += valueDropoutKeeps(drop.seed, n, k, drop.p) ? 1 : 0;
        expect(Math.abs(kept / 40000 - 0.7)).toBeLessThan(0.01);

        const w = rng.normalArray(B * T);
        engine.zeroGrad();
        await engine.forward(batch, { values: true, train: true, valueDropout: drop.p, valueDropoutSeed: drop.seed });
        await engine.backward({ values: w });
        const P = paramsOf(engine);
        const J = () => {
          const r = refNeoxForward(cfg, P, { ...inputs, valueDropout: drop });
          let j = 0;
          for (let i = 0; i < B * T; i++) j += w[i] * r.values![i];
          return j;
        };
        expectDirectionalDerivative(engine, P, J, rng);
        // and v_head.summary.weight entry by entry: a dropped feature of every row gets no gradient
        const gw = engine.gradient('v_head.summary.weight');
        const hf = ref.hooks.get(`hidden.${cfg.numLayers}`)!;
        const C = cfg.hiddenSize;
        for (let k = 0; k < C; k++) {
          let want = 0;
          for (let n = 0; n < B * T; n++) if (valueDropoutKeeps(drop.seed, n, k, drop.p)) want += w[n] * hf[n * C + k] / (1 - drop.p);
          expect(Math.abs(gw[k] - want), `v_head.summary.weight[${k}]`).toBeLessThan(1e-4 * (1 + Math.abs(want)));
        }
      } finally {
        engine.dispose();
      }
    });
  });
}
