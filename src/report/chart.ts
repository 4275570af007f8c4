// Charts for reports and training curves: dependency-free SVG (nice ticks, log axes, legends,
// escaped text) and PNG through @resvg/resvg-js, written atomically as a .svg/.png pair.
//
// Geometry that tests and other tools may read back from the SVG: the plot area is
// `<rect class="plot-area" data-x-domain="lo hi" data-y-domain="lo hi">` (the domains are in data
// units, log10 is applied in between for a log axis), each tick is `<g class="tick x|y"
// data-value="v">`, and each plotted point of an XY chart is `<circle class="point"
// data-series="i">` (scatter / line+points) or a vertex of `<path class="line" data-series="i">`.
import { Resvg } from '@resvg/resvg-js';
import { invalidRange, invalidType } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';

export interface Series { name: string; x: number[]; y: number[] }

export interface XYChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** 'line' (default), 'scatter' or 'line+points'. */
  kind?: 'line' | 'scatter' | 'line+points';
  /** Logarithmic axes (base 10); every value on a log axis must be > 0. */
  logX?: boolean;
  logY?: boolean;
  width?: number;
  height?: number;
}

export interface BarChartSpec { title: string; xLabel: string; yLabel: string; labels: string[]; values: number[]; width?: number; height?: number }

export interface HistogramSpec {
  title: string;
  xLabel: string;
  values: number[];
  /** Number of equal-width bins (default 20). */
  bins?: number;
  /** [lo, hi] of the bins (default: the min and max of the values); values outside are not counted. */
  range?: [number, number];
  width?: number;
  height?: number;
}

/** Sizes, margins and fonts of every chart, written once. */
export const CHART_DEFAULTS = {
  width: 640,
  height: 400,
  margin: { top: 40, right: 20, bottom: 56, left: 72 },
  /** Extra right margin for the legend when an XY chart has more than one series. */
  legendWidth: 150,
  fontFamily: 'DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif',
  fontSize: 12,
  titleSize: 15,
  ticks: 6,
  histogramBins: 20,
  palette: ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'],
} as const;

// ---------------------------------------------------------------------------------------------
// Checks

function checkText(value: unknown, name: string): string {
  if (typeof value !== 'string') throw invalidType('string', name, value);
  return value;
}

function checkSize(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidType('integer between 100 and 8000', name, value);
  if (value < 100 || value > 8000) throw invalidRange('integer between 100 and 8000', name, String(value));
  return value;
}

function checkValues(values: unknown, name: string, opts: { positive?: boolean; minLength?: number } = {}): number[] {
  if (!Array.isArray(values)) throw invalidType('array of finite numbers', name, values);
  const min = opts.minLength ?? 1;
  if (values.length < min) throw invalidRange(`array of at least ${min} finite number${min === 1 ? '' : 's'}`, name, 'an empty array');
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw invalidRange('finite numbers', `${name}[${i}]`, typeof v === 'number' ? String(v) : typeof v);
    }
    if (opts.positive && v <= 0) throw invalidRange('numbers > 0 (the axis is logarithmic)', `${name}[${i}]`, String(v));
  }
  return values as number[];
}

// ---------------------------------------------------------------------------------------------
// Scales and ticks

/** A "nice" step (1, 2 or 5 × 10^k) near `span / count`. */
function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const r = raw / mag;
  return (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
}

interface Axis {
  /** Domain in data units. */
  lo: number;
  hi: number;
  log: boolean;
  ticks: number[];
  label: (v: number) => string;
}

/** Trim float noise from a tick value computed as k × step. */
function snap(v: number, step: number): number {
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(v.toFixed(Math.min(20, digits)));
}

function formatTick(v: number, step: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(Math.max(0, Math.min(6, Math.round(Math.log10(a) - Math.log10(step))))).replace('e+', 'e');
  const decimals = Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(decimals);
}

