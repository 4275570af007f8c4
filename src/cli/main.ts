// The rewardlens command line (yargs). Each command lives in its own file; errors print one line
// (the message names the file, field or argument) and set a non-zero exit code, never a stack dump.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { benchKernels } from '../bench/kernels.js';
import { BENCH_ARCHS, benchModel, type BenchArch } from '../bench/model.js';
import { benchActivations } from '../bench/activations.js';
import { benchPpo } from '../bench/ppo.js';
import { benchSweep, SWEEP_BENCH_CASES } from '../bench/sweep.js';
import { runtime } from '../native.js';
import { corpusBuilder, corpusCommand } from './corpus.js';
import { activationsBuilder, activationsCommand } from './activations.js';
import { divergenceBuilder, divergenceCommand } from './divergence.js';
import { featuresBuilder, featuresCommand } from './features.js';
import { saePairsBuilder, saePairsCommand } from './sae-pairs.js';
import { explainBuilder, explainCommand } from './explain.js';
import { scoreBuilder, scoreCommand } from './score.js';
import { mmcsBuilder, mmcsCommand } from './mmcs.js';
import { pretrainBuilder, pretrainCommand } from './pretrain.js';
import { rewardBuilder, rewardCommand } from './reward.js';
import { demoBuilder, demoCommand, runBuilder, runCommand } from './run.js';
import { evalUtilityBuilder, evalUtilityCommand } from './eval-utility.js';
import { plotBuilder, plotCommand, rlhfBuilder, rlhfCommand } from './rlhf.js';
import { saeTrainBuilder, saeTrainCommand } from './sae-train.js';
import { sweepBuilder, sweepCommand, sweepReportBuilder, sweepReportCommand, workerBuilder, workerCommand } from './sweep.js';
import { verifyBuilder, verifyCommand } from './verify-model.js';

