// Loads the native addon once, with one clear message listing what was tried when it fails.
// Each op family declares its part of the binding's interface beside its TypeScript wrapper
// (src/sae/native.ts, ...); this file holds only the loader and the runtime functions.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Runtime functions every build has. */
export interface RuntimeBinding {
  version(): string;
  gemmBackend(): 'openblas' | 'fallback';
  hasOpenblas(): boolean;
  forceFallbackGemm(on: boolean): void;
  setNumThreads(n: number): void;
  numThreads(): number;
  /** C[M,N] = alpha·op(A)·op(B) + beta·C, dense row-major. */
  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, B: Float32Array, beta: number, C: Float32Array,
  ): void;
}

const here = dirname(fileURLToPath(import.meta.url));
/** The package root: src/ or dist/ sit one level below it. */
export const packageRoot = resolve(here, '..');

let cached: unknown;

/** The raw binding. Family modules cast it to their own interface. */
export function addon<T = RuntimeBinding>(): T {
  if (cached) return cached as T;
  // Idle OpenMP threads spin by default and steal the cores OpenBLAS's threads need right after;
  // libgomp reads this once, when the addon loads it.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  const require = createRequire(import.meta.url);
  const candidates = [
    process.env.REWARDLENS_ADDON,
    join(packageRoot, 'build', 'Release', 'rewardlens.node'),
    join(packageRoot, 'build', 'Debug', 'rewardlens.node'),
  ].filter((p): p is string => typeof p === 'string' && p.length > 0);
  const failures: string[] = [];
  for (const path of candidates) {
    if (!existsSync(path)) {
      failures.push(`${path}: not found`);
      continue;
    }
    try {
      cached = require(path);
      return cached as T;
    } catch (err) {
      failures.push(`${path}: ${(err as Error).message}`);
    }
  }
  throw new Error(
    `rewardlens: the native addon could not be loaded. Tried:\n  ${failures.join('\n  ')}\n` +
      'Build it with `npm run build:native` (needs cmake >= 3.15 or node-gyp, and a C++17 compiler).',
  );
}

export function runtime(): RuntimeBinding {
  return addon<RuntimeBinding>();
}
