// `rewardlens bench sweep`: one JSON line per case.
// - sweep_12: a 12-job sweep (d 128, sizes 256/512/1024 × 4 L1 values, 100k synthetic vectors,
//   local mode, one worker process): wall time and per-job time, against a single
//   `rewardlens sae train` of one of its jobs (a fresh process, as a user would run it).
// - queue_overhead: the same jobs of ≥ 10 s each run locally and through BullMQ (one
//   `rewardlens worker` process, started before the submission, on a redis-server this bench
//   starts on a free loopback port unless --redis is given): the queue's extra wall time.
// The CPU is shared with whatever else runs on the machine; both sides of a comparison run back to back.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSafetensors } from '../io/safetensors.js';
import { packageRoot } from '../native.js';
import { syntheticSparseData } from '../sae/synthetic.js';
import { checkRedis } from '../sweep/distributed.js';
import { parseL1Grid } from '../sweep/grid.js';
import { runSweep } from '../sweep/run.js';

export const SWEEP_BENCH_CASES = ['sweep_12', 'queue_overhead'] as const;
export type SweepBenchCase = (typeof SWEEP_BENCH_CASES)[number];

export const SWEEP_BENCH_DEFAULTS = Object.freeze({
  d: 128,
  rows: 100_000,
  sizes: [256, 512, 1024],
  l1: '1e-4:1e-2:4',
  epochs: 3,
  /** queue_overhead: jobs of n 1024 for this many epochs (about 10 s each on 2 cores). */
  overheadJobs: 3,
  overheadEpochs: 5,
});

const bin = join(packageRoot, 'bin', 'rewardlens.js');

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolvePort(port));
    });
    s.on('error', reject);
  });
}

async function startRedis(): Promise<{ url: string; stop: () => void }> {
  const port = await freePort();
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await checkRedis(url, 300, () => {});
      break;
    } catch (err) {
      if (i > 50) {
        p.kill('SIGKILL');
        throw err;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { url, stop: () => p.kill('SIGKILL') };
}

export async function benchSweep(opts: { cases?: string[]; redis?: string; write?: (line: string) => void } = {}): Promise<Record<string, unknown>[]> {
  const write = opts.write ?? ((l: string) => process.stdout.write(l + '\n'));
  const cases = (opts.cases ?? SWEEP_BENCH_CASES) as SweepBenchCase[];
  const B = SWEEP_BENCH_DEFAULTS;
  const dir = mkdtempSync(join(tmpdir(), 'rewardlens-bench-sweep-'));
  const lines: Record<string, unknown>[] = [];
  const emit = (o: Record<string, unknown>) => {
    lines.push(o);
    write(JSON.stringify(o));
  };
  try {
    const acts = join(dir, 'activations.safetensors');
    const set = syntheticSparseData({ d: B.d, features: 4 * B.d, rows: B.rows, activePerRow: 8, seed: 1 });
    writeSafetensors(acts, { activations: { dtype: 'F32', shape: [B.rows, B.d], data: set.data } });
    const l1 = parseL1Grid(B.l1);

    if (cases.includes('sweep_12')) {
      const t0 = performance.now();
      const outcome = await runSweep({ activations: acts, out: join(dir, 'sweep12'), grid: { sizes: B.sizes, l1, epochs: B.epochs }, workers: 1 });
      const wall = (performance.now() - t0) / 1000;
      const pick = outcome.results.find((r) => r.size === 512 && r.l1 === l1[1])!;
      const s0 = performance.now();
      const single = spawnSync(process.execPath, [bin, 'sae', 'train', '--activations', acts, '--dict-size', '512', '--l1', String(pick.l1), '--epochs', String(B.epochs), '--quiet', '--out', join(dir, 'single')], { encoding: 'utf8' });
      const singleWall = (performance.now() - s0) / 1000;
      if (single.status !== 0) throw new Error(`bench sweep: sae train failed: ${single.stderr}`);
      const perSize = Object.fromEntries(B.sizes.map((n) => {
        const rs = outcome.results.filter((r) => r.size === n);
        return [`n${n}`, rs.reduce((a, r) => a + r.seconds, 0) / rs.length];
      }));
      emit({
        case: 'sweep_12', shape: { d: B.d, rows: B.rows, sizes: B.sizes, l1, epochs: B.epochs, batch: 32 }, jobs: outcome.plan.jobs.length,
        wall_s: wall, per_job_s: wall / outcome.plan.jobs.length, job_s_mean_by_size: perSize,
        same_job_in_sweep_s: pick.seconds, single_sae_train_s: singleWall,
      });
    }

    if (cases.includes('queue_overhead')) {
      const grid = { sizes: [1024], l1: l1.slice(0, B.overheadJobs), epochs: B.overheadEpochs };
      const t0 = performance.now();
      const local = await runSweep({ activations: acts, out: join(dir, 'local'), grid, workers: 1 });
      const localWall = (performance.now() - t0) / 1000;
      const redis = opts.redis ? { url: opts.redis, stop: () => {} } : await startRedis();
      try {
        // A different seed: different job ids, so nothing from a previous run on this Redis is reused.
        const distGrid = { ...grid, seed: Date.now() % 1_000_000 };
        const worker = spawn(process.execPath, [bin, 'worker', '--redis', redis.url], { stdio: 'ignore' });
        try {
          await new Promise((r) => setTimeout(r, 1500)); // the worker is up and polling before the submission
          const t1 = performance.now();
          const dist = await runSweep({ activations: acts, out: join(dir, 'dist'), grid: distGrid, redis: redis.url, pollMs: 100 });
          const distWall = (performance.now() - t1) / 1000;
          const jobMean = (rs: { seconds: number }[]) => rs.reduce((a, r) => a + r.seconds, 0) / rs.length;
          emit({
            case: 'queue_overhead', shape: { d: B.d, rows: B.rows, size: 1024, epochs: B.overheadEpochs }, jobs: grid.l1.length,
            job_s_mean_local: jobMean(local.results), job_s_mean_queue: jobMean(dist.results),
            local_wall_s: localWall, queue_wall_s: distWall, overhead_pct: 100 * (distWall / localWall - 1),
          });
        } finally {
          worker.kill('SIGTERM');
        }
      } finally {
        redis.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return lines;
}
