// `rewardlens rlhf`: tune a model with PPO against a reward (the paper's Section 5.1), and
// `rewardlens plot DIR`: its training curves.
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { DEFAULT_MODEL_DIR } from '../data/defaults.js';
import { PPO_DEFAULTS, PPO_PRESETS, type PpoConfig } from '../rlhf/config.js';
import { plotRlhfRun } from '../rlhf/plot.js';
import { runRlhf } from '../rlhf/run.js';
import { checkInt, checkNumber } from '../validate.js';
import { progressBar, type Progress } from './progress.js';
import { readFileSync } from 'node:fs';

export interface RlhfArgs {
  model?: string;
  reward: string;
  dataset?: string;
  steps?: number;
  seed?: number;
  preset?: string;
  config?: string;
  lr?: number;
  batchSize?: number;
  miniBatchSize?: number;
  initKlCoef?: number;
  checkpointEvery: number;
  promptLimit?: number;
  resume: boolean;
  out: string;
  quiet: boolean;
}

export function rlhfBuilder(y: Argv): Argv<RlhfArgs> {
  return y
    .option('model', { type: 'string', describe: `base model folder or hub id (default: the shipped default model, ${DEFAULT_MODEL_DIR})` })
    .option('reward', { type: 'string', default: 'vader', describe: 'vader | table:FILE (TSV/CSV/JSON word utilities) | classifier:MODEL (ONNX sequence classifier folder or hub id)' })
    .option('dataset', { type: 'string', describe: 'reviews (folder, file or hub dataset id; default: the shipped default corpus); prompts come from its train split' })
    .option('steps', { type: 'number', describe: 'total PPO steps (default 390 with --preset paper, 60 with default-world)' })
    .option('seed', { type: 'number', describe: 'seed of prompt order, response lengths, sampling and minibatches (default 0)' })
    .option('preset', { type: 'string', choices: Object.keys(PPO_PRESETS), describe: 'paper (Table 1) or default-world (larger lr for the shipped model); default: default-world for the shipped model, else paper' })
    .option('config', { type: 'string', describe: 'JSON file of PPO config overrides (any field of PpoConfig, see docs/rlhf.md)' })
    .option('lr', { type: 'number', describe: `peak learning rate (paper: ${PPO_DEFAULTS.learningRate})` })
    .option('batch-size', { type: 'number', describe: `rollouts per step (paper: ${PPO_DEFAULTS.batchSize})` })
    .option('mini-batch-size', { type: 'number', describe: `rows per optimiser step (paper: ${PPO_DEFAULTS.miniBatchSize})` })
    .option('init-kl-coef', { type: 'number', describe: `initial KL coefficient (paper: ${PPO_DEFAULTS.initKlCoef})` })
    .option('checkpoint-every', { type: 'number', default: 25, describe: 'write a checkpoint every N steps (and always at the end)' })
    .option('prompt-limit', { type: 'number', describe: 'use at most this many prompts' })
    .option('resume', { type: 'boolean', default: true, describe: 'continue from the last checkpoint in --out (--no-resume starts over)' })
    .option('out', { type: 'string', demandOption: true, describe: 'output folder (config.json, log.jsonl, samples.jsonl, checkpoints/, model/)' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' }) as unknown as Argv<RlhfArgs>;
}

export async function rlhfCommand(args: ArgumentsCamelCase<RlhfArgs>): Promise<void> {
  const overrides: Partial<PpoConfig> = {};
  if (args.config !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(args.config, 'utf8'));
    } catch (e) {
      throw new Error(`${args.config}: expected a JSON object of PPO config fields (${(e as Error).message})`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`${args.config}: expected a JSON object of PPO config fields`);
    Object.assign(overrides, parsed);
  }
  if (args.seed !== undefined) overrides.seed = checkInt(args.seed, '--seed', 0, 2 ** 31 - 1);
  if (args.lr !== undefined) overrides.learningRate = checkNumber(args.lr, '--lr', 0);
  if (args.batchSize !== undefined) overrides.batchSize = checkInt(args.batchSize, '--batch-size', 2);
  if (args.miniBatchSize !== undefined) overrides.miniBatchSize = checkInt(args.miniBatchSize, '--mini-batch-size', 1);
  if (args.initKlCoef !== undefined) overrides.initKlCoef = checkNumber(args.initKlCoef, '--init-kl-coef', 0);
  if (args.steps !== undefined) checkInt(args.steps, '--steps', 1);

  const ac = new AbortController();
  const onSigint = () => {
    if (ac.signal.aborted) {
      process.stderr.write('\nrewardlens rlhf: quitting without saving\n');
      process.exit(130);
    }
    process.stderr.write('\nrewardlens rlhf: saving a checkpoint after this step (Ctrl-C again to quit at once)\n');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  let bar: Progress | null = null;
  try {
    const res = await runRlhf({
      model: args.model, reward: args.reward, dataset: args.dataset, out: args.out, steps: args.steps, preset: args.preset,
      config: overrides, checkpointEvery: checkInt(args.checkpointEvery, '--checkpoint-every', 1), resume: args.resume,
      promptLimit: args.promptLimit === undefined ? undefined : checkInt(args.promptLimit, '--prompt-limit', 1),
      signal: ac.signal,
      onMessage: (m) => { if (!args.quiet) process.stderr.write(`rlhf: ${m}\n`); },
      onStart: ({ step, steps, prompts }) => {
        if (!args.quiet) process.stderr.write(`rlhf: ${prompts} prompts, steps ${step} → ${steps}\n`);
        bar = progressBar(steps, 'rlhf', { quiet: args.quiet });
        bar.update(step);
      },
      onStep: (s) => {
        bar?.update(s.step, { info: `reward ${s.reward_mean.toFixed(3)} kl ${s.kl.toFixed(2)} β ${s.kl_coef.toFixed(3)} ${Math.round(s.tokens_per_s)} tok/s` });
      },
    });
    (bar as Progress | null)?.stop();
    plotRlhfRun(args.out);
    process.stdout.write(JSON.stringify({
      out: res.out, model: res.modelDir, steps: res.steps, stopped: res.stopped,
      reward_first: res.first?.reward_mean ?? null, reward_last: res.last?.reward_mean ?? null, kl_last: res.last?.kl ?? null,
    }) + '\n');
    if (res.stopped) process.exitCode = 130;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

export function plotBuilder(y: Argv): Argv<{ dir: string }> {
  return y.positional('dir', { type: 'string', demandOption: true, describe: 'an rlhf output folder (with log.jsonl)' }) as unknown as Argv<{ dir: string }>;
}

export async function plotCommand(args: ArgumentsCamelCase<{ dir: string }>): Promise<void> {
  const res = plotRlhfRun(args.dir);
  process.stdout.write(JSON.stringify(res) + '\n');
}