function linearAxis(min: number, max: number, count: number, includeZero = false): Axis {
  let lo = includeZero ? Math.min(0, min) : min;
  let hi = includeZero ? Math.max(0, max) : max;
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const step = niceStep(hi - lo, count);
  lo = Math.floor(lo / step + 1e-9) * step;
  hi = Math.ceil(hi / step - 1e-9) * step;
  lo = snap(lo, step);
  hi = snap(hi, step);
  const ticks: number[] = [];
  const n = Math.round((hi - lo) / step);
  for (let k = 0; k <= n; k++) ticks.push(snap(lo + k * step, step));
  return { lo, hi, log: false, ticks, label: (v) => formatTick(v, step) };
}

function logAxis(min: number, max: number, count: number): Axis {
  let e0 = Math.floor(Math.log10(min) + 1e-12);
  let e1 = Math.ceil(Math.log10(max) - 1e-12);
  if (e0 === e1) {
    e0 -= 1;
    e1 += 1;
  }
  const every = Math.max(1, Math.ceil((e1 - e0) / Math.max(1, count)));
  const ticks: number[] = [];
  for (let e = e0; e <= e1; e += every) ticks.push(Number(`1e${e}`));
  const label = (v: number) => {
    const e = Math.round(Math.log10(v));
    return e >= -3 && e <= 5 ? String(Number(`1e${e}`)) : `1e${e}`;
  };
  return { lo: Number(`1e${e0}`), hi: Number(`1e${e1}`), log: true, ticks, label };
}

/** Fraction 0..1 of a value along an axis. */
function frac(axis: Axis, v: number): number {
  if (axis.log) return (Math.log10(v) - Math.log10(axis.lo)) / (Math.log10(axis.hi) - Math.log10(axis.lo));
  return (v - axis.lo) / (axis.hi - axis.lo);
}

// ---------------------------------------------------------------------------------------------
// SVG pieces

export function escapeXml(text: string): string {
  // Characters XML 1.0 forbids (controls other than tab, newline, CR) are dropped.
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const fmt = (v: number) => (Math.round(v * 100) / 100).toString();

interface Frame { width: number; height: number; x0: number; y0: number; w: number; h: number }

function frame(width: number, height: number, extraRight = 0): Frame {
  const m = CHART_DEFAULTS.margin;
  const w = width - m.left - m.right - extraRight;
  const h = height - m.top - m.bottom;
  if (w < 40 || h < 40) throw invalidRange('a chart large enough for its plot area (at least 40×40 px inside the margins)', 'width/height', `${width}×${height}`);
  return { width, height, x0: m.left, y0: m.top, w, h };
}

function open(f: Frame, title: string): string[] {
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" font-family="${escapeXml(CHART_DEFAULTS.fontFamily)}" font-size="${CHART_DEFAULTS.fontSize}">`,
    `<rect class="background" x="0" y="0" width="${f.width}" height="${f.height}" fill="#ffffff"/>`,
    `<text class="title" x="${fmt(f.x0 + f.w / 2)}" y="${fmt(CHART_DEFAULTS.margin.top / 2 + 5)}" text-anchor="middle" font-size="${CHART_DEFAULTS.titleSize}" font-weight="bold">${escapeXml(title)}</text>`,
  ];
}

