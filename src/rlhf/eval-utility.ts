// The paper's Table 4: how strongly a model's own completions lean on the utility table. For the first
// n test reviews cut to 30-token prefixes, sample a completion (top-k 0, top-p 1, temperature 1, as
// in RLHF), score it by the absolute mean utility of its words (absMeanUtility: lower-cased whitespace
// words found in the table, mean, absolute value; 0 when none is) and sum over the n completions:
// the aggregate absolute utility. Repeated over seeds; base and tuned side by side.
import { ensureDefaultCorpus } from '../data/defaults.js';
import { openReviews } from '../data/dataset.js';
import { evalPrefixes, type TokenPrompt } from '../data/prompts.js';
import { loadModel } from '../model/load.js';
import { absMeanUtility, UtilityTable } from '../reward/utility-table.js';
import { checkInt } from '../validate.js';

export interface EvalUtilityOptions {
  /** label → model spec, e.g. [{label: 'base', spec: DIR}, {label: 'tuned', spec: DIR2}]. */
  models: { label: string; spec: string }[];
  /** Reviews (default: the shipped default corpus); prefixes come from its test split. */
  dataset?: string;
  /** Completions per seed (paper: 100). */
  n?: number;
  /** Prefix length in tokens (paper text: 30). */
  prefixTokens?: number;
  /** New tokens per completion at most (default 30; EOS ends one earlier). */
  maxNewTokens?: number;
  /** Seeds of the sampling (default [0, 1, 2]: the paper's mean over 3). */
  seeds?: number[];
  /** The table (default VADER). */
  table?: UtilityTable;
  /** Score the completion only (default) or prefix + completion. */
  score?: 'completion' | 'full';
  onProgress?: (done: number, total: number) => void;
}

export const EVAL_UTILITY_DEFAULTS = Object.freeze({ n: 100, prefixTokens: 30, maxNewTokens: 30, seeds: [0, 1, 2], score: 'completion' as const });

export interface EvalUtilityModelResult {
  label: string;
  spec: string;
  /** Aggregate absolute utility per seed. */
  perSeed: number[];
  mean: number;
  /** Sample standard deviation over seeds (0 with one seed). */
  std: number;
  /** A few completions of the first seed, for reading. */
  examples: { prefix: string; completion: string; score: number }[];
}

export interface EvalUtilityResult {
  n: number;
  prefixTokens: number;
  maxNewTokens: number;
  seeds: number[];
  score: 'completion' | 'full';
  table: string;
  models: EvalUtilityModelResult[];
}

export async function evalUtility(opts: EvalUtilityOptions): Promise<EvalUtilityResult> {
  const d = EVAL_UTILITY_DEFAULTS;
  const n = checkInt(opts.n ?? d.n, 'n', 1);
  const prefixTokens = checkInt(opts.prefixTokens ?? d.prefixTokens, 'prefixTokens', 1);
  const maxNewTokens = checkInt(opts.maxNewTokens ?? d.maxNewTokens, 'maxNewTokens', 1);
  const seeds = opts.seeds ?? d.seeds;
  seeds.forEach((s, i) => checkInt(s, `seeds[${i}]`, 0, 2 ** 31 - 1));
  if (seeds.length === 0) throw new RangeError('Expected at least one seed for seeds but received none');
  if (!Array.isArray(opts.models) || opts.models.length === 0) throw new RangeError('Expected at least one model for models but received none');
  const score = opts.score ?? d.score;
  const table = opts.table ?? await UtilityTable.vader();
  const dataset = opts.dataset ?? await ensureDefaultCorpus();
  const total = opts.models.length * seeds.length;
  let done = 0;
  const results: EvalUtilityModelResult[] = [];
  for (const { label, spec } of opts.models) {
    const m = await loadModel(spec);
    try {
      if (!m.tokenizer) throw new Error(`${m.dir}: the model folder has no tokenizer.json, which eval-utility needs`);
      const tok = m.tokenizer;
      const prefixes: TokenPrompt[] = (await evalPrefixes(tok, await openReviews(dataset, 'test'), { tokens: prefixTokens, count: n }))
        .filter((p) => p.ids.length > 0);
      if (prefixes.length < n) throw new RangeError(`Expected ${n} non-empty test reviews in ${dataset} but received ${prefixes.length}`);
      const limit = m.config.maxPositions - prefixTokens;
      if (maxNewTokens > limit) throw new RangeError(`Expected maxNewTokens <= ${limit} (the model's ${m.config.maxPositions} positions minus the prefix) for maxNewTokens but received ${maxNewTokens}`);
      const pad = tok.padTokenId ?? tok.eosTokenId ?? 0;
      const T = prefixes.reduce((a, p) => Math.max(a, p.ids.length), 0);
      const B = prefixes.length;
      const inputIds = new Int32Array(B * T).fill(pad);
      const attentionMask = new Uint8Array(B * T);
      const positionIds = new Int32Array(B * T);
      prefixes.forEach((p, b) => p.ids.forEach((id, i) => {
        const t = T - p.ids.length + i;
        inputIds[b * T + t] = id;
        attentionMask[b * T + t] = 1;
        positionIds[b * T + t] = i;
      }));
      const perSeed: number[] = [];
      let examples: EvalUtilityModelResult['examples'] = [];
      for (const seed of seeds) {
        const gen = await m.engine.generate({ inputIds, attentionMask, positionIds, B, T }, { maxNewTokens, topK: 0, topP: 1, temperature: 1, seed });
        let sum = 0;
        const ex: EvalUtilityModelResult['examples'] = [];
        for (let b = 0; b < B; b++) {
          const completion = tok.decode(gen.tokens.subarray(b * maxNewTokens, b * maxNewTokens + gen.lengths[b]), { skipSpecialTokens: true });
          const s = absMeanUtility(score === 'full' ? `${prefixes[b].text} ${completion}` : completion, table);
          sum += s;
          if (ex.length < 5) ex.push({ prefix: prefixes[b].text, completion, score: s });
        }
        perSeed.push(sum);
        if (examples.length === 0) examples = ex;
        opts.onProgress?.(++done, total);
      }
      const mean = perSeed.reduce((a, b) => a + b, 0) / perSeed.length;
      const std = perSeed.length > 1 ? Math.sqrt(perSeed.reduce((a, v) => a + (v - mean) ** 2, 0) / (perSeed.length - 1)) : 0;
      results.push({ label, spec, perSeed, mean, std, examples });
    } finally {
      m.engine.dispose();
    }
  }
  return { n, prefixTokens, maxNewTokens, seeds: [...seeds], score, table: table.source, models: results };
}
