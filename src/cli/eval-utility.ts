// `rewardlens eval-utility`: the paper's Table 4 (aggregate absolute utility of completions), for one
// or more models side by side.
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { basename } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.js';
import { EVAL_UTILITY_DEFAULTS, evalUtility } from '../rlhf/eval-utility.js';
import { UtilityTable } from '../reward/utility-table.js';
import { checkInt } from '../validate.js';
import { progressBar } from './progress.js';

export interface EvalUtilityArgs {
  model: string[];
  dataset?: string;
  n: number;
  prefixTokens: number;
  maxNewTokens: number;
  seeds: number;
  table?: string;
  score: 'completion' | 'full';
  out?: string;
  quiet: boolean;
}

export function evalUtilityBuilder(y: Argv): Argv<EvalUtilityArgs> {
  return y
    .option('model', { type: 'string', array: true, demandOption: true, describe: 'model folder or hub id, optionally LABEL=SPEC (repeat: --model base=DIR --model tuned=DIR2)' })
    .option('dataset', { type: 'string', describe: 'reviews (default: the shipped default corpus); prefixes come from the test split' })
    .option('n', { type: 'number', default: EVAL_UTILITY_DEFAULTS.n, describe: 'completions (the first n test reviews)' })
    .option('prefix-tokens', { type: 'number', default: EVAL_UTILITY_DEFAULTS.prefixTokens, describe: 'prefix length in tokens' })
    .option('max-new-tokens', { type: 'number', default: EVAL_UTILITY_DEFAULTS.maxNewTokens, describe: 'new tokens per completion at most' })
    .option('seeds', { type: 'number', default: EVAL_UTILITY_DEFAULTS.seeds.length, describe: 'sampling seeds 0..k−1 (mean and spread over them)' })
    .option('table', { type: 'string', describe: 'utility table file (TSV/CSV/JSON; default: the VADER lexicon)' })
    .option('score', { type: 'string', choices: ['completion', 'full'] as const, default: 'completion' as const, describe: 'score the completion only, or prefix + completion' })
    .option('out', { type: 'string', describe: 'also write the result JSON here' })
    .option('quiet', { type: 'boolean', default: false }) as unknown as Argv<EvalUtilityArgs>;
}

export function parseLabelled(spec: string): { label: string; spec: string } {
  const m = /^([A-Za-z0-9_.-]+)=(.+)$/.exec(spec);
  return m ? { label: m[1], spec: m[2] } : { label: basename(spec.replace(/\/+$/, '')) || spec, spec };
}

export async function evalUtilityCommand(args: ArgumentsCamelCase<EvalUtilityArgs>): Promise<void> {
  const seeds = checkInt(args.seeds, '--seeds', 1, 1000);
  const models = args.model.map(parseLabelled);
  const table = args.table ? await UtilityTable.load(args.table) : undefined;
  const bar = progressBar(models.length * seeds, 'eval-utility', { quiet: args.quiet });
  const res = await evalUtility({
    models, dataset: args.dataset, n: checkInt(args.n, '--n', 1), prefixTokens: checkInt(args.prefixTokens, '--prefix-tokens', 1),
    maxNewTokens: checkInt(args.maxNewTokens, '--max-new-tokens', 1), seeds: Array.from({ length: seeds }, (_, i) => i), table, score: args.score,
    onProgress: (d) => bar.update(d),
  });
  bar.stop();
  if (args.out) writeJsonAtomic(args.out, res);
  for (const m of res.models) {
    process.stdout.write(JSON.stringify({ model: m.label, aggregate_abs_utility: m.mean, std: m.std, per_seed: m.perSeed, n: res.n }) + '\n');
  }
}
