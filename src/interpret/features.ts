// Feature selection and feature records (the paper's Section 5.2, end, and Section 5.3):
//   1. MMCS of a pair (large D, small D′ of the same model and layer) and the top-k features of the
//      large dictionary ranked by their best cosine to the small one — `match: 'max'` (Eq. 2, the
//      text: mean over large features of the max cosine to any small feature), or `match:
//      'hungarian'` (the paper's code: a one-to-one assignment between the two dictionaries that
//      maximises the summed cosine; MMCS = the mean matched cosine, and only matched large features
//      rank). Indices stay straight: `feature` indexes the LARGE dictionary, `matchedSmall` the small.
//   2. Records: every stored vector is encoded with the large SAE (at the hook point the dictionary
//      was trained on), and for each selected feature the records (reviews, their first 50 tokens)
//      are ranked by their max activation; the top 20 and 20 random records (seeded) are kept with
//      their tokens and activations normalised per record to 0–10 (src/interpret/records.ts).
// Memory: the store is read one shard at a time; only the selected features' activations are kept
// (k × rows floats).
import { basename, join } from 'node:path';
import { invalidRange, invalidType } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { mulberry32 } from '../random.js';
import { loadSaeFolder, readDictionary, readSaeFolder } from '../sae/saelens.js';
import { loadTokenizer, type Tokenizer } from '../model/tokenizer.js';
import { resolveModel } from '../model/hub.js';
import { checkInt, checkOneOf } from '../validate.js';
import { iterateShards, readManifest } from './activation-store.js';
import { cosineStats } from './cosine.js';
import { linearAssignment } from './matching.js';
import { makeRecord, RECORD_DEFAULTS, type FeatureRecord, type FeatureRecords, type FeaturesFile } from './records.js';

export type MatchKind = 'max' | 'hungarian';
export const MATCH_KINDS: readonly MatchKind[] = ['max', 'hungarian'];

export const FEATURE_DEFAULTS = Object.freeze({
  /** The paper keeps the top 10 features per pair (30 for Table 3's runs). */
  topK: 10,
  match: 'max' as MatchKind,
  seed: 0,
  top: RECORD_DEFAULTS.top,
  random: RECORD_DEFAULTS.random,
  /** Rows per SAE encode call. */
  encodeChunkRows: 4096,
});

export interface FeatureMatch {
  /** Index in the large dictionary. */
  feature: number;
  /** Index of its matched feature in the small dictionary. */
  matchedSmall: number;
  /** Their cosine. */
  matchCos: number;
}

export interface FeatureSelection {
  mmcs: number;
  match: MatchKind;
  topK: number;
  nLarge: number;
  nSmall: number;
  d: number;
  features: FeatureMatch[];
}

/**
 * MMCS of a pair and its top-k large-dictionary features. `large` [nLarge, d] and `small`
 * [nSmall, d] are decoder dictionaries (W_dec rows).
 */
export async function selectFeatures(
  large: Float32Array,
  small: Float32Array,
  d: number,
  opts: { match?: MatchKind; topK?: number } = {},
): Promise<FeatureSelection> {
  const match = checkOneOf(opts.match ?? FEATURE_DEFAULTS.match, 'match', MATCH_KINDS);
  const topK = checkInt(opts.topK ?? FEATURE_DEFAULTS.topK, 'topK', 0);
  const nLarge = large.length / d;
  const nSmall = small.length / d;
  let mmcs: number;
  let ranked: FeatureMatch[];
  if (match === 'max') {
    const s = await cosineStats(large, small, d, { topK: 0 });
    mmcs = s.mmcs;
    ranked = Array.from({ length: s.n1 }, (_, i) => ({ feature: i, matchedSmall: s.rowArgmax[i], matchCos: s.rowMax[i] }));
  } else {
    const s = await cosineStats(large, small, d, { topK: 0, full: true });
    const a = linearAssignment(s.full!, s.n1, s.n2, { maximize: true });
    const matched = Math.min(s.n1, s.n2);
    mmcs = a.total / matched;
    ranked = [];
    for (let i = 0; i < s.n1; i++) {
      const j = a.rowToCol[i];
      if (j >= 0) ranked.push({ feature: i, matchedSmall: j, matchCos: s.full![i * s.n2 + j] });
    }
  }
  ranked.sort((x, y) => y.matchCos - x.matchCos || x.feature - y.feature);
  return { mmcs, match, topK, nLarge, nSmall, d, features: ranked.slice(0, topK) };
}

