// Stage bookkeeping of a run folder: a stage is done when its marker `.stages/<name>.json` records
// the hash of its inputs (its settings, the identity of the files it reads, and the hashes of the
// stages it depends on) together with its result. A rerun with the same hash skips the stage and
// reuses the recorded result; a changed input redoes it and, through the hash chain, every stage
// downstream. A failing stage leaves the earlier stages' outputs and markers alone and is reported
// by name.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../io/atomic.js';

export interface StageMarker<R = unknown> {
  name: string;
  hash: string;
  finishedAt: string;
  seconds: number;
  result: R;
}

export interface StageRecord {
  name: string;
  status: 'done' | 'cached' | 'skipped' | 'failed';
  seconds: number | null;
  error?: string;
}

/** An error that names the stage it came from; earlier stages' outputs are kept. */
export class StageError extends Error {
  constructor(readonly stage: string, override readonly cause: unknown) {
    super(`stage "${stage}" failed: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'StageError';
  }
}

/** sha256 of a JSON-serialisable value with sorted keys. */
export function hashOf(value: unknown): string {
  const canon = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(canon);
    if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])]));
    return v;
  };
  return createHash('sha256').update(JSON.stringify(canon(value))).digest('hex');
}

/**
 * The identity of a model or data spec: for a local file or folder its files' names, sizes and
 * modification times (so an edited checkpoint changes the hash); for a hub id the string itself.
 */
export function fingerprint(spec: string | null): unknown {
  if (spec === null) return null;
  if (!existsSync(spec)) return spec;
  const st = statSync(spec);
  if (st.isFile()) return { spec, size: st.size, mtime: st.mtimeMs };
  const files: [string, number, number][] = [];
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p, `${rel}${e.name}/`);
      else {
        const s = statSync(p);
        files.push([`${rel}${e.name}`, s.size, s.mtimeMs]);
      }
    }
  };
  walk(spec, '');
  return { spec, files };
}

export class StageRunner {
  readonly records: StageRecord[] = [];
  private readonly hashes = new Map<string, string>();

  constructor(readonly runDir: string, private readonly opts: { force?: boolean; onMessage?: (m: string) => void } = {}) {}

  private markerPath(name: string): string {
    return join(this.runDir, '.stages', `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  }

  /** The hash a finished stage was recorded with (for dependants). */
  hash(name: string): string {
    const h = this.hashes.get(name);
    if (!h) throw new Error(`internal: stage "${name}" has not run`);
    return h;
  }

  /**
   * Run `fn` unless a marker with the same input hash exists (then return its recorded result).
   * `inputs` must capture everything the stage's output depends on; `deps` are stage names whose
   * hashes join it. `outputs` are paths that must still exist for a cached result to count.
   */
  async run<R>(name: string, inputs: unknown, deps: string[], outputs: string[], fn: () => Promise<R>): Promise<R> {
    const hash = hashOf({ name, inputs, deps: deps.map((d) => [d, this.hash(d)]) });
    const path = this.markerPath(name);
    if (!this.opts.force && existsSync(path)) {
      try {
        const m = JSON.parse(readFileSync(path, 'utf8')) as StageMarker<R>;
        if (m.hash === hash && outputs.every((o) => existsSync(o))) {
          this.hashes.set(name, hash);
          this.records.push({ name, status: 'cached', seconds: m.seconds });
          this.opts.onMessage?.(`${name}: done before (cached)`);
          return m.result;
        }
      } catch {
        // an unreadable marker: redo the stage
      }
    }
    const t0 = performance.now();
    this.opts.onMessage?.(`${name}: running`);
    let result: R;
    try {
      result = await fn();
    } catch (err) {
      const seconds = (performance.now() - t0) / 1000;
      this.records.push({ name, status: 'failed', seconds, error: (err as Error)?.message ?? String(err) });
      throw new StageError(name, err);
    }
    const seconds = (performance.now() - t0) / 1000;
    const marker: StageMarker<R> = { name, hash, finishedAt: new Date().toISOString(), seconds, result };
    writeJsonAtomic(path, marker);
    this.hashes.set(name, hash);
    this.records.push({ name, status: 'done', seconds });
    this.opts.onMessage?.(`${name}: done in ${seconds.toFixed(1)} s`);
    return result;
  }

  /**
   * Called from inside a running stage: whether a marker from a run with other inputs exists, so the
   * stage's old outputs should go (without a marker, outputs are from an interrupted run: resume).
   */
  stale(name: string): boolean {
    return existsSync(this.markerPath(name));
  }

  /** Record a stage that the config leaves out. */
  skip(name: string): void {
    this.hashes.set(name, 'skipped');
    this.records.push({ name, status: 'skipped', seconds: null });
  }
}
