// Local mode: a pool of child processes (child_process.fork of dist/sweep/local-worker.js), each
// running runSweepJob on the jobs it is handed, one at a time. workers: 0 runs the jobs in this
// process instead (what a library caller or a test may want).
//
// Pool size: every native SAE step already uses all CPU cores, so on a CPU machine one worker is
// the right default (two would only contend for the same cores). On a machine with GPUs the pool
// would run one worker per GPU, each pinned to its device (CUDA_VISIBLE_DEVICES=i in the child's
// environment); rewardlens has no GPU backend for the SAE yet, so that is not wired up here.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../native.js';
import { checkInt } from '../validate.js';
import { runSweepJob, type SweepJob, type SweepResult } from './job.js';

export const LOCAL_SWEEP_DEFAULTS = Object.freeze({
  /** One worker process: each native step already uses every core (see the comment above). */
  workers: 1,
});

export interface JobEvents {
  onStart?: (job: SweepJob) => void;
  onStep?: (job: SweepJob, step: number, total: number) => void;
  onResult: (job: SweepJob, result: SweepResult) => void;
  onError?: (job: SweepJob, message: string) => void;
}

export interface LocalRunOptions {
  /** Worker processes (default 1); 0 runs the jobs in this process. */
  workers?: number;
  /** Stops handing out jobs and ends the running ones (their folders are not written). */
  signal?: AbortSignal;
}

export interface JobFailure { id: string; message: string }

/** The compiled child entry point. */
export const LOCAL_WORKER_SCRIPT = join(packageRoot, 'dist', 'sweep', 'local-worker.js');

/** Messages between the pool and its children. */
export type ToChild = { type: 'run'; job: SweepJob };
export type FromChild =
  | { type: 'step'; id: string; step: number; total: number }
  | { type: 'done'; id: string; result: SweepResult }
  | { type: 'error'; id: string; message: string };

/** Runs `jobs`, reporting through `events`; resolves with the failures (a failed job does not stop the others). */
export async function runJobsLocally(jobs: readonly SweepJob[], events: JobEvents, opts: LocalRunOptions = {}): Promise<JobFailure[]> {
  const workers = checkInt(opts.workers ?? LOCAL_SWEEP_DEFAULTS.workers, 'workers', 0, 1024);
  opts.signal?.throwIfAborted();
  return workers === 0 ? runInProcess(jobs, events, opts.signal) : runInPool(jobs, events, Math.min(workers, Math.max(1, jobs.length)), opts.signal);
}

async function runInProcess(jobs: readonly SweepJob[], events: JobEvents, signal?: AbortSignal): Promise<JobFailure[]> {
  const failures: JobFailure[] = [];
  for (const job of jobs) {
    signal?.throwIfAborted();
    events.onStart?.(job);
    let last = 0;
    try {
      const result = await runSweepJob(job, {
        signal,
        onStep: (step, total) => {
          const now = Date.now();
          if (now - last > 100 || step === total) {
            last = now;
            events.onStep?.(job, step, total);
          }
        },
      });
      events.onResult(job, result);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      const message = (err as Error)?.message ?? String(err);
      failures.push({ id: job.id, message });
      events.onError?.(job, message);
    }
  }
  return failures;
}

async function runInPool(jobs: readonly SweepJob[], events: JobEvents, workers: number, signal?: AbortSignal): Promise<JobFailure[]> {
  if (!existsSync(LOCAL_WORKER_SCRIPT)) {
    throw new Error(`the compiled sweep worker ${LOCAL_WORKER_SCRIPT} is missing; run \`npm run build:ts\` (or use --workers 0, in the library workers: 0, to run the jobs in this process)`);
  }
  const queue = [...jobs];
  const failures: JobFailure[] = [];
  const children = new Set<ChildProcess>();
  const onAbort = () => {
    for (const c of children) c.kill('SIGTERM');
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const runChild = () => new Promise<void>((resolveChild, rejectChild) => {
    const child = fork(LOCAL_WORKER_SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.add(child);
    let current: SweepJob | null = null;
    const next = () => {
      current = signal?.aborted ? null : queue.shift() ?? null;
      if (!current) {
        child.disconnect();
        return;
      }
      events.onStart?.(current);
      child.send({ type: 'run', job: current } satisfies ToChild);
    };
    child.on('message', (raw) => {
      const msg = raw as FromChild;
      if (!current || msg.id !== current.id) return;
      if (msg.type === 'step') {
        events.onStep?.(current, msg.step, msg.total);
      } else if (msg.type === 'done') {
        events.onResult(current, msg.result);
        next();
      } else {
        failures.push({ id: current.id, message: msg.message });
        events.onError?.(current, msg.message);
        next();
      }
    });
    child.on('error', (err) => {
      children.delete(child);
      rejectChild(err);
    });
    child.on('exit', (code, sig) => {
      children.delete(child);
      if (current && !signal?.aborted) {
        const message = `worker process ${child.pid} exited (${sig ?? `code ${code}`}) during the job`;
        failures.push({ id: current.id, message });
        events.onError?.(current, message);
        current = null;
        // Carry on with the remaining jobs in a fresh child.
        if (queue.length) {
          runChild().then(resolveChild, rejectChild);
          return;
        }
      }
      resolveChild();
    });
    next();
  });
  try {
    await Promise.all(Array.from({ length: workers }, () => runChild()));
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  signal?.throwIfAborted();
  return failures;
}
