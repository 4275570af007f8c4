// The run report (src/report): a ReportData with every section written by writeReport into a folder,
// report.md with every section and Tables 3–4's numbers, valid SVG/PNG figures, all text escaped
// (an explanation holding a <script> shows as text), a second write that changes nothing and drops
// figures no longer drawn, bad data refused before anything is overwritten; then index.html opened
// in headless Chromium: no errors, the script in the data did not run, every section, table row and
// figure where it belongs, sortable tables, and a screenshot.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureRecord } from '../src/interpret/records.js';
import { meanSd, type Table3 } from '../src/interpret/scores.js';
import { buildReportDocument } from '../src/report/build-document.js';
import type { Section } from '../src/report/document.js';
import { reportFigures } from '../src/report/figures.js';
import { escapeMarkdown, meanSdText, num } from '../src/report/format.js';
import { REPORT_VERSION, type ReportData } from '../src/report/report-data.js';
import { writeReport, type WrittenReport } from '../src/report/write-report.js';
import type { PpoStepStats } from '../src/rlhf/trainer.js';
import { makeRng } from './helpers/rng.js';

const tmp = mkdtempSync(join(tmpdir(), 'rewardlens-report-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Text an explainer might return: markup, a cell-ending `|` and Markdown emphasis. */
const WORDS = 'this film was a great and moving story with a <b>bold</b> cast & a weak end'.split(' ');
const HOSTILE = 'praise | *great* <script>window.__pwned = 1</script> & <img src=x onerror="window.__pwned = 2">';

function ppoStep(step: number): PpoStepStats {
  return {
    step, reward_mean: 0.2 + 0.1 * step, reward_std: 0.5, kl: 0.05 * step, kl_coef: 0.2, entropy: 12, pg_loss: -0.01, vf_loss: 0.3,
    loss: 0.02, clipfrac: 0.1, vf_clipfrac: 0.05, approxkl: 0.001, policykl: 0.001, ratio_mean: 1, skipped: 0, grad_norm: 0.8,
    lr: 1.41e-5, response_len: 16, epochs: 4, tokens_per_s: 500, time_s: 1.5,
  };
}

/** A record of `words`: BPE-like tokens (" film") or, with `bare`, a word-level tokenizer's ("film"). */
function record(rng: ReturnType<typeof makeRng>, id: number, words: string[], bare = false): FeatureRecord {
  const tokens = words.map((w, i) => ({ token: i && !bare ? ` ${w}` : w, activation: rng.next() < 0.4 ? 1 + rng.int(10) : 0 }));
  return { record: id, maxActivation: 0.5 + rng.next() * 3, tokens };
}

/**
 * A ReportData with every section: 2 models × 2 layers, 2 features each, 2 explanation samples; the
 * tuned model's records are tokenized word-level (tokens without their spaces).
 */
function fullReport(): ReportData {
  const rng = makeRng(7);
  const models = ['base', 'tuned'];
  const layers = [2, 1];
  const words = WORDS;
  const features: ReportData['features'] = [];
  for (const model of models) {
    for (const layer of layers) {
      for (const feature of [17, 40 + layer]) {
        const first = features.length === 0;
        features.push({
          model, layer, hook: 'mlp_out', feature, matchedSmall: feature % 13, matchCos: 0.8 + rng.next() * 0.2,
          top: Array.from({ length: 7 }, (_, k) => record(rng, 100 * feature + k, words, model === 'tuned')),
          random: [record(rng, 9, words)],
          explanations: [
            { sample: 0, text: first ? HOSTILE : `words about ${model} layer ${layer}`, utility: 0.3 + rng.next(), simulation: rng.next() },
            first
              ? { sample: 1, text: null, error: 'HTTP 500 <from server>', utility: null, simulation: null }
              : { sample: 1, text: `more words ${feature}`, utility: 0.2 + rng.next(), simulation: rng.next() - 0.5 },
          ],
        });
      }
    }
  }
  const table3: Table3 = {
    table: 'vader',
    models: Object.fromEntries(models.map((m, i) => {
      const perSample = [0, 1].map((s) => ({ sample: s, score: 3.25 + i + 0.5 * s, explained: 4 - (s === 1 && i === 0 ? 1 : 0), failed: s === 1 && i === 0 ? 1 : 0 }));
      const ms = meanSd(perSample.map((p) => p.score));
      return [m, { perSample, mean: ms.mean, sd: ms.sd }];
    })),
    perExplanation: [],
  };
  return {
    version: REPORT_VERSION,
    name: 'report test <run>',
    createdAt: '2026-01-02T03:04:05.000Z',
    config: { name: 'report test <run>', hook: 'mlp_out' },
    models: { base: 'models/default', tuned: 'rlhf/model', tunedByRlhf: true },
    stages: [
      { name: 'rlhf', status: 'done', seconds: 12.5 },
      { name: 'divergence', status: 'cached', seconds: 0.1 },
      { name: 'explain', status: 'failed', seconds: 3, error: 'one request failed: <HTTP 500>' },
    ],
    rlhf: {
      dir: 'rlhf', steps: 6, reward: 'utility:vader', log: Array.from({ length: 6 }, (_, i) => ppoStep(i)),
      samples: [{ step: 5, text: 'a great | *fine* film <script>window.__pwned = 3</script>', score: 1.5 }, { step: 5, text: 'good', score: 0.75 }],
      curves: { svg: 'rlhf/curves.svg', png: 'rlhf/curves.png' },
    },
    divergence: { layers: [0, 1, 2, 3].map((l) => ({ layer: l, divergence: 1.5 + l * (l === 2 ? 2 : 0.5) })), top: [2, 1] },
    layers,
    hook: 'mlp_out',
    saes: models.flatMap((model) => layers.flatMap((layer) => [256, 128].map((size) => ({
      model, layer, size, dir: `sae/${model}/mlp_out.${layer}/${size}`, nmse: 0.1 + rng.next() * 0.2, mse: rng.next() * 0.01,
      l0: 5 + rng.next() * 20, dead: rng.int(9), l1: 1e-3, trainRows: 4000, seconds: 2.5,
    })))),
    mmcs: models.flatMap((model) => layers.map((layer) => {
      const maxCos = Array.from({ length: 256 }, () => Math.min(1, 0.3 + rng.next() * 0.75));
      return { model, layer, match: 'max' as const, mmcs: maxCos.reduce((a, b) => a + b, 0) / maxCos.length, maxCos };
    })),
    features,
    explainer: { name: 'offline', samples: 2, requests: 16, cacheHits: 4, failures: 1 },
    table3,
    simulation: {
      simulator: 'keyword', baseline: 'random-words', perExplanation: [],
      models: Object.fromEntries(models.map((m, i) => [m, { correlation: { mean: 0.25 + 0.1 * i, sd: 0.125, n: 7 }, baseline: { mean: 0.0625, sd: 0.05, n: 7 }, scored: 7, failed: i ? 0 : 1 }])),
    },
    table4: {
      n: 20, prefixTokens: 8, maxNewTokens: 12, seeds: [1, 2, 3], score: 'completion', table: 'vader',
      models: [
        { label: 'base', spec: 'models/default', perSeed: [11.5, 12.25, 10.75], mean: 11.5, std: 0.75, examples: [{ prefix: 'the film', completion: ' was <i>fine</i> | ok', score: 0.5 }] },
        { label: 'tuned', spec: 'rlhf/model', perSeed: [15.125, 16.5, 14.875], mean: 15.5, std: 0.876, examples: [{ prefix: 'this movie', completion: ' was great', score: 2.25 }] },
      ],
    },
  };
}

const SECTION_TITLES = [
  'Run', 'RLHF', 'Divergence per layer', 'Layers studied', 'Dictionaries (Tables 6–7)', 'MMCS of the dictionary pairs',
  'Utility of the explanations (Table 3)', 'Simulation scores', 'Utility of completions (Table 4)', 'Features (Appendix E)',
];
const FIGURES = ['rlhf-reward', 'rlhf-kl', 'divergence', 'sae-metrics', 'mmcs-base-layer-2', 'mmcs-base-layer-1', 'mmcs-tuned-layer-2', 'mmcs-tuned-layer-1', 'table3', 'simulation', 'table4'];
const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function allSections(sections: Section[]): Section[] {
  return sections.flatMap((s) => [s, ...allSections(s.blocks.filter((b): b is Section => b.kind === 'section'))]);
}

/** Every file under `dir` (relative path → bytes). */
function snapshot(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p, `${rel}${name}/`);
      else out.set(`${rel}${name}`, readFileSync(p));
    }
  };
  walk(dir, '');
  return out;
}

