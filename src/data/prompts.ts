// The three kinds of model input the paper cuts from reviews, as token ids (and their decoded text):
// - RLHF prompts: the first k tokens of each train review longer than 200 characters, k drawn
//   uniformly from [2, 9] per prompt by a seeded RNG (TRL's sentiment script: filter len(review) > 200,
//   then input_ids[:LengthSampler(min, max)()]);
// - evaluation prefixes (Table 4): the first 30 tokens of the first 100 test reviews;
// - activation inputs (the SAE data set): the first 50 tokens of each test review.
// Tokens are encoded without special tokens (no eos after a prefix). A review with fewer tokens than
// asked for gives all of its tokens (and `truncated` false).
import { mulberry32 } from '../random.js';
import { checkInt, checkNumber } from '../validate.js';
import type { Tokenizer } from '../model/tokenizer.js';
import type { EncodedBatch } from '../model/tokenizer.js';
import type { RecordSource, ReviewRecord } from './corpus.js';

/** One model input cut from a review. */
export interface TokenPrompt {
  /** Token ids (no special tokens). */
  ids: number[];
  /** The ids decoded (special tokens kept; word-level tokenizers give canonical text, see build-tokenizer.ts). */
  text: string;
  /** Index of the source review in the input sequence (0-based, counting every record read). */
  source: number;
  /** The source review's label. */
  label: 0 | 1;
  /** Whether the review had more tokens than were kept. */
  truncated: boolean;
}

/** Every default, written once (the paper's settings). */
export const PROMPT_DEFAULTS = Object.freeze({
  rlhf: { minTokens: 2, maxTokens: 9, minChars: 200, seed: 0 },
  eval: { tokens: 30, count: 100 },
  activations: { tokens: 50 },
});

export interface RlhfPromptOptions {
  /** Shortest prompt in tokens (default 2). */
  minTokens?: number;
  /** Longest prompt in tokens, inclusive (default 9). */
  maxTokens?: number;
  /** Only reviews with more than this many characters (UTF-16 code units, as Python's len on BMP text; default 200). */
  minChars?: number;
  /** Seed of the prompt-length draws (default 0). */
  seed?: number;
  /** Stop after this many prompts (default: every eligible review). */
  limit?: number;
}

function cut(tokenizer: Tokenizer, r: ReviewRecord, source: number, n: number): TokenPrompt {
  const all = tokenizer.encode(r.text, { addSpecialTokens: false });
  const ids = all.slice(0, n);
  return { ids, text: ids.length ? tokenizer.decode(ids) : '', source, label: r.label, truncated: all.length > n };
}

function checkRecord(r: unknown, i: number): ReviewRecord {
  const rec = r as ReviewRecord;
  if (rec === null || typeof rec !== 'object' || typeof rec.text !== 'string' || (rec.label !== 0 && rec.label !== 1)) {
    throw new TypeError(`Expected a ReviewRecord {text: string, label: 0 | 1} for records[${i}] but received ${JSON.stringify(r)?.slice(0, 80)}`);
  }
  return rec;
}

/**
 * RLHF prompts from train reviews: the first k ∈ [minTokens, maxTokens] tokens (k drawn per prompt,
 * in order, from mulberry32(seed)) of each review longer than minChars characters.
 */
export async function rlhfPrompts(tokenizer: Tokenizer, records: RecordSource, opts: RlhfPromptOptions = {}): Promise<TokenPrompt[]> {
  const d = PROMPT_DEFAULTS.rlhf;
  const minTokens = checkInt(opts.minTokens ?? d.minTokens, 'minTokens', 1);
  const maxTokens = checkInt(opts.maxTokens ?? d.maxTokens, 'maxTokens', minTokens);
  const minChars = checkNumber(opts.minChars ?? d.minChars, 'minChars', 0);
  const seed = checkInt(opts.seed ?? d.seed, 'seed', 0);
  const limit = opts.limit === undefined ? Infinity : checkInt(opts.limit, 'limit', 0);
  const rnd = mulberry32(seed);
  const out: TokenPrompt[] = [];
  if (limit === 0) return out;
  let i = 0;
  for await (const raw of records) {
    const r = checkRecord(raw, i);
    if (r.text.length > minChars) {
      const k = minTokens + Math.floor(rnd() * (maxTokens - minTokens + 1));
      out.push(cut(tokenizer, r, i, k));
      if (out.length >= limit) break;
    }
    i++;
  }
  return out;
}

