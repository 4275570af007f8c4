// `rewardlens demo`: the most complete path that works today, end to end on the CPU in seconds.
// Synthetic activations from a known dictionary → an SAE pair (2d and d features, the paper's
// settings) → MMCS between the pair and against the truth → SAELens folders on disk.
// (The full RLHF → divergence → activations → explanations demo replaces this once those stages land.)
import { join } from 'node:path';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { writeJsonAtomic } from '../io/atomic.js';
import { writeSafetensors } from '../io/safetensors.js';
import { cosineStats } from '../interpret/cosine.js';
import { saveSaeFolder } from '../sae/saelens.js';
import { syntheticSparseData } from '../sae/synthetic.js';
import { trainSae } from '../sae/train.js';
import { progressBar } from './progress.js';

export interface DemoArgs { out: string; seed: number; quiet: boolean }

export function demoBuilder(y: Argv): Argv<DemoArgs> {
  return y
    .option('out', { type: 'string', default: 'rewardlens-demo', describe: 'output folder' })
    .option('seed', { type: 'number', default: 0 })
    .option('quiet', { type: 'boolean', default: false }) as unknown as Argv<DemoArgs>;
}

export async function demoCommand(args: ArgumentsCamelCase<DemoArgs>): Promise<void> {
  const d = 64;
  const set = syntheticSparseData({ d, features: 96, rows: 12000, activePerRow: 3, seed: args.seed });
  const say = (s: string) => process.stderr.write(s + '\n');
  say(`rewardlens demo: ${set.rows} synthetic activations (d=${d}) from a known dictionary of ${set.features} features`);
  writeSafetensors(join(args.out, 'activations.safetensors'), {
    activations: { dtype: 'F32', shape: [set.rows, d], data: set.data },
    true_dictionary: { dtype: 'F32', shape: [set.features, d], data: set.dictionary },
  });
  const summary: Record<string, unknown> = { d, rows: set.rows, true_features: set.features };
  const dicts: Record<string, Float32Array> = {};
  for (const [name, n] of [['large', 2 * d], ['small', d]] as const) {
    // λ and epochs suited to this data's scale: the paper's λ = 1e-3 is tuned to Pythia's MLP
    // outputs, whose squared error is far larger per element than these unit-norm features'.
    const epochs = 10;
    const l1Coefficient = 1e-2;
    const bar = progressBar(Math.ceil(set.rows / 32) * epochs, `sae ${name} (n=${n})`, { quiet: args.quiet });
    const t0 = Date.now();
    const { sae, history } = await trainSae(set.data, { dIn: d, dSae: n, l1Coefficient, seed: args.seed }, {
      epochs, batchSize: 32, onStep: (m) => { if (m.step % 25 === 0) bar.update(m.step); },
    });
    bar.stop();
    const final = history[history.length - 1];
    await saveSaeFolder(join(args.out, `sae-${name}`), sae, { metrics: history, training: { epochs, batchSize: 32, rows: set.rows, final } });
    dicts[name] = sae.weights().W_dec;
    const truth = await cosineStats(set.dictionary, dicts[name], d, { topK: 0 });
    summary[name] = { d_sae: n, l1: l1Coefficient, epochs, seconds: (Date.now() - t0) / 1000, mse: final.mse, nmse: final.nmse, l0: final.l0, dead: final.dead, mmcs_to_truth: truth.mmcs };
    say(`  ${name}: n=${n}  nmse ${final.nmse.toFixed(4)}  L0 ${final.l0.toFixed(2)}  dead ${final.dead}  MMCS(truth → dictionary) ${truth.mmcs.toFixed(3)}`);
    sae.dispose();
  }
  const pair = await cosineStats(dicts.large, dicts.small, d, { topK: 0 });
  summary.mmcs_large_small = pair.mmcs;
  say(`  MMCS(large → small) ${pair.mmcs.toFixed(3)}  (the paper's Eq. 2)`);
  writeJsonAtomic(join(args.out, 'summary.json'), summary);
  process.stdout.write(JSON.stringify(summary) + '\n');
  say(`wrote ${args.out}/ (SAELens folders sae-large/ and sae-small/, summary.json); try: rewardlens mmcs ${args.out}/sae-large ${args.out}/sae-small`);
}
