// `rewardlens activations`: run a model over a split's reviews and stream one hook's activations per
// layer into activation stores (sharded safetensors + manifest.json, resumable).
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { invalidRange } from '../errors.js';
import { ACTIVATION_DEFAULTS, collectActivations, HOOK_KINDS, type HookKind } from '../interpret/activation-store.js';
import type { ReviewSplit } from '../data/dataset.js';
import { DEFAULT_MODEL_DIR } from '../data/defaults.js';
import { progressBar } from './progress.js';

export interface ActivationsArgs {
  model: string; layers: string; hook: HookKind; dataset?: string; split: ReviewSplit; maxTokens: number;
  limit?: number; dtype: 'f16' | 'f32'; batchSize: number; shardRows: number; out: string; quiet: boolean;
}

export function activationsBuilder(y: Argv): Argv<ActivationsArgs> {
  return y
    .option('model', { type: 'string', default: DEFAULT_MODEL_DIR, describe: 'a Hugging Face folder or hub id (default: the shipped default model)' })
    .option('layers', { type: 'string', demandOption: true, describe: 'layers (blocks, from 0), comma-separated: 2,3' })
    .option('hook', { choices: HOOK_KINDS, default: ACTIVATION_DEFAULTS.hook, describe: 'hook point; mlp_out = the MLP output before the residual add, the paper\'s choice' })
    .option('dataset', { type: 'string', describe: 'reviews: a folder, file or hub dataset id (default: the shipped synthetic corpus)' })
    .option('split', { choices: ['train', 'test', 'all'] as const, default: ACTIVATION_DEFAULTS.split })
    .option('max-tokens', { type: 'number', default: ACTIVATION_DEFAULTS.maxTokens, describe: 'first N tokens of each review' })
    .option('limit', { type: 'number', describe: 'only the first N reviews' })
    .option('dtype', { choices: ['f16', 'f32'] as const, default: ACTIVATION_DEFAULTS.dtype.toLowerCase() as 'f16' })
    .option('batch-size', { type: 'number', default: ACTIVATION_DEFAULTS.batchSize, describe: 'reviews per forward pass' })
    .option('shard-rows', { type: 'number', default: ACTIVATION_DEFAULTS.shardRows, describe: 'largest shard, in vectors' })
    .option('out', { type: 'string', demandOption: true, describe: 'output root: one store per layer at OUT/<hook>.<layer>/ (a rerun resumes)' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' }) as unknown as Argv<ActivationsArgs>;
}

export function parseLayers(spec: string, name = '--layers'): number[] {
  const parts = String(spec).split(',').map((s) => s.trim()).filter(Boolean);
  const layers = parts.map(Number);
  if (parts.length === 0 || layers.some((l) => !Number.isInteger(l) || l < 0)) {
    throw invalidRange('comma-separated non-negative integers (e.g. 2,3)', name, JSON.stringify(spec));
  }
  return layers;
}

export async function activationsCommand(args: ArgumentsCamelCase<ActivationsArgs>): Promise<void> {
  const layers = parseLayers(args.layers);
  const bar = progressBar(args.limit ?? 0, 'activations', { quiet: args.quiet, format: 'activations [{bar}] {value} reviews | {info}' });
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  try {
    const s = await collectActivations({
      model: args.model, layers, hook: args.hook, dataset: args.dataset, split: args.split, maxTokens: args.maxTokens,
      limit: args.limit, dtype: args.dtype.toUpperCase() as 'F16' | 'F32', batchSize: args.batchSize, shardRows: args.shardRows,
      out: args.out, signal: ac.signal,
      onProgress: (p) => bar.update(p.records, { info: `${p.rows} vectors, ${p.shards} shards` }),
    });
    bar.stop();
    process.stdout.write(JSON.stringify(s) + '\n');
    if (!s.complete) {
      process.stderr.write(`rewardlens: interrupted after ${s.records} reviews; rerun the same command to resume\n`);
      process.exitCode = 130;
    }
  } finally {
    bar.stop();
    process.removeListener('SIGINT', onSigint);
  }
}
