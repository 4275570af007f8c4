// Distributed mode: the submitter puts a sweep's jobs on a BullMQ queue (rewardlens-sweep-<id>,
// job id = the sweep job id, so submitting twice adds nothing) and waits for their return values;
// `rewardlens worker` processes on any number of machines take the jobs and run runSweepJob.
//
// Failure handling:
// - a worker that dies mid-job loses its lock; after lockDuration the stalled-job check of a live
//   worker (every stalledInterval) moves the job back to waiting and another worker runs it. The
//   result folder is written once whatever happens (job.ts writeResultOnce).
// - Ctrl-C on the submitter only closes its connections: the jobs stay queued or running, and the
//   same command run again adds nothing new and goes on waiting for them.
// Redis: ≥ 6.2, with `maxmemory-policy noeviction` (an evicted BullMQ key corrupts the queue).
import { Queue, QueueEvents, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { invalidRange, invalidType } from '../errors.js';
import { checkInt } from '../validate.js';
import { runSweepJob, writerName, type SweepJob, type SweepResult } from './job.js';
import type { JobEvents, JobFailure } from './local.js';

/** Redis set listing the queue names of submitted sweeps (workers without --queue serve these). */
export const SWEEP_REGISTRY_KEY = 'rewardlens:sweeps';
/** The BullMQ job name of a sweep job. */
export const SWEEP_JOB_NAME = 'sae-train';

export const DISTRIBUTED_DEFAULTS: Readonly<{ connectTimeoutMs: number; lockDurationMs: number; stalledIntervalMs: number; maxStalledCount: number; concurrency: number; pollMs: number }> = Object.freeze({
  /** Give up connecting to Redis after this long (ms). */
  connectTimeoutMs: 5000,
  /** A job's lock lasts this long (ms) unless renewed (every half of it); a dead worker's job is recovered after it. */
  lockDurationMs: 30_000,
  /** How often (ms) a worker looks for jobs whose lock expired. */
  stalledIntervalMs: 15_000,
  /** A job may come back from a dead worker this many times before it is failed. */
  maxStalledCount: 3,
  /** Jobs run at once by one worker process. */
  concurrency: 1,
  /** How often (ms) the submitter asks for finished jobs, and a worker looks for sweeps. */
  pollMs: 500,
});

/** ioredis options for a redis:// or rediss:// URL (user, password, db path); BullMQ needs maxRetriesPerRequest: null. */
export function redisOptions(url: string, connectTimeoutMs = DISTRIBUTED_DEFAULTS.connectTimeoutMs): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw invalidType('a URL like redis://HOST:PORT', '--redis', url);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw invalidType('a redis:// or rediss:// URL', '--redis', url);
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw invalidRange('a database number after the host (redis://HOST:PORT/DB)', '--redis', url);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    connectTimeout: connectTimeoutMs,
    maxRetriesPerRequest: null,
  };
}

/** The same options typed for BullMQ (which creates its own ioredis clients from them). */
function bullConnection(url: string, connectTimeoutMs: number): ConnectionOptions {
  return redisOptions(url, connectTimeoutMs) as ConnectionOptions;
}

