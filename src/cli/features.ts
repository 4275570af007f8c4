// `rewardlens features`: MMCS of a pair, its top-k large-dictionary features and their records.
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { FEATURE_DEFAULTS, featuresStage, MATCH_KINDS, type MatchKind } from '../interpret/features.js';
import { checkInt } from '../validate.js';
import { progressBar } from './progress.js';

export interface FeaturesArgs {
  activations: string; sae: string; small: string; model?: string; name?: string; topK: number; match: MatchKind;
  seed: number; out: string; quiet: boolean;
}

export function featuresBuilder(y: Argv): Argv<FeaturesArgs> {
  return y
    .option('activations', { type: 'string', demandOption: true, describe: 'activation store of the hook and layer the dictionaries were trained on (e.g. the test split)' })
    .option('sae', { type: 'string', demandOption: true, describe: 'the LARGE dictionary (SAELens folder)' })
    .option('small', { type: 'string', demandOption: true, describe: 'the small dictionary of the same model and layer' })
    .option('model', { type: 'string', describe: 'model whose tokenizer decodes the tokens (default: the store\'s model)' })
    .option('name', { type: 'string', describe: 'label of the model in the records (default: the model\'s folder or repo name)' })
    .option('top-k', { type: 'number', default: FEATURE_DEFAULTS.topK, describe: 'features kept (10; 30 for Table 3)' })
    .option('match', { choices: MATCH_KINDS, default: FEATURE_DEFAULTS.match, describe: 'max: Eq. 2 (the text); hungarian: one-to-one matching (the paper\'s code)' })
    .option('seed', { type: 'number', default: FEATURE_DEFAULTS.seed, describe: 'seed of the random baseline records' })
    .option('out', { type: 'string', demandOption: true, describe: 'the features JSON file (features/<model>.<hook>.<layer>.json in a run)' })
    .option('quiet', { type: 'boolean', default: false }) as unknown as Argv<FeaturesArgs>;
}

export async function featuresCommand(args: ArgumentsCamelCase<FeaturesArgs>): Promise<void> {
  checkInt(args.topK, '--top-k', 1);
  checkInt(args.seed, '--seed', 0);
  let bar: ReturnType<typeof progressBar> | null = null;
  try {
    const s = await featuresStage({
      activations: args.activations, sae: args.sae, small: args.small, model: args.model, name: args.name,
      topK: args.topK, match: args.match, seed: args.seed, out: args.out,
      onProgress: (done, total) => {
        bar ??= progressBar(total, 'encode', { quiet: args.quiet });
        bar.update(done);
      },
    });
    process.stdout.write(JSON.stringify(s) + '\n');
  } finally {
    (bar as ReturnType<typeof progressBar> | null)?.stop();
  }
}
