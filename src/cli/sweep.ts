// `rewardlens sweep`: train a grid of dictionaries (sizes × L1 × tied) locally or through a BullMQ
// queue; `rewardlens worker`: take sweep jobs from Redis; `rewardlens sweep-report DIR`: Pareto
// fronts, best L1 per size and MMCS between neighbouring sizes.
import { resolve } from 'node:path';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { invalidType } from '../errors.js';
import { DISTRIBUTED_DEFAULTS, queueStatus, runWorker } from '../sweep/distributed.js';
import { parseBoolList, parseL1Grid, parseSizes, SWEEP_GRID_DEFAULTS } from '../sweep/grid.js';
import { LOCAL_SWEEP_DEFAULTS } from '../sweep/local.js';
import { readSweepFile } from '../sweep/plan.js';
import { writeSweepReport } from '../sweep/report.js';
import { runSweep } from '../sweep/run.js';
import { checkInt } from '../validate.js';
import { progressBar } from './progress.js';

export interface SweepArgs {
  activations?: string;
  dictSizes?: string;
  l1?: string;
  tied: string;
  epochs: number;
  lr: number;
  batchSize: number;
  seed: number;
  normalizeDecoder: boolean;
  applyBDecToInput: boolean;
  init: 'orthogonal' | 'kaiming';
  out: string;
  workers: number;
  redis?: string;
  status: boolean;
  queue?: string;
  connectTimeout: number;
  quiet: boolean;
}

