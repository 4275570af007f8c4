// `rewardlens corpus`: write the synthetic review corpus (train.jsonl, test.jsonl) into a folder.
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { corpusFileInfo } from '../data/defaults.js';
import { SYNTHETIC_DEFAULTS, SYNTHETIC_GENERATOR_VERSION, writeSyntheticCorpus } from '../data/synthetic-reviews.js';
import { checkInt } from '../validate.js';

export interface CorpusArgs {
  out: string;
  train: number;
  test: number;
  seed: number;
}

export function corpusBuilder(y: Argv): Argv<CorpusArgs> {
  return y
    .option('out', { type: 'string', demandOption: true, describe: 'folder for train.jsonl and test.jsonl' })
    .option('train', { type: 'number', default: SYNTHETIC_DEFAULTS.train, describe: 'train reviews' })
    .option('test', { type: 'number', default: SYNTHETIC_DEFAULTS.test, describe: 'test reviews' })
    .option('seed', { type: 'number', default: SYNTHETIC_DEFAULTS.seed, describe: 'generator seed (same seed, same bytes)' }) as unknown as Argv<CorpusArgs>;
}

export async function corpusCommand(args: ArgumentsCamelCase<CorpusArgs>): Promise<void> {
  checkInt(args.train, '--train', 0);
  checkInt(args.test, '--test', 0);
  checkInt(args.seed, '--seed', 0);
  const res = await writeSyntheticCorpus(args.out, { seed: args.seed, train: args.train, test: args.test });
  process.stdout.write(JSON.stringify({
    out: args.out, generator: 'rewardlens synthetic-reviews', version: SYNTHETIC_GENERATOR_VERSION, seed: args.seed,
    train: args.train, test: args.test, files: { train: corpusFileInfo(res.train), test: corpusFileInfo(res.test) },
  }) + '\n');
}
