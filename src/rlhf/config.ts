// The PPO trainer's configuration: every default written once, with where it comes from.
// Defaults are the paper's Table 1 (batch 64, minibatch 16, init KL coef 0.5, max grad norm 1,
// learning rate 1e-6, 10 warmup steps then linear decay), its prompts and response lengths, and TRL
// 0.7's PPOConfig for everything else. See docs/rlhf.md for the formulas.
import { invalidRange, invalidType } from '../errors.js';
import { checkBool, checkInt, checkNumber, checkOneOf } from '../validate.js';
import type { KlPenaltyKind } from './ppo-kernels.js';

export interface PpoConfig {
  /** Rollouts per PPO step (paper Table 1: 64; TRL batch_size). */
  batchSize: number;
  /** Rows per optimiser step (paper: 16; TRL mini_batch_size). */
  miniBatchSize: number;
  /** Passes over the batch per step, each a fresh permutation into minibatches (TRL ppo_epochs 4). */
  ppoEpochs: number;
  /** Peak learning rate of AdamW (paper: 1e-6; the paper's code, TRL's default is 1.41e-5). */
  learningRate: number;
  /** Linear warm-up over this many PPO steps from 0, then linear decay to 0 at decaySteps (paper's code: 10). */
  warmupSteps: number;
  /** The step at which the linear decay reaches 0 (paper's code: 390, one pass over IMDb train); 0 = constant after warm-up. */
  decaySteps: number;
  /** AdamW β1, β2, ε and decoupled weight decay (torch.optim.AdamW's defaults). */
  adamBeta1: number;
  adamBeta2: number;
  adamEps: number;
  weightDecay: number;
  /** Global gradient-norm clip applied on EVERY optimiser step (paper: 1; TRL applies it only once, a defect); 0 = off. */
  maxGradNorm: number;
  /** Initial β of the per-token KL penalty (paper: 0.5; TRL default 0.2). */
  initKlCoef: number;
  /** Adaptive KL controller (TRL adap_kl_ctrl true) or a fixed β. */
  adaptKlCtrl: boolean;
  /** Target KL of the adaptive controller (TRL target 6) and its horizon (10000). */
  klTarget: number;
  klHorizon: number;
  /** Per-token KL estimator: 'kl' (logp − logp_ref, TRL default), 'abs', 'mse'. */
  klPenalty: KlPenaltyKind;
  /** GAE discount and λ (TRL gamma 1, lam 0.95). */
  gamma: number;
  lam: number;
  /** Policy ratio clip ε and value clip (TRL cliprange 0.2, cliprange_value 0.2). */
  cliprange: number;
  cliprangeValue: number;
  /** Value-loss weight (TRL vf_coef 0.1). */
  vfCoef: number;
  /** A minibatch whose mean ratio exceeds this is skipped (TRL ratio_threshold 10). */
  ratioThreshold: number;
  /** Stop the step's epochs early when policy KL > 1.5·targetKl at the end of an epoch (TRL early_stopping false, target_kl 1). */
  earlyStopping: boolean;
  targetKl: number;
  /** Dropout on the value head's input (TRL ValueHead: Dropout(0.1) then Linear). */
  valueHeadDropout: number;
  /** Response length drawn per rollout, uniform in [min, max] (paper: 8–19 new tokens; TRL LengthSampler(8, 20)). */
  minNewTokens: number;
  maxNewTokens: number;
  /** Sampling: TRL's gen kwargs (top_k 0, top_p 1, do_sample, temperature 1). */
  topK: number;
  topP: number;
  temperature: number;
  /** The seed of everything random in the run: prompt order, response lengths, sampling, minibatch order. */
  seed: number;
}

/** The paper's Table 1 and TRL 0.7's defaults. */
export const PPO_DEFAULTS: Readonly<PpoConfig> = Object.freeze({
  batchSize: 64,
  miniBatchSize: 16,
  ppoEpochs: 4,
  learningRate: 1e-6,
  warmupSteps: 10,
  decaySteps: 390,
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  adamEps: 1e-8,
  weightDecay: 0.01,
  maxGradNorm: 1,
  initKlCoef: 0.5,
  adaptKlCtrl: true,
  klTarget: 6,
  klHorizon: 10000,
  klPenalty: 'kl',
  gamma: 1,
  lam: 0.95,
  cliprange: 0.2,
  cliprangeValue: 0.2,
  vfCoef: 0.1,
  ratioThreshold: 10,
  earlyStopping: false,
  targetKl: 1,
  valueHeadDropout: 0.1,
  minNewTokens: 8,
  maxNewTokens: 19,
  topK: 0,
  topP: 1,
  temperature: 1,
  seed: 0,
});

/**
 * Named presets. 'paper' is PPO_DEFAULTS. 'default-world' suits the shipped 4-layer default model,
 * whose few steps must show a visible change within minutes on a CPU: a larger learning rate, a
 * shorter warm-up and no decay (the paper's 1e-6 over 390 steps was sized for Pythia on a GPU).
 */