export function sweepBuilder(y: Argv): Argv<SweepArgs> {
  return y
    .option('activations', { type: 'string', describe: 'activations: a safetensors file ([N,d] tensor "activations"), an activation store folder, or an http(s):// URL every worker can fetch' })
    .option('dict-sizes', { type: 'string', describe: 'dictionary sizes, a comma list: 512,1024,2048' })
    .option('l1', { type: 'string', describe: 'L1 coefficients: a log grid start:end:count (1e-4:1e-2:6) or a comma list' })
    .option('tied', { type: 'string', default: SWEEP_GRID_DEFAULTS.tied.join(','), describe: 'tied dictionaries: true, false or true,false (both)' })
    .option('epochs', { type: 'number', default: SWEEP_GRID_DEFAULTS.epochs })
    .option('lr', { type: 'number', default: SWEEP_GRID_DEFAULTS.lr, describe: 'Adam learning rate' })
    .option('batch-size', { type: 'number', default: SWEEP_GRID_DEFAULTS.batchSize })
    .option('seed', { type: 'number', default: SWEEP_GRID_DEFAULTS.seed, describe: 'initialisation and shuffle seed of every job' })
    .option('normalize-decoder', { type: 'boolean', default: SWEEP_GRID_DEFAULTS.normalizeDecoder })
    .option('apply-b-dec-to-input', { type: 'boolean', default: SWEEP_GRID_DEFAULTS.applyBDecToInput })
    .option('init', { choices: ['orthogonal', 'kaiming'] as const, default: SWEEP_GRID_DEFAULTS.init })
    .option('out', { type: 'string', demandOption: true, describe: 'sweep folder: sweep.json, sweep.jsonl, sweep.csv, saes/<job>/' })
    .option('workers', { type: 'number', default: LOCAL_SWEEP_DEFAULTS.workers, describe: 'local worker processes (each native step already uses every core; 0 = in this process)' })
    .option('redis', { type: 'string', describe: 'redis://HOST:PORT: queue the jobs on BullMQ for `rewardlens worker` processes (Redis ≥ 6.2, maxmemory-policy noeviction)' })
    .option('status', { type: 'boolean', default: false, describe: 'with --redis: print the queue counts of the sweep in --out (or --queue) and exit' })
    .option('queue', { type: 'string', describe: 'with --status: the queue name (default: from --out/sweep.json)' })
    .option('connect-timeout', { type: 'number', default: DISTRIBUTED_DEFAULTS.connectTimeoutMs, describe: 'ms to wait for Redis before giving up' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' }) as unknown as Argv<SweepArgs>;
}

export async function sweepCommand(args: ArgumentsCamelCase<SweepArgs>): Promise<void> {
  const connectTimeoutMs = checkInt(args.connectTimeout, '--connect-timeout', 1);
  if (args.status) {
    if (!args.redis) throw invalidType('a redis:// URL (--status reads the queue)', '--redis', args.redis);
    const queue = args.queue ?? readSweepFile(resolve(args.out)).queue;
    const counts = await queueStatus(args.redis, queue, connectTimeoutMs);
    process.stdout.write(JSON.stringify({ queue, ...counts }) + '\n');
    return;
  }
  if (!args.activations) throw invalidType('a path or URL of activations', '--activations', args.activations);
  if (args.dictSizes === undefined) throw invalidType('a comma list of dictionary sizes', '--dict-sizes', args.dictSizes);
  if (args.l1 === undefined) throw invalidType('"start:end:count" or a comma list', '--l1', args.l1);
  const grid = {
    sizes: parseSizes(String(args.dictSizes)),
    l1: parseL1Grid(String(args.l1)),
    tied: parseBoolList(String(args.tied)),
    epochs: checkInt(args.epochs, '--epochs', 1),
    lr: args.lr,
    batchSize: checkInt(args.batchSize, '--batch-size', 1),
    seed: checkInt(args.seed, '--seed', 0),
    normalizeDecoder: args.normalizeDecoder,
    applyBDecToInput: args.applyBDecToInput,
    init: args.init,
  };
  const workers = checkInt(args.workers, '--workers', 0, 1024);
  const ac = new AbortController();
  const onSigint = () => ac.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  let bar: ReturnType<typeof progressBar> | null = null;
  try {
    const outcome = await runSweep({
      activations: args.activations, out: args.out, grid, workers, redis: args.redis, connectTimeoutMs, signal: ac.signal,
      onProgress: (p) => {
        bar ??= progressBar(p.total, 'sweep', { quiet: args.quiet, format: 'sweep [{bar}] {value}/{total} jobs | {info}' });
        const info = p.job ? `n=${p.job.config.dSae} l1=${p.job.config.l1Coefficient} ${p.job.config.tied ? 'tied' : 'untied'} step ${p.step ?? 0}/${p.steps ?? '?'}` : '';
        bar.update(p.done, { info });
      },
    });
    (bar as ReturnType<typeof progressBar> | null)?.stop();
    const summary = {
      out: outcome.plan.out, sweepId: outcome.plan.sweepId, ...(args.redis ? { queue: outcome.plan.queue } : {}),
      jobs: outcome.plan.jobs.length, skipped: outcome.skipped, ran: outcome.ran, failed: outcome.failures.length,
    };
    process.stdout.write(JSON.stringify(summary) + '\n');
    if (outcome.failures.length) {
      throw new Error(`${outcome.failures.length} of ${outcome.plan.jobs.length} jobs failed: ${outcome.failures.map((f) => `${f.id}: ${f.message}`).join('; ')}`);
    }
  } catch (err) {
    if (ac.signal.aborted) {
      throw new Error(args.redis
        ? 'interrupted: the jobs stay on the queue (workers go on with them); run the same command again to resume waiting'
        : `interrupted: finished jobs are kept in ${args.out}; run the same command again to resume`);
    }
    throw err;
  } finally {
    (bar as ReturnType<typeof progressBar> | null)?.stop();
    process.removeListener('SIGINT', onSigint);
  }
}

export interface WorkerArgs {
  redis: string;
  queue?: string;
  concurrency: number;
  lockDuration: number;
  stalledInterval: number;
  maxStalled: number;
  connectTimeout: number;
  exitWhenIdle: boolean;
}

export function workerBuilder(y: Argv): Argv<WorkerArgs> {
  return y
    .option('redis', { type: 'string', demandOption: true, describe: 'redis://HOST:PORT of the sweep queue' })
    .option('queue', { type: 'string', describe: 'serve only this sweep queue (default: every submitted sweep, one at a time)' })
    .option('concurrency', { type: 'number', default: DISTRIBUTED_DEFAULTS.concurrency, describe: 'jobs at once in this process (each native step already uses every core)' })
    .option('lock-duration', { type: 'number', default: DISTRIBUTED_DEFAULTS.lockDurationMs, describe: 'ms a job stays locked without renewal; a dead worker\'s job is recovered after it' })
    .option('stalled-interval', { type: 'number', default: DISTRIBUTED_DEFAULTS.stalledIntervalMs, describe: 'ms between checks for jobs whose worker died' })
    .option('max-stalled', { type: 'number', default: DISTRIBUTED_DEFAULTS.maxStalledCount, describe: 'times a job may be recovered from a dead worker before it fails' })
    .option('connect-timeout', { type: 'number', default: DISTRIBUTED_DEFAULTS.connectTimeoutMs, describe: 'ms to wait for Redis before giving up' })
    .option('exit-when-idle', { type: 'boolean', default: false, describe: 'exit when no sweep has jobs left (default: wait for new sweeps)' }) as unknown as Argv<WorkerArgs>;
}

export async function workerCommand(args: ArgumentsCamelCase<WorkerArgs>): Promise<void> {
  const ac = new AbortController();
  const stop = () => ac.abort(new Error('stopped'));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const { processed } = await runWorker({
      redis: args.redis, queue: args.queue, concurrency: args.concurrency, lockDurationMs: args.lockDuration,
      stalledIntervalMs: args.stalledInterval, maxStalledCount: args.maxStalled, connectTimeoutMs: args.connectTimeout,
      exitWhenIdle: args.exitWhenIdle, signal: ac.signal,
    });
    process.stdout.write(JSON.stringify({ processed }) + '\n');
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
  }
  // A stopped worker may leave a native step running; its job returns to the queue after the lock expires.
  if (ac.signal.aborted) process.exit(130);
}

export interface SweepReportArgs { dir: string }

export function sweepReportBuilder(y: Argv): Argv<SweepReportArgs> {
  return y.positional('dir', { type: 'string', demandOption: true, describe: 'a sweep folder written by `rewardlens sweep`' }) as unknown as Argv<SweepReportArgs>;
}

export async function sweepReportCommand(args: ArgumentsCamelCase<SweepReportArgs>): Promise<void> {
  const r = await writeSweepReport(args.dir);
  process.stdout.write(JSON.stringify({ report: r.files.md, json: r.files.json, figures: r.files.figures, best: r.report.best.map((b) => ({ size: b.size, l1: b.l1, tied: b.tied, nmse: b.nmse, l0: b.l0 })) }) + '\n');
}
