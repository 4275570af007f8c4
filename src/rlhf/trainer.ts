// The PPO trainer: TRL 0.7's classic PPOTrainer.step, formula for formula, on the native engine.
// One step = rollouts (sample responses from the policy) → scores (the reward on prompt + response)
// → log-probs of policy and frozen reference, values → per-token KL-penalised rewards → GAE →
// whitened advantages → ppoEpochs passes of shuffled minibatches, one AdamW step each (clipped
// gradients) → the KL controller's update. Every random draw comes from (seed, step, purpose), so
// a resumed run repeats an unbroken one. See docs/rlhf.md.
import type { NeoxEngine } from '../model/neox-engine.js';
import type { Tokenizer } from '../model/tokenizer.js';
import type { TokenPrompt } from '../data/prompts.js';
import { AdamW, clipGradNorm } from '../optim/adamw.js';
import { mulberry32 } from '../random.js';
import type { RewardModel } from '../reward/reward.js';
import { learningRateAt, type PpoConfig } from './config.js';
import { AdaptiveKlController, FixedKlController, type KlController } from './kl-controller.js';
import { gae, klPenaltyRewards, maskedWhiten, ppoLoss, type PpoLossStats } from './ppo-kernels.js';
import { buildRollout, gatherRows, gatherTokens, type RolloutBatch } from './rollout.js';

/** One line of log.jsonl: the step's statistics (names as in DESIGN.md). */
export interface PpoStepStats {
  step: number;
  /** Mean and standard deviation of the scores (the reward of prompt + response). */
  reward_mean: number;
  reward_std: number;
  /** TRL objective/kl: batch mean of each sequence's Σ (logp − logp_ref) over its response. */
  kl: number;
  /** β used for this step's rewards (before the controller's update). */
  kl_coef: number;
  /** TRL objective/entropy: batch mean of each sequence's Σ −logp over its response. */
  entropy: number;
  /** Means over the step's minibatches of TRL's ppo/loss/*, ppo/policy/* statistics. */
  pg_loss: number;
  vf_loss: number;
  loss: number;
  clipfrac: number;
  vf_clipfrac: number;
  approxkl: number;
  policykl: number;
  ratio_mean: number;
  /** Minibatches skipped by the ratio threshold. */
  skipped: number;
  /** Gradient norm before clipping (mean over minibatches). */
  grad_norm: number;
  lr: number;
  /** Mean response length (tokens) and the epochs actually run (early stopping). */
  response_len: number;
  epochs: number;
  /** Response tokens sampled per second of the whole step, and the step's wall time. */
  tokens_per_s: number;
  time_s: number;
}

/** A rollout's per-token quantities (exposed for tests and inspection). */
export interface RolloutData {
  batch: RolloutBatch;
  queries: number[][];
  texts: string[];
  scores: Float32Array;
  logp: Float32Array;
  logpRef: Float32Array;
  values: Float32Array;
  rewards: Float32Array;
  kl: Float32Array;
  advantages: Float32Array;
  returns: Float32Array;
  klCoef: number;
}

export interface PpoTrainerOptions {
  /** The policy, created with a value head; trained in place. */
  policy: NeoxEngine;
  /** The frozen reference (the base model): only forward passes. */
  ref: NeoxEngine;
  tokenizer: Tokenizer;
  reward: RewardModel;
  prompts: readonly TokenPrompt[];
  config: PpoConfig;
}

/** The trainer's resumable state besides the weights. */
export interface PpoTrainerState {
  step: number;
  klCoef: number;
}

const PURPOSE = { order: 1, lengths: 2, sample: 3, minibatch: 4, rolloutValueDropout: 5, updateValueDropout: 6 } as const;

/**
 * The mask seed of the value head's dropout in one forward of a step: `rollout` forwards are keyed by
 * the first row of their chunk, `update` forwards by the optimiser update's index within the step.
 */
export function valueDropoutSeed(seed: number, step: number, kind: 'rollout' | 'update', index: number): number {
  return streamSeed(seed, step, kind === 'rollout' ? PURPOSE.rolloutValueDropout : PURPOSE.updateValueDropout, index);
}

