// `rewardlens pretrain`: train a GPT-NeoX from scratch on a review corpus (src/model/pretrain.ts).
// Ctrl-C saves a checkpoint after the current step and exits with code 130; a second Ctrl-C quits at once.
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { ensureDefaultCorpus } from '../data/defaults.js';
import { readJsonFile } from '../model/hf-config.js';
import { pretrain, type PretrainConfig } from '../model/pretrain.js';
import { checkInt } from '../validate.js';
import { progressBar, type Progress } from './progress.js';

export interface PretrainArgs {
  corpus?: string;
  config?: string;
  out: string;
  resume: boolean;
  seed?: number;
  steps?: number;
  quiet: boolean;
}

export function pretrainBuilder(y: Argv): Argv<PretrainArgs> {
  return y
    .option('corpus', { type: 'string', describe: 'folder with train.jsonl and test.jsonl (default: the default synthetic corpus, generated into the cache)' })
    .option('config', { type: 'string', describe: 'JSON file {model, tokenizer, train} (every field optional; see docs/pretrain.md)' })
    .option('out', { type: 'string', demandOption: true, describe: 'output folder (checkpoints, log.jsonl, model/, metrics.json)' })
    .option('resume', { type: 'boolean', default: false, describe: 'continue from the newest checkpoint in --out' })
    .option('seed', { type: 'number', describe: 'override train.seed (initialisation and batch order)' })
    .option('steps', { type: 'number', describe: 'override train.steps' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' }) as unknown as Argv<PretrainArgs>;
}

export async function pretrainCommand(args: ArgumentsCamelCase<PretrainArgs>): Promise<void> {
  if (args.seed !== undefined) checkInt(args.seed, '--seed', 0);
  if (args.steps !== undefined) checkInt(args.steps, '--steps', 1);
  let config: unknown;
  if (args.config !== undefined) config = readJsonFile(args.config);
  if (args.seed !== undefined || args.steps !== undefined) {
    const c = (config ?? {}) as Partial<PretrainConfig> & Record<string, unknown>;
    const train = { ...((c.train as object | undefined) ?? {}) } as Record<string, unknown>;
    if (args.seed !== undefined) train.seed = args.seed;
    if (args.steps !== undefined) train.steps = args.steps;
    config = { ...c, train };
  }
  const corpusDir = args.corpus ?? await ensureDefaultCorpus();

  const ac = new AbortController();
  const onSigint = () => {
    if (ac.signal.aborted) {
      process.stderr.write('\nrewardlens pretrain: quitting without saving\n');
      process.exit(130);
    }
    process.stderr.write('\nrewardlens pretrain: saving a checkpoint after this step (Ctrl-C again to quit at once)\n');
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  const ui: { bar: Progress | null } = { bar: null };
  let lastEval = '';
  try {
    const res = await pretrain({
      corpusDir,
      outDir: args.out,
      config,
      resume: args.resume,
      signal: ac.signal,
      onMessage: (m) => {
        ui.bar?.stop();
        ui.bar = null;
        if (!args.quiet) process.stderr.write(`pretrain: ${m}\n`);
      },
      onStart: ({ step, steps }) => {
        ui.bar = progressBar(steps, 'pretrain', { quiet: args.quiet });
        ui.bar.update(step);
      },
      onStep: (l) => {
        ui.bar?.update(l.step, { info: `loss ${l.loss.toFixed(3)} lr ${l.lr.toExponential(2)} ${Math.round(l.tokens_per_s)} tok/s${lastEval}` });
      },
      onEval: (e) => {
        lastEval = ` test ppl ${e.test_ppl.toFixed(2)}`;
      },
    });
    ui.bar?.stop();
    ui.bar = null;
    if (res.interrupted) {
      process.stderr.write(`rewardlens pretrain: stopped at step ${res.step}; continue with --resume\n`);
      process.exitCode = 130;
      return;
    }
    process.stdout.write(JSON.stringify({ out: args.out, model: res.modelDir, ...res.metrics }) + '\n');
  } finally {
    ui.bar?.stop();
    process.removeListener('SIGINT', onSigint);
  }
}
