// The SAE pair of one model × layer (the paper's Algorithm 1, lines 16–17): a large (2·d) and a
// small (d) dictionary trained on the same activation store with the paper's settings (tied, λ 1e-3,
// lr 1e-3, batch 32, 3 epochs; per model family in src/sae/presets.ts), each written as a SAELens
// folder `<out>/<size>/` with its per-step metrics.jsonl and a `metrics.json` holding the
// normalised reconstruction (nmse = Σ‖x̂ − x‖² / Σ‖x‖²) and L0 (mean active features per vector),
// the quantities of the paper's Tables 6–7.
//
// Evaluation: by default the last 10% of the store's records are held out — the dictionaries train
// on the first 90% and metrics.json reports the held-out rows (`evalFraction` 0 trains on every row,
// as the paper did, and then reports the training rows themselves: in-sample figures).
import { join } from 'node:path';
import { invalidRange, invalidType } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { xyChartSvg, writeChart } from '../report/chart.js';
import { readActivations } from '../sae/activations-file.js';
import { presetSaeConfig, saePresetFor, SAE_PAIR_TRAINING, type SaePreset } from '../sae/presets.js';
import { saveSaeFolder } from '../sae/saelens.js';
import type { SaeMetrics, SparseAutoencoder } from '../sae/sparse-autoencoder.js';
import { trainSae } from '../sae/train.js';
import { checkInt, checkNumber } from '../validate.js';
import { isActivationStore, readActivationStore, type ActivationManifest } from './activation-store.js';

export const SAE_PAIR_DEFAULTS = Object.freeze({
  ...SAE_PAIR_TRAINING,
  /** Fraction of the records (the last ones) held out for metrics.json. */
  evalFraction: 0.1,
  seed: 0,
  /** Rows per evaluation forward. */
  evalChunkRows: 4096,
});

export interface SaeEvaluation {
  rows: number;
  /** Σ‖x̂ − x‖² / Σ‖x‖² */
  nmse: number;
  /** Mean squared error per element. */
  mse: number;
  /** Mean number of active (> 0) features per vector. */
  l0: number;
  /** Features that fired on no evaluated vector. */
  dead: number;
}

/** nmse, mse, L0 and dead features of a dictionary on rows of `data` [rows, d], in float64. */
export async function evaluateSae(sae: SparseAutoencoder, data: Float32Array, chunkRows: number = SAE_PAIR_DEFAULTS.evalChunkRows): Promise<SaeEvaluation> {
  const d = sae.config.dIn;
  const n = sae.config.dSae;
  const rows = data.length / d;
  if (!Number.isInteger(rows) || rows < 1) throw invalidRange(`a Float32Array of shape [rows,${d}] with rows >= 1`, 'data', `length ${data.length}`);
  let err = 0;
  let norm = 0;
  let active = 0;
  const fired = new Uint8Array(n);
  for (let r = 0; r < rows; r += chunkRows) {
    const x = data.subarray(r * d, Math.min(rows, r + chunkRows) * d);
    const { xHat, c } = await sae.forward(x);
    for (let i = 0; i < x.length; i++) {
      err += (xHat[i] - x[i]) ** 2;
      norm += x[i] * x[i];
    }
    for (let i = 0; i < c.length; i++) {
      if (c[i] > 0) {
        active++;
        fired[i % n] = 1;
      }
    }
  }
  let dead = 0;
  for (let j = 0; j < n; j++) if (!fired[j]) dead++;
  return { rows, nmse: norm > 0 ? err / norm : 0, mse: err / (rows * d), l0: active / rows, dead };
}

export interface SaePairOptions {
  /** An activation store folder (or a safetensors file with `activations`). */
  activations: string;
  /** Output folder for this model × layer, e.g. run/sae/<model>/<hook>.<layer>; sizes go in <out>/<size>/. */
  out: string;
  /** A preset name or object (default: from the store's model, else by its width). */
  preset?: string | SaePreset;
  /** Dictionary sizes (default: the preset's [large, small]). */
  sizes?: number[];
  l1?: number;
  lr?: number;
  batchSize?: number;
  epochs?: number;
  seed?: number;
  evalFraction?: number;
  onStep?: (size: number, m: SaeMetrics, p: { epoch: number; batch: number; batchesPerEpoch: number }) => void;
  signal?: AbortSignal;
}

