// The PPO trainer's quantities of one step against float64 references: the rollout layout (left-padded
// queries at positions counted from their first token), log-probs and values of policy and reference
// (test/reference/neox-reference.ts), scores, KL-penalised rewards, GAE and whitening
// (test/reference/ppo-reference.ts), and a minibatch's parameter gradients against central finite
// differences of the float64 PPO loss; then the schedule, the KL controller and determinism.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR, defaultCorpusReviews } from '../src/data/defaults.js';
import { rlhfPrompts, type TokenPrompt } from '../src/data/prompts.js';
import { loadModel, type LoadedModel } from '../src/model/load.js';
import type { Tokenizer } from '../src/model/tokenizer.js';
import { UtilityReward } from '../src/reward/reward.js';
import { UtilityTable, utilityScore } from '../src/reward/utility-table.js';
import { learningRateAt, PPO_DEFAULTS, resolvePpoConfig } from '../src/rlhf/config.js';
import { AdaptiveKlController } from '../src/rlhf/kl-controller.js';
import { gatherRows } from '../src/rlhf/rollout.js';
import { PpoTrainer, valueDropoutSeed, type RolloutData } from '../src/rlhf/trainer.js';
import { makeRng } from './helpers/rng.js';
import { refNeoxForward, type Params } from './reference/neox-reference.js';
import { refGae, refKlPenaltyRewards, refMaskedWhiten, refPpoLoss } from './reference/ppo-reference.js';

let policy: LoadedModel;
let ref: LoadedModel;
let tok: Tokenizer;
let prompts: TokenPrompt[];
let table: UtilityTable;

function paramsOf(m: LoadedModel): Params {
  const P: Params = new Map();
  for (const { name } of m.engine.parameters()) P.set(name, Float64Array.from(m.engine.parameter(name)));
  return P;
}

beforeAll(async () => {
  policy = await loadModel(DEFAULT_MODEL_DIR, { valueHead: true });
  ref = await loadModel(DEFAULT_MODEL_DIR);
  tok = ref.tokenizer!;
  const rng = makeRng(7);
  // a value head, and a reference that differs from the policy so the KL terms are not 0
  const w = policy.engine.parameter('v_head.summary.weight');
  for (let i = 0; i < w.length; i++) w[i] = rng.normal() * 0.3;
  policy.engine.parameter('v_head.summary.bias')[0] = 0.1;
  const e = ref.engine.parameter('gpt_neox.layers.3.mlp.dense_4h_to_h.weight');
  for (let i = 0; i < e.length; i++) e[i] += rng.normal() * 0.02;
  prompts = await rlhfPrompts(tok, defaultCorpusReviews('train', 300), { seed: 3 });
  table = await UtilityTable.vader();
});

afterAll(() => {
  policy?.engine.dispose();
  ref?.engine.dispose();
});

const config = () => resolvePpoConfig({ batchSize: 8, miniBatchSize: 4, minNewTokens: 3, maxNewTokens: 7, initKlCoef: 0.3, seed: 11 });

function trainer(): PpoTrainer {
  return new PpoTrainer({ policy: policy.engine, ref: ref.engine, tokenizer: tok, reward: new UtilityReward(table), prompts, config: config() });
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, mask: ArrayLike<number> | null, tol: number, what: string) => {
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    if (mask && !mask[i]) continue;
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  }
  expect(worst, what).toBeLessThan(tol);
};