export const PPO_PRESETS: Readonly<Record<string, Partial<PpoConfig>>> = Object.freeze({
  paper: {},
  'default-world': { learningRate: 3e-4, warmupSteps: 2, decaySteps: 0, initKlCoef: 0.1 },
});

const KEYS = Object.keys(PPO_DEFAULTS) as (keyof PpoConfig)[];

/** Defaults filled in (preset first, then the overrides) and every value checked; names the bad field. */
export function resolvePpoConfig(overrides: Partial<PpoConfig> = {}, preset = 'paper'): PpoConfig {
  if (overrides === null || typeof overrides !== 'object') throw invalidType('a PPO config object', 'config', overrides);
  const base = PPO_PRESETS[preset];
  if (!base) throw invalidRange(`one of ${Object.keys(PPO_PRESETS).join(', ')}`, 'preset', JSON.stringify(preset));
  for (const k of Object.keys(overrides)) {
    if (!(KEYS as string[]).includes(k)) throw invalidRange(`a PPO config field (${KEYS.join(', ')})`, 'config', `unknown field "${k}"`);
  }
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const c = { ...PPO_DEFAULTS, ...base, ...defined } as PpoConfig;
  checkInt(c.batchSize, 'config.batchSize', 2);
  checkInt(c.miniBatchSize, 'config.miniBatchSize', 1, c.batchSize);
  if (c.batchSize % c.miniBatchSize !== 0) {
    throw invalidRange(`a divisor of batchSize ${c.batchSize}`, 'config.miniBatchSize', `${c.miniBatchSize}`);
  }
  checkInt(c.ppoEpochs, 'config.ppoEpochs', 1);
  checkNumber(c.learningRate, 'config.learningRate', 0);
  checkInt(c.warmupSteps, 'config.warmupSteps', 0);
  checkInt(c.decaySteps, 'config.decaySteps', 0);
  if (c.decaySteps !== 0 && c.decaySteps <= c.warmupSteps) {
    throw invalidRange(`0 or more than warmupSteps (${c.warmupSteps})`, 'config.decaySteps', `${c.decaySteps}`);
  }
  checkNumber(c.adamBeta1, 'config.adamBeta1', 0, 0.999999);
  checkNumber(c.adamBeta2, 'config.adamBeta2', 0, 0.999999999);
  checkNumber(c.adamEps, 'config.adamEps', 0);
  checkNumber(c.weightDecay, 'config.weightDecay', 0);
  checkNumber(c.maxGradNorm, 'config.maxGradNorm', 0);
  checkNumber(c.initKlCoef, 'config.initKlCoef', 0);
  checkBool(c.adaptKlCtrl, 'config.adaptKlCtrl');
  checkNumber(c.klTarget, 'config.klTarget', Number.MIN_VALUE);
  checkNumber(c.klHorizon, 'config.klHorizon', Number.MIN_VALUE);
  checkOneOf(c.klPenalty, 'config.klPenalty', ['kl', 'abs', 'mse'] as const);
  checkNumber(c.gamma, 'config.gamma', 0, 1);
  checkNumber(c.lam, 'config.lam', 0, 1);
  checkNumber(c.cliprange, 'config.cliprange', 0);
  checkNumber(c.cliprangeValue, 'config.cliprangeValue', 0);
  checkNumber(c.vfCoef, 'config.vfCoef', 0);
  checkNumber(c.ratioThreshold, 'config.ratioThreshold', Number.MIN_VALUE);
  checkBool(c.earlyStopping, 'config.earlyStopping');
  checkNumber(c.targetKl, 'config.targetKl', 0);
  checkNumber(c.valueHeadDropout, 'config.valueHeadDropout', 0, 0.99);
  checkInt(c.minNewTokens, 'config.minNewTokens', 1);
  checkInt(c.maxNewTokens, 'config.maxNewTokens', c.minNewTokens);
  checkInt(c.topK, 'config.topK', 0);
  checkNumber(c.topP, 'config.topP', Number.MIN_VALUE, 1);
  checkNumber(c.temperature, 'config.temperature', Number.MIN_VALUE);
  checkInt(c.seed, 'config.seed', 0, 2 ** 31 - 1);
  return c;
}

/** transformers' get_linear_schedule_with_warmup, stepped once per PPO step as TRL steps it. */
export function learningRateAt(cfg: Pick<PpoConfig, 'learningRate' | 'warmupSteps' | 'decaySteps'>, step: number): number {
  const { learningRate: lr, warmupSteps: w, decaySteps: total } = cfg;
  if (step < w) return (lr * step) / Math.max(1, w);
  if (total === 0) return lr;
  return lr * Math.max(0, (total - step) / Math.max(1, total - w));
}