export interface SaePairSize extends SaeEvaluation {
  size: number;
  dir: string;
  trainRows: number;
  l1: number;
  seconds: number;
}

export interface SaePairSummary {
  preset: string;
  d: number;
  evalFraction: number;
  sizes: SaePairSize[];
}

interface LoadedActs {
  data: Float32Array;
  rows: number;
  d: number;
  record: Int32Array | null;
  manifest: ActivationManifest | null;
}

function loadActs(path: string): LoadedActs {
  if (isActivationStore(path)) {
    const s = readActivationStore(path);
    return { data: s.data, rows: s.rows, d: s.d, record: s.record, manifest: s.manifest };
  }
  const a = readActivations(path);
  if (a.mask) throw invalidRange('an activation set without padding rows (an activation store, or a file without `mask`)', 'activations', `${path} with a mask`);
  return { data: a.data, rows: a.rows, d: a.d, record: null, manifest: null };
}

/** Where the held-out part starts: the first row of the last `fraction` of records (or rows). */
function evalStart(acts: LoadedActs, fraction: number): number {
  if (fraction === 0) return acts.rows;
  let cut = Math.min(acts.rows - 1, Math.max(1, Math.round(acts.rows * (1 - fraction))));
  if (acts.record) {
    // move to a record boundary, so no review is split between training and evaluation
    const rec = acts.record;
    while (cut < acts.rows && cut > 0 && rec[cut] === rec[cut - 1]) cut++;
    if (cut >= acts.rows) {
      cut = Math.round(acts.rows * (1 - fraction));
      while (cut > 1 && rec[cut] === rec[cut - 1]) cut--;
    }
  }
  if (cut < 1 || cut >= acts.rows) throw invalidRange(`a store with rows on both sides of the ${fraction} hold-out`, 'activations', `${acts.rows} rows`);
  return cut;
}

function resolvePreset(o: SaePairOptions, acts: LoadedActs): SaePreset {
  if (o.preset !== undefined) {
    const p = typeof o.preset === 'string' ? saePresetFor(o.preset) : o.preset;
    if (p.d !== acts.d) throw invalidRange(`activations of width ${p.d} for preset ${p.name}`, 'activations', `width ${acts.d} in ${o.activations}`);
    return p;
  }
  if (acts.manifest) {
    try {
      const p = saePresetFor(acts.manifest.model);
      if (p.d === acts.d) return p;
    } catch {
      // not a named model: choose by width
    }
  }
  return saePresetFor({ d: acts.d });
}

/** Train the pair (or any list of sizes) on one store and write `<out>/<size>/` for each. */
export async function trainSaePair(opts: SaePairOptions): Promise<SaePairSummary> {
  if (opts === null || typeof opts !== 'object') throw invalidType('SaePairOptions object', 'options', opts);
  if (typeof opts.out !== 'string' || !opts.out) throw invalidType('an output folder', 'out', opts.out);
  const acts = loadActs(opts.activations);
  const preset = resolvePreset(opts, acts);
  const D = SAE_PAIR_DEFAULTS;
  const sizes = (opts.sizes ?? [preset.large, preset.small]).map((s, i) => checkInt(s, `sizes[${i}]`, 1));
  if (sizes.length === 0) throw invalidRange('at least one size', 'sizes', '[]');
  const l1 = checkNumber(opts.l1 ?? preset.l1, 'l1', 0);
  const lr = checkNumber(opts.lr ?? D.lr, 'lr', Number.MIN_VALUE);
  const batchSize = checkInt(opts.batchSize ?? D.batchSize, 'batchSize', 1);
  const epochs = checkInt(opts.epochs ?? D.epochs, 'epochs', 1);
  const seed = checkInt(opts.seed ?? D.seed, 'seed', 0);
  const evalFraction = checkNumber(opts.evalFraction ?? D.evalFraction, 'evalFraction', 0, 0.5);
  const cut = evalStart(acts, evalFraction);
  const train = acts.data.subarray(0, cut * acts.d);
  const held = evalFraction === 0 ? train : acts.data.subarray(cut * acts.d);
  const out: SaePairSize[] = [];
  for (const size of sizes) {
    const started = Date.now();
    const metrics: SaeMetrics[] = [];
    const cfg = { ...presetSaeConfig(preset, size, acts.d), l1Coefficient: l1, lr, seed };
    const { sae } = await trainSae(train, cfg, {
      epochs, batchSize, signal: opts.signal,
      onStep: (m, p) => {
        metrics.push(m);
        opts.onStep?.(size, m, p);
      },
    });
    try {
      const ev = await evaluateSae(sae, held);
      const dir = join(opts.out, String(size));
      const seconds = (Date.now() - started) / 1000;
      const hook = acts.manifest ? `${acts.manifest.hook}.${acts.manifest.layer}` : undefined;
      await saveSaeFolder(dir, sae, {
        metrics,
        training: { activations: opts.activations, rows: cut, epochs, batchSize, seconds, final: metrics[metrics.length - 1], preset: preset.name },
        metadata: acts.manifest ? { model_name: acts.manifest.model, hook_name: hook, hook_layer: acts.manifest.layer } : {},
      });
      const evaluation = { ...ev, heldOut: evalFraction > 0, evalFraction };
      writeJsonAtomic(join(dir, 'metrics.json'), { size, d: acts.d, l1, lr, batchSize, epochs, seed, preset: preset.name, trainRows: cut, evaluation });
      out.push({ size, dir, trainRows: cut, l1, seconds, ...ev });
    } finally {
      sae.dispose();
    }
  }
  return { preset: preset.name, d: acts.d, evalFraction, sizes: out };
}