/** A 32-bit seed for (seed, step, purpose[, extra]) (splitmix-style mixing). */
export function streamSeed(seed: number, step: number, purpose: number, extra = 0): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const v of [step, purpose, extra]) {
    h = Math.imul(h ^ (v >>> 0), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h & 0x7fffffff;
}

function shuffled(n: number, rnd: () => number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function meanStd(x: Float32Array): { mean: number; std: number } {
  let s = 0;
  for (const v of x) s += v;
  const mean = s / x.length;
  let q = 0;
  for (const v of x) q += (v - mean) ** 2;
  // torch.std: unbiased
  return { mean, std: x.length > 1 ? Math.sqrt(q / (x.length - 1)) : 0 };
}

export class PpoTrainer {
  readonly config: PpoConfig;
  readonly policy: NeoxEngine;
  readonly ref: NeoxEngine;
  readonly tokenizer: Tokenizer;
  readonly reward: RewardModel;
  readonly prompts: readonly TokenPrompt[];
  readonly optimizer: AdamW;
  /** PPO steps completed. */
  step = 0;
  klCtl: KlController;
  private readonly params: Float32Array;
  private readonly padId: number;
  private last: { texts: string[]; scores: Float32Array; responseLengths: Int32Array } | null = null;

  constructor(opts: PpoTrainerOptions) {
    const { policy, ref, tokenizer, reward, prompts, config } = opts;
    if (!policy.hasValueHead) throw new RangeError('Expected a policy created with { valueHead: true } for policy but received a model without a value head');
    if (ref.config.vocabSize !== policy.config.vocabSize) {
      throw new RangeError(`Expected a reference model with the policy's vocabulary (${policy.config.vocabSize}) for ref but received ${ref.config.vocabSize}`);
    }
    if (prompts.length < config.batchSize) {
      throw new RangeError(`Expected at least batchSize = ${config.batchSize} prompts for prompts but received ${prompts.length}`);
    }
    prompts.forEach((p, i) => {
      if (p.ids.length === 0) throw new RangeError(`Expected a non-empty prompt for prompts[${i}] but received an empty one`);
    });
    this.config = config;
    this.policy = policy;
    this.ref = ref;
    this.tokenizer = tokenizer;
    this.reward = reward;
    this.prompts = prompts;
    this.params = policy.allParameters();
    this.padId = tokenizer.padTokenId ?? tokenizer.eosTokenId ?? 0;
    this.optimizer = new AdamW([this.params], {
      lr: config.learningRate, beta1: config.adamBeta1, beta2: config.adamBeta2, eps: config.adamEps, weightDecay: config.weightDecay,
    });
    this.klCtl = config.adaptKlCtrl
      ? new AdaptiveKlController(config.initKlCoef, config.klTarget, config.klHorizon)
      : new FixedKlController(config.initKlCoef);
  }

  /** State to checkpoint besides the policy weights and the optimiser moments. */
  state(): PpoTrainerState {
    return { step: this.step, klCoef: this.klCtl.value };
  }

  loadState(s: PpoTrainerState): void {
    this.step = s.step;
    this.klCtl = this.config.adaptKlCtrl
      ? new AdaptiveKlController(s.klCoef, this.config.klTarget, this.config.klHorizon)
      : new FixedKlController(s.klCoef);
  }

  /**
   * The prompts of step `step`: the prompt list is shuffled once per pass (seeded by the pass), and
   * steps take consecutive batches, dropping the incomplete last batch of each pass (TRL's
   * dataloader: shuffle, drop_last).
   */
  promptIndices(step: number): number[] {
    const B = this.config.batchSize;
    const perPass = Math.floor(this.prompts.length / B);
    const pass = Math.floor(step / perPass);
    const order = shuffled(this.prompts.length, mulberry32(streamSeed(this.config.seed, pass, PURPOSE.order)));
    const start = (step % perPass) * B;
    return order.slice(start, start + B);
  }

  /** Sample responses for `step` and compute everything PPO needs from them (no parameter change). */
  async rollout(step = this.step): Promise<RolloutData> {
    const c = this.config;
    const B = c.batchSize;
    const idx = this.promptIndices(step);
    const queries = idx.map((i) => [...this.prompts[i].ids]);
    const lenRnd = mulberry32(streamSeed(c.seed, step, PURPOSE.lengths));
    const perRow = Int32Array.from({ length: B }, () => c.minNewTokens + Math.floor(lenRnd() * (c.maxNewTokens - c.minNewTokens + 1)));
    const S = c.maxNewTokens;
    const qWidth = queries.reduce((m, q) => Math.max(m, q.length), 0);
    const qIds = new Int32Array(B * qWidth).fill(this.padId);
    const qMask = new Uint8Array(B * qWidth);
    const qPos = new Int32Array(B * qWidth);
    queries.forEach((q, b) => {
      const start = qWidth - q.length;
      q.forEach((id, i) => {
        qIds[b * qWidth + start + i] = id;
        qMask[b * qWidth + start + i] = 1;
        qPos[b * qWidth + start + i] = i;
      });
    });
    const gen = await this.policy.generate(
      { inputIds: qIds, attentionMask: qMask, positionIds: qPos, B, T: qWidth },
      { maxNewTokens: S, maxNewTokensPerRow: perRow, topK: c.topK, topP: c.topP, temperature: c.temperature, seed: streamSeed(c.seed, step, PURPOSE.sample) },
    );
    const batch = buildRollout(queries, gen.tokens, gen.lengths, S, this.padId);
    const texts = queries.map((q, b) => this.tokenizer.decode([...q, ...gen.tokens.subarray(b * S, b * S + gen.lengths[b])], { skipSpecialTokens: true }));
    const scores = await this.reward.score(texts);
    if (scores.length !== B) throw new RangeError(`Expected ${B} scores from reward ${this.reward.name} but received ${scores.length}`);

    const { logp, values } = await this.forwardAll(this.policy, batch, true, step);
    const { logp: logpRef } = await this.forwardAll(this.ref, batch, false, step);
    const shape = { B, T: batch.T };
    const klCoef = this.klCtl.value;
    const { rewards, kl } = klPenaltyRewards(logp, logpRef, batch.mask, scores, shape, { klCoef, kind: c.klPenalty });
    const g = gae(rewards, values, batch.mask, shape, { gamma: c.gamma, lam: c.lam });
    const advantages = maskedWhiten(g.advantages, batch.mask);
    return { batch, queries, texts, scores, logp, logpRef, values, rewards, kl, advantages, returns: g.returns, klCoef };
  }

  /**
   * The value head's dropout for one forward of step `step` (TRL's model stays in train mode, so its
   * rollout values are dropped out too): a fresh mask per forward (valueDropoutSeed).
   */
  private valueDropout(step: number, kind: 'rollout' | 'update', index: number): { valueDropout: number; valueDropoutSeed: number } {
    return { valueDropout: this.config.valueHeadDropout, valueDropoutSeed: valueDropoutSeed(this.config.seed, step, kind, index) };
  }

  /** Log-probs (and values) of a whole rollout, in minibatch-sized chunks of rows. */
  private async forwardAll(engine: NeoxEngine, r: RolloutBatch, withValues: boolean, step: number): Promise<{ logp: Float32Array; values: Float32Array }> {
    const { B, T } = r;
    const logp = new Float32Array(B * T);
    const values = new Float32Array(B * T);
    const mb = this.config.miniBatchSize;
    for (let r0 = 0; r0 < B; r0 += mb) {
      const rows = Array.from({ length: Math.min(mb, B - r0) }, (_, i) => r0 + i);
      const { batch, col0 } = gatherRows(r, rows);
      const out = await engine.forward(batch, { targets: batch.targets, values: withValues, ...(withValues ? this.valueDropout(step, 'rollout', r0) : {}) });
      rows.forEach((b, i) => {
        logp.set(out.tokenLogprobs!.subarray(i * batch.T, (i + 1) * batch.T), b * T + col0);
        if (withValues) values.set(out.values!.subarray(i * batch.T, (i + 1) * batch.T), b * T + col0);
      });
    }
    return { logp, values };
  }

  /**
   * The PPO loss of minibatch `rows` of a rollout under the current policy, with its gradients
   * accumulated into the policy's gradient buffer (zeroed first; left at 0 when the ratio threshold
   * skips the minibatch).
   */
  async minibatchGradients(data: RolloutData, rows: readonly number[], update = 0): Promise<PpoLossStats> {
    const c = this.config;
    const T = data.batch.T;
    const { batch: mb, col0 } = gatherRows(data.batch, rows);
    const W = mb.T;
    const pick = (x: Float32Array) => gatherTokens(x, T, rows, col0, W);
    this.policy.zeroGrad();
    const out = await this.policy.forward(mb, { targets: mb.targets, values: true, train: true, ...this.valueDropout(this.step, 'update', update) });
    const { stats, dlogp, dvalues } = ppoLoss({
      logp: out.tokenLogprobs!, oldLogp: pick(data.logp), values: out.values!, oldValues: pick(data.values),
      advantages: pick(data.advantages), returns: pick(data.returns), mask: mb.mask,
    }, { B: mb.B, T: W }, { cliprange: c.cliprange, clipRangeValue: c.cliprangeValue, vfCoef: c.vfCoef, ratioThreshold: c.ratioThreshold });
    if (!stats.skipped) await this.policy.backward({ tokenLogprobs: dlogp, values: dvalues });
    return stats;
  }

  /** One PPO step: rollout, then ppoEpochs of minibatch updates, then the KL controller. */
  async trainStep(): Promise<PpoStepStats> {
    const t0 = performance.now();
    const c = this.config;
    const step = this.step;
    const data = await this.rollout(step);
    const { batch } = data;
    this.last = { texts: data.texts, scores: data.scores, responseLengths: batch.responseLengths };
    const B = batch.B, T = batch.T;
    const lr = learningRateAt(c, step);
    const perm = mulberry32(streamSeed(c.seed, step, PURPOSE.minibatch));
    const grads = this.policy.allGradients();
    const acc: PpoLossStats[] = [];
    const norms: number[] = [];
    let epochs = 0;
    for (let epoch = 0; epoch < c.ppoEpochs; epoch++) {
      const order = shuffled(B, perm);
      let lastPolicyKl = 0;
      for (let m0 = 0; m0 < B; m0 += c.miniBatchSize) {
        const rows = order.slice(m0, m0 + c.miniBatchSize);
        const stats = await this.minibatchGradients(data, rows, acc.length);
        // TRL clips only on its first minibatch (a consumed iterator); here every step is clipped.
        norms.push(c.maxGradNorm > 0 ? clipGradNorm([grads], c.maxGradNorm) : 0);
        this.optimizer.step([grads], { lr });
        acc.push(stats);
        lastPolicyKl = stats.policykl;
      }
      epochs++;
      if (c.earlyStopping && lastPolicyKl > 1.5 * c.targetKl) break;
    }
    this.policy.zeroGrad();

    // TRL's objective/kl and objective/entropy: per-sequence sums over the response, batch mean.
    let klSum = 0, entSum = 0, respTokens = 0;
    for (let i = 0; i < B * T; i++) {
      if (batch.mask[i]) {
        klSum += data.logp[i] - data.logpRef[i];
        entSum -= data.logp[i];
        respTokens++;
      }
    }
    const meanKl = klSum / B;
    this.klCtl.update(meanKl, B);
    this.step = step + 1;
    const mean = (f: (s: PpoLossStats) => number) => acc.reduce((a, s) => a + f(s), 0) / acc.length;
    const { mean: rMean, std: rStd } = meanStd(data.scores);
    const time = (performance.now() - t0) / 1000;
    return {
      step: this.step,
      reward_mean: rMean,
      reward_std: rStd,
      kl: meanKl,
      kl_coef: data.klCoef,
      entropy: entSum / B,
      pg_loss: mean((s) => s.pgLoss),
      vf_loss: mean((s) => s.vfLoss),
      loss: mean((s) => s.loss),
      clipfrac: mean((s) => s.pgClipfrac),
      vf_clipfrac: mean((s) => s.vfClipfrac),
      approxkl: mean((s) => s.approxkl),
      policykl: mean((s) => s.policykl),
      ratio_mean: mean((s) => s.ratioMean),
      skipped: acc.filter((s) => s.skipped).length,
      grad_norm: norms.reduce((a, b) => a + b, 0) / norms.length,
      lr,
      response_len: respTokens / B,
      epochs,
      tokens_per_s: respTokens / time,
      time_s: time,
    };
  }

  /** The first n (prompt + response) texts of the last step, with their scores. */
  lastSamples(n: number): { text: string; score: number; response_len: number }[] {
    if (!this.last) return [];
    const { texts, scores, responseLengths } = this.last;
    return texts.slice(0, n).map((text, i) => ({ text, score: scores[i], response_len: responseLengths[i] }));
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
