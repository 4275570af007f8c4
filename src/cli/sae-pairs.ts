// `rewardlens sae pairs`: the large (2·d) and small (d) dictionaries of one activation store, with the
// paper's settings (or a preset's), and optionally an L1 sweep (Figure 4).
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { invalidRange } from '../errors.js';
import { parseL1Grid, SAE_PAIR_DEFAULTS, sweepL1, trainSaePair } from '../interpret/sae-pairs.js';
import { SAE_PRESETS } from '../sae/presets.js';
import { progressBar } from './progress.js';

export interface SaePairsArgs {
  activations: string; preset?: string; sizes?: string; l1?: number; lr: number; batchSize: number; epochs: number;
  seed: number; evalFraction: number; l1Sweep?: string; out: string; quiet: boolean;
}

export function saePairsBuilder(y: Argv): Argv<SaePairsArgs> {
  return y
    .option('activations', { type: 'string', demandOption: true, describe: 'an activation store folder (rewardlens activations) of one hook and layer' })
    .option('preset', { choices: Object.keys(SAE_PRESETS), describe: 'sizes and L1 of a model family (paper Table 2); default: from the store\'s model, else 2·d and d' })
    .option('sizes', { type: 'string', describe: 'dictionary sizes, comma-separated (default: the preset\'s large,small)' })
    .option('l1', { type: 'number', describe: 'L1 coefficient λ (default: the preset\'s, 1e-3)' })
    .option('lr', { type: 'number', default: SAE_PAIR_DEFAULTS.lr })
    .option('batch-size', { type: 'number', default: SAE_PAIR_DEFAULTS.batchSize })
    .option('epochs', { type: 'number', default: SAE_PAIR_DEFAULTS.epochs })
    .option('seed', { type: 'number', default: SAE_PAIR_DEFAULTS.seed })
    .option('eval-fraction', { type: 'number', default: SAE_PAIR_DEFAULTS.evalFraction, describe: 'last fraction of the records held out for metrics.json (0: train and report on all)' })
    .option('l1-sweep', { type: 'string', describe: 'also train the large size over an L1 grid lo:hi:n (log-spaced) or a,b,c, and chart nmse and L0 (Figure 4)' })
    .option('out', { type: 'string', demandOption: true, describe: 'folder for this model and layer (run/sae/<model>/<hook>.<layer>); each size in OUT/<size>/' })
    .option('quiet', { type: 'boolean', default: false }) as unknown as Argv<SaePairsArgs>;
}

export async function saePairsCommand(args: ArgumentsCamelCase<SaePairsArgs>): Promise<void> {
  const sizes = args.sizes === undefined ? undefined : String(args.sizes).split(',').map((s) => {
    const v = Number(s);
    if (!Number.isInteger(v) || v < 1) throw invalidRange('comma-separated positive integers (e.g. 256,128)', '--sizes', JSON.stringify(args.sizes));
    return v;
  });
  const grid = args.l1Sweep === undefined ? null : parseL1Grid(args.l1Sweep);
  let bar: ReturnType<typeof progressBar> | null = null;
  let current = -1;
  const common = {
    activations: args.activations, out: args.out, preset: args.preset, lr: args.lr, batchSize: args.batchSize,
    epochs: args.epochs, seed: args.seed, evalFraction: args.evalFraction,
    onStep: (size: number, m: { step: number; mse: number; l0: number }, p: { epoch: number; batchesPerEpoch: number }) => {
      if (size !== current || !bar) {
        bar?.stop();
        current = size;
        bar = progressBar(p.batchesPerEpoch * args.epochs, `sae ${size}`, { quiet: args.quiet });
      }
      if (m.step % 10 === 0) bar.update(m.step, { info: `epoch ${p.epoch + 1}/${args.epochs} mse ${m.mse.toExponential(3)} l0 ${m.l0.toFixed(1)}` });
    },
  };
  try {
    const pair = await trainSaePair({ ...common, sizes, l1: args.l1 });
    const result: Record<string, unknown> = { ...pair };
    if (grid) {
      current = -1;
      result.l1Sweep = await sweepL1({ ...common, grid, size: sizes?.[0] });
    }
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    (bar as ReturnType<typeof progressBar> | null)?.stop();
  }
}