function axisLabels(f: Frame, xLabel: string, yLabel: string): string[] {
  const yx = 16;
  const yy = f.y0 + f.h / 2;
  return [
    `<text class="x-label" x="${fmt(f.x0 + f.w / 2)}" y="${fmt(f.height - 12)}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    `<text class="y-label" x="${yx}" y="${fmt(yy)}" text-anchor="middle" transform="rotate(-90 ${yx} ${fmt(yy)})">${escapeXml(yLabel)}</text>`,
  ];
}

function plotArea(f: Frame, x: Axis | null, y: Axis): string {
  const xd = x ? ` data-x-domain="${x.lo} ${x.hi}"` : '';
  return `<rect class="plot-area" x="${f.x0}" y="${f.y0}" width="${f.w}" height="${f.h}"${xd} data-y-domain="${y.lo} ${y.hi}" fill="none" stroke="#333333" stroke-width="1"/>`;
}

function xTicks(f: Frame, axis: Axis): string[] {
  const out: string[] = [];
  for (const t of axis.ticks) {
    const px = f.x0 + frac(axis, t) * f.w;
    out.push(`<g class="tick x" data-value="${t}"><line x1="${fmt(px)}" y1="${f.y0}" x2="${fmt(px)}" y2="${f.y0 + f.h}" stroke="#e5e5e5"/>` +
      `<line x1="${fmt(px)}" y1="${f.y0 + f.h}" x2="${fmt(px)}" y2="${f.y0 + f.h + 5}" stroke="#333333"/>` +
      `<text x="${fmt(px)}" y="${f.y0 + f.h + 18}" text-anchor="middle">${escapeXml(axis.label(t))}</text></g>`);
  }
  return out;
}

function yTicks(f: Frame, axis: Axis): string[] {
  const out: string[] = [];
  for (const t of axis.ticks) {
    const py = f.y0 + f.h - frac(axis, t) * f.h;
    out.push(`<g class="tick y" data-value="${t}"><line x1="${f.x0}" y1="${fmt(py)}" x2="${f.x0 + f.w}" y2="${fmt(py)}" stroke="#e5e5e5"/>` +
      `<line x1="${f.x0 - 5}" y1="${fmt(py)}" x2="${f.x0}" y2="${fmt(py)}" stroke="#333333"/>` +
      `<text x="${f.x0 - 8}" y="${fmt(py + 4)}" text-anchor="end">${escapeXml(axis.label(t))}</text></g>`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Charts

/** Lines and/or points of one or more series on linear or log axes, with a legend when there are several. */
export function xyChartSvg(spec: XYChartSpec): string {
  if (spec === null || typeof spec !== 'object') throw invalidType('XYChartSpec object', 'spec', spec);
  const title = checkText(spec.title, 'spec.title');
  const xLabel = checkText(spec.xLabel, 'spec.xLabel');
  const yLabel = checkText(spec.yLabel, 'spec.yLabel');
  const kind = spec.kind ?? 'line';
  if (kind !== 'line' && kind !== 'scatter' && kind !== 'line+points') throw invalidType('one of "line", "scatter", "line+points"', 'spec.kind', kind);
  if (!Array.isArray(spec.series) || spec.series.length === 0) throw invalidRange('at least one series', 'spec.series', Array.isArray(spec.series) ? 'an empty array' : typeof spec.series);
  const series = spec.series.map((s, i) => {
    if (s === null || typeof s !== 'object') throw invalidType('Series object', `spec.series[${i}]`, s);
    const name = checkText(s.name, `spec.series[${i}].name`);
    const x = checkValues(s.x, `spec.series[${i}].x`, { positive: spec.logX });
    const y = checkValues(s.y, `spec.series[${i}].y`, { positive: spec.logY });
    if (x.length !== y.length) throw invalidRange(`x and y of the same length (x has ${x.length})`, `spec.series[${i}].y`, `length ${y.length}`);
    return { name, x, y };
  });
  const width = checkSize(spec.width, 'spec.width', CHART_DEFAULTS.width);
  const height = checkSize(spec.height, 'spec.height', CHART_DEFAULTS.height);
  const legend = series.length > 1;
  const f = frame(width, height, legend ? CHART_DEFAULTS.legendWidth : 0);

  let xmin = Infinity, xmax = -Infinity, ymin = Infinity, ymax = -Infinity;
  for (const s of series) {
    for (const v of s.x) { xmin = Math.min(xmin, v); xmax = Math.max(xmax, v); }
    for (const v of s.y) { ymin = Math.min(ymin, v); ymax = Math.max(ymax, v); }
  }
  const xAxis = spec.logX ? logAxis(xmin, xmax, CHART_DEFAULTS.ticks) : linearAxis(xmin, xmax, CHART_DEFAULTS.ticks);
  const yAxis = spec.logY ? logAxis(ymin, ymax, CHART_DEFAULTS.ticks) : linearAxis(ymin, ymax, CHART_DEFAULTS.ticks);

  const out = open(f, title);
  out.push(...xTicks(f, xAxis), ...yTicks(f, yAxis), plotArea(f, xAxis, yAxis), ...axisLabels(f, xLabel, yLabel));
  series.forEach((s, i) => {
    const color = CHART_DEFAULTS.palette[i % CHART_DEFAULTS.palette.length];
    const px = s.x.map((v) => f.x0 + frac(xAxis, v) * f.w);
    const py = s.y.map((v) => f.y0 + f.h - frac(yAxis, v) * f.h);
    const parts = [`<g class="series" data-series="${i}" data-name="${escapeXml(s.name)}">`];
    if (kind !== 'scatter' && px.length > 1) {
      const d = px.map((x, k) => `${k === 0 ? 'M' : 'L'}${fmt(x)} ${fmt(py[k])}`).join(' ');
      parts.push(`<path class="line" data-series="${i}" d="${d}" fill="none" stroke="${color}" stroke-width="1.8" stroke-linejoin="round"/>`);
    }
    if (kind !== 'line' || px.length === 1) {
      for (let k = 0; k < px.length; k++) parts.push(`<circle class="point" data-series="${i}" cx="${fmt(px[k])}" cy="${fmt(py[k])}" r="3" fill="${color}"/>`);
    }
    parts.push('</g>');
    out.push(parts.join(''));
  });
  if (legend) {
    const lx = f.x0 + f.w + 14;
    series.forEach((s, i) => {
      const color = CHART_DEFAULTS.palette[i % CHART_DEFAULTS.palette.length];
      const ly = f.y0 + 10 + i * 18;
      out.push(`<g class="legend-item" data-series="${i}"><rect x="${lx}" y="${ly - 8}" width="14" height="10" fill="${color}"/>` +
        `<text x="${lx + 20}" y="${ly + 1}">${escapeXml(s.name)}</text></g>`);
    });
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Vertical bars, one per label, from a zero baseline (negative values hang below it). */
export function barChartSvg(spec: BarChartSpec): string {
  if (spec === null || typeof spec !== 'object') throw invalidType('BarChartSpec object', 'spec', spec);
  const title = checkText(spec.title, 'spec.title');
  const xLabel = checkText(spec.xLabel, 'spec.xLabel');
  const yLabel = checkText(spec.yLabel, 'spec.yLabel');
  const values = checkValues(spec.values, 'spec.values');
  if (!Array.isArray(spec.labels)) throw invalidType('array of strings', 'spec.labels', spec.labels);
  if (spec.labels.length !== values.length) throw invalidRange(`one label per value (${values.length})`, 'spec.labels', `length ${spec.labels.length}`);
  const labels = spec.labels.map((l, i) => checkText(l, `spec.labels[${i}]`));
  const width = checkSize(spec.width, 'spec.width', CHART_DEFAULTS.width);
  const height = checkSize(spec.height, 'spec.height', CHART_DEFAULTS.height);
  const f = frame(width, height);
  const yAxis = linearAxis(Math.min(...values), Math.max(...values), CHART_DEFAULTS.ticks, true);
  const out = open(f, title);
  out.push(...yTicks(f, yAxis), plotArea(f, null, yAxis), ...axisLabels(f, xLabel, yLabel));
  const slot = f.w / values.length;
  const barW = Math.max(1, slot * 0.7);
  const zero = f.y0 + f.h - frac(yAxis, 0) * f.h;
  const rotate = labels.length > 8 || labels.some((l) => l.length * 7 > slot);
  values.forEach((v, i) => {
    const top = f.y0 + f.h - frac(yAxis, v) * f.h;
    const cx = f.x0 + slot * (i + 0.5);
    const color = CHART_DEFAULTS.palette[0];
    out.push(`<rect class="bar" data-index="${i}" data-value="${v}" x="${fmt(cx - barW / 2)}" y="${fmt(Math.min(top, zero))}" width="${fmt(barW)}" height="${fmt(Math.abs(zero - top))}" fill="${color}"/>`);
    const ty = f.y0 + f.h + 16;
    out.push(rotate
      ? `<text class="bar-label" x="${fmt(cx)}" y="${ty}" text-anchor="end" transform="rotate(-35 ${fmt(cx)} ${ty})">${escapeXml(labels[i])}</text>`
      : `<text class="bar-label" x="${fmt(cx)}" y="${ty}" text-anchor="middle">${escapeXml(labels[i])}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Counts per bin of `values`: bins[k] covers [lo + k·w, lo + (k+1)·w), the last bin includes hi. */
export function histogramCounts(values: readonly number[], bins: number, lo: number, hi: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  const w = (hi - lo) / bins;
  for (const v of values) {
    if (v < lo || v > hi) continue;
    const k = v === hi ? bins - 1 : Math.min(bins - 1, Math.floor((v - lo) / w));
    counts[k]++;
  }
  return counts;
}

/** Counts of `values` in equal-width bins, drawn as adjacent bars on a linear x axis. */
export function histogramSvg(spec: HistogramSpec): string {
  if (spec === null || typeof spec !== 'object') throw invalidType('HistogramSpec object', 'spec', spec);
  const title = checkText(spec.title, 'spec.title');
  const xLabel = checkText(spec.xLabel, 'spec.xLabel');
  const values = checkValues(spec.values, 'spec.values');
  const bins = spec.bins ?? CHART_DEFAULTS.histogramBins;
  if (typeof bins !== 'number' || !Number.isInteger(bins) || bins < 1 || bins > 10000) throw invalidType('integer between 1 and 10000', 'spec.bins', bins);
  let lo: number, hi: number;
  if (spec.range !== undefined) {
    const r = checkValues(spec.range, 'spec.range', { minLength: 2 });
    if (r.length !== 2 || !(r[0] < r[1])) throw invalidRange('[lo, hi] with lo < hi', 'spec.range', `[${r.join(', ')}]`);
    [lo, hi] = r;
  } else {
    lo = Math.min(...values);
    hi = Math.max(...values);
    if (lo === hi) {
      const pad = lo === 0 ? 0.5 : Math.abs(lo) * 0.05;
      lo -= pad;
      hi += pad;
    }
  }
  const width = checkSize(spec.width, 'spec.width', CHART_DEFAULTS.width);
  const height = checkSize(spec.height, 'spec.height', CHART_DEFAULTS.height);
  const f = frame(width, height);
  const counts = histogramCounts(values, bins, lo, hi);
  const xAxis = linearAxis(lo, hi, CHART_DEFAULTS.ticks);
  const yAxis = linearAxis(0, Math.max(1, ...counts), CHART_DEFAULTS.ticks, true);
  const out = open(f, title);
  out.push(...xTicks(f, xAxis), ...yTicks(f, yAxis), plotArea(f, xAxis, yAxis), ...axisLabels(f, xLabel, 'count'));
  const bw = (hi - lo) / bins;
  counts.forEach((c, k) => {
    const x1 = f.x0 + frac(xAxis, lo + k * bw) * f.w;
    const x2 = f.x0 + frac(xAxis, lo + (k + 1) * bw) * f.w;
    const top = f.y0 + f.h - frac(yAxis, c) * f.h;
    out.push(`<rect class="bin" data-index="${k}" data-count="${c}" x="${fmt(x1)}" y="${fmt(top)}" width="${fmt(Math.max(0, x2 - x1))}" height="${fmt(f.y0 + f.h - top)}" fill="${CHART_DEFAULTS.palette[0]}" stroke="#ffffff" stroke-width="0.5"/>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Output

/**
 * Render an SVG to PNG at its own size. Text uses the system's fonts (DejaVu Sans or Liberation
 * Sans where installed); on a machine without any font resvg draws the chart without its text
 * rather than failing.
 */
export function svgToPng(svg: string): Uint8Array {
  if (typeof svg !== 'string' || svg.length === 0) throw invalidType('SVG text', 'svg', svg);
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'original' },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
    background: '#ffffff',
    logLevel: 'off',
  });
  return new Uint8Array(resvg.render().asPng());
}

/** Write `basePath.svg` and `basePath.png`, each atomically; returns both paths. */
export function writeChart(basePath: string, svg: string): { svg: string; png: string } {
  if (typeof basePath !== 'string' || basePath.length === 0) throw invalidType('a file path without extension', 'basePath', basePath);
  const png = svgToPng(svg);
  const paths = { svg: `${basePath}.svg`, png: `${basePath}.png` };
  writeFileAtomic(paths.svg, svg);
  writeFileAtomic(paths.png, png);
  return paths;
}
