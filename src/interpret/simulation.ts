// Simulation scoring (Bills et al. 2023, beyond the paper): a simulator predicts each token's
// activation (0–10) from an explanation alone; the score is the Pearson correlation between the
// predictions and the true normalised activations over held-out records (the top records not shown
// to the explainer, plus the random records), all tokens pooled. A baseline explanation (another
// feature's, or random words) scored the same way says what chance looks like.
import { invalidType } from '../errors.js';
import { mulberry32 } from '../random.js';
import { ChatClient, MalformedReplyError, type ChatClientOptions, type ChatStats } from './explain/chat-client.js';
import { phraseTerms } from './explain/offline-explainer.js';
import { simulateMessages } from './explain/prompt.js';
import { isWordToken, normaliseToken } from './explain/words.js';
import type { FeatureRecord, FeatureRecords } from './records.js';

export interface Simulator {
  readonly name: string;
  /** Predicted activations 0–10, one per token, or null when the simulator failed (error says why). */
  predict(feature: number, explanation: string, tokens: string[]): Promise<{ values: number[] | null; error?: string }>;
  readonly stats: ChatStats;
}

/** Pearson correlation of two equal-length series; 0 when either is constant (no linear signal to find). */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  if (n !== b.length) throw invalidType(`series of equal length (${n})`, 'b', b);
  if (n < 2) return 0;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]; mb += b[i]; }
  ma /= n;
  mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma, db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (saa <= 0 || sbb <= 0) return 0;
  return Math.max(-1, Math.min(1, sab / Math.sqrt(saa * sbb)));
}

const STOPWORDS = new Set(('a an the and or but of on in at to for with by from as is are was were be been being it its this that these those ' +
  'feature fires fire firing activates activate activation activations token tokens word words like such phrase phrases ' +
  'looks look looking for about related mentions mention text document documents some any particular especially often ' +
  'when where which who what how no not').split(' '));

/**
 * The words an explanation names: its quoted terms ('…', "…", “…”, ‘…’, `…`), split into words; when
 * it quotes nothing, its content words (stop words and words about features removed). Normalised
 * as tokens are (lower case).
 */
