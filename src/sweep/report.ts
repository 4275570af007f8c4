// `rewardlens sweep-report DIR`: from sweep.jsonl, the L0 vs nmse Pareto front of each dictionary
// size, the best L1 of each size, dead features, and how the best dictionaries of neighbouring
// sizes relate (MMCS both ways, and how many features of the smaller one split into several of the
// larger one). Writes report.md, report.json and figures/*.svg|png into DIR.
//
// "Best" L1 of a size: the point of that size's Pareto front with the smallest
//   score = nmse + l0 / d
// (d the activation width). Both trivial codes score 1: predicting zeros (nmse 1, l0 0) and an
// identity-like dense code (nmse 0, l0 d); a useful dictionary scores well below 1, and the score
// trades one unit of normalised error for d active features per row. Ties go to the smaller L1.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FileFormatError } from '../errors.js';
import { cosineStats } from '../interpret/cosine.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { barChartSvg, writeChart, xyChartSvg } from '../report/chart.js';
import { readDictionary } from '../sae/saelens.js';
import type { SweepResult } from './job.js';
import { RESULTS_JSONL } from './plan.js';
import { readSweepResults } from './results.js';

export const SWEEP_REPORT_DEFAULTS = Object.freeze({
  /** A larger-dictionary feature counts as a child of its best-matching smaller feature at cosine ≥ this. */
  splitCos: 0.5,
});

export interface ParetoPoint { id: string; l1: number; tied: boolean; l0: number; nmse: number; mse: number; dead: number; score: number; folder: string }

export interface SizeSummary {
  size: number;
  runs: number;
  /** The Pareto front in order of increasing l0 (decreasing nmse). */
  front: ParetoPoint[];
  best: ParetoPoint;
  /** Dead features of every run of this size, in L1 order. */
  dead: { l1: number; tied: boolean; dead: number }[];
}

export interface NeighbourMatch {
  small: number;
  large: number;
  /** MMCS(small → large): mean over the smaller dictionary's features of the best cosine in the larger. */
  mmcs: number;
  /** MMCS(large → small). */
  mmcsReverse: number;
  /** Smaller features with at least two larger features (cos ≥ splitCos) whose best match they are. */
  split: number;
  /** Larger features with cos ≥ splitCos to their best smaller feature. */
  matched: number;
}

export interface SweepReport {
  dir: string;
  d: number;
  runs: number;
  rule: string;
  sizes: SizeSummary[];
  best: (ParetoPoint & { size: number })[];
  neighbours: NeighbourMatch[];
  splitCos: number;
}

/** Indices of the non-dominated points (minimising both x and y), sorted by x then y. */
export function paretoFront(points: readonly { x: number; y: number }[]): number[] {
  const order = points.map((_, i) => i).sort((a, b) => points[a].x - points[b].x || points[a].y - points[b].y || a - b);
  const front: number[] = [];
  let bestY = Infinity;
  for (const i of order) {
    if (points[i].y < bestY) {
      front.push(i);
      bestY = points[i].y;
    }
  }
  return front;
}

/** The report's numbers (no files written). */
export async function buildSweepReport(dir: string, opts: { splitCos?: number } = {}): Promise<SweepReport> {
  const abs = resolve(dir);
  const rows = readSweepResults(abs);
  if (rows.length === 0) throw new FileFormatError(join(abs, RESULTS_JSONL), 'no finished jobs (run `rewardlens sweep` first)');
  const splitCos = opts.splitCos ?? SWEEP_REPORT_DEFAULTS.splitCos;
  const d = rows[0].d;
  const toPoint = (r: SweepResult): ParetoPoint => ({
    id: r.id, l1: r.l1, tied: r.tied, l0: r.l0, nmse: r.nmse, mse: r.mse, dead: r.dead, score: r.nmse + r.l0 / r.d, folder: r.folder,
  });
  const sizes = [...new Set(rows.map((r) => r.size))].sort((a, b) => a - b);
  const summaries: SizeSummary[] = sizes.map((size) => {
    const runs = rows.filter((r) => r.size === size).sort((a, b) => a.l1 - b.l1 || Number(b.tied) - Number(a.tied));
    const points = runs.map(toPoint);
    const front = paretoFront(points.map((p) => ({ x: p.l0, y: p.nmse }))).map((i) => points[i]);
    const best = [...front].sort((a, b) => a.score - b.score || a.l1 - b.l1)[0];
    return { size, runs: runs.length, front, best, dead: runs.map((r) => ({ l1: r.l1, tied: r.tied, dead: r.dead })) };
  });
  const neighbours: NeighbourMatch[] = [];
  for (let i = 0; i + 1 < summaries.length; i++) {
    const a = summaries[i];
    const b = summaries[i + 1];
    const A = readDictionary(resolve(abs, a.best.folder));
    const B = readDictionary(resolve(abs, b.best.folder));
    const stats = await cosineStats(A.W_dec, B.W_dec, A.d, { topK: 0 });
    const children = new Int32Array(A.n);
    let matched = 0;
    let reverse = 0;
    for (let j = 0; j < B.n; j++) {
      reverse += stats.colMax[j];
      if (stats.colMax[j] >= splitCos) {
        matched++;
        children[stats.colArgmax[j]]++;
      }
    }
    let split = 0;
    for (let k = 0; k < A.n; k++) if (children[k] >= 2) split++;
    neighbours.push({ small: a.size, large: b.size, mmcs: stats.mmcs, mmcsReverse: reverse / B.n, split, matched });
  }
  return {
    dir: abs, d, runs: rows.length, splitCos,
    rule: 'best = the Pareto point (l0, nmse) of a size with the smallest nmse + l0/d; ties to the smaller L1',
    sizes: summaries,
    best: summaries.map((s) => ({ size: s.size, ...s.best })),
    neighbours,
  };
}

