// Runs a PyTorch peer script from bench/ at its best CPU settings (../shared/STACK.md): threads = cores,
// OMP_WAIT_POLICY=PASSIVE (idle OpenMP threads otherwise spin against OpenBLAS's), and glibc malloc
// tunables that keep large tensors from faulting their pages in on every step.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../native.js';

export interface PeerCase { case: string; shape: Record<string, number>; repeats: number }
export interface PeerResult { case: string; shape: Record<string, number>; peer: string; peer_ms: number; torch_version?: string; threads?: number }

function pythonCandidates(): string[] {
  const list = [process.env.REWARDLENS_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => !!p);
  return [...new Set(list)];
}

/** The first python that imports torch, or null with the reason. */
export function findTorchPython(): { python: string | null; reason: string } {
  const reasons: string[] = [];
  for (const py of pythonCandidates()) {
    if (py.startsWith('/') && !existsSync(py)) continue;
    const r = spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { python: py, reason: `torch ${r.stdout.trim()}` };
    reasons.push(`${py}: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
  }
  return { python: null, reason: reasons.join('; ') || 'no python3 found' };
}

export function peerEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    OMP_WAIT_POLICY: 'PASSIVE',
    GLIBC_TUNABLES: 'glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184',
  };
}

/** Run bench/<script> with the cases; returns one result per case, or null when torch is missing. */
export function runPeer(script: string, cases: PeerCase[], python: string): PeerResult[] {
  const path = join(packageRoot, 'bench', script);
  const r = spawnSync(python, [path, JSON.stringify(cases), String(cpus().length)], {
    encoding: 'utf8', env: peerEnv(), maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`peer ${script} failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as PeerResult);
}

/** Median of `repeats` timed runs after `warmup` untimed ones, in milliseconds. */
export async function medianMs(fn: () => unknown, repeats: number, warmup = 2): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const m = times.length >> 1;
  return times.length % 2 ? times[m] : (times[m - 1] + times[m]) / 2;
}