/** The first `tokens` tokens of the first `count` reviews (Table 4's prefixes: 30 tokens, 100 reviews). */
export async function evalPrefixes(tokenizer: Tokenizer, records: RecordSource, opts: { tokens?: number; count?: number } = {}): Promise<TokenPrompt[]> {
  const tokens = checkInt(opts.tokens ?? PROMPT_DEFAULTS.eval.tokens, 'tokens', 1);
  const count = opts.count === undefined ? PROMPT_DEFAULTS.eval.count : checkInt(opts.count, 'count', 0);
  return firstTokens(tokenizer, records, tokens, count);
}

/** The first `tokens` tokens (default 50) of each review, or of the first `limit`: the activation-collection inputs. */
export async function activationInputs(tokenizer: Tokenizer, records: RecordSource, opts: { tokens?: number; limit?: number } = {}): Promise<TokenPrompt[]> {
  const tokens = checkInt(opts.tokens ?? PROMPT_DEFAULTS.activations.tokens, 'tokens', 1);
  const limit = opts.limit === undefined ? Infinity : checkInt(opts.limit, 'limit', 0);
  return firstTokens(tokenizer, records, tokens, limit);
}

async function firstTokens(tokenizer: Tokenizer, records: RecordSource, tokens: number, count: number): Promise<TokenPrompt[]> {
  const out: TokenPrompt[] = [];
  if (count === 0) return out;
  let i = 0;
  for await (const raw of records) {
    out.push(cut(tokenizer, checkRecord(raw, i), i, tokens));
    i++;
    if (out.length >= count) break;
  }
  return out;
}

/**
 * Token rows as one padded [B,T] batch for the engine (the layout Tokenizer.encodeBatch gives):
 * left padding by default, so the last column is every row's last token; position ids count from
 * each row's first real token. Empty rows are refused (the engine needs a token per row).
 */
export function batchFromIds(rows: readonly (readonly number[])[], padId: number, opts: { padding?: 'left' | 'right'; T?: number } = {}): EncodedBatch {
  if (!Array.isArray(rows) || rows.length === 0) throw new TypeError(`Expected a non-empty array of token rows for rows but received ${Array.isArray(rows) ? 'an empty array' : typeof rows}`);
  checkInt(padId, 'padId', 0);
  const side = opts.padding ?? 'left';
  if (side !== 'left' && side !== 'right') throw new TypeError(`Expected "left" or "right" for padding but received ${JSON.stringify(side)}`);
  const longest = rows.reduce((m, r) => Math.max(m, r.length), 0);
  const T = opts.T === undefined ? longest : checkInt(opts.T, 'T', longest);
  const B = rows.length;
  const inputIds = new Int32Array(B * T).fill(padId);
  const attentionMask = new Uint8Array(B * T);
  const positionIds = new Int32Array(B * T);
  const lengths = new Int32Array(B);
  rows.forEach((r, b) => {
    if (r.length === 0) throw new RangeError(`Expected at least one token for rows[${b}] but received an empty row`);
    const start = b * T + (side === 'left' ? T - r.length : 0);
    lengths[b] = r.length;
    for (let j = 0; j < r.length; j++) {
      inputIds[start + j] = r[j];
      attentionMask[start + j] = 1;
      positionIds[start + j] = j;
    }
  });
  return { inputIds, attentionMask, positionIds, lengths, B, T };
}
