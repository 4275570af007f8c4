// `rewardlens mmcs A B`: mean max cosine similarity of two dictionaries and their best-matched features.
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { invalidRange } from '../errors.js';
import { cosineStats } from '../interpret/cosine.js';
import { MATCH_KINDS, selectFeaturesFromFolders, type MatchKind } from '../interpret/features.js';
import { readDictionary } from '../sae/saelens.js';

export interface MmcsArgs { a: string; b: string; topK: number; json: boolean; match: MatchKind }

export function mmcsBuilder(y: Argv): Argv<MmcsArgs> {
  return y
    .positional('a', { type: 'string', demandOption: true, describe: 'dictionary A: a SAELens folder or a safetensors file with W_dec [n,d]' })
    .positional('b', { type: 'string', demandOption: true, describe: 'dictionary B (same d)' })
    .option('top-k', { type: 'number', default: 10, describe: 'features of A with the highest max cosine to B' })
    .option('match', { choices: MATCH_KINDS, default: 'max' as MatchKind, describe: 'max: mean over A of the max cosine to B (Eq. 2); hungarian: one-to-one matching, mean matched cosine (the paper\'s code)' })
    .option('json', { type: 'boolean', default: false }) as unknown as Argv<MmcsArgs>;
}

export interface MmcsResult { mmcs: number; top: { a: number; b: number; cos: number }[] }

/** MMCS(A, B) = mean over A's features of the max cosine to any feature of B, and A's top-k features. */
export async function mmcsOfDictionaries(pathA: string, pathB: string, topK: number): Promise<MmcsResult> {
  const A = readDictionary(pathA);
  const B = readDictionary(pathB);
  if (A.d !== B.d) throw invalidRange(`dictionaries of the same width (A has d=${A.d})`, 'B', `d=${B.d} in ${pathB}`);
  if (!Number.isInteger(topK) || topK < 0) throw invalidRange('a non-negative integer', '--top-k', String(topK));
  const stats = await cosineStats(A.W_dec, B.W_dec, A.d, { topK: 0 });
  const order = Array.from({ length: A.n }, (_, i) => i).sort((i, j) => stats.rowMax[j] - stats.rowMax[i] || i - j);
  const top = order.slice(0, Math.min(topK, A.n)).map((i) => ({ a: i, b: stats.rowArgmax[i], cos: stats.rowMax[i] }));
  return { mmcs: stats.mmcs, top };
}

export async function mmcsCommand(args: ArgumentsCamelCase<MmcsArgs>): Promise<void> {
  let r: MmcsResult;
  if (args.match === 'hungarian') {
    const s = await selectFeaturesFromFolders(args.a, args.b, { match: 'hungarian', topK: args.topK });
    r = { mmcs: s.mmcs, top: s.features.map((f) => ({ a: f.feature, b: f.matchedSmall, cos: f.matchCos })) };
  } else {
    r = await mmcsOfDictionaries(args.a, args.b, args.topK);
  }
  if (args.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  const lines = [`MMCS ${r.mmcs.toFixed(6)}`, '', 'rank  feature A  feature B  cosine'];
  r.top.forEach((p, k) => lines.push(`${String(k + 1).padStart(4)}  ${String(p.a).padStart(9)}  ${String(p.b).padStart(9)}  ${p.cos.toFixed(6)}`));
  process.stdout.write(lines.join('\n') + '\n');
}
