// Synthetic activations with a known ground-truth dictionary (as in Sharkey et al.'s toy data):
// each row is a sparse non-negative combination of unit-norm features. Used by the demo and tests
// to check that a trained SAE recovers the dictionary it was given.
import { mulberry32 } from '../random.js';

export interface SyntheticSet {
  /** [rows, d] */
  data: Float32Array;
  /** The true dictionary [features, d], rows at unit norm. */
  dictionary: Float32Array;
  rows: number;
  d: number;
  features: number;
}


export function syntheticSparseData(opts: { d: number; features: number; rows: number; activePerRow: number; seed: number }): SyntheticSet {
  const { d, features, rows, activePerRow, seed } = opts;
  const u = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(u(), 1e-12))) * Math.cos(2 * Math.PI * u());
  const dictionary = new Float32Array(features * d);
  for (let f = 0; f < features; f++) {
    let norm = 0;
    for (let j = 0; j < d; j++) {
      const v = normal();
      dictionary[f * d + j] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm);
    for (let j = 0; j < d; j++) dictionary[f * d + j] /= norm;
  }
  const data = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < activePerRow; k++) {
      const f = Math.floor(u() * features);
      const a = 0.5 + u();
      for (let j = 0; j < d; j++) data[r * d + j] += a * dictionary[f * d + j];
    }
  }
  return { data, dictionary, rows, d, features };
}
