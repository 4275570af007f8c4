// The PPO kernels of TRL 0.7's classic PPOTrainer (docs/ppo.md writes out every formula):
// token log-probs + entropy from logits (fused, native, async), KL-penalty rewards, GAE, masked
// whitening, and the clipped PPO loss with its gradients. Arguments are validated here first, with
// messages that name the argument and its expected shape; the native binding re-checks them.
import { describe as describeValue, invalidRange, invalidType, withCallerStack } from '../errors.js';
import { checkBool, checkF32, checkFinite, checkI32, checkInt, checkNumber, checkOneOf } from '../validate.js';
import { ppoBinding, type PpoLossStatsRaw } from './native-ppo.js';

/**
 * A 0/1 mask. Uint8Array is the native form; a Float32Array of exact 0s and 1s (TRL's float
 * masks) is accepted too and converted. Any other value is a RangeError.
 */
export type Mask = Uint8Array | Float32Array;

export interface ShapeBT { B: number; T: number }
export interface ShapeBTV { B: number; T: number; V: number }

// ---- argument helpers -------------------------------------------------------------------------

const MAX_DIM = 2 ** 31 - 1;

function checkOptions(value: unknown, name: string, keys: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidType('an options object', name, value);
  }
  for (const k of Object.keys(value)) {
    if (!keys.includes(k)) {
      throw invalidType(`one of the keys ${keys.map((x) => `"${x}"`).join(', ')}`, `${name} key`, k);
    }
  }
  return value as Record<string, unknown>;
}

function checkShape<K extends string>(value: unknown, keys: readonly K[]): Record<K, number> {
  if (value === null || typeof value !== 'object') {
    throw invalidType(`a shape object { ${keys.join(', ')} }`, 'shape', value);
  }
  const out = {} as Record<K, number>;
  for (const k of keys) out[k] = checkInt((value as Record<string, unknown>)[k], `shape.${k}`, 1, MAX_DIM);
  return out;
}

/** A 0/1 mask of the given shape, as the Uint8Array the native side reads. */
function checkMask(value: unknown, name: string, shape: readonly number[]): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const expected = `Uint8Array or Float32Array of 0/1 of shape [${shape.join(',')}] (length ${n})`;
  if (!(value instanceof Uint8Array) && !(value instanceof Float32Array)) throw invalidType(expected, name, value);
  if (value.length !== n) throw invalidRange(expected, name, `length ${value.length}`);
  for (let i = 0; i < n; i++) {
    if (value[i] !== 0 && value[i] !== 1) throw invalidRange(expected, name, `${value[i]} at index ${i}`);
  }
  return value instanceof Uint8Array ? value : Uint8Array.from(value);
}

/** A finite Float32Array of the given shape (the small [B,T] inputs are cheap to scan). */
function checkFiniteF32(value: unknown, name: string, shape: readonly number[]): Float32Array {
  const a = checkF32(value, name, shape);
  checkFinite(a, name);
  return a;
}

function checkTemperature(value: unknown): number {
  if (value === undefined) return 1;
  const t = checkNumber(value, 'temperature');
  if (!(t > 0)) throw invalidRange('finite number > 0', 'temperature', describeValue(t));
  return t;
}


// ---- token log-probs and entropy ------------------------------------------------------------

/**
 * log_softmax(logits / temperature) gathered at `targets`, the entropy of each row's softmax, and
 * each row's log-sum-exp (for the backward), in one pass over logits [B,T,V] (native, OpenMP,
 * off the event loop). targets [B,T] in [−1, V): −1 skips the position (outputs 0, row not read).
 * Contract: logits hold no NaN and no +Infinity (−Infinity is allowed and means p = 0). This is
 * checked natively during the pass; a violation rejects with a RangeError naming logits and the
 * flat index. Do not modify logits until the promise settles.
 */
