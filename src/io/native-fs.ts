// File locks and the atomic path exchange, from the native addon (native/cpu/fs.cc): the two
// file-system calls Node lacks. Locks are flock(2) locks, the kind huggingface_hub's filelock takes
// on `.locks/…/*.lock`, so rewardlens and Python processes exclude each other; the kernel drops a
// lock when its process dies, so a killed downloader never leaves one held.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { addon } from '../native.js';

interface FsBinding {
  tryLockFile(path: string): number | null;
  unlockFile(fd: number): void;
  exchangePaths(a: string, b: string): boolean;
}

const fsAddon = (): FsBinding => addon<FsBinding>();

/** Swap two existing paths in one atomic step; false where the system cannot (nothing changed). */
export function exchangePaths(a: string, b: string): boolean {
  return fsAddon().exchangePaths(a, b);
}

/** A held lock: release it once (later calls do nothing). */
export interface FileLock {
  readonly path: string;
  release(): void;
}

/** Take the lock at `path` (its folder is made) if nobody holds it, without waiting. */
export function tryLockFile(path: string): FileLock | null {
  mkdirSync(dirname(path), { recursive: true });
  const fd = fsAddon().tryLockFile(path);
  if (fd === null) return null;
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      fsAddon().unlockFile(fd);
    },
  };
}

export interface LockOptions {
  /** Give up after this long, in ms (default 10 minutes: a large blob downloading elsewhere). */
  timeoutMs?: number;
  /** How often to try again while another process holds the lock, in ms (default 200). */
  pollMs?: number;
  /** Called once when the lock is found held, before waiting (a progress line). */
  onWait?: (path: string) => void;
  signal?: AbortSignal;
}

/** Wait for the lock at `path` (polling, so the event loop never blocks), run `fn`, release it. */
export async function withFileLock<T>(path: string, fn: () => Promise<T> | T, options: LockOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 600_000;
  const pollMs = options.pollMs ?? 200;
  const deadline = Date.now() + timeoutMs;
  let lock = tryLockFile(path);
  if (!lock) options.onWait?.(path);
  while (!lock) {
    options.signal?.throwIfAborted();
    if (Date.now() >= deadline) {
      throw new Error(`${path}: another process has held this lock for over ${Math.round(timeoutMs / 1000)} s; if no download is running, the lock is stale only if that process hangs (locks die with their process)`);
    }
    await sleep(pollMs);
    lock = tryLockFile(path);
  }
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
