// A made-up feature for explainer and scoring tests: records of filler words in which the feature
// fires (raw activation 1–3, or exactly 1 with `constant`) exactly on a set of planted tokens.
import { makeRecord, type FeatureRecord, type FeatureRecords } from '../../src/interpret/records.js';
import { makeRng } from './rng.js';

export const FILLER = ['the', 'movie', 'was', 'a', 'and', 'it', 'film', 'story', 'of', 'to', 'plot', 'actor', 'scene', 'i', 'this', 'but'];

export function syntheticFeature(opts: { feature: number; planted: string[]; model?: string; seed?: number; top?: number; random?: number; len?: number; constant?: boolean }): FeatureRecords {
  const rng = makeRng(opts.seed ?? opts.feature + 1);
  const len = opts.len ?? 12;
  const make = (record: number, plantedCount: number): FeatureRecord => {
    const tokens: string[] = [];
    const raw: number[] = [];
    for (let i = 0; i < len; i++) {
      tokens.push(' ' + FILLER[rng.int(FILLER.length)]);
      raw.push(0);
    }
    for (let k = 0; k < plantedCount; k++) {
      const at = rng.int(len);
      tokens[at] = ' ' + opts.planted[rng.int(opts.planted.length)];
      raw[at] = opts.constant ? 1 : 1 + 2 * rng.next(); // constant: every firing token normalises to 10
    }
    return makeRecord(record, tokens, raw);
  };
  const top = Array.from({ length: opts.top ?? 20 }, (_, i) => make(1000 * (opts.feature + 1) + i, 2 + rng.int(2)))
    .sort((a, b) => b.maxActivation - a.maxActivation);
  // random records: mostly filler, a few with one planted token (as in a real corpus)
  const random = Array.from({ length: opts.random ?? 20 }, (_, i) => make(i, i % 5 === 0 ? 1 : 0));
  return { model: opts.model ?? 'base', layer: 2, hook: 'mlp_out', feature: opts.feature, matchedSmall: opts.feature, matchCos: 0.9, top, random };
}
