// `rewardlens reward --reward SPEC "text" …`: score texts with a reward and print one JSON line each,
// to check a utility table or a classifier before tuning with it.
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { CLASSIFIER_REWARD_DEFAULTS } from '../reward/classifier.js';
import { UtilityReward, createReward } from '../reward/reward.js';
import { UTILITY_REWARD_DEFAULTS, utilityScore } from '../reward/utility-table.js';
import { rewardWords } from '../reward/words.js';
import { downloadProgress } from './progress.js';

export interface RewardArgs {
  reward: string;
  texts: string[];
  label: string;
  divisor: number;
  clamp: number;
  batchSize: number;
  maxLength: number;
  offline: boolean | undefined;
  words: boolean;
  quiet: boolean;
}

export function rewardBuilder(y: Argv): Argv<RewardArgs> {
  return y
    .positional('texts', { type: 'string', array: true, describe: 'texts to score (none: one text per line of stdin)' })
    .option('reward', { type: 'string', default: 'vader', describe: 'vader | table:FILE (.tsv/.txt, .csv, .json word utilities) | classifier:MODEL (ONNX classifier folder or hub id)' })
    .option('label', { type: 'string', default: CLASSIFIER_REWARD_DEFAULTS.label, describe: 'classifier: the label whose logit is the reward' })
    .option('divisor', { type: 'number', default: UTILITY_REWARD_DEFAULTS.divisor, describe: 'tables: the word sum is divided by this' })
    .option('clamp', { type: 'number', default: UTILITY_REWARD_DEFAULTS.clamp, describe: 'tables: the scaled sum is clamped to [-clamp, clamp]' })
    .option('batch-size', { type: 'number', default: CLASSIFIER_REWARD_DEFAULTS.batchSize, describe: 'classifier: texts per forward pass' })
    .option('max-length', { type: 'number', default: CLASSIFIER_REWARD_DEFAULTS.maxLength, describe: 'classifier: tokens per text, special tokens included' })
    .option('offline', { type: 'boolean', describe: 'classifier hub ids: use the hub cache only (default: HF_HUB_OFFLINE)' })
    .option('words', { type: 'boolean', default: false, describe: 'tables: also print each word with its utility (null when not in the table)' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no download progress' }) as unknown as Argv<RewardArgs>;
}

async function readStdinLines(): Promise<string[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/).filter((l) => l.trim() !== '');
}

export async function rewardCommand(args: ArgumentsCamelCase<RewardArgs>): Promise<void> {
  const texts = args.texts && args.texts.length > 0 ? args.texts.map(String) : await readStdinLines();
  const progress = downloadProgress({ quiet: args.quiet });
  const reward = await createReward(args.reward, {
    label: args.label, divisor: args.divisor, clamp: args.clamp, batchSize: args.batchSize, maxLength: args.maxLength,
    offline: args.offline, onProgress: progress.onProgress,
  }).finally(() => progress.stop());
  try {
    const scores = await reward.score(texts);
    const lines = texts.map((text, i) => {
      // Tables: the score in float64 (what the Float32Array rounds); classifiers: the logit to 7 digits.
      const score = reward instanceof UtilityReward ? utilityScore(text, reward.table, reward.options) : Number(scores[i].toPrecision(7));
      const line: Record<string, unknown> = { text, score };
      if (args.words && reward instanceof UtilityReward) line.words = rewardWords(text).map((w) => [w, reward.table.get(w) ?? null]);
      return JSON.stringify(line);
    });
    process.stdout.write(lines.length > 0 ? lines.join('\n') + '\n' : '');
  } finally {
    await reward.dispose();
  }
}