export async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName('rewardlens')
    .usage('$0 <command> [options]\n\nInterpret the reward model an RLHF-tuned language model learned, with sparse autoencoders.')
    .command('demo', 'the whole method on the embedded default world (CPU, a few minutes): RLHF, divergence, activations, SAE pairs, MMCS, explanations, Tables 3 and 4, report', demoBuilder, demoCommand)
    .command('run', 'every stage of the method from a config file (YAML or JSON); a rerun skips what is done', runBuilder, runCommand)
    .command('corpus', 'write the synthetic review corpus (train.jsonl, test.jsonl) for a seed', corpusBuilder, corpusCommand)
    .command('pretrain', 'train a GPT-NeoX from scratch on a review corpus (how the default model is made)', pretrainBuilder, pretrainCommand)
    .command('rlhf', 'tune a model with PPO against a reward (VADER utility table, your table, or a classifier)', rlhfBuilder, rlhfCommand)
    .command('reward [texts..]', 'score texts with a reward (vader, table:FILE, classifier:MODEL) and print one JSON line each', rewardBuilder, rewardCommand)
    .command('eval-utility', "the paper's Table 4: aggregate absolute utility of completions of test-review prefixes, per model", evalUtilityBuilder, evalUtilityCommand)
    .command('plot <dir>', 'draw the training curves of an rlhf run (curves.svg, curves.png)', plotBuilder, plotCommand)
    .command('sae', 'sparse autoencoders', (y) =>
      y.command('train', 'train one dictionary on an activation set (safetensors) and write a SAELens folder', saeTrainBuilder, saeTrainCommand)
        .command('pairs', 'train the large (2·d) and small (d) dictionaries of one activation store (paper settings), with nmse and L0', saePairsBuilder, saePairsCommand)
        .demandCommand(1, 'Name a sae subcommand: train, pairs'))
    .command('divergence <base> <tuned>', 'per-layer parameter divergence between a base and a tuned checkpoint (sum of Frobenius norms)', divergenceBuilder, divergenceCommand)
    .command('activations', 'collect a hook\'s activations per layer over a review split into resumable sharded stores (default hook mlp_out, the paper\'s)', activationsBuilder, activationsCommand)
    .command('features', 'MMCS of an SAE pair, its top-k large-dictionary features and their top-activating records', featuresBuilder, featuresCommand)
    .command('sweep', 'train a grid of dictionaries (sizes × L1 × tied), locally or on a BullMQ queue (--redis)', sweepBuilder, sweepCommand)
    .command('worker', 'take sweep jobs from a BullMQ queue in Redis (run on any number of machines)', workerBuilder, workerCommand)
    .command('sweep-report <dir>', 'Pareto fronts, best L1 per size, dead features and MMCS between neighbouring sizes of a sweep', sweepReportBuilder, sweepReportCommand)
    .command('mmcs <a> <b>', 'mean max cosine similarity between two dictionaries, and the top-k matched features', mmcsBuilder, mmcsCommand)
    .command('explain <features..>', 'explain features from their top records (offline, or an LLM through any OpenAI-compatible server)', explainBuilder, explainCommand)
    .command('score <explanations>', 'score explanations: Table 3 (aggregate absolute utility) and simulation correlation against a baseline', scoreBuilder, scoreCommand)
    .command('verify-model', 'compare the engine with reference tensors computed by transformers', verifyBuilder, verifyCommand)
    .command('bench', 'benchmarks, with a PyTorch peer measured in the same run', (y) =>
      y.command('kernels', 'SAE step, MMCS and PPO loss kernels', (yy) => yy
        .option('case', { type: 'string', array: true, choices: ['sae_step', 'mmcs', 'ppo_loss'], describe: 'only these cases' })
        .option('peer', { type: 'boolean', default: true, describe: 'measure the PyTorch peer (--no-peer to skip)' }),
      async (args) => {
        await benchKernels({ cases: args.case as string[] | undefined, peer: args.peer });
      })
        .command('model', 'the engine: training step and KV-cache sampling (Pythia-70m shape, or GPT-Neo-125m with --arch gpt-neo)', (yy) => yy
          .option('case', { type: 'string', array: true, choices: ['train_step', 'sample'], describe: 'only these cases' })
          .option('arch', { type: 'string', choices: BENCH_ARCHS, default: 'gpt-neox', describe: 'gpt-neox: Pythia-70m shape; gpt-neo: GPT-Neo-125m shape' })
          .option('peer', { type: 'boolean', default: true, describe: 'measure the PyTorch peer (--no-peer to skip)' }),
        async (args) => {
          await benchModel({ cases: args.case as string[] | undefined, peer: args.peer, arch: args.arch as BenchArch });
        })
        .command('ppo', 'one PPO step of the paper\'s shape on the default model and a Pythia-70m-shaped model', (yy) => yy
          .option('case', { type: 'string', array: true, choices: ['ppo_step_default_model', 'ppo_step_pythia70m'], describe: 'only these cases' })
          .option('peer', { type: 'boolean', default: true, describe: 'measure the PyTorch peer (--no-peer to skip)' }),
        async (args) => {
          await benchPpo({ cases: args.case as string[] | undefined, peer: args.peer });
        })
        .command('activations', 'activation collection: Pythia-70m shape (random weights), 50 tokens per review, mlp_out of 5 layers', (yy) => yy
          .option('reviews', { type: 'number', default: 1000, describe: 'reviews to collect (the time for 25,000 is extrapolated)' })
          .option('batch-size', { type: 'number', default: 32 }),
        async (args) => {
          await benchActivations({ reviews: args.reviews, batchSize: args.batchSize });
        })
        .command('sweep', 'dictionary sweeps: a 12-job sweep vs one sae train, and the BullMQ queue\'s overhead vs local mode', (yy) => yy
          .option('case', { type: 'string', array: true, choices: [...SWEEP_BENCH_CASES], describe: 'only these cases' })
          .option('redis', { type: 'string', describe: 'redis://HOST:PORT for queue_overhead (default: a redis-server started on a free port)' }),
        async (args) => {
          await benchSweep({ cases: args.case as string[] | undefined, redis: args.redis });
        })
        .demandCommand(1, 'Name a bench subcommand: kernels, model, ppo, activations, sweep'))
    .command('info', 'version, GEMM backend and threads of the native addon', {}, () => {
      const rt = runtime();
      process.stdout.write(JSON.stringify({ version: rt.version(), gemm: rt.gemmBackend(), openblas: rt.hasOpenblas(), threads: rt.numThreads() }) + '\n');
    })
    .demandCommand(1, 'Name a command (see --help)')
    .strict()
    .recommendCommands()
    .help()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`rewardlens: ${msg}\nRun with --help for usage.\n`);
      process.exit(2);
    })
    .parseAsync();
}

main(hideBin(process.argv)).catch((err: unknown) => {
  const e = err as Error;
  process.stderr.write(`rewardlens: ${e?.message ?? String(err)}\n`);
  if (process.env.REWARDLENS_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
  process.exitCode = 1;
});
