// A sweep's plan: the grid expanded into jobs with stable ids, the sweep folder's layout and its
// sweep.json (what was asked, and the queue name a distributed run uses).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FileFormatError } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { activationIdentity, checkActivationSource, resolveActivationSource } from './activations-source.js';
import { expandGrid, resolveSweepGrid, type SweepGrid } from './grid.js';
import { jobFolderName, sweepId, sweepJobId, type SweepJob } from './job.js';

export const SWEEP_FILE = 'sweep.json';
export const RESULTS_JSONL = 'sweep.jsonl';
export const RESULTS_CSV = 'sweep.csv';
/** Result folders live in <out>/saes/<jobFolderName>. */
export const SAES_DIR = 'saes';

export interface SweepPlan {
  sweepId: string;
  /** BullMQ queue name of a distributed run: rewardlens-sweep-<sweepId>. */
  queue: string;
  out: string;
  activations: string;
  activationsSha256: string;
  d: number | null;
  grid: SweepGrid;
  jobs: SweepJob[];
}

/** The queue name of a sweep. */
export function queueName(id: string): string {
  return `rewardlens-sweep-${id}`;
}

/**
 * Resolves the grid, checks and hashes the activations (a URL is fetched into the cache) and makes
 * one job per combination. Nothing is written; see writeSweepFile.
 */
export async function planSweep(opts: { activations: string; out: string; grid: Partial<SweepGrid> & { sizes: number[]; l1: number[] } }): Promise<SweepPlan> {
  const grid = resolveSweepGrid(opts.grid);
  const local = await resolveActivationSource(opts.activations);
  const { d } = checkActivationSource(local);
  const { sha256 } = await activationIdentity(local);
  const out = resolve(opts.out);
  // A URL stays a URL in the jobs (each worker fetches it); a path is made absolute.
  const activations = /^https?:\/\//i.test(opts.activations) ? opts.activations : local;
  const jobs = expandGrid(grid).map((config) => {
    const id = sweepJobId(config, sha256);
    return { id, config, activations, activationsSha256: sha256, folder: join(out, SAES_DIR, jobFolderName(config, id)) };
  });
  const sid = sweepId(jobs.map((j) => j.id));
  return { sweepId: sid, queue: queueName(sid), out, activations, activationsSha256: sha256, d, grid, jobs };
}

/** The sweep.json of a plan (written atomically). */
export function writeSweepFile(plan: SweepPlan, extra: Record<string, unknown> = {}): void {
  writeJsonAtomic(join(plan.out, SWEEP_FILE), {
    format: 'rewardlens-sweep', version: 1, sweepId: plan.sweepId, queue: plan.queue,
    activations: plan.activations, activationsSha256: plan.activationsSha256, d: plan.d,
    grid: plan.grid, jobs: plan.jobs.map((j) => j.id), ...extra,
  });
}

/** sweep.json of a sweep folder. */
export function readSweepFile(dir: string): { sweepId: string; queue: string; jobs: string[]; [key: string]: unknown } {
  const path = join(dir, SWEEP_FILE);
  if (!existsSync(path)) throw new FileFormatError(path, 'not found (expected a sweep folder written by `rewardlens sweep`)');
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new FileFormatError(path, `not valid JSON (${(err as Error).message})`);
  }
  const o = v as { sweepId?: unknown; queue?: unknown; jobs?: unknown };
  if (typeof o?.queue !== 'string' || typeof o.sweepId !== 'string' || !Array.isArray(o.jobs)) {
    throw new FileFormatError(path, 'expected fields "sweepId" (string), "queue" (string) and "jobs" (array)');
  }
  return v as { sweepId: string; queue: string; jobs: string[] };
}
