// The report's figures, drawn from a ReportData as SVG text (src/report/chart.ts); write-report.ts
// writes each as figures/<name>.svg and .png and the HTML page inlines the SVG. A section that is
// absent, or holds no finite value to draw, gives no figure.
import { meanSd } from '../interpret/scores.js';
import { divergenceChartSvg } from '../interpret/divergence.js';
import { barChartSvg, histogramSvg, xyChartSvg, type Series } from './chart.js';
import { num, REPORT_FORMAT, slug } from './format.js';
import type { ReportData } from './report-data.js';

export interface ReportFigure {
  /** File name in figures/ without extension ([a-z0-9-]). */
  name: string;
  caption: string;
  svg: string;
}

const finite = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);

/** Figure name of the MMCS histogram of one model × layer. */
export const mmcsFigureName = (model: string, layer: number) => `mmcs-${slug(model)}-layer-${layer}`;

/** Bars of mean per model with the sd written into the label ("tuned (sd 1.2)"). */
function meanBars(title: string, yLabel: string, rows: { label: string; values: number[] }[]): string | null {
  const kept = rows.map((r) => ({ label: r.label, ...meanSd(r.values.filter(finite)) })).filter((r) => r.n > 0);
  if (!kept.length) return null;
  return barChartSvg({
    title, xLabel: 'model', yLabel,
    labels: kept.map((r) => (r.n > 1 ? `${r.label} (sd ${num(r.sd)})` : r.label)),
    values: kept.map((r) => r.mean),
  });
}

/** Every figure the data has a section for, in report order. */
export function reportFigures(data: ReportData): ReportFigure[] {
  const out: ReportFigure[] = [];

  if (data.rlhf && data.rlhf.log.length > 0) {
    const log = data.rlhf.log.filter((s) => finite(s.step));
    const kind = log.length > 1 ? 'line' : 'line+points';
    const reward = log.filter((s) => finite(s.reward_mean));
    if (reward.length) {
      out.push({
        name: 'rlhf-reward', caption: `RLHF: mean reward (${data.rlhf.reward}) per PPO step`,
        svg: xyChartSvg({ title: 'RLHF reward', xLabel: 'PPO step', yLabel: 'reward_mean', kind, series: [{ name: 'reward_mean', x: reward.map((s) => s.step), y: reward.map((s) => s.reward_mean) }] }),
      });
    }
    const kl = log.filter((s) => finite(s.kl));
    if (kl.length) {
      out.push({
        name: 'rlhf-kl', caption: 'RLHF: KL to the reference model per PPO step (sum over the response, batch mean)',
        svg: xyChartSvg({ title: 'RLHF KL', xLabel: 'PPO step', yLabel: 'kl', kind, series: [{ name: 'kl', x: kl.map((s) => s.step), y: kl.map((s) => s.kl) }] }),
      });
    }
  }

  if (data.divergence) {
    const layers = data.divergence.layers.filter((l) => finite(l.divergence));
    if (layers.length) {
      out.push({
        name: 'divergence', caption: "Parameter divergence per layer between the base and tuned models (the paper's Figure 3)",
        svg: divergenceChartSvg({ layers, top: data.divergence.top, tensors: 0 }, 'Parameter divergence per layer'),
      });
    }
  }

  const saes = data.saes.filter((s) => finite(s.l0) && finite(s.nmse));
  if (saes.length) {
    const series: Series[] = [];
    const key = (s: { model: string; size: number }) => `${s.model}, n=${s.size}`;
    for (const s of saes) {
      let ser = series.find((x) => x.name === key(s));
      if (!ser) series.push((ser = { name: key(s), x: [], y: [] }));
      ser.x.push(s.l0);
      ser.y.push(s.nmse);
    }
    out.push({
      name: 'sae-metrics', caption: 'Dictionaries: held-out L0 against nmse, one point per layer, one colour per model × size (Tables 6–7)',
      svg: xyChartSvg({ title: 'SAE sparsity and reconstruction', xLabel: 'L0 (active features per token)', yLabel: 'nmse', kind: 'scatter', series }),
    });
  }

  for (const m of data.mmcs) {
    const values = m.maxCos.filter(finite);
    if (!values.length) continue;
    const lo = Math.min(0, ...values);
    const hi = Math.max(1, ...values);
    out.push({
      name: mmcsFigureName(m.model, m.layer),
      caption: `Best cosine of each large-dictionary feature to the small dictionary: ${m.model}, layer ${m.layer} (MMCS ${num(m.mmcs)})`,
      svg: histogramSvg({ title: `MMCS distribution: ${m.model}, layer ${m.layer}`, xLabel: 'max cosine to the small dictionary', values, bins: REPORT_FORMAT.histogramBins, range: [lo, hi] }),
    });
  }

  if (data.table3) {
    const svg = meanBars('Aggregate absolute utility of explanations (Table 3)', 'mean over samples',
      Object.entries(data.table3.models).map(([label, m]) => ({ label, values: m.perSample.map((p) => p.score) })));
    if (svg) out.push({ name: 'table3', caption: "Aggregate absolute utility of the explanations, mean over samples, per model (the paper's Table 3)", svg });
  }

  if (data.simulation) {
    const labels: string[] = [];
    const values: number[] = [];
    for (const [model, m] of Object.entries(data.simulation.models)) {
      if (finite(m.correlation.mean)) { labels.push(model); values.push(m.correlation.mean); }
      if (finite(m.baseline.mean)) { labels.push(`${model} baseline`); values.push(m.baseline.mean); }
    }
    if (values.length) {
      out.push({
        name: 'simulation', caption: `Simulation correlation of the explanations beside the ${data.simulation.baseline} baseline, per model`,
        svg: barChartSvg({ title: `Simulation correlation (${data.simulation.simulator})`, xLabel: 'model', yLabel: 'mean Pearson r', labels, values }),
      });
    }
  }

  if (data.table4) {
    const svg = meanBars('Aggregate absolute utility of completions (Table 4)', 'mean over seeds',
      data.table4.models.map((m) => ({ label: m.label, values: m.perSeed })));
    if (svg) out.push({ name: 'table4', caption: "Aggregate absolute utility of completions, mean over seeds, per model (the paper's Table 4)", svg });
  }
  return out;
}