export async function tokenLogprobs(
  logits: Float32Array,
  targets: Int32Array,
  shape: ShapeBTV,
  opts?: { temperature?: number },
): Promise<{ logp: Float32Array; entropy: Float32Array; lse: Float32Array }> {
  const where = new Error();
  const { B, T, V } = checkShape(shape, ['B', 'T', 'V'] as const);
  checkF32(logits, 'logits', [B, T, V]);
  checkTargets(targets, B, T, V);
  const o = checkOptions(opts, 'opts', ['temperature']);
  const temperature = checkTemperature(o.temperature);
  const logp = new Float32Array(B * T);
  const entropy = new Float32Array(B * T);
  const lse = new Float32Array(B * T);
  await withCallerStack(
    ppoBinding().ppoTokenLogprobs(logits, targets, B, T, V, temperature, logp, entropy, lse),
    where,
  );
  return { logp, entropy, lse };
}

function checkTargets(value: unknown, B: number, T: number, V: number): Int32Array {
  const targets = checkI32(value, 'targets', [B, T]);
  for (let i = 0; i < targets.length; i++) {
    const y = targets[i];
    if (y < -1 || y >= V) throw invalidRange(`integers in [-1, ${V}) (-1 = skipped)`, 'targets', `${y} at index ${i}`);
  }
  return targets;
}

/**
 * Gradient of Σ dlogp·logp + Σ dentropy·entropy with respect to the logits [B,T,V]:
 * dlogits_v = (dlogp·(1[v=y] − p_v) − dentropy·p_v·(log p_v + H)) / temperature, 0 on rows with
 * target −1 (and rows whose dlogp and dentropy are both 0: logits not read there).
 * `out` may be logits itself (in place: the logits are overwritten by their gradient); without
 * `out` a new array is allocated. `lse` is the forward's; temperature must match the forward's.
 */
export async function tokenLogprobsBackward(
  logits: Float32Array,
  targets: Int32Array,
  lse: Float32Array,
  dlogp: Float32Array,
  shape: ShapeBTV,
  opts?: { dentropy?: Float32Array; temperature?: number; out?: Float32Array },
): Promise<Float32Array> {
  const where = new Error();
  const { B, T, V } = checkShape(shape, ['B', 'T', 'V'] as const);
  checkF32(logits, 'logits', [B, T, V]);
  checkTargets(targets, B, T, V);
  checkFiniteF32(lse, 'lse', [B, T]);
  checkFiniteF32(dlogp, 'dlogp', [B, T]);
  const o = checkOptions(opts, 'opts', ['dentropy', 'temperature', 'out']);
  const dentropy = o.dentropy === undefined ? null : checkFiniteF32(o.dentropy, 'dentropy', [B, T]);
  const temperature = checkTemperature(o.temperature);
  const out = o.out === undefined ? new Float32Array(B * T * V) : checkF32(o.out, 'out', [B, T, V]);
  if (out !== logits && out.buffer === logits.buffer) {
    const a0 = out.byteOffset, a1 = a0 + out.byteLength, b0 = logits.byteOffset, b1 = b0 + logits.byteLength;
    if (a0 < b1 && b0 < a1) {
      throw invalidRange('logits itself or a buffer that does not overlap it', 'out', 'a partly overlapping view');
    }
  }
  await withCallerStack(
    ppoBinding().ppoTokenLogprobsBackward(logits, targets, lse, dlogp, dentropy, B, T, V, temperature, out),
    where,
  );
  return out;
}

// ---- per-token rewards ----------------------------------------------------------------------

export type KlPenaltyKind = 'kl' | 'abs' | 'mse';

/**
 * TRL's compute_rewards: d = logp − logpRef; kl = d ('kl'), |d| ('abs') or ½d² ('mse') where
 * mask = 1 (0 elsewhere); rewards = −klCoef·kl, plus scores[b] at the last position of row b
 * where mask = 1 (every row needs one). Inputs [B,T], scores [B].
 */
