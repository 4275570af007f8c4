// The options of NeoxEngine.generate: one table of names and defaults, and their checks. The
// sampling itself runs natively (native/cpu/neox_generate.cc); docs/neox.md ("Generation") has the
// rules.
import { describe as describeValue, invalidRange, invalidType } from '../errors.js';
import { checkBool, checkI32, checkInt, checkNumber } from '../validate.js';
import type { NeoxConfig } from './neox-config.js';

/**
 * How to generate. Sampling follows Hugging Face's order: EOS suppressed while fewer than
 * `minNewTokens` are out, then logits/temperature, then top-k, then top-p over what top-k kept;
 * `greedy` takes the argmax instead (ties: the smallest id).
 */
export interface NeoxGenerateOptions {
  /** New tokens per row at most (the width of the outputs), >= 1. */
  maxNewTokens: number;
  /** EOS is not drawn before this many new tokens (capped by a row's own maximum). Default 0. */
  minNewTokens?: number;
  /** [B] per-row maxima in [1, maxNewTokens] (e.g. a PPO response length per row). Default: all maxNewTokens. */
  maxNewTokensPerRow?: Int32Array;
  /** > 0. Default 1. Ignored when greedy. */
  temperature?: number;
  /** Keep the k most likely tokens (ties: smaller ids first); 0 = off (default). */
  topK?: number;
  /** Keep the smallest set of the most likely tokens whose probability sums to >= topP (at least one); 1 = off (default). */
  topP?: number;
  /** Argmax instead of sampling. Default false. */
  greedy?: boolean;
  /** A row stops after emitting it (EOS counts in its length); null: none. Default cfg.eosTokenId. */
  eosTokenId?: number | null;
  /** Fills each row's outputs after it stops. Default: eosTokenId, else 0. */
  padTokenId?: number;
  /** Draw (row b, new token s) comes from its own stream of (seed, b, s): the same seed gives the same tokens. Default 0. */
  seed?: number;
  /** Also return each new token's log-probability under the model itself (τ = 1, no truncation). Default false. */
  returnLogprobs?: boolean;
}

export interface NeoxGenerateResult {
  /** [B, maxNewTokens]: the new tokens; padTokenId after each row's length. */
  tokens: Int32Array;
  /** [B]: new tokens per row, EOS included. */
  lengths: Int32Array;
  /**
   * [B, maxNewTokens] with returnLogprobs: log softmax(logits)[token] of the model itself — at
   * temperature 1, before EOS suppression, top-k or top-p — which is what forward({ targets })
   * gives for the same sequence; 0 after each row's length.
   */
  logprobs?: Float32Array;
}

/** Every option resolved, as the binding reads it. */
export interface ResolvedGenerateOptions {
  maxNewTokens: number;
  minNewTokens: number;
  maxNewTokensPerRow: Int32Array | null;
  temperature: number;
  topK: number;
  topP: number;
  greedy: boolean;
  /** −1: none */
  eosTokenId: number;
  padTokenId: number;
  seed: number;
  returnLogprobs: boolean;
}

/** The option names, each spelled once. */
export const GENERATE_OPTION_KEYS = [
  'maxNewTokens', 'minNewTokens', 'maxNewTokensPerRow', 'temperature', 'topK', 'topP', 'greedy',
  'eosTokenId', 'padTokenId', 'seed', 'returnLogprobs',
] as const satisfies readonly (keyof NeoxGenerateOptions)[];

/** Largest maxNewTokens accepted (the native limit). */
export const MAX_NEW_TOKENS = 2 ** 24;

/** Checks generate's options for B rows of a model with config `cfg`; names the bad option. */
export function resolveGenerateOptions(opts: unknown, cfg: NeoxConfig, B: number): ResolvedGenerateOptions {
  if (opts === null || typeof opts !== 'object' || ArrayBuffer.isView(opts)) {
    throw invalidType('NeoxGenerateOptions object ({ maxNewTokens, ... })', 'opts', opts);
  }
  const o = opts as NeoxGenerateOptions;
  for (const key of Object.keys(o)) {
    if (!(GENERATE_OPTION_KEYS as readonly string[]).includes(key)) {
      throw invalidRange(`one of ${GENERATE_OPTION_KEYS.join(', ')}`, 'opts', `unknown key "${key}"`);
    }
  }
  const V = cfg.vocabSize;
  const maxNewTokens = checkInt(o.maxNewTokens, 'opts.maxNewTokens', 1, MAX_NEW_TOKENS);
  if (B * maxNewTokens > 2 ** 31) {
    throw invalidRange('B·maxNewTokens <= 2147483648', 'opts.maxNewTokens', `${maxNewTokens} for B = ${B}`);
  }
  const minNewTokens = o.minNewTokens === undefined ? 0 : checkInt(o.minNewTokens, 'opts.minNewTokens', 0, maxNewTokens);
  let perRow: Int32Array | null = null;
  if (o.maxNewTokensPerRow !== undefined) {
    perRow = checkI32(o.maxNewTokensPerRow, 'opts.maxNewTokensPerRow', [B]);
    for (let b = 0; b < B; b++) {
      if (perRow[b] < 1 || perRow[b] > maxNewTokens) {
        throw invalidRange(`integers in [1, ${maxNewTokens}] (maxNewTokens)`, 'opts.maxNewTokensPerRow', `${perRow[b]} at index ${b}`);
      }
    }
  }
  const greedy = o.greedy === undefined ? false : checkBool(o.greedy, 'opts.greedy');
  const temperature = o.temperature === undefined ? 1 : checkNumber(o.temperature, 'opts.temperature');
  if (!(temperature > 0)) {
    throw invalidRange('finite number > 0 (greedy: true for the argmax)', 'opts.temperature', describeValue(temperature));
  }
  const topK = o.topK === undefined ? 0 : checkInt(o.topK, 'opts.topK', 0, V);
  const topP = o.topP === undefined ? 1 : checkNumber(o.topP, 'opts.topP', 0, 1);
  if (topP === 0) throw invalidRange('number in (0, 1] (1 = off)', 'opts.topP', describeValue(topP));
  let eos = cfg.eosTokenId;
  if (o.eosTokenId !== undefined) eos = o.eosTokenId === null ? null : checkInt(o.eosTokenId, 'opts.eosTokenId', 0, V - 1);
  if (eos !== null && eos >= V) {
    throw invalidRange(`a token id in [0, ${V - 1}] or null`, 'cfg.eosTokenId (the default opts.eosTokenId)', `${eos}`);
  }
  if (eos !== null && minNewTokens > 0 && V < 2) {
    throw invalidRange('a vocabulary of at least 2 tokens (EOS is suppressed before minNewTokens)', 'opts.minNewTokens', `${minNewTokens} with 1 token`);
  }
  const padTokenId = o.padTokenId === undefined ? (eos ?? 0) : checkInt(o.padTokenId, 'opts.padTokenId', 0, V - 1);
  const seed = o.seed === undefined ? 0 : checkInt(o.seed, 'opts.seed', 0);
  const returnLogprobs = o.returnLogprobs === undefined ? false : checkBool(o.returnLogprobs, 'opts.returnLogprobs');
  return {
    maxNewTokens, minNewTokens, maxNewTokensPerRow: perRow, temperature, topK, topP, greedy,
    eosTokenId: eos ?? -1, padTokenId, seed, returnLogprobs,
  };
}