describe('PpoTrainer.rollout against float64 references', () => {
  let data: RolloutData;
  let t: PpoTrainer;
  beforeAll(async () => {
    t = trainer();
    data = await t.rollout(0);
  });
  afterAll(() => t.dispose());

  it('lays queries and responses out with positions from each row\'s first token and a mask on response tokens', () => {
    const { batch } = data;
    const c = config();
    expect(batch.B).toBe(8);
    let someLeftPadded = false;
    for (let b = 0; b < batch.B; b++) {
      const L = batch.responseLengths[b];
      expect(L).toBeGreaterThanOrEqual(1);
      expect(L).toBeLessThanOrEqual(c.maxNewTokens);
      const row = (a: ArrayLike<number>) => Array.from({ length: batch.T }, (_, t) => a[b * batch.T + t]);
      const m = row(batch.attentionMask);
      const first = m.indexOf(1);
      if (first > 0) someLeftPadded = true;
      expect(first).toBe(batch.queryWidth - data.queries[b].length);
      expect(row(batch.positionIds).slice(first, first + data.queries[b].length + L)).toEqual(Array.from({ length: data.queries[b].length + L }, (_, i) => i));
      expect(row(batch.mask).reduce((a, v) => a + v, 0)).toBe(L);
      // mask at t ⇔ ids[t+1] is a response token
      for (let tt = 0; tt < batch.T - 1; tt++) {
        const isResp = tt + 1 >= batch.queryWidth && tt + 1 < batch.queryWidth + L;
        expect(batch.mask[b * batch.T + tt]).toBe(isResp ? 1 : 0);
        if (isResp) expect(batch.targets[b * batch.T + tt]).toBe(batch.inputIds[b * batch.T + tt + 1]);
      }
      // the reward saw the decoded prompt + response
      const ids = row(batch.inputIds).slice(first, batch.queryWidth + L);
      expect(data.texts[b]).toBe(tok.decode(ids, { skipSpecialTokens: true }));
      expect(data.scores[b]).toBeCloseTo(utilityScore(data.texts[b], table), 5);
    }
    expect(someLeftPadded).toBe(true);
  });

  it('log-probs and values equal the float64 forward, and a left-padded row equals the same row unpadded', () => {
    const { batch } = data;
    const inp = { ids: batch.inputIds, mask: batch.attentionMask, pos: batch.positionIds, B: batch.B, T: batch.T, targets: batch.targets };
    const rp = refNeoxForward(policy.config, paramsOf(policy), { ...inp, valueHead: true });
    const rr = refNeoxForward(ref.config, paramsOf(ref), inp);
    close(data.logp, rp.logp, batch.mask, 2e-4, 'policy logp');
    // values: TRL's Dropout(0.1) on the value head's input, one mask per rollout chunk of minibatch rows
    const c = config();
    expect(c.valueHeadDropout).toBe(0.1);
    let differs = 0;
    for (let r0 = 0; r0 < batch.B; r0 += c.miniBatchSize) {
      const rows = Array.from({ length: c.miniBatchSize }, (_, i) => r0 + i);
      const { batch: ch, col0 } = gatherRows(batch, rows);
      const rv = refNeoxForward(policy.config, paramsOf(policy), {
        ids: ch.inputIds, mask: ch.attentionMask, pos: ch.positionIds, B: ch.B, T: ch.T, valueHead: true,
        valueDropout: { p: c.valueHeadDropout, seed: valueDropoutSeed(c.seed, 0, 'rollout', r0) },
      });
      const got = new Float64Array(ch.B * ch.T);
      const full = new Float64Array(ch.B * ch.T);
      rows.forEach((b, i) => {
        for (let tt = 0; tt < ch.T; tt++) {
          got[i * ch.T + tt] = data.values[b * batch.T + col0 + tt];
          full[i * ch.T + tt] = rp.values![b * batch.T + col0 + tt];
        }
      });
      close(got, rv.values!, ch.mask, 2e-4, `values of rows ${r0}..`);
      for (let i = 0; i < got.length; i++) if (ch.mask[i] && Math.abs(got[i] - full[i]) > 1e-3) differs++;
    }
    expect(differs, 'dropout changed the values').toBeGreaterThan(0);
    close(data.logpRef, rr.logp, batch.mask, 2e-4, 'reference logp');
    // the most padded row, alone and unpadded
    let b = 0;
    for (let i = 0; i < batch.B; i++) if (data.queries[i].length < data.queries[b].length) b = i;
    const { batch: one, col0 } = gatherRows(batch, [b]);
    expect(col0).toBeGreaterThan(0);
    const alone = refNeoxForward(policy.config, paramsOf(policy), { ids: one.inputIds, mask: one.attentionMask, pos: Int32Array.from({ length: one.T }, (_, i) => i), B: 1, T: one.T, targets: one.targets });
    for (let tt = 0; tt < one.T; tt++) {
      if (one.mask[tt]) expect(Math.abs(data.logp[b * batch.T + col0 + tt] - alone.logp[tt])).toBeLessThan(2e-4);
    }
  });

  it('rewards, KL, GAE, returns and whitened advantages follow TRL in float64', () => {
    const { batch } = data;
    const { B, T } = batch;
    const { rewards, kl } = refKlPenaltyRewards(data.logp, data.logpRef, batch.mask, data.scores, B, T, 0.3, 'kl');
    close(data.rewards, rewards, batch.mask, 1e-5, 'rewards');
    close(data.kl, kl, batch.mask, 1e-5, 'kl');
    const g = refGae(data.rewards, data.values, batch.mask, B, T, 1, 0.95);
    close(data.returns, g.returns, batch.mask, 1e-5, 'returns');
    close(data.advantages, refMaskedWhiten(g.advantages, batch.mask), batch.mask, 1e-4, 'whitened advantages');
    expect(data.klCoef).toBe(0.3);
  });

  it('a minibatch\'s parameter gradients equal central differences of the float64 PPO loss', async () => {
    const rows = [5, 1, 6, 2];
    const stats = await t.minibatchGradients(data, rows);
    const { batch: mb, col0 } = gatherRows(data.batch, rows);
    const T = data.batch.T;
    const g = (x: Float32Array) => Float64Array.from({ length: mb.B * mb.T }, (_, i) => x[rows[Math.floor(i / mb.T)] * T + col0 + (i % mb.T)]);
    const fixed = { oldLogp: g(data.logp), oldValues: g(data.values), advantages: g(data.advantages), returns: g(data.returns), mask: mb.mask };
    const P = paramsOf(policy);
    const lossAt = (Q: Params) => {
      const r = refNeoxForward(policy.config, Q, {
        ids: mb.inputIds, mask: mb.attentionMask, pos: mb.positionIds, B: mb.B, T: mb.T, targets: mb.targets, valueHead: true,
        valueDropout: { p: 0.1, seed: valueDropoutSeed(config().seed, 0, 'update', 0) },
      });
      return refPpoLoss({ ...fixed, logp: r.logp, values: r.values! }).loss;
    };
    expect(stats.loss).toBeCloseTo(lossAt(P), 4);
    const names = ['embed_out.weight', 'gpt_neox.layers.3.mlp.dense_4h_to_h.weight', 'gpt_neox.layers.0.attention.query_key_value.weight', 'v_head.summary.weight', 'gpt_neox.final_layer_norm.bias'];
    let checked = 0;
    for (const name of names) {
      const grad = policy.engine.gradient(name);
      // the three largest entries of each tensor
      const idx = Array.from(grad.keys()).sort((a, b) => Math.abs(grad[b]) - Math.abs(grad[a])).slice(0, 3);
      for (const i of idx) {
        const h = 1e-4;
        const p = P.get(name)!;
        const keep = p[i];
        p[i] = keep + h;
        const up = lossAt(P);
        p[i] = keep - h;
        const down = lossAt(P);
        p[i] = keep;
        const fd = (up - down) / (2 * h);
        expect(Math.abs(grad[i] - fd), `${name}[${i}] analytic ${grad[i]} vs fd ${fd}`).toBeLessThan(2e-3 * Math.abs(fd) + 1e-6);
        checked++;
      }
    }
    expect(checked).toBe(15);
    policy.engine.zeroGrad();
  });

  it('is repeatable: the same step gives the same rollout', async () => {
    const again = await t.rollout(0);
    expect(Array.from(again.batch.inputIds)).toEqual(Array.from(data.batch.inputIds));
    expect(Array.from(again.logp)).toEqual(Array.from(data.logp));
    const other = await t.rollout(1);
    expect(Array.from(other.batch.inputIds)).not.toEqual(Array.from(data.batch.inputIds));
  });
});

