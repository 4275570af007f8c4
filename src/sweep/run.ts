// runSweep: plan the jobs, skip the finished ones, run the rest locally (a process pool) or through
// a BullMQ queue, and keep sweep.jsonl / sweep.csv up to date after every result.
import { mkdirSync } from 'node:fs';
import type { SweepGrid } from './grid.js';
import { readFinishedJob, type SweepJob, type SweepResult } from './job.js';
import { runJobsLocally, type JobEvents, type JobFailure } from './local.js';
import { checkRedis, submitAndWait } from './distributed.js';
import { planSweep, writeSweepFile, type SweepPlan } from './plan.js';
import { SweepResultsTable } from './results.js';

export interface SweepOptions {
  /** Activations: a safetensors file, an activation store folder, or an http(s):// URL. */
  activations: string;
  /** The sweep folder (sweep.json, sweep.jsonl, sweep.csv, saes/). */
  out: string;
  grid: Partial<SweepGrid> & { sizes: number[]; l1: number[] };
  /** Local worker processes (default 1; 0 = in this process). Ignored with `redis`. */
  workers?: number;
  /** redis://HOST:PORT: enqueue on BullMQ and wait for `rewardlens worker` processes. */
  redis?: string;
  connectTimeoutMs?: number;
  pollMs?: number;
  signal?: AbortSignal;
  /** Progress: jobs done of total, and the running job's step. */
  onProgress?: (p: SweepProgress) => void;
}

export interface SweepProgress {
  done: number;
  total: number;
  /** The job whose step was reported last. */
  job?: SweepJob;
  step?: number;
  steps?: number;
}

export interface SweepOutcome {
  plan: SweepPlan;
  /** Jobs found finished before this run. */
  skipped: number;
  /** Jobs finished by this run. */
  ran: number;
  failures: JobFailure[];
  results: SweepResult[];
}

export async function runSweep(opts: SweepOptions): Promise<SweepOutcome> {
  const plan = await planSweep({ activations: opts.activations, out: opts.out, grid: opts.grid });
  // An unreachable Redis is reported before anything is written.
  if (opts.redis) await checkRedis(opts.redis, opts.connectTimeoutMs);
  mkdirSync(plan.out, { recursive: true });
  writeSweepFile(plan, { mode: opts.redis ? 'distributed' : 'local' });
  const table = new SweepResultsTable(plan.out);
  let skipped = 0;
  const todo: SweepJob[] = [];
  for (const job of plan.jobs) {
    const done = readFinishedJob(job.folder);
    if (done) {
      skipped++;
      if (!table.has(job.id)) table.add({ ...done, folder: job.folder });
    } else {
      todo.push(job);
    }
  }
  table.write();
  const total = plan.jobs.length;
  let done = skipped;
  let ran = 0;
  opts.onProgress?.({ done, total });
  const events: JobEvents = {
    onStart: (job) => opts.onProgress?.({ done, total, job, step: 0 }),
    onStep: (job, step, steps) => opts.onProgress?.({ done, total, job, step, steps }),
    onResult: (job, result) => {
      done++;
      ran++;
      table.add({ ...result, folder: job.folder });
      opts.onProgress?.({ done, total });
    },
    onError: () => {
      opts.onProgress?.({ done, total });
    },
  };
  let failures: JobFailure[] = [];
  if (todo.length) {
    failures = opts.redis
      ? await submitAndWait(todo, events, { redis: opts.redis, queue: plan.queue, connectTimeoutMs: opts.connectTimeoutMs, pollMs: opts.pollMs, signal: opts.signal })
      : await runJobsLocally(todo, events, { workers: opts.workers, signal: opts.signal });
  }
  const ids = new Set(plan.jobs.map((j) => j.id));
  return { plan, skipped, ran, failures, results: table.rows().filter((r) => ids.has(r.id)) };
}
