// The sweep grid: dictionary sizes × L1 coefficients × tied/untied, with the training settings every
// job shares. Parsers for the command line's list and log-grid syntax, and the expansion into one
// job config per combination, in a fixed order (size, then tied, then L1).
import { describe, invalidRange, invalidType } from '../errors.js';
import { SAE_DEFAULTS } from '../sae/config.js';
import { SAE_TRAIN_DEFAULTS } from '../sae/train.js';
import { checkBool, checkInt, checkNumber, checkOneOf } from '../validate.js';

/** What one sweep varies and what its jobs share. */
export interface SweepGrid {
  /** Dictionary sizes n (SAELens d_sae). */
  sizes: number[];
  /** L1 coefficients λ. */
  l1: number[];
  /** Tied (W_enc = W_decᵀ) and/or untied dictionaries. */
  tied: boolean[];
  /** Passes over the activations per job. */
  epochs: number;
  /** Adam learning rate. */
  lr: number;
  /** Rows per step. */
  batchSize: number;
  /** Initialisation and shuffle seed, the same for every job (so jobs differ only in the grid). */
  seed: number;
  normalizeDecoder: boolean;
  applyBDecToInput: boolean;
  init: 'orthogonal' | 'kaiming';
}

/** Defaults of everything but sizes and L1 (which a sweep must name). */
export const SWEEP_GRID_DEFAULTS = Object.freeze({
  /** The paper's SAE is tied. */
  tied: [SAE_DEFAULTS.tied] as readonly boolean[],
  /** As `rewardlens sae train`: 3 epochs (the paper's text). */
  epochs: SAE_TRAIN_DEFAULTS.epochs,
  lr: SAE_DEFAULTS.lr,
  batchSize: SAE_TRAIN_DEFAULTS.batchSize,
  seed: SAE_DEFAULTS.seed,
  normalizeDecoder: SAE_DEFAULTS.normalizeDecoder,
  applyBDecToInput: SAE_DEFAULTS.applyBDecToInput,
  init: SAE_DEFAULTS.init,
});

/** One job's full training config: everything that decides its result besides the activations. */
export interface SweepJobConfig {
  dSae: number;
  l1Coefficient: number;
  tied: boolean;
  epochs: number;
  lr: number;
  batchSize: number;
  seed: number;
  normalizeDecoder: boolean;
  applyBDecToInput: boolean;
  init: 'orthogonal' | 'kaiming';
}

/** Significant digits kept for log-grid values, so 1e-4:1e-2:3 gives exactly 1e-4, 1e-3, 1e-2. */
export const LOG_GRID_DIGITS = 6;

/**
 * `a:b:count` → `count` values spaced evenly in log between a and b inclusive (rounded to
 * LOG_GRID_DIGITS significant digits); `a,b,c` → those values. `name` is the flag, for errors.
 */
export function parseL1Grid(text: string, name = '--l1'): number[] {
  if (typeof text !== 'string' || text.trim() === '') throw invalidType('"start:end:count" or a comma list of numbers', name, text);
  const t = text.trim();
  if (t.includes(':')) {
    const parts = t.split(':');
    if (parts.length !== 3) throw invalidRange('"start:end:count" (three fields)', name, `"${t}"`);
    const start = parseNumber(parts[0], `${name} start`);
    const end = parseNumber(parts[1], `${name} end`);
    const count = Number(parts[2]);
    if (!(start > 0) || !(end > 0)) throw invalidRange('start and end > 0 for a log grid', name, `"${t}"`);
    checkInt(count, `${name} count`, 1, 10_000);
    if (count === 1 && start !== end) throw invalidRange('count >= 2 when start and end differ', `${name} count`, '1');
    const values: number[] = [];
    for (let i = 0; i < count; i++) {
      const v = count === 1 ? start : start * Math.pow(end / start, i / (count - 1));
      values.push(Number(v.toPrecision(LOG_GRID_DIGITS)));
    }
    return unique(values, name);
  }
  const values = t.split(',').map((s, i) => {
    const v = parseNumber(s, `${name} entry ${i + 1}`);
    if (v < 0) throw invalidRange('L1 coefficients >= 0', `${name} entry ${i + 1}`, describe(v));
    return v;
  });
  return unique(values, name);
}

