// The SAE's configuration: every default written once (SAE_DEFAULTS), and one resolver that checks
// each field and names it in the error.
import { describe, invalidRange, invalidType } from '../errors.js';
import { checkBool, checkInt, checkNumber, checkOneOf } from '../validate.js';

export interface SaeConfig {
  /** Input width d (the activation size); SAELens `d_in`. */
  dIn: number;
  /** Dictionary size n (number of features); SAELens `d_sae`. */
  dSae: number;
  /** W_enc = W_decᵀ (one shared dictionary) when true; a separate free W_enc [dIn, dSae] when false. */
  tied: boolean;
  /** Scale each dictionary row to unit L2 norm inside the forward pass (differentiably). */
  normalizeDecoder: boolean;
  /** Encode x − b_dec instead of x (SAELens `apply_b_dec_to_input`). */
  applyBDecToInput: boolean;
  /** λ, the weight of the L1 penalty (batch mean of each row's L1 norm of c). */
  l1Coefficient: number;
  /** Adam learning rate. */
  lr: number;
  /** Adam β1. */
  adamBeta1: number;
  /** Adam β2. */
  adamBeta2: number;
  /** Adam ε (added to √v̂, as PyTorch). */
  adamEps: number;
  /** Dictionary initialisation (see SAE_DEFAULTS.init). */
  init: 'orthogonal' | 'kaiming';
  /** Initialisation seed (an integer in [0, 2^53)); trainSae also uses it for shuffling by default. */
  seed: number;
  /** A feature counts as dead after this many steps without firing on any valid row. */
  deadWindow: number;
}

export const SAE_DEFAULTS: Readonly<Omit<SaeConfig, 'dIn' | 'dSae'>> = Object.freeze({
  /** The paper's SAE is tied: c = ReLU(x Wₙᵀ + b_enc), x̂ = c Wₙ + b_dec. */
  tied: true,
  /** The paper normalises the dictionary rows in every forward pass. */
  normalizeDecoder: true,
  /** The paper does not subtract b_dec before encoding. */
  applyBDecToInput: false,
  /** The paper's λ (its text gives 0.0015 for GPT-Neo-125m, its code 0.015). */
  l1Coefficient: 1e-3,
  /** Adam, lr 1e-3, no schedule, no clipping (the paper). */
  lr: 1e-3,
  /** PyTorch's Adam default. */
  adamBeta1: 0.9,
  /** PyTorch's Adam default. */
  adamBeta2: 0.999,
  /** PyTorch's Adam default. */
  adamEps: 1e-8,
  /**
   * 'orthogonal': as torch.nn.init.orthogonal_ on the dictionary W [dSae, dIn] (rows orthonormal when
   * dSae ≤ dIn, columns orthonormal when dSae > dIn), the paper's choice. 'kaiming': W uniform in
   * ±√(6/dIn) (torch.nn.init.kaiming_uniform_ with the ReLU gain, fan_in = dIn).
   */
  init: 'orthogonal',
  /** Seed of the initialisation (and of trainSae's shuffling unless it is given its own). */
  seed: 0,
  /** Steps without firing after which a feature is reported dead. */
  deadWindow: 1000,
});

const FIELDS: readonly (keyof SaeConfig)[] = [
  'dIn', 'dSae', 'tied', 'normalizeDecoder', 'applyBDecToInput', 'l1Coefficient', 'lr',
  'adamBeta1', 'adamBeta2', 'adamEps', 'init', 'seed', 'deadWindow',
];

function positive(value: unknown, name: string): number {
  const v = checkNumber(value, name);
  if (!(v > 0)) throw invalidRange('finite number > 0', name, describe(v));
  return v;
}

function unitInterval(value: unknown, name: string): number {
  const v = checkNumber(value, name);
  if (!(v >= 0 && v < 1)) throw invalidRange('number in [0, 1)', name, describe(v));
  return v;
}

/** Fills in the defaults and checks every field; errors name the field, what it expects and what it got. */
export function resolveSaeConfig(partial: Partial<SaeConfig> & { dIn: number; dSae: number }): SaeConfig {
  if (typeof partial !== 'object' || partial === null) throw invalidType('SaeConfig object', 'config', partial);
  for (const key of Object.keys(partial)) {
    if (!(FIELDS as readonly string[]).includes(key)) {
      throw invalidType(`one of the SaeConfig fields (${FIELDS.join(', ')})`, 'config key', key);
    }
  }
  const merged = { ...SAE_DEFAULTS, ...stripUndefined(partial) };
  const cfg: SaeConfig = {
    dIn: checkInt(merged.dIn, 'dIn', 1, 2 ** 31 - 1),
    dSae: checkInt(merged.dSae, 'dSae', 1, 2 ** 31 - 1),
    tied: checkBool(merged.tied, 'tied'),
    normalizeDecoder: checkBool(merged.normalizeDecoder, 'normalizeDecoder'),
    applyBDecToInput: checkBool(merged.applyBDecToInput, 'applyBDecToInput'),
    l1Coefficient: checkNumber(merged.l1Coefficient, 'l1Coefficient', 0),
    lr: positive(merged.lr, 'lr'),
    adamBeta1: unitInterval(merged.adamBeta1, 'adamBeta1'),
    adamBeta2: unitInterval(merged.adamBeta2, 'adamBeta2'),
    adamEps: positive(merged.adamEps, 'adamEps'),
    init: checkOneOf(merged.init, 'init', ['orthogonal', 'kaiming'] as const),
    seed: checkInt(merged.seed, 'seed', 0),
    deadWindow: checkInt(merged.deadWindow, 'deadWindow', 1),
  };
  if (cfg.dIn * cfg.dSae > 2 ** 40) {
    throw invalidRange('dIn·dSae at most 2^40', 'dSae', `dIn ${cfg.dIn} · dSae ${cfg.dSae}`);
  }
  return cfg;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