/** Writes report.md, report.json and figures/{pareto,runs,dead}.{svg,png} into DIR. */
export async function writeSweepReport(dir: string, opts: { splitCos?: number } = {}): Promise<{ report: SweepReport; files: { md: string; json: string; figures: string[] } }> {
  const abs = resolve(dir);
  if (!existsSync(abs)) throw new FileFormatError(abs, 'not found (expected a sweep folder)');
  const report = await buildSweepReport(abs, opts);
  const figures: string[] = [];
  const rows = readSweepResults(abs);
  const pareto = writeChart(join(abs, 'figures', 'pareto'), xyChartSvg({
    title: 'Pareto front per dictionary size', xLabel: 'L0 (features per row)', yLabel: 'nmse', kind: 'line+points',
    series: report.sizes.map((s) => ({ name: `n=${s.size}`, x: s.front.map((p) => p.l0), y: s.front.map((p) => p.nmse) })),
  }));
  const groups = [...new Set(rows.map((r) => `${r.size}|${r.tied}`))];
  const runs = writeChart(join(abs, 'figures', 'runs'), xyChartSvg({
    title: 'Every run', xLabel: 'L0 (features per row)', yLabel: 'nmse', kind: 'scatter',
    series: groups.map((g) => {
      const rs = rows.filter((r) => `${r.size}|${r.tied}` === g);
      return { name: `n=${rs[0].size} ${rs[0].tied ? 'tied' : 'untied'}`, x: rs.map((r) => r.l0), y: rs.map((r) => r.nmse) };
    }),
  }));
  const dead = writeChart(join(abs, 'figures', 'dead'), barChartSvg({
    title: 'Dead features of the best run per size', xLabel: 'dictionary size', yLabel: 'dead features',
    labels: report.best.map((b) => String(b.size)), values: report.best.map((b) => b.dead),
  }));
  for (const f of [pareto, runs, dead]) figures.push(f.svg, f.png);
  const json = join(abs, 'report.json');
  const md = join(abs, 'report.md');
  writeJsonAtomic(json, report);
  writeFileAtomic(md, reportMarkdown(report));
  return { report, files: { md, json, figures } };
}

function fmt(v: number, digits = 4): string {
  return Number.isFinite(v) ? Number(v.toPrecision(digits)).toString() : String(v);
}

function reportMarkdown(r: SweepReport): string {
  const lines: string[] = [];
  lines.push('# Dictionary sweep', '');
  lines.push(`${r.runs} runs on activations of width d = ${r.d}. Metrics are over every activation row: nmse = Σ‖x̂ − x‖² / Σ‖x‖², l0 = features firing per row, dead = features firing on no row.`, '');
  lines.push('![Pareto fronts](figures/pareto.svg)', '');
  lines.push('## Best L1 per size', '');
  lines.push(`Rule: ${r.rule}. Predicting zeros and a dense identity-like code both score 1.`, '');
  lines.push('| size | L1 | tied | nmse | l0 | dead | score |', '|---:|---:|:---|---:|---:|---:|---:|');
  for (const b of r.best) lines.push(`| ${b.size} | ${fmt(b.l1)} | ${b.tied} | ${fmt(b.nmse)} | ${fmt(b.l0)} | ${b.dead} | ${fmt(b.score)} |`);
  lines.push('', '## Pareto fronts', '');
  for (const s of r.sizes) {
    lines.push(`### n = ${s.size} (${s.front.length} of ${s.runs} runs on the front)`, '');
    lines.push('| L1 | tied | l0 | nmse | dead |', '|---:|:---|---:|---:|---:|');
    for (const p of s.front) lines.push(`| ${fmt(p.l1)} | ${p.tied} | ${fmt(p.l0)} | ${fmt(p.nmse)} | ${p.dead} |`);
    lines.push('');
  }
  lines.push('## Dead features', '', '![dead features](figures/dead.svg)', '');
  lines.push('| size | L1 | tied | dead |', '|---:|---:|:---|---:|');
  for (const s of r.sizes) for (const x of s.dead) lines.push(`| ${s.size} | ${fmt(x.l1)} | ${x.tied} | ${x.dead} |`);
  lines.push('', '## Neighbouring sizes', '');
  if (r.neighbours.length === 0) {
    lines.push('One size only: nothing to compare.');
  } else {
    lines.push(`Between the best dictionaries of neighbouring sizes. MMCS(small → large) is the mean over the smaller dictionary's features of the best cosine to any larger feature (the paper's Eq. 2); a smaller feature has *split* when at least two larger features (cos ≥ ${r.splitCos}) match it best.`, '');
    lines.push('| small | large | MMCS small→large | MMCS large→small | larger features matched | smaller features split |', '|---:|---:|---:|---:|---:|---:|');
    for (const m of r.neighbours) lines.push(`| ${m.small} | ${m.large} | ${fmt(m.mmcs)} | ${fmt(m.mmcsReverse)} | ${m.matched} of ${m.large} | ${m.split} of ${m.small} |`);
  }
  lines.push('', 'Every run: [figures/runs.svg](figures/runs.svg); all numbers: report.json, sweep.jsonl, sweep.csv.', '');
  return lines.join('\n');
}