describe('PPO step bookkeeping', () => {
  it('follows the linear warm-up / decay schedule of transformers', () => {
    const c = { learningRate: 1e-6, warmupSteps: 10, decaySteps: 390 };
    expect(learningRateAt(c, 0)).toBe(0);
    expect(learningRateAt(c, 5)).toBeCloseTo(5e-7, 15);
    expect(learningRateAt(c, 10)).toBeCloseTo(1e-6, 15);
    expect(learningRateAt(c, 200)).toBeCloseTo(1e-6 * (190 / 380), 15);
    expect(learningRateAt(c, 400)).toBe(0);
    expect(learningRateAt({ ...c, decaySteps: 0 }, 50)).toBe(1e-6);
  });

  it('the adaptive KL controller moves β by the clipped proportional error', () => {
    const k = new AdaptiveKlController(0.5, 6, 10000);
    k.update(12, 64); // error clipped to +0.2
    expect(k.value).toBeCloseTo(0.5 * (1 + 0.2 * 64 / 10000), 12);
    k.update(3, 64); // error −0.5 clipped to −0.2
    expect(k.value).toBeCloseTo(0.5 * (1 + 0.2 * 64 / 10000) * (1 - 0.2 * 64 / 10000), 12);
    const k2 = new AdaptiveKlController(1, 6, 10000);
    k2.update(6.6, 10); // error 0.1
    expect(k2.value).toBeCloseTo(1 + 0.1 * 10 / 10000, 12);
  });

  it('a step at learning rate 0 (the first warm-up step) leaves the weights alone, the next one moves them; stats are consistent', async () => {
    const t = trainer();
    try {
      const before = Float32Array.from(policy.engine.allParameters());
      const s1 = await t.trainStep();
      expect(s1.lr).toBe(0);
      expect(Array.from(policy.engine.allParameters())).toEqual(Array.from(before));
      expect(t.step).toBe(1);
      // β after the step follows the controller from the step's own KL
      const expectedBeta = 0.3 * (1 + Math.min(0.2, Math.max(-0.2, s1.kl / 6 - 1)) * 8 / 10000);
      expect(t.klCtl.value).toBeCloseTo(expectedBeta, 12);
      expect(s1.kl_coef).toBe(0.3);
      expect(s1.epochs).toBe(PPO_DEFAULTS.ppoEpochs);
      expect(s1.response_len).toBeGreaterThanOrEqual(3);
      expect(s1.response_len).toBeLessThanOrEqual(7);
      // at lr 0 the policy never moves, so every ratio is 1 and nothing is clipped
      expect(s1.ratio_mean).toBeCloseTo(1, 6);
      expect(s1.clipfrac).toBe(0);
      const s2 = await t.trainStep();
      expect(s2.lr).toBeCloseTo(learningRateAt(config(), 1), 15);
      const after = policy.engine.allParameters();
      let moved = 0;
      for (let i = 0; i < after.length; i++) if (after[i] !== before[i]) moved++;
      expect(moved).toBeGreaterThan(after.length / 2);
    } finally {
      t.dispose();
    }
  });

  it('refuses a policy without a value head and too few prompts, naming them', () => {
    expect(() => new PpoTrainer({ policy: ref.engine, ref: ref.engine, tokenizer: tok, reward: new UtilityReward(table), prompts, config: config() })).toThrow(/value head.*policy|policy.*value head/);
    expect(() => new PpoTrainer({ policy: policy.engine, ref: ref.engine, tokenizer: tok, reward: new UtilityReward(table), prompts: prompts.slice(0, 3), config: config() })).toThrow(/batchSize = 8 prompts/);
    expect(() => resolvePpoConfig({ miniBatchSize: 5 })).toThrow(/divisor of batchSize 64.*miniBatchSize/);
    expect(() => resolvePpoConfig({ learningRat: 1 } as never)).toThrow(/unknown field "learningRat"/);
  });
});
