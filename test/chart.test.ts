// Chart module: well-formed SVG, points where the axis domains put them (computed here from the
// plot area and domain the SVG declares), nice and log ticks, escaping, PNG signature and size
// (read from the IHDR chunk), atomic .svg/.png pairs, and clear errors for bad input.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { afterAll, describe, expect, it } from 'vitest';
import { barChartSvg, histogramSvg, svgToPng, writeChart, xyChartSvg } from '../src/report/chart.js';

const dir = mkdtempSync(join(tmpdir(), 'rewardlens-chart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A tiny XML well-formedness check: balanced tags, quoted attributes, no bare '<' or '&' in text. */
function checkWellFormed(svg: string): void {
  const body = svg.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  const re = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<|&(?!(?:amp|lt|gt|quot|apos|#\d+);)/g;
  let m: RegExpExecArray | null;
  let roots = 0;
  while ((m = re.exec(body))) {
    if (m[2] === undefined) throw new Error(`stray '${m[0]}' at offset ${m.index}: ${body.slice(m.index, m.index + 40)}`);
    const [, close, name, , selfClose] = m;
    if (close) {
      const top = stack.pop();
      if (top !== name) throw new Error(`</${name}> closes <${top}>`);
    } else if (!selfClose) {
      if (stack.length === 0) roots++;
      stack.push(name);
    } else if (stack.length === 0) roots++;
  }
  if (stack.length) throw new Error(`unclosed <${stack.join('>, <')}>`);
  expect(roots).toBe(1);
}

function attr(tag: string, name: string): string {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  if (!m) throw new Error(`no ${name} in ${tag}`);
  return m[1];
}

function plotArea(svg: string) {
  const tag = /<rect class="plot-area"[^>]*>/.exec(svg)![0];
  const num = (n: string) => Number(attr(tag, n));
  const dom = (n: string) => (tag.includes(` ${n}=`) ? attr(tag, n).split(' ').map(Number) : [NaN, NaN]) as [number, number];
  return { x: num('x'), y: num('y'), w: num('width'), h: num('height'), xd: dom('data-x-domain'), yd: dom('data-y-domain') };
}

function points(svg: string, series: number) {
  return [...svg.matchAll(/<circle class="point"[^>]*>/g)].map((m) => m[0])
    .filter((t) => attr(t, 'data-series') === String(series))
    .map((t) => ({ cx: Number(attr(t, 'cx')), cy: Number(attr(t, 'cy')) }));
}

function ticks(svg: string, axis: 'x' | 'y'): number[] {
  return [...svg.matchAll(new RegExp(`<g class="tick ${axis}" data-value="([^"]*)"`, 'g'))].map((m) => Number(m[1]));
}

/** Is v (≠ 0) of the form {1,2,5}·10^k up to rounding? */
function isNiceStep(v: number): boolean {
  const mag = 10 ** Math.floor(Math.log10(v) + 1e-9);
  return [1, 2, 5, 10].some((c) => Math.abs(v / mag - c) < 1e-6);
}

function pngSize(png: Uint8Array): { width: number; height: number } {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  expect(String.fromCharCode(...png.subarray(12, 16))).toBe('IHDR');
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

describe('xyChartSvg', () => {
  const spec = {
    title: 'Loss & <reward> "curve"',
    xLabel: 'step',
    yLabel: 'loss',
    kind: 'line+points' as const,
    series: [
      { name: 'train', x: [0, 10, 20, 37], y: [2.3, 1.1, 0.72, 0.41] },
      { name: "it's <val>", x: [5, 15, 33], y: [2.0, 0.9, 0.55] },
    ],
  };

  it('is well-formed XML that resvg parses, with text escaped', () => {
    const svg = xyChartSvg(spec);
    checkWellFormed(svg);
    expect(() => new Resvg(svg)).not.toThrow();
    expect(svg).toContain('Loss &amp; &lt;reward&gt; &quot;curve&quot;');
    expect(svg).toContain('it&apos;s &lt;val&gt;');
    expect(svg).not.toContain('<reward>');
    // a legend entry per series
    expect(svg.match(/class="legend-item"/g)).toHaveLength(2);
  });

  it('places every point where the declared axis domains put it', () => {
    const svg = xyChartSvg(spec);
    const a = plotArea(svg);
    // the domain covers the data and its ends are multiples of a nice tick step
    expect(a.xd[0]).toBeLessThanOrEqual(0);
    expect(a.xd[1]).toBeGreaterThanOrEqual(37);
    expect(a.yd[0]).toBeLessThanOrEqual(0.41);
    expect(a.yd[1]).toBeGreaterThanOrEqual(2.3);
    for (const [si, s] of spec.series.entries()) {
      const pts = points(svg, si);
      expect(pts).toHaveLength(s.x.length);
      s.x.forEach((x, k) => {
        const ex = a.x + ((x - a.xd[0]) / (a.xd[1] - a.xd[0])) * a.w;
        const ey = a.y + a.h - ((s.y[k] - a.yd[0]) / (a.yd[1] - a.yd[0])) * a.h;
        expect(Math.abs(pts[k].cx - ex)).toBeLessThan(0.01);
        expect(Math.abs(pts[k].cy - ey)).toBeLessThan(0.01);
      });
    }
    // the line passes through the same vertices
    const d = attr(/<path class="line" data-series="0"[^>]*>/.exec(svg)![0], 'd');
    const verts = [...d.matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(verts).toEqual(points(svg, 0).map((p) => [p.cx, p.cy]));
  });

  it('uses evenly spaced nice ticks spanning the domain', () => {
    const svg = xyChartSvg(spec);
    const a = plotArea(svg);
    for (const [axis, dom] of [['x', a.xd], ['y', a.yd]] as const) {
      const t = ticks(svg, axis);
      expect(t.length).toBeGreaterThanOrEqual(3);
      expect(t.length).toBeLessThanOrEqual(12);
      expect(t[0]).toBeCloseTo(dom[0], 9);
      expect(t[t.length - 1]).toBeCloseTo(dom[1], 9);
      const step = t[1] - t[0];
      expect(isNiceStep(step)).toBe(true);
      for (let i = 1; i < t.length; i++) expect(t[i] - t[i - 1]).toBeCloseTo(step, 9);
    }
  });

  it('log axes: decades as ticks and points at log-linear positions', () => {
    const x = [1, 10, 100, 1000, 3000];
    const y = [0.5, 0.05, 0.004, 3e-4, 1e-4];
    const svg = xyChartSvg({ title: 'l', xLabel: 'x', yLabel: 'y', series: [{ name: 's', x, y }], kind: 'scatter', logX: true, logY: true });
    checkWellFormed(svg);
    const a = plotArea(svg);
    expect(a.xd).toEqual([1, 10000]);
    expect(a.yd).toEqual([1e-4, 1]);
    for (const t of [...ticks(svg, 'x'), ...ticks(svg, 'y')]) expect(Math.log10(t)).toBeCloseTo(Math.round(Math.log10(t)), 9);
    const pts = points(svg, 0);
    x.forEach((xv, k) => {
      const ex = a.x + (Math.log10(xv) / 4) * a.w;
      const ey = a.y + a.h - ((Math.log10(y[k]) + 4) / 4) * a.h;
      expect(Math.abs(pts[k].cx - ex)).toBeLessThan(0.01);
      expect(Math.abs(pts[k].cy - ey)).toBeLessThan(0.01);
    });
    expect(svg).not.toContain('<path class="line"'); // scatter draws no line
  });

  it('a single point or a constant series still gets a non-empty domain', () => {
    const svg = xyChartSvg({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'c', x: [3], y: [5] }] });
    const a = plotArea(svg);
    expect(a.xd[0]).toBeLessThan(3);
    expect(a.xd[1]).toBeGreaterThan(3);
    expect(points(svg, 0)).toHaveLength(1);
  });

  it('rejects NaN, empty and mismatched input with the field named', () => {
    const base = { title: 't', xLabel: 'x', yLabel: 'y' };
    expect(() => xyChartSvg({ ...base, series: [] })).toThrow(/at least one series for spec\.series/);
    expect(() => xyChartSvg({ ...base, series: [{ name: 'a', x: [], y: [] }] })).toThrow(/spec\.series\[0\]\.x but received an empty array/);
    expect(() => xyChartSvg({ ...base, series: [{ name: 'a', x: [1, 2], y: [1, NaN] }] })).toThrow(/finite numbers for spec\.series\[0\]\.y\[1\] but received NaN/);
    expect(() => xyChartSvg({ ...base, series: [{ name: 'a', x: [1, 2], y: [1] }] })).toThrow(/same length.*spec\.series\[0\]\.y/);
    expect(() => xyChartSvg({ ...base, logY: true, series: [{ name: 'a', x: [1, 2], y: [1, 0] }] })).toThrow(/> 0 .*logarithmic.*spec\.series\[0\]\.y\[1\]/);
    expect(() => xyChartSvg({ ...base, width: 10, series: [{ name: 'a', x: [1], y: [1] }] })).toThrow(/spec\.width/);
  });
});

describe('barChartSvg and histogramSvg', () => {
  it('bars start at zero and reach their value on the declared y domain', () => {
    const values = [3, -1.5, 7];
    const svg = barChartSvg({ title: 'b', xLabel: 'model', yLabel: 'score', labels: ['base', 'tuned', 'a&b'], values });
    checkWellFormed(svg);
    expect(svg).toContain('a&amp;b');
    const a = plotArea(svg);
    const py = (v: number) => a.y + a.h - ((v - a.yd[0]) / (a.yd[1] - a.yd[0])) * a.h;
    const bars = [...svg.matchAll(/<rect class="bar"[^>]*>/g)].map((m) => m[0]);
    expect(bars).toHaveLength(3);
    bars.forEach((b, i) => {
      const y = Number(attr(b, 'y'));
      const h = Number(attr(b, 'height'));
      expect(Math.abs(Math.min(py(0), py(values[i])) - y)).toBeLessThan(0.02);
      expect(Math.abs(Math.abs(py(0) - py(values[i])) - h)).toBeLessThan(0.02);
    });
    expect(() => barChartSvg({ title: 'b', xLabel: 'x', yLabel: 'y', labels: ['a'], values: [1, 2] })).toThrow(/one label per value.*spec\.labels/);
    expect(() => barChartSvg({ title: 'b', xLabel: 'x', yLabel: 'y', labels: ['a'], values: [Infinity] })).toThrow(/spec\.values\[0\]/);
  });

  it('histogram counts match a count made here', () => {
    const values = [0, 0.1, 0.15, 0.5, 0.99, 1, 1, 0.42, 0.43, 0.44, 2 /* out of range */];
    const svg = histogramSvg({ title: 'h', xLabel: 'activation', values, bins: 4, range: [0, 1] });
    checkWellFormed(svg);
    const counts = [...svg.matchAll(/<rect class="bin"[^>]*>/g)].map((m) => Number(attr(m[0], 'data-count')));
    // bins [0,.25) [.25,.5) [.5,.75) [.75,1]
    expect(counts).toEqual([3, 3, 1, 3]);
    expect(() => histogramSvg({ title: 'h', xLabel: 'x', values: [] })).toThrow(/spec\.values but received an empty array/);
    expect(() => histogramSvg({ title: 'h', xLabel: 'x', values: [1, NaN] })).toThrow(/spec\.values\[1\]/);
    expect(() => histogramSvg({ title: 'h', xLabel: 'x', values: [1], range: [2, 1] })).toThrow(/lo < hi for spec\.range/);
  });
});

describe('PNG output', () => {
  it('svgToPng gives a PNG of the chart size, with text drawn by a system font', () => {
    const svg = xyChartSvg({ title: 'Title', xLabel: 'x', yLabel: 'y', width: 500, height: 300, series: [{ name: 's', x: [1, 2], y: [1, 2] }] });
    const png = svgToPng(svg);
    expect(pngSize(png)).toEqual({ width: 500, height: 300 });
    // text renders: removing the title changes the pixels
    const render = (s: string) => new Resvg(s, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().pixels;
    const withTitle = render(svg);
    const without = render(svg.replace('>Title</text>', '></text>'));
    expect(Buffer.compare(withTitle, without)).not.toBe(0);
  });

  it('writeChart writes an .svg/.png pair atomically (no temporary files left)', () => {
    const svg = barChartSvg({ title: 'b', xLabel: 'x', yLabel: 'y', labels: ['a', 'b'], values: [1, 2] });
    const paths = writeChart(join(dir, 'figures', 'bars'), svg);
    expect(paths).toEqual({ svg: join(dir, 'figures', 'bars.svg'), png: join(dir, 'figures', 'bars.png') });
    expect(readFileSync(paths.svg, 'utf8')).toBe(svg);
    expect(pngSize(new Uint8Array(readFileSync(paths.png)))).toEqual({ width: 640, height: 400 });
    expect(readdirSync(join(dir, 'figures')).sort()).toEqual(['bars.png', 'bars.svg']);
    expect(() => svgToPng('<svg')).toThrow();
  });
});