/** "lo:hi:n" → n values spaced evenly in log scale from lo to hi (a list "a,b,c" is taken as is). */
export function parseL1Grid(spec: string): number[] {
  if (typeof spec !== 'string') throw invalidType('"lo:hi:n" or a comma-separated list', '--l1-sweep', spec);
  if (spec.includes(',')) {
    return spec.split(',').map((v, i) => checkNumber(Number(v), `--l1-sweep[${i}]`, Number.MIN_VALUE));
  }
  const parts = spec.split(':');
  if (parts.length !== 3) throw invalidRange('"lo:hi:n" (e.g. 1e-4:1e-2:5) or a comma-separated list', '--l1-sweep', JSON.stringify(spec));
  const lo = checkNumber(Number(parts[0]), '--l1-sweep lo', Number.MIN_VALUE);
  const hi = checkNumber(Number(parts[1]), '--l1-sweep hi', lo);
  const n = checkInt(Number(parts[2]), '--l1-sweep n', 1, 1000);
  if (n === 1) return [lo];
  return Array.from({ length: n }, (_, i) => Math.exp(Math.log(lo) + ((Math.log(hi) - Math.log(lo)) * i) / (n - 1)));
}

export interface L1SweepPoint { l1: number; nmse: number; l0: number; dead: number; mse: number }

/**
 * Train one size over a grid of L1 coefficients (the paper's Figure 4) and write
 * `<out>/l1-sweep.json` and the chart `<out>/l1-sweep.svg/.png` (nmse and L0/100 against λ, log x).
 * Each dictionary of the sweep is kept under `<out>/l1-sweep/l1-<λ>/`.
 */
export async function sweepL1(opts: Omit<SaePairOptions, 'sizes' | 'l1'> & { grid: number[]; size?: number }): Promise<{ points: L1SweepPoint[]; files: string[] }> {
  const acts = loadActs(opts.activations);
  const preset = resolvePreset(opts, acts);
  const size = checkInt(opts.size ?? preset.large, 'size', 1);
  const points: L1SweepPoint[] = [];
  for (const l1 of opts.grid) {
    const r = await trainSaePair({ ...opts, sizes: [size], l1, out: join(opts.out, 'l1-sweep', `l1-${l1.toPrecision(3)}`) });
    const s = r.sizes[0];
    points.push({ l1, nmse: s.nmse, l0: s.l0, dead: s.dead, mse: s.mse });
  }
  const json = join(opts.out, 'l1-sweep.json');
  writeJsonAtomic(json, { size, preset: preset.name, points });
  const chart = writeChart(join(opts.out, 'l1-sweep'), xyChartSvg({
    title: `L1 sweep, ${size} features`,
    xLabel: 'L1 coefficient λ',
    yLabel: 'loss',
    kind: 'line+points',
    logX: true,
    series: [
      { name: 'normalised reconstruction (nmse)', x: points.map((p) => p.l1), y: points.map((p) => p.nmse) },
      { name: 'L0 / 100', x: points.map((p) => p.l1), y: points.map((p) => p.l0 / 100) },
    ],
  }));
  return { points, files: [json, chart.svg, chart.png] };
}
