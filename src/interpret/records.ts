// Feature records: the texts on which one dictionary feature fires, in the form the explainers read
// (method notes, "Explanations and scores", after the paper's notebook and Bills et al. 2023):
//   - a record is one review of the split (its first 50 tokens, the rows of the activation store);
//   - a feature's activation on each token is normalised per record to an integer 0–10:
//     negatives → 0, round(10 · a / record max); a record whose max is ≤ 0 is skipped when ranking;
//   - records are ranked by their max activation, the top 20 kept, 5 of them shown to the explainer
//     (drawn at random, seeded, kept in rank order);
//   - when fewer than a fifth of a record's tokens are non-zero, the non-zero pairs are listed again
//     after the record.
import { invalidRange, invalidType } from '../errors.js';
import { mulberry32 } from '../random.js';
import { checkInt } from '../validate.js';

export interface TokenActivation {
  token: string;
  /** Integer 0–10, normalised per record. */
  activation: number;
}

export interface FeatureRecord {
  /** Index of the review in the split (corpus order). */
  record: number;
  /** The record's largest raw activation of the feature. */
  maxActivation: number;
  tokens: TokenActivation[];
  /** The un-normalised activations, one per token. */
  raw?: number[];
}

export interface FeatureRecords {
  model: string;
  layer: number;
  hook: string;
  /** Index in the LARGE dictionary. */
  feature: number;
  /** Index of the small-dictionary feature it matched. */
  matchedSmall: number;
  matchCos: number;
  /** Top records by max activation, descending (20 by default). */
  top: FeatureRecord[];
  /** Records drawn at random (seeded) from all records, for baselines. */
  random: FeatureRecord[];
}

/** The features file: `features/<model>.<hook>.<layer>.json`. */
export interface FeaturesFile {
  mmcs: number;
  match: 'max' | 'hungarian';
  topK: number;
  features: FeatureRecords[];
}

export const RECORD_DEFAULTS = Object.freeze({
  /** Records kept per feature (ranked by max activation). */
  top: 20,
  /** Random records per feature, for baselines. */
  random: 20,
  /** Records shown to the explainer, drawn from the top. */
  shown: 5,
  /** The normalised scale: activations become integers 0..scale. */
  scale: 10,
});

/**
 * Normalise one record's raw activations to integers 0–10: negatives → 0, round(10·a / max) with
 * max the record's largest activation; all zeros when that max is ≤ 0.
 */
export function normaliseActivations(raw: ArrayLike<number>): number[] {
  let max = 0;
  for (let i = 0; i < raw.length; i++) if (raw[i] > max) max = raw[i];
  const out = new Array<number>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    out[i] = max > 0 && raw[i] > 0 ? Math.round((RECORD_DEFAULTS.scale * raw[i]) / max) : 0;
  }
  return out;
}

/** A FeatureRecord from a record's token strings and raw activations. */
export function makeRecord(record: number, tokens: readonly string[], raw: ArrayLike<number>): FeatureRecord {
  if (tokens.length !== raw.length) {
    throw invalidRange(`as many activations as tokens (${tokens.length})`, `record ${record} activations`, `${raw.length}`);
  }
  const norm = normaliseActivations(raw);
  let max = -Infinity;
  for (let i = 0; i < raw.length; i++) max = Math.max(max, raw[i]);
  return {
    record,
    maxActivation: raw.length ? max : 0,
    tokens: tokens.map((token, i) => ({ token, activation: norm[i] })),
    raw: Array.from(raw, (v) => v),
  };
}

/**
 * `count` records (default 5) drawn at random from `top` (seeded by `seed`), returned in rank order
 * (their order in `top`). Fewer when `top` holds fewer.
 */
export function drawShown(top: FeatureRecord[], seed: number, count: number = RECORD_DEFAULTS.shown): FeatureRecord[] {
  if (!Array.isArray(top)) throw invalidType('an array of FeatureRecord', 'top', top);
  checkInt(seed, 'seed', 0);
  checkInt(count, 'count', 0);
  const idx = top.map((_, i) => i);
  const rnd = mulberry32(seed);
  const k = Math.min(count, idx.length);
  // partial Fisher–Yates: the first k slots are a uniform sample without replacement
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rnd() * (idx.length - i));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx.slice(0, k).sort((a, b) => a - b).map((i) => top[i]);
}

/**
 * The record as "token<TAB>activation" lines; when fewer than a fifth of its tokens are non-zero,
 * the non-zero pairs are listed again after the record (as the paper's notebook, after Bills et al.).
 */
export function recordLines(r: FeatureRecord): string[] {
  const lines = r.tokens.map((t) => `${t.token}\t${t.activation}`);
  const nonZero = r.tokens.filter((t) => t.activation !== 0);
  if (nonZero.length > 0 && nonZero.length < r.tokens.length / 5) {
    for (const t of nonZero) lines.push(`${t.token}\t${t.activation}`);
  }
  return lines;
}
