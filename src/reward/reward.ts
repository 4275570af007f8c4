// The reward interface the PPO trainer calls, the utility-table reward, and the spec strings that
// name a reward on the command line: 'vader' | 'table:FILE' | 'classifier:MODEL'.
import { invalidType } from '../errors.js';
import { ClassifierReward, resolveClassifier, type ResolveClassifierOptions } from './classifier.js';
import { UtilityTable, resolveUtilityRewardOptions, utilityScore, type UtilityRewardOptions } from './utility-table.js';

/** A scalar reward per text (prompt + completion, as the caller joins them). */
export interface RewardModel {
  /** The spec it was made from, e.g. "vader", "table:lexicon.csv", "classifier:lvwerra/distilbert-imdb". */
  readonly name: string;
  /** One reward per text, in order. */
  score(texts: readonly string[]): Promise<Float32Array>;
  /** Frees what the reward holds (an ONNX session); scoring afterwards is an error. */
  dispose(): Promise<void>;
}

/** utilityScore over a table as a RewardModel. */
export class UtilityReward implements RewardModel {
  readonly options: Readonly<Required<UtilityRewardOptions>>;
  constructor(
    readonly table: UtilityTable,
    opts: UtilityRewardOptions = {},
    readonly name: string = `table:${table.source}`,
  ) {
    if (!(table instanceof UtilityTable)) throw invalidType('a UtilityTable', 'table', table);
    this.options = Object.freeze(resolveUtilityRewardOptions(opts));
  }

  async score(texts: readonly string[]): Promise<Float32Array> {
    if (!Array.isArray(texts)) throw invalidType('an array of strings', 'texts', texts);
    const out = new Float32Array(texts.length);
    texts.forEach((t, i) => {
      if (typeof t !== 'string') throw invalidType('a string', `texts[${i}]`, t);
      out[i] = utilityScore(t, this.table, this.options);
    });
    return out;
  }

  async dispose(): Promise<void> {}
}

export interface CreateRewardOptions extends UtilityRewardOptions, ResolveClassifierOptions {
  /** Classifier: the label whose logit is the reward (default "POSITIVE"). */
  label?: string;
  /** Classifier: texts per forward pass (default 32). */
  batchSize?: number;
  /** Classifier: tokens per text, special tokens included (default 512). */
  maxLength?: number;
}

export const REWARD_SPEC_FORMS = ['vader', 'table:FILE', 'classifier:MODEL'] as const;

export type RewardSpec = { kind: 'vader' } | { kind: 'table'; path: string } | { kind: 'classifier'; model: string };

/** Parse a reward spec; anything else is an error listing the three forms. */
export function parseRewardSpec(spec: string): RewardSpec {
  const bad = (why: string): TypeError =>
    new TypeError(
      `Expected a reward spec of the form vader, table:FILE (a .tsv, .csv or .json word-utility table) or ` +
        `classifier:MODEL (a classifier folder or a hub id org/name[@revision]) for reward but received ${JSON.stringify(spec)}${why}`,
    );
  if (typeof spec !== 'string') throw bad('');
  const s = spec.trim();
  if (s === 'vader') return { kind: 'vader' };
  const colon = s.indexOf(':');
  const kind = colon < 0 ? s : s.slice(0, colon);
  const arg = colon < 0 ? '' : s.slice(colon + 1).trim();
  if (kind === 'table' || kind === 'classifier') {
    if (arg === '') throw bad(` (${kind}: needs ${kind === 'table' ? 'a file' : 'a model'} after the colon)`);
    return kind === 'table' ? { kind, path: arg } : { kind, model: arg };
  }
  throw bad('');
}

/**
 * A reward from its spec:
 *  - `vader`: utilityScore over the VADER lexicon (divisor 5, clamp 10 unless given);
 *  - `table:FILE`: utilityScore over a table file (UtilityTable.load: .tsv/.txt, .csv, .json);
 *  - `classifier:MODEL`: the logit of `label` from an ONNX sequence classifier, MODEL a local folder
 *    or a hub id fetched into the hub cache (cacheDir, offline, endpoint, token as in resolveModel).
 */
export async function createReward(spec: string, opts: CreateRewardOptions = {}): Promise<RewardModel> {
  const parsed = parseRewardSpec(spec);
  switch (parsed.kind) {
    case 'vader':
      return new UtilityReward(await UtilityTable.vader(), opts, 'vader');
    case 'table':
      return new UtilityReward(await UtilityTable.load(parsed.path), opts, `table:${parsed.path}`);
    case 'classifier': {
      const dir = await resolveClassifier(parsed.model, opts);
      return ClassifierReward.load(dir, { label: opts.label, batchSize: opts.batchSize, maxLength: opts.maxLength, name: `classifier:${parsed.model}` });
    }
  }
}