/** Where a URL points, without its password (for messages). */
export function redisLabel(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * Connects once with a short timeout and no retries, so an unreachable Redis is one clear error
 * rather than endless reconnect attempts; checks the version (≥ 6.2) and warns (once, on stderr)
 * unless maxmemory-policy is noeviction.
 */
export async function checkRedis(url: string, connectTimeoutMs = DISTRIBUTED_DEFAULTS.connectTimeoutMs, warn: (msg: string) => void = (m) => process.stderr.write(m + '\n')): Promise<{ version: string }> {
  const client = new Redis({ ...redisOptions(url, connectTimeoutMs), lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  let lastError: (Error & { code?: string }) | null = null;
  client.on('error', (err: Error) => {
    lastError = err;
  });
  const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${connectTimeoutMs} ms`)), connectTimeoutMs + 200).unref());
  try {
    await Promise.race([client.connect(), timer]);
    const info = await Promise.race([client.info('server'), timer]);
    const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '0';
    const [major, minor] = version.split('.').map(Number);
    if (major < 6 || (major === 6 && minor < 2)) throw new Error(`Redis ${version} is too old (BullMQ needs Redis ≥ 6.2)`);
    try {
      const policy = (await client.config('GET', 'maxmemory-policy')) as string[];
      if (policy[1] && policy[1] !== 'noeviction') warn(`rewardlens: Redis at ${redisLabel(url)} has maxmemory-policy ${policy[1]}; set it to noeviction, or queued jobs may be evicted`);
    } catch {
      // CONFIG may be disabled on managed Redis; nothing to check then.
    }
    return { version };
  } catch (err) {
    // ioredis reports "Connection is closed" to the caller; the socket's own error says why.
    const e = (lastError ?? err) as Error & { code?: string };
    const why = e.code === 'ETIMEDOUT' || /timed out|ETIMEDOUT/.test(e.message) ? `no answer within ${connectTimeoutMs} ms (--connect-timeout)` : e.message || e.code || String(err);
    throw new Error(`cannot use Redis at ${redisLabel(url)} (--redis): ${why}; is redis-server running there?`);
  } finally {
    client.disconnect();
  }
}

export interface SubmitOptions {
  redis: string;
  queue: string;
  connectTimeoutMs?: number;
  pollMs?: number;
  signal?: AbortSignal;
}

/**
 * Enqueues the jobs (those already on the queue are left as they are; failed ones are retried) and
 * waits until each has completed or failed, reporting through `events`. Resolves with the failures.
 * An abort stops the waiting only: the queue keeps the jobs.
 */
export async function submitAndWait(jobs: readonly SweepJob[], events: JobEvents, opts: SubmitOptions): Promise<JobFailure[]> {
  const connectTimeoutMs = opts.connectTimeoutMs ?? DISTRIBUTED_DEFAULTS.connectTimeoutMs;
  const pollMs = checkInt(opts.pollMs ?? DISTRIBUTED_DEFAULTS.pollMs, 'pollMs', 10);
  await checkRedis(opts.redis, connectTimeoutMs);
  const connection = bullConnection(opts.redis, connectTimeoutMs);
  const queue = new Queue(opts.queue, { connection });
  const queueEvents = new QueueEvents(opts.queue, { connection });
  const registry = new Redis(redisOptions(opts.redis, connectTimeoutMs));
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const pending = new Set(byId.keys());
  const started = new Set<string>();
  const failures: JobFailure[] = [];
  try {
    await registry.sadd(SWEEP_REGISTRY_KEY, opts.queue);
    for (const job of jobs) {
      const existing = await queue.getJob(job.id);
      if (existing && (await existing.getState()) === 'failed') await existing.retry('failed');
    }
    await queue.addBulk(jobs.map((job) => ({
      name: SWEEP_JOB_NAME, data: job,
      opts: { jobId: job.id, attempts: 1, removeOnComplete: false, removeOnFail: false },
    })));
    queueEvents.on('progress', ({ jobId, data }) => {
      const job = byId.get(jobId);
      const p = data as { step?: number; total?: number };
      if (!job || !pending.has(jobId) || typeof p?.step !== 'number' || typeof p.total !== 'number') return;
      if (!started.has(jobId)) {
        started.add(jobId);
        events.onStart?.(job);
      }
      events.onStep?.(job, p.step, p.total);
    });
    while (pending.size > 0) {
      opts.signal?.throwIfAborted();
      for (const id of [...pending]) {
        const j = await queue.getJob(id);
        const state = j ? await j.getState() : 'unknown';
        const job = byId.get(id)!;
        if (state === 'completed') {
          pending.delete(id);
          events.onResult(job, j!.returnvalue as SweepResult);
        } else if (state === 'failed') {
          pending.delete(id);
          const message = j?.failedReason ?? 'failed';
          failures.push({ id, message });
          events.onError?.(job, message);
        } else if (state === 'unknown') {
          // Removed from the queue by someone else: put it back.
          await queue.add(SWEEP_JOB_NAME, job, { jobId: id, attempts: 1, removeOnComplete: false, removeOnFail: false });
        }
      }
      if (pending.size > 0) await sleep(pollMs, opts.signal);
    }
    return failures;
  } finally {
    registry.disconnect();
    await Promise.allSettled([queueEvents.close(), queue.close()]);
  }
}

export interface QueueCounts { waiting: number; active: number; delayed: number; completed: number; failed: number }

/** Job counts of a sweep's queue (`rewardlens sweep --status`). */
export async function queueStatus(redis: string, queueName: string, connectTimeoutMs = DISTRIBUTED_DEFAULTS.connectTimeoutMs): Promise<QueueCounts> {
  await checkRedis(redis, connectTimeoutMs, () => {});
  const queue = new Queue(queueName, { connection: bullConnection(redis, connectTimeoutMs) });
  try {
    const c = await queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
    return { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, completed: c.completed ?? 0, failed: c.failed ?? 0 };
  } finally {
    await queue.close();
  }
}

export interface WorkerOptions {
  redis: string;
  /** Serve only this queue; otherwise every sweep in the registry, one queue at a time (newest name order is not kept: sorted). */
  queue?: string;
  concurrency?: number;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  maxStalledCount?: number;
  connectTimeoutMs?: number;
  /** Exit when no known queue has waiting, delayed or active jobs (default: keep waiting for sweeps). */
  exitWhenIdle?: boolean;
  signal?: AbortSignal;
  /** One line per event (job started, finished, failed). */
  log?: (line: string) => void;
}

/**
 * A worker: serves one sweep queue at a time, while it has waiting, delayed or active jobs (staying
 * on a queue whose last jobs run elsewhere keeps its stalled-job check alive, so a job whose worker
 * died is still recovered), then looks for the next. Resolves when aborted or, with exitWhenIdle,
 * when there is nothing left to do.
 */
export async function runWorker(opts: WorkerOptions): Promise<{ processed: number }> {
  const concurrency = checkInt(opts.concurrency ?? DISTRIBUTED_DEFAULTS.concurrency, '--concurrency', 1, 1024);
  const lockDuration = checkInt(opts.lockDurationMs ?? DISTRIBUTED_DEFAULTS.lockDurationMs, '--lock-duration', 100);
  const stalledInterval = checkInt(opts.stalledIntervalMs ?? DISTRIBUTED_DEFAULTS.stalledIntervalMs, '--stalled-interval', 100);
  const maxStalledCount = checkInt(opts.maxStalledCount ?? DISTRIBUTED_DEFAULTS.maxStalledCount, '--max-stalled', 0, 1000);
  const connectTimeoutMs = opts.connectTimeoutMs ?? DISTRIBUTED_DEFAULTS.connectTimeoutMs;
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  await checkRedis(opts.redis, connectTimeoutMs, log);
  const connection = bullConnection(opts.redis, connectTimeoutMs);
  const registry = new Redis(redisOptions(opts.redis, connectTimeoutMs));
  const me = writerName();
  let processed = 0;
  const busy = async (name: string): Promise<boolean> => {
    const q = new Queue(name, { connection });
    try {
      const c = await q.getJobCounts('waiting', 'prioritized', 'delayed', 'active');
      return (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0) + (c.active ?? 0) > 0;
    } finally {
      await q.close();
    }
  };
  const serve = async (name: string): Promise<void> => {
    log(`worker ${me}: serving ${name}`);
    const worker = new Worker<SweepJob, SweepResult>(name, async (job: Job<SweepJob, SweepResult>) => {
      log(`worker ${me}: start ${job.id} (n=${job.data.config.dSae}, l1=${job.data.config.l1Coefficient}, ${job.data.config.tied ? 'tied' : 'untied'})`);
      let last = 0;
      try {
        const result = await runSweepJob(job.data, {
          onStep: (step, total) => {
            const now = Date.now();
            if (now - last > 250 || step === total) {
              last = now;
              job.updateProgress({ step, total }).catch(() => {});
            }
          },
        });
        processed++;
        log(`worker ${me}: done ${job.id} nmse ${result.nmse.toPrecision(4)} l0 ${result.l0.toFixed(2)} (${result.seconds.toFixed(2)} s)`);
        return result;
      } catch (err) {
        log(`worker ${me}: failed ${job.id}: ${(err as Error).message}`);
        // A training error repeats on every worker: fail the job at once rather than retrying.
        throw new UnrecoverableError((err as Error).message);
      }
    }, { connection, concurrency, lockDuration, stalledInterval, maxStalledCount, autorun: true });
    worker.on('error', (err) => log(`worker ${me}: ${err.message}`));
    try {
      while (!opts.signal?.aborted && (await busy(name))) await sleep(DISTRIBUTED_DEFAULTS.pollMs * 2, opts.signal).catch(() => {});
    } finally {
      await worker.close(opts.signal?.aborted ?? false);
    }
  };
  try {
    while (!opts.signal?.aborted) {
      const names = opts.queue ? [opts.queue] : ((await registry.smembers(SWEEP_REGISTRY_KEY)) as string[]).sort();
      let served = false;
      for (const name of names) {
        if (opts.signal?.aborted) break;
        if (await busy(name)) {
          await serve(name);
          served = true;
        }
      }
      if (!served) {
        if (opts.exitWhenIdle) break;
        await sleep(DISTRIBUTED_DEFAULTS.pollMs, opts.signal).catch(() => {});
      }
    }
  } finally {
    registry.disconnect();
  }
  return { processed };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolveSleep, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolveSleep();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