export function klPenaltyRewards(
  logp: Float32Array,
  logpRef: Float32Array,
  mask: Mask,
  scores: Float32Array,
  shape: ShapeBT,
  opts: { klCoef: number; kind?: KlPenaltyKind },
): { rewards: Float32Array; kl: Float32Array } {
  const { B, T } = checkShape(shape, ['B', 'T'] as const);
  checkFiniteF32(logp, 'logp', [B, T]);
  checkFiniteF32(logpRef, 'logpRef', [B, T]);
  const m = checkMask(mask, 'mask', [B, T]);
  checkFiniteF32(scores, 'scores', [B]);
  if (opts === undefined) throw invalidType('an options object with klCoef', 'opts', opts);
  const o = checkOptions(opts, 'opts', ['klCoef', 'kind']);
  const klCoef = checkNumber(o.klCoef, 'klCoef', 0);
  const kind = o.kind === undefined ? 'kl' : checkOneOf(o.kind, 'kind', ['kl', 'abs', 'mse'] as const);
  const rewards = new Float32Array(B * T);
  const kl = new Float32Array(B * T);
  ppoBinding().ppoKlPenaltyRewards(logp, logpRef, m, scores, B, T, klCoef, kind, rewards, kl);
  return { rewards, kl };
}

// ---- GAE -----------------------------------------------------------------------------------

/**
 * TRL's compute_advantages (before whitening): rewards and values multiplied by the mask, then for
 * t = T−1 … 0: delta = r_t + γ·v_{t+1} − v_t (v_T = 0), A_t = delta + γλ·A_{t+1}; returns = A + v.
 * gamma (default 1) and lam (default 0.95) in [0, 1].
 */
export function gae(
  rewards: Float32Array,
  values: Float32Array,
  mask: Mask,
  shape: ShapeBT,
  opts?: { gamma?: number; lam?: number },
): { advantages: Float32Array; returns: Float32Array } {
  const { B, T } = checkShape(shape, ['B', 'T'] as const);
  checkFiniteF32(rewards, 'rewards', [B, T]);
  checkFiniteF32(values, 'values', [B, T]);
  const m = checkMask(mask, 'mask', [B, T]);
  const o = checkOptions(opts, 'opts', ['gamma', 'lam']);
  const gamma = o.gamma === undefined ? 1 : checkNumber(o.gamma, 'gamma', 0, 1);
  const lam = o.lam === undefined ? 0.95 : checkNumber(o.lam, 'lam', 0, 1);
  const advantages = new Float32Array(B * T);
  const returns = new Float32Array(B * T);
  ppoBinding().ppoGae(rewards, values, m, B, T, gamma, lam, advantages, returns);
  return { advantages, returns };
}

// ---- masked whitening -----------------------------------------------------------------------

/**
 * TRL's masked_whiten: (x − mean)·rsqrt(var + 1e-8) with the masked mean and the unbiased masked
 * variance (Σm/(Σm − 1) correction); shiftMean false adds the mean back. Positions with mask 0 are
 * written as 0 (TRL leaves whitened values there; see docs/ppo.md). Needs at least two 1s.
 */
export function maskedWhiten(x: Float32Array, mask: Mask, opts?: { shiftMean?: boolean }): Float32Array {
  if (!(x instanceof Float32Array)) throw invalidType('Float32Array', 'x', x);
  if (x.length === 0) throw invalidRange('a non-empty Float32Array', 'x', 'length 0');
  checkFinite(x, 'x');
  const m = checkMask(mask, 'mask', [x.length]);
  let ones = 0;
  for (let i = 0; i < m.length; i++) ones += m[i];
  if (ones < 2) throw invalidRange('at least 2 entries of 1 (for an unbiased variance)', 'mask', `${ones}`);
  const o = checkOptions(opts, 'opts', ['shiftMean']);
  const shiftMean = o.shiftMean === undefined ? true : checkBool(o.shiftMean, 'shiftMean');
  const out = new Float32Array(x.length);
  ppoBinding().ppoMaskedWhiten(x, m, shiftMean, out);
  return out;
}

// ---- PPO loss -------------------------------------------------------------------------------

export interface PpoLossConfig {
  /** ε of the policy ratio clip, clip(ratio, 1 − ε, 1 + ε) (TRL `cliprange`). */
  cliprange: number;
  /** Half-width of the value clip around the old values (TRL `cliprange_value`). */
  clipRangeValue: number;
  /** Weight of the value loss (TRL `vf_coef`). */
  vfCoef: number;
  /** When the masked mean ratio exceeds it, the minibatch's loss is zeroed (TRL `ratio_threshold`). */
  ratioThreshold: number;
}

