// `rewardlens sae train`: train one dictionary on a safetensors activation set and write a SAELens folder.
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { SAE_DEFAULTS } from '../sae/config.js';
import { readActivations } from '../sae/activations-file.js';
import { saveSaeFolder } from '../sae/saelens.js';
import { trainSae } from '../sae/train.js';
import type { SaeMetrics } from '../sae/sparse-autoencoder.js';
import { checkInt, checkNumber } from '../validate.js';
import { progressBar } from './progress.js';

export interface SaeTrainArgs {
  activations: string;
  tensor: string;
  dictSize: number;
  l1: number;
  lr: number;
  batchSize: number;
  epochs: number;
  tied: boolean;
  normalizeDecoder: boolean;
  applyBDecToInput: boolean;
  init: 'orthogonal' | 'kaiming';
  seed: number;
  out: string;
  quiet: boolean;
}

export function saeTrainBuilder(y: Argv): Argv<SaeTrainArgs> {
  return y
    .option('activations', { type: 'string', demandOption: true, describe: 'safetensors file with tensor `activations` [N,d] (F32/F16/BF16) and optional `mask` [N]' })
    .option('tensor', { type: 'string', default: 'activations', describe: 'name of the activations tensor' })
    .option('dict-size', { type: 'number', demandOption: true, describe: 'number of dictionary features n' })
    .option('l1', { type: 'number', default: SAE_DEFAULTS.l1Coefficient, describe: 'L1 coefficient λ (loss = MSE + λ·batch mean of ‖c‖₁)' })
    .option('lr', { type: 'number', default: SAE_DEFAULTS.lr, describe: 'Adam learning rate' })
    .option('batch-size', { type: 'number', default: 32 })
    .option('epochs', { type: 'number', default: 3 })
    .option('tied', { type: 'boolean', default: SAE_DEFAULTS.tied, describe: 'tie W_enc = W_decᵀ (--no-tied for untied)' })
    .option('normalize-decoder', { type: 'boolean', default: SAE_DEFAULTS.normalizeDecoder, describe: 'unit-norm dictionary rows inside the forward pass' })
    .option('apply-b-dec-to-input', { type: 'boolean', default: SAE_DEFAULTS.applyBDecToInput, describe: 'subtract b_dec before encoding' })
    .option('init', { choices: ['orthogonal', 'kaiming'] as const, default: SAE_DEFAULTS.init })
    .option('seed', { type: 'number', default: SAE_DEFAULTS.seed })
    .option('out', { type: 'string', demandOption: true, describe: 'output folder (SAELens layout)' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' }) as unknown as Argv<SaeTrainArgs>;
}

export async function saeTrainCommand(args: ArgumentsCamelCase<SaeTrainArgs>): Promise<void> {
  checkInt(args.dictSize, '--dict-size', 1);
  checkInt(args.batchSize, '--batch-size', 1);
  checkInt(args.epochs, '--epochs', 1);
  checkNumber(args.l1, '--l1', 0);
  checkNumber(args.lr, '--lr', Number.MIN_VALUE);
  checkInt(args.seed, '--seed', 0);
  const set = readActivations(args.activations, args.tensor);
  const cfg = {
    dIn: set.d, dSae: args.dictSize, l1Coefficient: args.l1, lr: args.lr, tied: args.tied,
    normalizeDecoder: args.normalizeDecoder, applyBDecToInput: args.applyBDecToInput, init: args.init, seed: args.seed,
  };
  const validRows = set.mask ? set.mask.reduce((a, v) => a + (v ? 1 : 0), 0) : set.rows;
  const batchesPerEpoch = Math.ceil(validRows / args.batchSize);
  const bar = progressBar(batchesPerEpoch * args.epochs, 'sae train', { quiet: args.quiet });
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  const started = Date.now();
  const metrics: SaeMetrics[] = [];
  try {
    const { sae } = await trainSae(set.data, cfg, {
      epochs: args.epochs,
      batchSize: args.batchSize,
      mask: set.mask,
      signal: ac.signal,
      onStep: (m, p) => {
        metrics.push(m);
        if (m.step % 10 === 0 || p.batch + 1 === p.batchesPerEpoch) {
          bar.update(m.step, { info: `epoch ${p.epoch + 1}/${args.epochs} mse ${m.mse.toExponential(3)} l0 ${m.l0.toFixed(1)}` });
        }
      },
    });
    bar.stop();
    const final = metrics[metrics.length - 1];
    await saveSaeFolder(args.out, sae, {
      metrics,
      training: {
        activations: args.activations, rows: validRows, epochs: args.epochs, batchSize: args.batchSize,
        seconds: (Date.now() - started) / 1000, final,
      },
    });
    sae.dispose();
    process.stdout.write(JSON.stringify({ out: args.out, d_in: set.d, d_sae: args.dictSize, rows: validRows, ...final }) + '\n');
  } finally {
    bar.stop();
    process.removeListener('SIGINT', onSigint);
  }
}
