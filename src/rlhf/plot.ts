// Training curves of an RLHF run (log.jsonl) as one SVG/PNG grid: reward (mean ± std), KL and β,
// entropy, policy and value loss, clip fraction and approx KL, throughput.
import { join } from 'node:path';
import { svgToPng, xyChartSvg, type Series } from '../report/chart.js';
import { writeFileAtomic } from '../io/atomic.js';
import { FileFormatError } from '../errors.js';
import { readRlhfLog } from './run.js';
import type { PpoStepStats } from './trainer.js';

interface Panel { title: string; yLabel: string; series: [string, (s: PpoStepStats) => number][] }

const PANELS: Panel[] = [
  { title: 'Reward', yLabel: 'score', series: [['reward_mean', (s) => s.reward_mean], ['mean − std', (s) => s.reward_mean - s.reward_std], ['mean + std', (s) => s.reward_mean + s.reward_std]] },
  { title: 'KL to the reference', yLabel: 'Σ KL per response', series: [['kl', (s) => s.kl]] },
  { title: 'KL coefficient β', yLabel: 'β', series: [['kl_coef', (s) => s.kl_coef]] },
  { title: 'Entropy (Σ −log p per response)', yLabel: 'nats', series: [['entropy', (s) => s.entropy]] },
  { title: 'Losses', yLabel: 'loss', series: [['pg_loss', (s) => s.pg_loss], ['vf_loss', (s) => s.vf_loss]] },
  { title: 'Clipping and approx KL', yLabel: 'fraction / nats', series: [['clipfrac', (s) => s.clipfrac], ['approxkl', (s) => s.approxkl]] },
];

const W = 480, H = 300, COLS = 2;

/** The grid of panels as one SVG document (each panel a nested svg). */
export function curvesSvg(log: readonly PpoStepStats[]): string {
  if (log.length === 0) throw new RangeError('Expected at least one step in the log for curves but received none');
  const x = log.map((s) => s.step);
  const rows = Math.ceil(PANELS.length / COLS);
  const parts = PANELS.map((p, i) => {
    const series: Series[] = p.series.map(([name, f]) => ({ name, x, y: log.map(f) }));
    const svg = xyChartSvg({ title: p.title, xLabel: 'PPO step', yLabel: p.yLabel, series, kind: log.length > 1 ? 'line' : 'line+points', width: W, height: H });
    const inner = svg.replace(/^<\?xml[^>]*>\s*/, '').replace(/^<svg /, `<svg x="${(i % COLS) * W}" y="${Math.floor(i / COLS) * H}" `);
    return inner;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${COLS * W}" height="${rows * H}" viewBox="0 0 ${COLS * W} ${rows * H}">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}

/** Write DIR/curves.svg and DIR/curves.png from DIR/log.jsonl. */
export function plotRlhfRun(dir: string): { svg: string; png: string; steps: number } {
  const log = readRlhfLog(dir);
  if (log.length === 0) throw new FileFormatError(join(dir, 'log.jsonl'), 'the log has no steps yet');
  const svg = curvesSvg(log);
  const svgPath = join(dir, 'curves.svg');
  const pngPath = join(dir, 'curves.png');
  writeFileAtomic(svgPath, svg);
  writeFileAtomic(pngPath, svgToPng(svg));
  return { svg: svgPath, png: pngPath, steps: log.length };
}
