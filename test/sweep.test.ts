// Dictionary sweeps: grid parsing; a local sweep (CLI, forked worker pool) whose every job equals a
// direct trainSae of the same config and seed, with metrics recomputed here in float64 from the
// saved weights; rerun skips; a distributed run against a real redis-server with two worker
// processes, one SIGKILLed mid-job (every job written exactly once, results equal the local run's);
// clear errors for an unreachable Redis and a missing activation file; the report's Pareto fronts,
// best L1 and MMCS checked against plain TypeScript.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSafetensors } from '../src/io/safetensors.js';
import { readSaeFolder } from '../src/sae/saelens.js';
import { syntheticSparseData } from '../src/sae/synthetic.js';
import { trainSae } from '../src/sae/train.js';
import { queueStatus } from '../src/sweep/distributed.js';
import { expandGrid, parseBoolList, parseL1Grid, parseSizes, resolveSweepGrid } from '../src/sweep/grid.js';
import { JOB_MARKER, WRITES_LOG, writeResultOnce, type SweepResult } from '../src/sweep/job.js';
import { buildSweepReport, writeSweepReport } from '../src/sweep/report.js';
import { readSweepResults } from '../src/sweep/results.js';
import { runCli } from './helpers/cli.js';

const bin = join(__dirname, '..', 'bin', 'rewardlens.js');
const D = 16;
const ROWS = 320;
const GRID = ['--dict-sizes', '16,32', '--l1', '1e-3:1e-1:2', '--tied', 'true,false', '--epochs', '2', '--batch-size', '32', '--seed', '7'];
const JOBS = 2 * 2 * 2;

let dir: string;
let acts: string;
let data: Float32Array;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rl-sweep-'));
  acts = join(dir, 'acts.safetensors');
  data = syntheticSparseData({ d: D, features: 40, rows: ROWS, activePerRow: 3, seed: 11 }).data;
  writeSafetensors(acts, { activations: { dtype: 'F32', shape: [ROWS, D], data } });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('grid', () => {
  it('parses log grids, comma lists, sizes and tied lists', () => {
    const g = parseL1Grid('1e-4:1e-2:5');
    const want = [0, 1, 2, 3, 4].map((i) => 1e-4 * Math.pow(100, i / 4));
    expect(g).toHaveLength(5);
    g.forEach((v, i) => expect(Math.abs(v - want[i]) / want[i]).toBeLessThan(1e-5));
    expect(g[0]).toBe(1e-4);
    expect(g[2]).toBe(1e-3);
    expect(g[4]).toBe(1e-2);
    expect(parseL1Grid('0.001, 0.01,0')).toEqual([0.001, 0.01, 0]);
    expect(parseSizes('512,1024,2048')).toEqual([512, 1024, 2048]);
    expect(parseBoolList('true,false')).toEqual([true, false]);
    const jobs = expandGrid(resolveSweepGrid({ sizes: [8, 4], l1: [0.1, 0.2, 0.3], tied: [true, false] }));
    expect(jobs).toHaveLength(12);
    expect(jobs.map((j) => `${j.dSae}/${j.tied}/${j.l1Coefficient}`).slice(0, 4)).toEqual(['8/true/0.1', '8/true/0.2', '8/true/0.3', '8/false/0.1']);
  });

  it('rejects bad grids with the flag and the value', () => {
    expect(() => parseL1Grid('1e-3:1')).toThrow(/start:end:count.*--l1.*"1e-3:1"/);
    expect(() => parseL1Grid('0:1e-2:3')).toThrow(/> 0.*--l1/);
    expect(() => parseL1Grid('1e-3,abc')).toThrow(/--l1 entry 2.*"abc"/);
    expect(() => parseSizes('16,x')).toThrow(/--dict-sizes entry 2.*"x"/);
    expect(() => parseSizes('16,16')).toThrow(/distinct/);
    expect(() => parseSizes('0')).toThrow(/between 1/);
    expect(() => parseBoolList('yes')).toThrow(/true or false.*--tied entry 1/);
  });
});