/** `512,1024,2048` → positive integers. */
export function parseSizes(text: string, name = '--dict-sizes'): number[] {
  if (typeof text !== 'string' || text.trim() === '') throw invalidType('a comma list of positive integers', name, text);
  const values = text.split(',').map((s, i) => {
    const v = Number(s.trim() === '' ? NaN : s);
    if (!Number.isInteger(v)) throw invalidType('a positive integer', `${name} entry ${i + 1}`, s.trim());
    return checkInt(v, `${name} entry ${i + 1}`, 1, 2 ** 31 - 1);
  });
  return unique(values, name);
}

/** `true,false` → booleans (also accepts tied/untied). */
export function parseBoolList(text: string, name = '--tied'): boolean[] {
  if (typeof text !== 'string' || text.trim() === '') throw invalidType('a comma list of true/false', name, text);
  const values = text.split(',').map((s, i) => {
    const v = s.trim().toLowerCase();
    if (v === 'true' || v === 'tied') return true;
    if (v === 'false' || v === 'untied') return false;
    throw invalidType('true or false', `${name} entry ${i + 1}`, s.trim());
  });
  return unique(values, name);
}

function parseNumber(s: string, name: string): number {
  const v = Number(s.trim() === '' ? NaN : s);
  if (Number.isNaN(v)) throw invalidType('a number', name, s.trim());
  return checkNumber(v, name);
}

function unique<T>(values: T[], name: string): T[] {
  const seen = new Set<T>();
  for (const v of values) {
    if (seen.has(v)) throw invalidRange('distinct values', name, `${String(v)} twice`);
    seen.add(v);
  }
  return values;
}

/** Fills in the defaults and checks every field; errors name the field. */
export function resolveSweepGrid(partial: Partial<SweepGrid> & { sizes: number[]; l1: number[] }): SweepGrid {
  if (typeof partial !== 'object' || partial === null) throw invalidType('SweepGrid object', 'grid', partial);
  const g = { ...SWEEP_GRID_DEFAULTS, ...Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) } as SweepGrid;
  if (!Array.isArray(g.sizes) || g.sizes.length === 0) throw invalidType('a non-empty array of dictionary sizes', 'sizes', g.sizes);
  if (!Array.isArray(g.l1) || g.l1.length === 0) throw invalidType('a non-empty array of L1 coefficients', 'l1', g.l1);
  if (!Array.isArray(g.tied) || g.tied.length === 0) throw invalidType('a non-empty array of booleans', 'tied', g.tied);
  return {
    sizes: unique(g.sizes.map((v, i) => checkInt(v, `sizes[${i}]`, 1, 2 ** 31 - 1)), 'sizes'),
    l1: unique(g.l1.map((v, i) => checkNumber(v, `l1[${i}]`, 0)), 'l1'),
    tied: unique(g.tied.map((v, i) => checkBool(v, `tied[${i}]`)), 'tied'),
    epochs: checkInt(g.epochs, 'epochs', 1),
    lr: checkNumber(g.lr, 'lr', Number.MIN_VALUE),
    batchSize: checkInt(g.batchSize, 'batchSize', 1, 2 ** 30 - 1),
    seed: checkInt(g.seed, 'seed', 0),
    normalizeDecoder: checkBool(g.normalizeDecoder, 'normalizeDecoder'),
    applyBDecToInput: checkBool(g.applyBDecToInput, 'applyBDecToInput'),
    init: checkOneOf(g.init, 'init', ['orthogonal', 'kaiming'] as const),
  };
}

/** One job config per combination: sizes in the order given, then tied, then L1. */
export function expandGrid(grid: SweepGrid): SweepJobConfig[] {
  const jobs: SweepJobConfig[] = [];
  for (const dSae of grid.sizes) {
    for (const tied of grid.tied) {
      for (const l1Coefficient of grid.l1) {
        jobs.push({
          dSae, l1Coefficient, tied, epochs: grid.epochs, lr: grid.lr, batchSize: grid.batchSize, seed: grid.seed,
          normalizeDecoder: grid.normalizeDecoder, applyBDecToInput: grid.applyBDecToInput, init: grid.init,
        });
      }
    }
  }
  return jobs;
}