/** selectFeatures on two dictionary folders (or safetensors files with W_dec). */
export async function selectFeaturesFromFolders(largePath: string, smallPath: string, opts: { match?: MatchKind; topK?: number } = {}): Promise<FeatureSelection> {
  const L = readDictionary(largePath);
  const S = readDictionary(smallPath);
  if (L.d !== S.d) throw invalidRange(`a small dictionary of the large one's width d=${L.d}`, 'small dictionary', `d=${S.d} in ${smallPath}`);
  return selectFeatures(L.W_dec, S.W_dec, L.d, opts);
}

export interface BuildRecordsOptions {
  /** Activation store folder (the hook and layer the large SAE was trained on). */
  activations: string;
  /** The large SAE's folder. */
  sae: string;
  features: FeatureMatch[];
  /** Turns a token id into its string (each token decoded alone). */
  decode: (id: number) => string;
  /** Label written into each FeatureRecords. */
  model: string;
  seed?: number;
  top?: number;
  random?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Per selected feature: the top records by max activation and random baseline records. */
export async function buildFeatureRecords(o: BuildRecordsOptions): Promise<FeatureRecords[]> {
  const manifest = readManifest(o.activations);
  const seed = checkInt(o.seed ?? FEATURE_DEFAULTS.seed, 'seed', 0);
  const topN = checkInt(o.top ?? FEATURE_DEFAULTS.top, 'top', 1);
  const randomN = checkInt(o.random ?? FEATURE_DEFAULTS.random, 'random', 0);
  if (typeof o.decode !== 'function') throw invalidType('function (token id → string)', 'decode', o.decode);
  const folder = readSaeFolder(o.sae);
  if (folder.config.dIn !== manifest.d) {
    throw invalidRange(`an SAE of input width ${manifest.d} (the store's d)`, 'sae', `d_in=${folder.config.dIn} in ${o.sae}`);
  }
  const n = folder.config.dSae;
  const k = o.features.length;
  o.features.forEach((f, i) => checkInt(f.feature, `features[${i}].feature`, 0, n - 1));
  const rows = manifest.rows;
  const acts = new Float32Array(k * rows); // [k, rows]: the selected features' activations
  const tokenIds = new Int32Array(rows);
  const record = new Int32Array(rows);
  const sae = loadSaeFolder(o.sae);
  try {
    let at = 0;
    const chunk = FEATURE_DEFAULTS.encodeChunkRows;
    for (const shard of iterateShards(o.activations)) {
      tokenIds.set(shard.tokenIds, at);
      record.set(shard.record, at);
      for (let r = 0; r < shard.rows; r += chunk) {
        const m = Math.min(chunk, shard.rows - r);
        const c = await sae.encode(shard.activations.subarray(r * manifest.d, (r + m) * manifest.d));
        for (let i = 0; i < m; i++) {
          for (let f = 0; f < k; f++) acts[f * rows + at + r + i] = c[i * n + o.features[f].feature];
        }
      }
      at += shard.rows;
      o.onProgress?.(at, rows);
    }
  } finally {
    sae.dispose();
  }

  // Records: [start, end) row ranges (a store's rows are grouped by record, in order).
  const starts: number[] = [];
  for (let r = 0; r < rows; r++) if (r === 0 || record[r] !== record[r - 1]) starts.push(r);
  const ranges = starts.map((s, i) => ({ record: record[s], start: s, end: i + 1 < starts.length ? starts[i + 1] : rows }));
  const tokenCache = new Map<number, string>();
  const tokenOf = (id: number) => {
    let t = tokenCache.get(id);
    if (t === undefined) tokenCache.set(id, (t = o.decode(id)));
    return t;
  };
  const recordOf = (f: number, range: { record: number; start: number; end: number }): FeatureRecord => {
    const raw = acts.subarray(f * rows + range.start, f * rows + range.end);
    const tokens = Array.from(tokenIds.subarray(range.start, range.end), tokenOf);
    return makeRecord(range.record, tokens, raw);
  };
  // Random baseline records: the same seeded draw for every feature (a partial Fisher–Yates).
  const order = ranges.map((_, i) => i);
  const rnd = mulberry32(seed);
  const nRandom = Math.min(randomN, order.length);
  for (let i = 0; i < nRandom; i++) {
    const j = i + Math.floor(rnd() * (order.length - i));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const randomRanges = order.slice(0, nRandom).sort((a, b) => a - b).map((i) => ranges[i]);

  return o.features.map((fm, f) => {
    const maxes = ranges.map((rg, i) => {
      let max = 0;
      for (let r = rg.start; r < rg.end; r++) max = Math.max(max, acts[f * rows + r]);
      return { i, max };
    });
    const top = maxes.filter((x) => x.max > 0) // a record whose max is 0 is skipped
      .sort((a, b) => b.max - a.max || ranges[a.i].record - ranges[b.i].record)
      .slice(0, topN)
      .map((x) => recordOf(f, ranges[x.i]));
    return {
      model: o.model,
      layer: manifest.layer,
      hook: manifest.hook,
      feature: fm.feature,
      matchedSmall: fm.matchedSmall,
      matchCos: fm.matchCos,
      top,
      random: randomRanges.map((rg) => recordOf(f, rg)),
    };
  });
}

export interface FeaturesStageOptions {
  activations: string;
  /** The large dictionary's folder. */
  sae: string;
  /** The small dictionary's folder. */
  small: string;
  /** Model whose tokenizer decodes the tokens (default: the store's model). */
  model?: string;
  /** Label of the model in the records and the file name (default: the model's last path part). */
  name?: string;
  topK?: number;
  match?: MatchKind;
  seed?: number;
  /** The output file (default `<runDir>/features/<name>.<hook>.<layer>.json` when runDir is given). */
  out?: string;
  runDir?: string;
  onProgress?: (done: number, total: number) => void;
}

export interface FeaturesStageSummary {
  out: string;
  mmcs: number;
  match: MatchKind;
  features: { feature: number; matchedSmall: number; matchCos: number; topRecords: number }[];
}

/** Decode each token id alone with a tokenizer. */
export function tokenDecoder(tokenizer: Tokenizer): (id: number) => string {
  return (id) => tokenizer.decode([id]);
}

/** The features stage: select, build the records, write the features file atomically. */
export async function featuresStage(o: FeaturesStageOptions): Promise<FeaturesStageSummary> {
  const manifest = readManifest(o.activations);
  const modelSpec = o.model ?? manifest.model;
  const name = o.name ?? basename(modelSpec.replace(/@.*$/, '').replace(/[\\/]+$/, ''));
  const out = o.out ?? (o.runDir ? join(o.runDir, 'features', `${name}.${manifest.hook}.${manifest.layer}.json`) : undefined);
  if (!out) throw invalidType('an output file (out) or a run folder (runDir)', 'out', o.out);
  const large = readDictionary(o.sae);
  if (large.d !== manifest.d) throw invalidRange(`a dictionary of the store's width d=${manifest.d}`, 'sae', `d=${large.d} in ${o.sae}`);
  const selection = await selectFeaturesFromFolders(o.sae, o.small, { match: o.match, topK: o.topK });
  const tokenizer = loadTokenizer((await resolveModel(modelSpec)).dir);
  const features = await buildFeatureRecords({
    activations: o.activations, sae: o.sae, features: selection.features, decode: tokenDecoder(tokenizer),
    model: name, seed: o.seed, onProgress: o.onProgress,
  });
  const file: FeaturesFile = { mmcs: selection.mmcs, match: selection.match, topK: selection.topK, features };
  writeJsonAtomic(out, file);
  return {
    out, mmcs: selection.mmcs, match: selection.match,
    features: features.map((f) => ({ feature: f.feature, matchedSmall: f.matchedSmall, matchCos: f.matchCos, topRecords: f.top.length })),
  };
}
