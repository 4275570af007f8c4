// One sweep job: train one dictionary (trainSae) on the sweep's activations, measure it on every
// activation row, and write its SAELens folder exactly once. The same function runs in this
// process, in a local pool's child process and in a BullMQ worker on another machine.
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { FileFormatError } from '../errors.js';
import { readActivations, type ActivationSet } from '../sae/activations-file.js';
import { saveSaeFolder } from '../sae/saelens.js';
import type { SaeMetrics, SparseAutoencoder } from '../sae/sparse-autoencoder.js';
import { trainSae } from '../sae/train.js';
import { activationIdentity, resolveActivationSource } from './activations-source.js';
import type { SweepJobConfig } from './grid.js';

/** A job as queued: its config, where its activations are and what they hash to, where it writes. */
export interface SweepJob {
  /** Stable id: a hash of the config and the activations' sha256 (jobId). */
  id: string;
  config: SweepJobConfig;
  /** A path every worker sees, or an http(s):// URL. */
  activations: string;
  /** sha256 of the activations the submitter saw; a worker that sees other bytes refuses the job. */
  activationsSha256: string;
  /** Absolute path of the job's SAELens folder. */
  folder: string;
}

/** What a finished job reports (one line of sweep.jsonl). Metrics are over every activation row. */
export interface SweepResult {
  id: string;
  /** Dictionary size n. */
  size: number;
  l1: number;
  tied: boolean;
  /** Mean squared error per element, Σ(x̂ − x)² / (rows·d). */
  mse: number;
  /** Normalised reconstruction error Σ‖x̂ − x‖² / Σ‖x‖². */
  nmse: number;
  /** Mean number of features firing per row. */
  l0: number;
  /** Features that fire on no row. */
  dead: number;
  /** Training seconds (reading, training, measuring; not writing). */
  seconds: number;
  /** Input width d. */
  d: number;
  rows: number;
  steps: number;
  /** The last training step's metrics (one batch; `dead` there uses the deadWindow rule). */
  train: SaeMetrics;
  /** The SAELens folder. */
  folder: string;
  /** host:pid of the process whose folder was kept. */
  writer: string;
  config: SweepJobConfig;
}

/** The marker that makes a result folder complete: written inside the folder before it is renamed into place. */
export const JOB_MARKER = 'sweep-job.json';
/** Beside the result folders: one line per write attempt ({id, writer, outcome}). */
export const WRITES_LOG = 'writes.jsonl';

/** Test hook: milliseconds to sleep after every training step (makes a tiny job long enough to kill). */
export const STEP_DELAY_ENV = 'REWARDLENS_SWEEP_STEP_DELAY_MS';

/** Sorted-key JSON, so that a hash does not depend on property order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The job id: 16 hex digits of sha256 over the full config and the activations' sha256. */
export function sweepJobId(config: SweepJobConfig, activationsSha256: string): string {
  return createHash('sha256').update(canonicalJson({ format: 'rewardlens-sweep-job', version: 1, config, activations: activationsSha256 })).digest('hex').slice(0, 16);
}

/** The sweep id: 12 hex digits of sha256 over its job ids (order-free). */
export function sweepId(jobIds: readonly string[]): string {
  return createHash('sha256').update([...jobIds].sort().join('\n')).digest('hex').slice(0, 12);
}

/** The folder name of a job: what it holds, then its id. */
export function jobFolderName(config: SweepJobConfig, id: string): string {
  return `n${config.dSae}-l1_${config.l1Coefficient.toExponential()}-${config.tied ? 'tied' : 'untied'}-${id}`;
}

/** The process's name in markers and logs. */
export function writerName(): string {
  return `${hostname()}:${process.pid}`;
}

/** The result of a finished job read from its folder's marker, or null when the folder is absent or incomplete. */
export function readFinishedJob(folder: string): SweepResult | null {
  const path = join(folder, JOB_MARKER);
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as SweepResult;
  } catch (err) {
    throw new FileFormatError(path, `not valid JSON (${(err as Error).message}); remove the folder to redo the job`);
  }
}

export interface RunJobOptions {
  /** After every training step: the step (1-based) and the job's total steps. */
  onStep?: (step: number, total: number, m: SaeMetrics) => void;
  /** Aborts between steps; nothing is written. */
  signal?: AbortSignal;
}

let loaded: { key: string; set: ActivationSet } | null = null;

/** The activations of a job, read once per process (the last set read is kept for the next job). */
async function jobActivations(job: SweepJob): Promise<ActivationSet> {
  const path = await resolveActivationSource(job.activations);
  const id = await activationIdentity(path);
  if (id.sha256 !== job.activationsSha256) {
    throw new FileFormatError(path, `activations differ from the ones the sweep was submitted with (sha256 ${id.sha256.slice(0, 12)}… here, ${job.activationsSha256.slice(0, 12)}… expected); every worker must see the same file`);
  }
  const key = `${path}\0${id.sha256}`;
  if (loaded?.key !== key) {
    loaded = null;
    loaded = { key, set: readActivations(path) };
  }
  return loaded.set;
}

/**
 * Runs one job: skips it when its folder is already complete (returning the recorded result),
 * otherwise trains, measures and writes the folder once (see writeResultOnce).
 */