/** Plain float64 forward over the saved SAELens weights: mse, nmse, l0, dead. */
function referenceMetrics(folder: string) {
  const { weights: w, config } = readSaeFolder(folder);
  const n = config.dSae;
  let sq = 0;
  let norm = 0;
  let active = 0;
  const fired = new Uint8Array(n);
  const c = new Float64Array(n);
  for (let r = 0; r < ROWS; r++) {
    for (let f = 0; f < n; f++) {
      let s = w.b_enc[f];
      for (let k = 0; k < D; k++) s += (data[r * D + k] - (config.applyBDecToInput ? w.b_dec[k] : 0)) * w.W_enc[k * n + f];
      c[f] = s > 0 ? s : 0;
      if (s > 0) {
        active++;
        fired[f] = 1;
      }
    }
    for (let k = 0; k < D; k++) {
      let x = w.b_dec[k];
      for (let f = 0; f < n; f++) x += c[f] * w.W_dec[f * D + k];
      const e = x - data[r * D + k];
      sq += e * e;
      norm += data[r * D + k] ** 2;
    }
  }
  return { mse: sq / (ROWS * D), nmse: sq / norm, l0: active / ROWS, dead: fired.reduce((a, v) => a + (v ? 0 : 1), 0) };
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function writesLog(sweepDir: string): { id: string; writer: string; outcome: string }[] {
  return readFileSync(join(sweepDir, 'saes', WRITES_LOG), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

describe('local sweep', () => {
  let out: string;
  beforeAll(() => {
    out = join(dir, 'local');
  });

  it('runs every combination once; each equals a direct trainSae of the same config and seed', async () => {
    const r = runCli(['sweep', '--activations', acts, ...GRID, '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ jobs: JOBS, skipped: 0, ran: JOBS, failed: 0 });
    const rows = readSweepResults(out);
    expect(rows).toHaveLength(JOBS);
    expect(new Set(rows.map((x) => `${x.size}/${x.l1}/${x.tied}`)).size).toBe(JOBS);
    const csv = readFileSync(join(out, 'sweep.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('id,size,l1,tied,mse,nmse,l0,dead,seconds,folder');
    expect(csv).toHaveLength(JOBS + 1);
    for (const row of rows) {
      const folder = join(out, row.folder);
      const { sae } = await trainSae(data, { dIn: D, dSae: row.size, l1Coefficient: row.l1, tied: row.tied, seed: 7 }, { epochs: 2, batchSize: 32 });
      const direct = sae.weights();
      sae.dispose();
      const saved = readSaeFolder(folder).weights;
      for (const k of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) expect(sameBits(direct[k], saved[k]), `${row.folder} ${k}`).toBe(true);
      const ref = referenceMetrics(folder);
      expect(Math.abs(row.mse - ref.mse) / ref.mse).toBeLessThan(1e-4);
      expect(Math.abs(row.nmse - ref.nmse) / ref.nmse).toBeLessThan(1e-4);
      expect(Math.abs(row.l0 - ref.l0)).toBeLessThan(0.02);
      expect(row.dead).toBe(ref.dead);
      expect(row.steps).toBe(2 * Math.ceil(ROWS / 32));
      expect(existsSync(join(folder, JOB_MARKER))).toBe(true);
    }
    const log = writesLog(out);
    expect(log.filter((l) => l.outcome === 'written')).toHaveLength(JOBS);
  });

  it('skips finished jobs on a rerun and leaves their folders untouched', () => {
    const folders = readdirSync(join(out, 'saes')).filter((f) => f.startsWith('n'));
    const before = folders.map((f) => statSync(join(out, 'saes', f, 'sae_weights.safetensors')).mtimeMs);
    const r = runCli(['sweep', '--activations', acts, ...GRID, '--out', out]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ jobs: JOBS, skipped: JOBS, ran: 0 });
    expect(folders.map((f) => statSync(join(out, 'saes', f, 'sae_weights.safetensors')).mtimeMs)).toEqual(before);
    expect(writesLog(out)).toHaveLength(JOBS);
    expect(readSweepResults(out)).toHaveLength(JOBS);
  });

  it('keeps the first folder when two writers race for the same job', async () => {
    const folder = join(dir, 'race', 'saes', 'job');
    const make = (writer: string): SweepResult => ({ id: 'job', writer } as unknown as SweepResult);
    const fill = (tag: string) => async (d: string) => {
      const { mkdirSync, writeFileSync } = await import('node:fs');
      mkdirSync(d, { recursive: true });
      await new Promise((res) => setTimeout(res, 20));
      writeFileSync(join(d, 'payload'), tag);
    };
    const [a, b] = await Promise.all([writeResultOnce(folder, make('a'), fill('a')), writeResultOnce(folder, make('b'), fill('b'))]);
    expect(a.writer).toBe(b.writer);
    expect(readFileSync(join(folder, 'payload'), 'utf8')).toBe(a.writer);
    const log = writesLog(join(dir, 'race'));
    expect(log.map((l) => l.outcome).sort()).toEqual(['kept-existing', 'written']);
    expect(readdirSync(join(dir, 'race', 'saes')).sort()).toEqual(['job', WRITES_LOG]);
  });

  it('reports Pareto fronts, the best L1 per size and MMCS between neighbouring sizes', async () => {
    const { report, files } = await writeSweepReport(out);
    const rows = readSweepResults(out);
    for (const size of [16, 32]) {
      const runs = rows.filter((x) => x.size === size);
      // Non-dominated points by brute force.
      const front = runs.filter((p) => !runs.some((q) => q !== p && q.l0 <= p.l0 && q.nmse <= p.nmse && (q.l0 < p.l0 || q.nmse < p.nmse)));
      const s = report.sizes.find((x) => x.size === size)!;
      expect(s.front.map((p) => p.id).sort()).toEqual(front.map((p) => p.id).sort());
      const best = front.reduce((a, b) => (b.nmse + b.l0 / D < a.nmse + a.l0 / D ? b : a));
      expect(s.best.id).toBe(best.id);
    }
    // MMCS(16 → 32) of the best dictionaries, in float64 here.
    const A = readSaeFolder(join(out, report.best[0].folder)).weights.W_dec;
    const B = readSaeFolder(join(out, report.best[1].folder)).weights.W_dec;
    const cos = (i: number, j: number) => {
      let dot = 0, na = 0, nb = 0;
      for (let k = 0; k < D; k++) {
        dot += A[i * D + k] * B[j * D + k];
        na += A[i * D + k] ** 2;
        nb += B[j * D + k] ** 2;
      }
      return dot / Math.sqrt(na * nb);
    };
    let fwd = 0;
    for (let i = 0; i < 16; i++) fwd += Math.max(...Array.from({ length: 32 }, (_, j) => cos(i, j)));
    let rev = 0;
    for (let j = 0; j < 32; j++) rev += Math.max(...Array.from({ length: 16 }, (_, i) => cos(i, j)));
    expect(report.neighbours).toHaveLength(1);
    expect(report.neighbours[0].mmcs).toBeCloseTo(fwd / 16, 5);
    expect(report.neighbours[0].mmcsReverse).toBeCloseTo(rev / 32, 5);
    expect(readFileSync(files.md, 'utf8')).toContain('## Best L1 per size');
    expect(JSON.parse(readFileSync(files.json, 'utf8')).best).toHaveLength(2);
    for (const f of files.figures.filter((x) => x.endsWith('.png'))) expect(readFileSync(f).subarray(1, 4).toString()).toBe('PNG');
    await expect(buildSweepReport(join(dir, 'nothing'))).rejects.toThrow(/sweep\.jsonl: no finished jobs/);
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function waitFor<T>(what: string, fn: () => Promise<T | null> | T | null, timeoutMs = 20_000): Promise<T> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = async () => {
      try {
        const v = await fn();
        if (v !== null && v !== undefined && v !== false) return resolve(v);
      } catch {
        // not yet
      }
      if (Date.now() - t0 > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 100);
    };
    void tick();
  });
}

function exited(p: ChildProcess): Promise<number | null> {
  return p.exitCode !== null ? Promise.resolve(p.exitCode) : new Promise((resolve) => p.once('exit', (code) => resolve(code)));
}

describe('distributed sweep (redis-server, BullMQ)', () => {
  let redis: ChildProcess;
  let url: string;
  const procs: ChildProcess[] = [];

  beforeAll(async () => {
    const port = await freePort();
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
    url = `redis://127.0.0.1:${port}`;
    await waitFor('redis-server', async () => (await queueStatus(url, 'probe', 300)) && true);
  });

  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    redis?.kill('SIGKILL');
    if (redis) await exited(redis);
  });

  it('completes every job exactly once when a worker is killed mid-job, with the local results', async () => {
    const out = join(dir, 'dist');
    const workerArgs = ['worker', '--redis', url, '--exit-when-idle', '--lock-duration', '1500', '--stalled-interval', '500'];
    const submit = spawn(process.execPath, [bin, 'sweep', '--activations', acts, ...GRID, '--out', out, '--redis', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(submit);
    let submitOut = '';
    submit.stdout!.on('data', (b) => (submitOut += b));
    submit.stderr!.on('data', (b) => (submitOut += b));
    const queue = await waitFor('sweep.json', () => (existsSync(join(out, 'sweep.json')) ? (JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')).queue as string) : null));
    await waitFor('jobs queued', async () => ((await queueStatus(url, queue, 500)).waiting === JOBS ? true : null));

    // Worker A: every job slowed down (test hook), so it is killed inside its first job.
    const a = spawn(process.execPath, [bin, ...workerArgs], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REWARDLENS_SWEEP_STEP_DELAY_MS: '200' } });
    procs.push(a);
    let aLog = '';
    a.stderr!.on('data', (b) => (aLog += b));
    const killedId = await waitFor('worker A to start a job', () => /start (\w+)/.exec(aLog)?.[1] ?? null);
    const b = spawn(process.execPath, [bin, ...workerArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(b);
    let bLog = '';
    b.stderr!.on('data', (x) => (bLog += x));
    await new Promise((r) => setTimeout(r, 400));
    a.kill('SIGKILL');
    await exited(a);
    expect(aLog).not.toMatch(/done/);

    expect(await exited(submit)).toBe(0);
    expect(JSON.parse(submitOut.trim().split('\n').pop()!)).toMatchObject({ jobs: JOBS, ran: JOBS, failed: 0 });
    expect(await exited(b)).toBe(0);
    expect(bLog).toContain(`start ${killedId}`);

    const log = writesLog(out);
    const written = log.filter((l) => l.outcome === 'written');
    expect(written).toHaveLength(JOBS);
    expect(new Set(written.map((l) => l.id)).size).toBe(JOBS);
    expect(written.find((l) => l.id === killedId)!.writer).toMatch(new RegExp(`:${b.pid}$`));
    expect(readdirSync(join(out, 'saes')).filter((f) => f.startsWith('.'))).toEqual([]);

    // Same seeds, same activations → the same job ids, metrics and weights as the local run.
    const local = new Map(readSweepResults(join(dir, 'local')).map((x) => [x.id, x]));
    const rows = readSweepResults(out);
    expect(rows).toHaveLength(JOBS);
    for (const row of rows) {
      const l = local.get(row.id)!;
      expect(l, row.id).toBeDefined();
      expect([row.mse, row.nmse, row.l0, row.dead]).toEqual([l.mse, l.nmse, l.l0, l.dead]);
      const wd = readSaeFolder(join(out, row.folder)).weights;
      const wl = readSaeFolder(join(dir, 'local', l.folder)).weights;
      expect(sameBits(wd.W_dec, wl.W_dec) && sameBits(wd.W_enc, wl.W_enc)).toBe(true);
    }

    const status = runCli(['sweep', '--redis', url, '--status', '--out', out]);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ queue, waiting: 0, active: 0, completed: JOBS, failed: 0 });

    // A rerun of the submitter finds everything finished.
    const again = runCli(['sweep', '--activations', acts, ...GRID, '--out', out, '--redis', url]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ skipped: JOBS, ran: 0 });
  });

  it('names an unreachable Redis and a missing activation file, and writes nothing', async () => {
    const closed = await freePort();
    const out = join(dir, 'bad');
    const r = runCli(['sweep', '--activations', acts, ...GRID, '--out', out, '--redis', `redis://127.0.0.1:${closed}`, '--connect-timeout', '500']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot use Redis at redis://127.0.0.1:${closed}`);
    expect(r.stderr).toMatch(/ECONNREFUSED/);
    expect(existsSync(out)).toBe(false);
    const w = runCli(['worker', '--redis', `redis://127.0.0.1:${closed}`, '--connect-timeout', '500']);
    expect(w.code).toBe(1);
    expect(w.stderr).toContain(`cannot use Redis at redis://127.0.0.1:${closed}`);
    const missing = join(dir, 'nope.safetensors');
    const m = runCli(['sweep', '--activations', missing, ...GRID, '--out', out]);
    expect(m.code).toBe(1);
    expect(m.stderr).toContain(`${missing}: not found`);
    expect(existsSync(out)).toBe(false);
    const u = spawnSync(process.execPath, [bin, 'sweep', '--activations', acts, ...GRID, '--out', out, '--redis', 'http://x'], { encoding: 'utf8' });
    expect(u.stderr).toMatch(/redis:\/\/ or rediss:\/\/ URL for --redis/);
  });
});
