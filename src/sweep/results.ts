// sweep.jsonl and sweep.csv: one row per finished job, rewritten atomically after every result so
// they always list each job once (a rerun or a late duplicate replaces, never appends twice).
// Rows are ordered by size, tied before untied, then L1; folders are relative to the sweep folder.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { FileFormatError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { SweepResult } from './job.js';
import { RESULTS_CSV, RESULTS_JSONL } from './plan.js';

/** The CSV columns, in order (metric names as in the rest of rewardlens). */
export const CSV_COLUMNS = ['id', 'size', 'l1', 'tied', 'mse', 'nmse', 'l0', 'dead', 'seconds', 'folder'] as const;

/** Reads sweep.jsonl of a sweep folder ([] when absent). Errors name the file and line. */
export function readSweepResults(dir: string): SweepResult[] {
  const path = join(dir, RESULTS_JSONL);
  if (!existsSync(path)) return [];
  const rows: SweepResult[] = [];
  readFileSync(path, 'utf8').split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let r: SweepResult;
    try {
      r = JSON.parse(line) as SweepResult;
    } catch (err) {
      throw new FileFormatError(path, `line ${i + 1}: not valid JSON (${(err as Error).message})`);
    }
    for (const key of ['id', 'size', 'l1', 'tied', 'mse', 'nmse', 'l0', 'dead', 'folder'] as const) {
      if (r[key] === undefined) throw new FileFormatError(path, `line ${i + 1}: field "${key}" missing`);
    }
    rows.push(r);
  });
  return rows;
}

export class SweepResultsTable {
  readonly #rows = new Map<string, SweepResult>();

  constructor(readonly dir: string) {
    for (const r of readSweepResults(dir)) this.#rows.set(r.id, r);
  }

  has(id: string): boolean {
    return this.#rows.has(id);
  }

  get size(): number {
    return this.#rows.size;
  }

  rows(): SweepResult[] {
    return [...this.#rows.values()].sort((a, b) => a.size - b.size || Number(b.tied) - Number(a.tied) || a.l1 - b.l1 || (a.id < b.id ? -1 : 1));
  }

  /** Adds (or replaces) a job's row and rewrites both files. */
  add(result: SweepResult): void {
    const folder = isAbsolute(result.folder) ? relative(this.dir, result.folder) : result.folder;
    this.#rows.set(result.id, { ...result, folder });
    this.write();
  }

  write(): void {
    const rows = this.rows();
    writeFileAtomic(join(this.dir, RESULTS_JSONL), rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''));
    const lines = [CSV_COLUMNS.join(',')];
    for (const r of rows) lines.push(CSV_COLUMNS.map((c) => csvField(r[c])).join(','));
    writeFileAtomic(join(this.dir, RESULTS_CSV), lines.join('\n') + '\n');
  }
}

function csvField(v: unknown): string {
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