export async function runSweepJob(job: SweepJob, opts: RunJobOptions = {}): Promise<SweepResult> {
  const done = readFinishedJob(job.folder);
  if (done) return done;
  const started = performance.now();
  const set = await jobActivations(job);
  const c = job.config;
  const validRows = set.mask ? set.mask.reduce((a, v) => a + (v ? 1 : 0), 0) : set.rows;
  const total = Math.ceil(validRows / c.batchSize) * c.epochs;
  const delay = Number(process.env[STEP_DELAY_ENV] ?? 0);
  const history: SaeMetrics[] = [];
  const { sae } = await trainSae(set.data, {
    dIn: set.d, dSae: c.dSae, l1Coefficient: c.l1Coefficient, lr: c.lr, tied: c.tied, seed: c.seed,
    normalizeDecoder: c.normalizeDecoder, applyBDecToInput: c.applyBDecToInput, init: c.init,
  }, {
    epochs: c.epochs, batchSize: c.batchSize, mask: set.mask, signal: opts.signal,
    onStep: (m) => {
      history.push(m);
      opts.onStep?.(m.step, total, m);
    },
  });
  try {
    if (delay > 0) {
      // Test hook only: spread the (already finished) steps over time, as a long job would be.
      for (let s = 0; s < history.length; s++) {
        await new Promise((r) => setTimeout(r, delay));
        opts.signal?.throwIfAborted();
      }
    }
    const evaluation = await evaluateSae(sae, set);
    const result: SweepResult = {
      id: job.id, size: c.dSae, l1: c.l1Coefficient, tied: c.tied,
      ...evaluation,
      seconds: (performance.now() - started) / 1000,
      d: set.d, rows: validRows, steps: history.length, train: history[history.length - 1],
      folder: job.folder, writer: writerName(), config: c,
    };
    return await writeResultOnce(job.folder, result, async (dir) => {
      await saveSaeFolder(dir, sae, {
        metrics: history,
        training: { activations: job.activations, rows: validRows, epochs: c.epochs, batchSize: c.batchSize, seconds: result.seconds, final: result.train, sweepJob: job.id },
      });
    });
  } finally {
    sae.dispose();
  }
}

/** mse, nmse, l0 and dead over every valid row (float64 sums over chunks of the native forward). */
export async function evaluateSae(sae: SparseAutoencoder, set: ActivationSet, chunkRows = 4096): Promise<{ mse: number; nmse: number; l0: number; dead: number }> {
  const { d, rows } = set;
  const n = sae.config.dSae;
  const fired = new Uint8Array(n);
  let sqErr = 0;
  let sqNorm = 0;
  let active = 0;
  let valid = 0;
  for (let r0 = 0; r0 < rows; r0 += chunkRows) {
    const r1 = Math.min(rows, r0 + chunkRows);
    const x = set.data.subarray(r0 * d, r1 * d);
    const { xHat, c } = await sae.forward(x);
    for (let r = 0; r < r1 - r0; r++) {
      if (set.mask && set.mask[r0 + r] === 0) continue;
      valid++;
      for (let j = 0; j < d; j++) {
        const xv = x[r * d + j];
        const e = xHat[r * d + j] - xv;
        sqErr += e * e;
        sqNorm += xv * xv;
      }
      for (let f = 0; f < n; f++) {
        if (c[r * n + f] > 0) {
          active++;
          fired[f] = 1;
        }
      }
    }
  }
  let dead = 0;
  for (let f = 0; f < n; f++) if (!fired[f]) dead++;
  return {
    mse: sqErr / (valid * d),
    nmse: sqNorm > 0 ? sqErr / sqNorm : sqErr > 0 ? Infinity : 0,
    l0: active / valid,
    dead,
  };
}

/**
 * Writes a result folder so that it appears once, complete, whoever else writes it: `fill` builds
 * it in a private staging folder, the marker (the result) goes in last, and one rename moves it into
 * place. A rename onto a folder that already exists fails (ENOTEMPTY/EEXIST); that writer keeps the
 * first folder and returns the first result. Every attempt is logged in writes.jsonl beside it.
 */
export async function writeResultOnce(folder: string, result: SweepResult, fill: (dir: string) => Promise<void>): Promise<SweepResult> {
  const parent = dirname(folder);
  mkdirSync(parent, { recursive: true });
  const existing = readFinishedJob(folder);
  if (existing) {
    logWrite(parent, result.id, 'kept-existing');
    return existing;
  }
  const staging = join(parent, `.staging-${basename(folder)}-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(staging);
  try {
    const inner = join(staging, 'sae');
    await fill(inner);
    writeFileSync(join(inner, JOB_MARKER), JSON.stringify(result, null, 2) + '\n');
    for (let attempt = 0; ; attempt++) {
      try {
        renameSync(inner, folder);
        logWrite(parent, result.id, 'written');
        return result;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        const first = readFinishedJob(folder);
        if (first) {
          logWrite(parent, result.id, 'kept-existing');
          return first;
        }
        // A folder without a marker (not written by a sweep, or copied in by hand): set it aside once.
        if (attempt > 0) throw new FileFormatError(folder, `exists without ${JOB_MARKER}; remove it to redo the job`);
        renameSync(folder, join(parent, `.incomplete-${basename(folder)}-${randomBytes(4).toString('hex')}`));
      }
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function logWrite(parent: string, id: string, outcome: 'written' | 'kept-existing'): void {
  appendFileSync(join(parent, WRITES_LOG), JSON.stringify({ id, writer: writerName(), outcome, at: new Date().toISOString() }) + '\n');
}