const data = fullReport();
const run = join(tmp, 'run');
let written: WrittenReport;

describe('writeReport', () => {
  beforeAll(async () => {
    written = await writeReport(run, data);
  });

  it('writes report.json, report.md, index.html and an SVG and a PNG per figure', () => {
    expect(written.json).toBe(join(run, 'report.json'));
    expect(written.markdown).toBe(join(run, 'report.md'));
    expect(written.html).toBe(join(run, 'index.html'));
    expect(written.figures).toEqual(FIGURES.flatMap((f) => [join(run, 'figures', `${f}.svg`), join(run, 'figures', `${f}.png`)]));
    for (const f of [written.json, written.markdown, written.html, ...written.figures]) expect(existsSync(f), f).toBe(true);
    expect(readdirSync(join(run, 'figures')).sort()).toEqual(written.figures.map((f) => f.slice(join(run, 'figures').length + 1)).sort());
    expect(JSON.parse(readFileSync(written.json, 'utf8'))).toEqual(data);
    for (const f of written.figures) {
      const bytes = readFileSync(f);
      if (f.endsWith('.png')) {
        expect([...bytes.subarray(0, 8)], f).toEqual(PNG_MAGIC);
        expect(bytes.readUInt32BE(16), `${f} width`).toBeGreaterThan(100);
        expect(bytes.readUInt32BE(20), `${f} height`).toBeGreaterThan(100);
      } else {
        const svg = bytes.toString('utf8');
        expect(svg, f).toMatch(/^<\?xml[^>]*\?>\s*<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
        expect(svg.trimEnd().endsWith('</svg>'), f).toBe(true);
      }
    }
    // no temporary file left behind
    expect(readdirSync(run).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('report.md has every section, Tables 3 and 4 in num() format, and no markup from the data', () => {
    const md = readFileSync(written.markdown, 'utf8');
    for (const t of SECTION_TITLES) expect(md, t).toContain(`## ${escapeMarkdown(t)}\n`);
    for (const f of data.features) expect(md).toContain(`#### ${escapeMarkdown(`${f.model} · layer ${f.layer} · feature ${f.feature}`)}`);
    for (const [model, m] of Object.entries(data.table3!.models)) {
      const row = md.split('\n').find((l) => l.startsWith(`| ${model} |`) && l.includes('\\#0:'));
      expect(row, `table 3 row of ${model}`).toBeDefined();
      expect(row).toContain(` ${meanSdText(meanSd(m.perSample.map((p) => p.score)))} | ${m.perSample.length} |`);
      for (const p of m.perSample) expect(row).toContain(escapeMarkdown(`#${p.sample}: ${num(p.score)} (${p.explained}, ${p.failed})`));
    }
    expect(md).toContain('| base | 3.500 ± 0.354 | 2 |');
    for (const m of data.table4!.models) {
      const row = md.split('\n').find((l) => l.startsWith(`| ${m.label} |`) && l.includes(num(m.perSeed[0])));
      expect(row, `table 4 row of ${m.label}`).toBe(`| ${m.label} | ${meanSdText(meanSd(m.perSeed))} | 3 | ${m.perSeed.map((v) => num(v)).join('; ')} |`);
    }
    expect(md).toContain('| tuned | 15.500 ± 0.875 | 3 | 15.125; 16.500; 14.875 |');
    expect(md).not.toMatch(/<script|<img|<b>|<i>/i);
    expect(md).toContain('&lt;script&gt;');
    expect(md).toContain('praise \\| \\*great\\*');
    // word-level records get the spaces their tokenizer's decode would put between tokens
    const tunedRecord = md.slice(md.indexOf('#### tuned')).split('\n').find((l) => l.startsWith('1. record '));
    const sup = '(\\*\\*⁽[⁰¹²³⁴⁵⁶⁷⁸⁹]+⁾)?';
    expect(tunedRecord).toMatch(new RegExp(`: (\\*\\*)?this${sup} (\\*\\*)?film${sup} (\\*\\*)?was${sup} `));
    for (const f of FIGURES) expect(md).toContain(`(figures/${f}.svg)`);
  });

  it('index.html is one self-contained page with escaped text, every section, table and figure', () => {
    const html = readFileSync(written.html, 'utf8');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    // the page's own sorting script is the only script; the data's show as text
    expect(html.match(/<script/gi)).toHaveLength(1);
    expect(html).not.toContain('__pwned = 1</script>');
    expect(html).not.toMatch(/<img|<b>|<i>/i);
    expect(html).toContain('&lt;script&gt;window.__pwned = 1&lt;/script&gt;');
    // nothing fetched from elsewhere: no src attribute, no stylesheet link, links only relative
    expect(html).not.toMatch(/<[a-z][^>]*\ssrc=|<link\b|url\(/i);
    for (const m of html.matchAll(/href="([^"]*)"/g)) expect(m[1]).not.toMatch(/^[a-z]+:|^\/\//i);
    const doc = buildReportDocument(data, reportFigures(data));
    for (const s of allSections(doc.sections)) expect(html).toContain(`<section id="${s.id}"`);
    for (const t of ['stages', 'rlhf-samples', 'divergence', 'saes', 'mmcs', 'table3', 'simulation', 'table4', 'table4-examples', 'features', 'explanations']) {
      expect(html, t).toContain(`<table class="data-table" data-table="${t}">`);
    }
    for (const f of FIGURES) expect(html).toContain(`<figure class="figure" data-figure="${f}">`);
    expect(html).not.toContain('<?xml');
  });

  it('writing again changes nothing, and figures no longer drawn are removed', async () => {
    const before = snapshot(run);
    const again = await writeReport(run, data);
    expect(again).toEqual(written);
    const after = snapshot(run);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [k, v] of before) expect(after.get(k)!.equals(v), k).toBe(true);

    // a report without MMCS and simulation, into the same folder
    const other = join(tmp, 'rewrite');
    await writeReport(other, data);
    writeFileSync(join(other, 'figures', 'notes.txt'), 'the report owns figures/');
    const smaller: ReportData = { ...data, mmcs: [], simulation: undefined };
    const w = await writeReport(other, smaller);
    const names = readdirSync(join(other, 'figures'));
    expect(names.sort()).toEqual(w.figures.map((f) => f.split('/').pop()!).sort());
    expect(names.some((n) => n.startsWith('mmcs-') || n.startsWith('simulation') || n === 'notes.txt')).toBe(false);
    expect(readFileSync(w.markdown, 'utf8')).not.toContain('## Simulation scores');
  });

  it('bad data is refused by name before anything is overwritten', async () => {
    const md = readFileSync(written.markdown);
    const bad = structuredClone(data);
    bad.features[1].top[0].tokens[0].activation = 11;
    await expect(writeReport(run, bad)).rejects.toThrow(/features\[1\]\.top\[0\]\.tokens\[0\]\.activation/);
    expect(readFileSync(written.markdown).equals(md)).toBe(true);
  });

  it('a report of a run that stopped early has only the sections it has', async () => {
    const early: ReportData = {
      version: REPORT_VERSION, name: 'early', createdAt: data.createdAt, config: {}, models: { base: 'b', tuned: '(not trained)', tunedByRlhf: true },
      stages: [{ name: 'rlhf', status: 'failed', seconds: 1, error: 'no model' }], layers: [], hook: 'mlp_out', saes: [], mmcs: [], features: [], explainer: null,
    };
    const w = await writeReport(join(tmp, 'early'), early);
    expect(w.figures).toEqual([]);
    expect(readdirSync(join(tmp, 'early', 'figures'))).toEqual([]);
    const md = readFileSync(w.markdown, 'utf8');
    expect(md).toContain('## Run');
    expect(md).toContain('## Layers studied');
    expect(md).not.toContain('## RLHF');
    expect(readFileSync(w.html, 'utf8')).toContain('<section id="run">');
  });
});

/** The Chromium binary: $REWARDLENS_CHROMIUM, or the Debian/Ubuntu paths. */
function findChromium(): string {
  const env = process.env.REWARDLENS_CHROMIUM;
  if (env) {
    if (!existsSync(env)) throw new Error(`REWARDLENS_CHROMIUM=${env} does not exist`);
    return env;
  }
  const found = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'].find((p) => existsSync(p));
  if (!found) {
    throw new Error('no Chromium for the index.html test: install it (Debian/Ubuntu: `apt-get install -y chromium`; .ci/run does) or set REWARDLENS_CHROMIUM to a Chromium or Chrome binary');
  }
  return found;
}

describe('index.html in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    if (!written) written = await writeReport(run, data);
    // --no-sandbox: Chromium refuses to start as root with its sandbox (CI runs as root); the page is ours
    browser = await chromium.launch({ executablePath: findChromium(), headless: true, args: ['--no-sandbox'] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('renders with no error, runs no script from the data, and shows every section, table row and figure', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(`console.${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('request', (r) => { if (!r.url().startsWith('file:')) errors.push(`request: ${r.url()}`); });
    await page.goto(pathToFileURL(written.html).href, { waitUntil: 'load' });

    expect(await page.title()).toBe('rewardlens report: report test <run>');
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    // the hostile explanation is on the page as text
    expect(await page.locator('table[data-table="features"] td', { hasText: '<script>window.__pwned = 1</script>' }).count()).toBe(1);

    const doc = buildReportDocument(data, reportFigures(data));
    const sections = allSections(doc.sections);
    for (const s of sections) await expect.soft(page.locator(`section#${s.id}`).isVisible(), s.id).resolves.toBe(true);
    expect(await page.locator('section').count()).toBe(sections.length);
    expect(await page.locator('nav.contents a').count()).toBeGreaterThanOrEqual(doc.sections.length);

    const rows = (name: string) => page.locator(`table.data-table[data-table="${name}"] tbody tr`).count();
    expect(await rows('stages')).toBe(data.stages.length);
    expect(await rows('divergence')).toBe(data.divergence!.layers.length);
    expect(await rows('saes')).toBe(data.saes.length);
    expect(await rows('mmcs')).toBe(data.mmcs.length);
    expect(await rows('table3')).toBe(2);
    expect(await rows('simulation')).toBe(2);
    expect(await rows('table4')).toBe(2);
    expect(await rows('features')).toBe(data.features.length);
    expect(await page.locator('table.data-table[data-table="features"]').count()).toBe(4);
    expect(await page.locator('section.feature').count()).toBe(data.features.length);
    expect(await rows('explanations')).toBe(data.features.reduce((a, f) => a + f.explanations.length, 0));
    expect(await page.locator('section.feature ol.records > li').count()).toBe(data.features.length * 5);
    // records read as text, whether the tokens carry their spaces (BPE) or not (word-level)
    const texts = await page.locator('.record-text').allTextContents();
    expect(texts).toHaveLength(data.features.length * 5);
    for (const t of texts) expect(t).toBe(WORDS.join(' '));

    // record tokens: shaded by activation, which the title names
    const shown = data.features.flatMap((f) => f.top.slice(0, 5).flatMap((r) => r.tokens));
    const active = page.locator('.tok[data-activation]');
    expect(await active.count()).toBe(shown.filter((t) => t.activation > 0).length);
    const tok = await active.first().evaluate((el) => ({ a: Number(el.getAttribute('data-activation')), title: el.getAttribute('title'), bg: getComputedStyle(el).backgroundColor }));
    expect(tok.title).toBe(`activation ${tok.a}`);
    expect(tok.bg).toMatch(new RegExp(`^rgba\\(230, 120, 0, ${tok.a === 10 ? '1' : `0\\.${tok.a}`}\\)$|^rgb\\(230, 120, 0\\)$`));

    // every figure inline, drawn at a real size, with its title text
    const figs = await page.locator('figure.figure').evaluateAll((els) => els.map((el) => {
      const svg = el.querySelector('svg');
      const box = svg?.getBoundingClientRect();
      return { name: el.getAttribute('data-figure'), w: box?.width ?? 0, h: box?.height ?? 0, title: svg?.querySelector('text.title')?.textContent ?? '' };
    }));
    expect(figs.map((f) => f.name)).toEqual(FIGURES);
    for (const f of figs) {
      expect(f.w, f.name!).toBeGreaterThan(200);
      expect(f.h, f.name!).toBeGreaterThan(100);
      expect(f.title.length, f.name!).toBeGreaterThan(0);
    }

    // the tables sort on a header click (numbers as numbers)
    await page.locator('table[data-table="saes"] th', { hasText: 'nmse' }).click();
    const nmse = await page.locator('table[data-table="saes"] tbody tr td:nth-child(4)').allTextContents();
    expect(nmse.map(Number)).toEqual([...data.saes.map((s) => Number(num(s.nmse)))].sort((a, b) => a - b));

    const shot = join(tmp, 'index.png');
    await page.screenshot({ path: process.env.REWARDLENS_REPORT_SCREENSHOT ?? shot, fullPage: true });
    const png = readFileSync(process.env.REWARDLENS_REPORT_SCREENSHOT ?? shot);
    expect([...png.subarray(0, 8)]).toEqual(PNG_MAGIC);
    expect(png.length).toBeGreaterThan(100_000);
    expect(png.readUInt32BE(20)).toBeGreaterThan(3000); // a full page, not a blank viewport
    expect(errors).toEqual([]);
    await page.close();
  });
});
