// Scores of explanations: the paper's Table 3 ("aggregate absolute utility") and simulation
// correlations (simulation.ts) against a chance baseline, per studied model.
//
// Table 3: for each explanation, absMeanUtility(text, table) (the mean utility of its lower-cased
// whitespace words found in the table, 0 if none, made absolute); per model and sample the sum over
// the explained features; per model the mean and sample standard deviation over the samples.
import { invalidType } from '../errors.js';
import { absMeanUtility, type UtilityTable } from '../reward/utility-table.js';
import { mulberry32 } from '../random.js';
import { drawShown, type FeatureRecords } from './records.js';
import type { Explanation } from './explain/explainer.js';
import { heldOutRecords, mixSeed, randomWordsExplanation, simulationScore, type Simulator } from './simulation.js';

export interface MeanSd { mean: number; sd: number; n: number }

/** Mean and sample standard deviation (n − 1; 0 for a single value). */
export function meanSd(values: number[]): MeanSd {
  const n = values.length;
  if (n === 0) return { mean: NaN, sd: NaN, n: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, n };
}

export interface Table3Model {
  /** Sample number → sum over explained features of absMeanUtility. */
  perSample: { sample: number; score: number; explained: number; failed: number }[];
  mean: number;
  sd: number;
}

export interface Table3 {
  table: string;
  models: Record<string, Table3Model>;
  /** Each explanation's own absMeanUtility (null for a failed explanation). */
  perExplanation: { model: string; layer: number; feature: number; sample: number; utility: number | null }[];
}

function checkExplanations(explanations: unknown): asserts explanations is Explanation[] {
  if (!Array.isArray(explanations)) throw invalidType('array of Explanation', 'explanations', explanations);
}

/** The paper's Table 3 per model (base, tuned, …): failed explanations (text null) are left out and counted. */
export function table3(explanations: Explanation[], table: UtilityTable): Table3 {
  checkExplanations(explanations);
  const models: Record<string, Map<number, { score: number; explained: number; failed: number }>> = {};
  const perExplanation: Table3['perExplanation'] = [];
  for (const e of explanations) {
    const bySample = (models[e.model] ??= new Map());
    const cell = bySample.get(e.sample) ?? { score: 0, explained: 0, failed: 0 };
    bySample.set(e.sample, cell);
    if (e.text === null) {
      cell.failed++;
      perExplanation.push({ model: e.model, layer: e.layer, feature: e.feature, sample: e.sample, utility: null });
      continue;
    }
    const u = absMeanUtility(e.text, table);
    cell.score += u;
    cell.explained++;
    perExplanation.push({ model: e.model, layer: e.layer, feature: e.feature, sample: e.sample, utility: u });
  }
  const out: Record<string, Table3Model> = {};
  for (const [model, bySample] of Object.entries(models)) {
    const perSample = [...bySample.entries()].sort((a, b) => a[0] - b[0]).map(([sample, c]) => ({ sample, ...c }));
    const { mean, sd } = meanSd(perSample.map((p) => p.score));
    out[model] = { perSample, mean, sd };
  }
  return { table: table.source, models: out, perExplanation };
}

export type BaselineKind = 'other-feature' | 'random-words';

export interface SimulationOptions {
  /** Seed for baseline draws (default 0). */
  seed?: number;
  /**
   * 'other-feature' (default): the explanation of another, randomly chosen feature of the same model
   * and sample (random words when there is none); 'random-words': three words drawn from the
   * feature's records.
   */
  baseline?: BaselineKind;
  /** Seed the shown records were drawn with when an explanation does not list them (explanations.json seed). */
  explainSeed?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface SimulationEntry {
  model: string;
  layer: number;
  feature: number;
  sample: number;
  correlation: number | null;
  baseline: number | null;
  baselineText: string | null;
  tokens: number;
  error?: string;
}

export interface SimulationModel { correlation: MeanSd; baseline: MeanSd; scored: number; failed: number }

export interface SimulationScores {
  simulator: string;
  baseline: BaselineKind;
  models: Record<string, SimulationModel>;
  perExplanation: SimulationEntry[];
}

const featureKey = (model: string, layer: number, feature: number) => `${model}\u0000${layer}\u0000${feature}`;

/**
 * Simulation correlation of every explanation and of its baseline, over the feature's held-out
 * records. Explanations that failed, or whose feature is not among `features`, are reported with a
 * null correlation and an error, never thrown.
 */
export async function simulationScores(
  explanations: Explanation[], features: FeatureRecords[], simulator: Simulator, opts: SimulationOptions = {},
): Promise<SimulationScores> {
  checkExplanations(explanations);
  if (!Array.isArray(features)) throw invalidType('array of FeatureRecords', 'features', features);
  const seed = opts.seed ?? 0;
  const baselineKind = opts.baseline ?? 'other-feature';
  if (baselineKind !== 'other-feature' && baselineKind !== 'random-words') throw invalidType('"other-feature" or "random-words"', 'baseline', baselineKind);
  const byKey = new Map(features.map((f) => [featureKey(f.model, f.layer, f.feature), f]));
  const entries: SimulationEntry[] = [];
  let done = 0;
  for (const e of explanations) {
    const base = { model: e.model, layer: e.layer, feature: e.feature, sample: e.sample };
    const f = byKey.get(featureKey(e.model, e.layer, e.feature));
    if (e.text === null || !f) {
      entries.push({ ...base, correlation: null, baseline: null, baselineText: null, tokens: 0, error: e.text === null ? `no explanation (${e.error ?? 'failed'})` : 'feature not found in the features files' });
    } else {
      const shown = e.shown ?? drawShown(f.top, (opts.explainSeed ?? 0) + e.sample).map((r) => r.record);
      const records = heldOutRecords(f, shown);
      const rng = mulberry32(mixSeed(seed, e.model, e.layer, e.feature, e.sample));
      let baselineText: string;
      const others = explanations.filter((o) => o.model === e.model && o.sample === e.sample && o.text !== null && !(o.layer === e.layer && o.feature === e.feature));
      if (baselineKind === 'other-feature' && others.length > 0) baselineText = others[Math.floor(rng() * others.length)].text!;
      else baselineText = randomWordsExplanation([...f.top, ...f.random], Math.floor(rng() * 2 ** 32));
      const [real, chance] = await Promise.all([
        simulationScore(simulator, e.feature, e.text, records),
        simulationScore(simulator, e.feature, baselineText, records),
      ]);
      entries.push({ ...base, correlation: real.correlation, baseline: chance.correlation, baselineText, tokens: real.tokens, ...(real.error || chance.error ? { error: real.error ?? chance.error } : {}) });
    }
    opts.onProgress?.(++done, explanations.length);
  }
  const models: Record<string, SimulationModel> = {};
  for (const model of [...new Set(entries.map((x) => x.model))]) {
    const mine = entries.filter((x) => x.model === model);
    const ok = mine.filter((x) => x.correlation !== null);
    models[model] = {
      correlation: meanSd(ok.map((x) => x.correlation!)),
      baseline: meanSd(mine.filter((x) => x.baseline !== null).map((x) => x.baseline!)),
      scored: ok.length,
      failed: mine.length - ok.length,
    };
  }
  return { simulator: simulator.name, baseline: baselineKind, models, perExplanation: entries };
}