export function explanationKeywords(explanation: string): Set<string> {
  const quoted: string[] = [];
  const re = /(?:^|[\s(\[,;:])['"“‘`](.+?)['"”’`](?=[\s,.;:!?)\]]|$)/gu;
  for (const m of explanation.matchAll(re)) quoted.push(m[1]);
  const source = quoted.length ? quoted.join(' ') : explanation;
  const words = source.toLowerCase().split(/\s+/u).map((w) => (quoted.length ? w : w.replace(/^[\p{P}\p{S}]+|[\p{P}\p{S}]+$/gu, ''))).filter((w) => w.length > 0);
  return new Set(quoted.length ? words : words.filter((w) => !STOPWORDS.has(w) && isWordToken(w)));
}

/** The offline simulator: activation 10 on tokens the explanation names (explanationKeywords), 0 elsewhere. */
export function keywordSimulator(): Simulator {
  return {
    name: 'keyword',
    stats: { requests: 0, retries: 0, cacheHits: 0, failures: 0 },
    async predict(_feature, explanation, tokens) {
      const keys = explanationKeywords(explanation);
      return { values: tokens.map((t) => (keys.has(normaliseToken(t)) ? 10 : 0)) };
    },
  };
}

/**
 * Predictions from a simulator's reply of "token<TAB>number" lines. Tolerant: blank lines, code
 * fences and prose lines without a trailing number are skipped; "token: 5", "token | 5" and
 * "token 5" are read too; values are clamped to 0–10. Lines are aligned with the tokens by their
 * token text when they carry it, else by position; missing tokens get 0. A reply that covers fewer
 * than half the tokens is malformed.
 */
export function parseSimulation(reply: string, tokens: string[]): number[] {
  const lines: { token: string; value: number }[] = [];
  for (const raw of reply.split(/\r?\n/)) {
    const line = raw.replace(/\s+$/, '');
    const m = /^(.*?)(?:\t|\s*[:|=,]\s*|\s+)(-?\d+(?:\.\d+)?)$/.exec(line) ?? /^()(-?\d+(?:\.\d+)?)$/.exec(line.trim());
    if (!m) continue;
    lines.push({ token: m[1], value: Math.max(0, Math.min(10, Number(m[2]))) });
  }
  const out = new Array<number>(tokens.length).fill(0);
  // alignment by token text
  let i = 0;
  let aligned = 0;
  const byText = new Array<number>(tokens.length).fill(0);
  for (const l of lines) {
    if (i >= tokens.length) break;
    const lt = normaliseToken(l.token.replace(/\\t/g, '\t').replace(/\\n/g, '\n'));
    let j = i;
    while (j < tokens.length && j < i + 3 && normaliseToken(tokens[j]) !== lt) j++;
    if (j < tokens.length && j < i + 3) {
      byText[j] = l.value;
      aligned++;
      i = j + 1;
    }
  }
  if (aligned >= tokens.length / 2 && aligned >= Math.min(lines.length, tokens.length) * 0.8) return byText;
  if (lines.length < tokens.length / 2) {
    throw new MalformedReplyError(`simulator reply has ${lines.length} token lines for ${tokens.length} tokens`);
  }
  for (let k = 0; k < tokens.length && k < lines.length; k++) out[k] = lines[k].value;
  return out;
}

/** The LLM simulator: the simulation prompt (prompt-template.ts) through an OpenAI-compatible server, with retries and cache. */
export function llmSimulator(options: ChatClientOptions): Simulator {
  const client = new ChatClient(options);
  return {
    name: `openai:${client.model}`,
    get stats() {
      return client.stats;
    },
    async predict(feature, explanation, tokens) {
      const res = await client.complete('simulate', simulateMessages(feature, explanation, tokens), (reply) => JSON.stringify(parseSimulation(reply, tokens)));
      return res.text === null ? { values: null, error: res.error } : { values: JSON.parse(res.text) as number[] };
    },
  };
}

/** The records an explanation is scored on: top records not shown to the explainer, then random records (each record once). */
export function heldOutRecords(f: FeatureRecords, shown: readonly number[]): FeatureRecord[] {
  const skip = new Set(shown);
  const out: FeatureRecord[] = [];
  for (const r of [...f.top, ...f.random]) {
    if (skip.has(r.record)) continue;
    skip.add(r.record);
    out.push(r);
  }
  return out;
}

/**
 * Correlation between a simulator's predictions for `explanation` and the true activations on
 * `records`, all tokens pooled. Null (with error) when the simulator failed on any record.
 */
export async function simulationScore(
  simulator: Simulator, feature: number, explanation: string, records: FeatureRecord[],
): Promise<{ correlation: number | null; tokens: number; error?: string }> {
  const truth: number[] = [];
  const pred: number[] = [];
  const results = await Promise.all(records.map((r) => simulator.predict(feature, explanation, r.tokens.map((t) => t.token))));
  for (let k = 0; k < records.length; k++) {
    const res = results[k];
    if (!res.values) return { correlation: null, tokens: 0, error: res.error ?? 'simulator failed' };
    records[k].tokens.forEach((t, i) => {
      truth.push(t.activation);
      pred.push(res.values![i] ?? 0);
    });
  }
  return { correlation: pearson(pred, truth), tokens: truth.length };
}

/** A seed for one (model, feature, sample) from the base seed, so baselines repeat. */
export function mixSeed(seed: number, ...parts: (string | number)[]): number {
  let h = 2166136261 ^ seed;
  for (const ch of parts.join('\u0000')) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/** A random-words explanation: `count` distinct word tokens drawn (seeded) from the records' vocabulary, phrased as the offline explainer does. */
export function randomWordsExplanation(records: FeatureRecord[], seed: number, count = 3): string {
  const vocab = [...new Set(records.flatMap((r) => r.tokens.map((t) => normaliseToken(t.token))).filter(isWordToken))].sort();
  const rnd = mulberry32(seed);
  const picked: string[] = [];
  while (picked.length < Math.min(count, vocab.length)) {
    const w = vocab[Math.floor(rnd() * vocab.length)];
    if (!picked.includes(w)) picked.push(w);
  }
  return phraseTerms(picked);
}