/** TRL 0.7's defaults, written once. */
export const PPO_LOSS_DEFAULTS: Readonly<PpoLossConfig> = Object.freeze({
  cliprange: 0.2,
  clipRangeValue: 0.2,
  vfCoef: 0.1,
  ratioThreshold: 10,
});

/** The statistics of one ppoLoss call (documented where the binding declares them). */
export type PpoLossStats = PpoLossStatsRaw;

export interface PpoLossInputs {
  logp: Float32Array;
  oldLogp: Float32Array;
  values: Float32Array;
  oldValues: Float32Array;
  advantages: Float32Array;
  returns: Float32Array;
  mask: Mask;
  entropy?: Float32Array;
}

/**
 * TRL 0.7 PPOTrainer.loss over a minibatch [B,T] (token-level masked means), with the exact
 * subgradients dloss/dlogp and dloss/dvalues (at a tie of a max the unclipped term is chosen).
 * All inputs must be finite.
 */
export function ppoLoss(
  inp: PpoLossInputs,
  shape: ShapeBT,
  cfg?: Partial<PpoLossConfig>,
): { stats: PpoLossStats; dlogp: Float32Array; dvalues: Float32Array } {
  const { B, T } = checkShape(shape, ['B', 'T'] as const);
  if (inp === null || typeof inp !== 'object') throw invalidType('an inputs object', 'inp', inp);
  const s = [B, T];
  const logp = checkFiniteF32(inp.logp, 'logp', s);
  const oldLogp = checkFiniteF32(inp.oldLogp, 'oldLogp', s);
  const values = checkFiniteF32(inp.values, 'values', s);
  const oldValues = checkFiniteF32(inp.oldValues, 'oldValues', s);
  const advantages = checkFiniteF32(inp.advantages, 'advantages', s);
  const returns = checkFiniteF32(inp.returns, 'returns', s);
  const mask = checkMask(inp.mask, 'mask', s);
  const entropy = inp.entropy === undefined ? null : checkFiniteF32(inp.entropy, 'entropy', s);
  if (!mask.includes(1)) throw invalidRange('at least one 1', 'mask', 'all zeros');
  const c = resolvePpoLossConfig(cfg);
  const dlogp = new Float32Array(B * T);
  const dvalues = new Float32Array(B * T);
  const raw = ppoBinding().ppoLoss(
    logp, oldLogp, values, oldValues, advantages, returns, mask, entropy, B, T,
    c.cliprange, c.clipRangeValue, c.vfCoef, c.ratioThreshold, dlogp, dvalues,
  );
  const stats: PpoLossStats = {
    loss: raw.loss, pgLoss: raw.pgLoss, vfLoss: raw.vfLoss, pgClipfrac: raw.pgClipfrac,
    vfClipfrac: raw.vfClipfrac, approxkl: raw.approxkl, policykl: raw.policykl,
    ratioMean: raw.ratioMean, skipped: raw.skipped,
  };
  if (raw.entropy !== undefined) stats.entropy = raw.entropy;
  return { stats, dlogp, dvalues };
}

/** Defaults filled in and every value checked. */
export function resolvePpoLossConfig(cfg?: Partial<PpoLossConfig>): PpoLossConfig {
  const o = checkOptions(cfg, 'cfg', Object.keys(PPO_LOSS_DEFAULTS));
  const pick = (k: keyof PpoLossConfig) => (o[k] === undefined ? PPO_LOSS_DEFAULTS[k] : o[k]);
  const ratioThreshold = checkNumber(pick('ratioThreshold'), 'ratioThreshold', 0);
  if (!(ratioThreshold > 0)) throw invalidRange('finite number > 0', 'ratioThreshold', describeValue(ratioThreshold));
  return {
    cliprange: checkNumber(pick('cliprange'), 'cliprange', 0),
    clipRangeValue: checkNumber(pick('clipRangeValue'), 'clipRangeValue', 0),
    vfCoef: checkNumber(pick('vfCoef'), 'vfCoef', 0),
    ratioThreshold,
  };
}
