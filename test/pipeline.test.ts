// The whole pipeline (`rewardlens demo --quick`, `rewardlens run --config`): every stage's outputs in
// the run folder, a rerun that skips everything, a changed setting that redoes only what depends on
// it, a failing stage that is named and leaves earlier outputs intact, and clear errors for bad
// configs, a missing model, mismatched architectures and an empty corpus.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../src/data/defaults.js';
import { saveNeoxCheckpoint } from '../src/model/hf-checkpoint.js';
import { readNeoxConfig } from '../src/model/hf-config.js';
import { NeoxEngine } from '../src/model/neox-engine.js';
import { loadPipelineConfig, PIPELINE_DEFAULTS, resolvePipelineConfig } from '../src/pipeline/config.js';
import { QUICK_DEMO_CONFIG } from '../src/pipeline/demo.js';
import { runCli } from './helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'rewardlens-pipeline-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = join(tmp, 'demo');
interface Summary { run: string; report: string | null; stages: string[]; failed?: string; error?: string }
const summaryOf = (stdout: string): Summary => JSON.parse(stdout.trim().split('\n').pop()!);
const statuses = (s: Summary) => Object.fromEntries(s.stages.map((x) => x.split(':')));

describe('rewardlens demo --quick', () => {
  let first: Summary;
  beforeAll(() => {
    const r = runCli(['demo', '--quick', '--out', run, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    first = summaryOf(r.stdout);
  });

  it('runs every stage and writes each output where DESIGN.md puts it', () => {
    const st = statuses(first);
    for (const s of ['rlhf', 'divergence', 'activations.base', 'activations.tuned', 'explain', 'scores', 'eval-utility']) expect(st[s], s).toBe('done');
    const cfg = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
    expect(cfg.features.topK).toBe(QUICK_DEMO_CONFIG.features.topK);
    const div = JSON.parse(readFileSync(join(run, 'divergence.json'), 'utf8'));
    const layers: number[] = div.top.slice(0, 2);
    expect(layers).toHaveLength(2);
    expect(div.layers).toHaveLength(readNeoxConfig(DEFAULT_MODEL_DIR).numLayers);
    for (const model of ['base', 'tuned']) {
      for (const layer of layers) {
        expect(st[`sae.${model}.${layer}`]).toBe('done');
        const store = join(run, 'activations', model, `mlp_out.${layer}`);
        expect(JSON.parse(readFileSync(join(store, 'manifest.json'), 'utf8')).complete).toBe(true);
        for (const size of [256, 128]) {
          for (const f of ['cfg.json', 'sae_weights.safetensors', 'metrics.json']) expect(existsSync(join(run, 'sae', model, `mlp_out.${layer}`, String(size), f)), `${model} ${layer} ${size} ${f}`).toBe(true);
        }
        const feats = JSON.parse(readFileSync(join(run, 'features', `${model}.mlp_out.${layer}.json`), 'utf8'));
        expect(feats.features).toHaveLength(QUICK_DEMO_CONFIG.features.topK);
        for (const f of feats.features) {
          expect(f.feature).toBeLessThan(256);
          expect(f.matchedSmall).toBeLessThan(128);
        }
      }
    }
    expect(existsSync(join(run, 'rlhf', 'model', 'model.safetensors'))).toBe(true);
    const ex = JSON.parse(readFileSync(join(run, 'explanations', 'explanations.json'), 'utf8'));
    expect(ex.explanations).toHaveLength(2 * 2 * QUICK_DEMO_CONFIG.features.topK * QUICK_DEMO_CONFIG.explain.samples);
    const scores = JSON.parse(readFileSync(join(run, 'scores.json'), 'utf8'));
    expect(Object.keys(scores.table3.models).sort()).toEqual(['base', 'tuned']);
    const t4 = JSON.parse(readFileSync(join(run, 'eval-utility.json'), 'utf8'));
    expect(t4.models.map((m: { label: string }) => m.label)).toEqual(['base', 'tuned']);
    const report = JSON.parse(readFileSync(join(run, 'report.json'), 'utf8'));
    expect(report.version).toBe(1);
    expect(report.layers).toEqual(layers);
    expect(report.saes).toHaveLength(8);
    expect(report.mmcs).toHaveLength(4);
    for (const m of report.mmcs) {
      expect(m.maxCos).toHaveLength(256);
      // MMCS (Eq. 2) is the mean of the per-feature best cosines
      expect(m.mmcs).toBeCloseTo(m.maxCos.reduce((a: number, b: number) => a + b, 0) / m.maxCos.length, 5);
    }
    expect(report.table3.models.tuned.perSample).toHaveLength(QUICK_DEMO_CONFIG.explain.samples);
    expect(report.features).toHaveLength(2 * 2 * QUICK_DEMO_CONFIG.features.topK);
    // the rendered report beside report.json (its content is tested in report.test.ts)
    expect(first.report).toBe(join(run, 'report.md'));
    const md = readFileSync(join(run, 'report.md'), 'utf8');
    for (const title of ['RLHF', 'Divergence per layer', 'Utility of completions \\(Table 4\\)', 'Features \\(Appendix E\\)']) expect(md).toContain(`## ${title}\n`);
    const html = readFileSync(join(run, 'index.html'), 'utf8');
    expect(html.match(/<section id="feature-[^"]*" class="feature"/g)).toHaveLength(report.features.length);
    const figures = readdirSync(join(run, 'figures'));
    for (const f of ['rlhf-reward', 'divergence', 'sae-metrics', 'table3', 'table4', ...report.mmcs.map((m: { model: string; layer: number }) => `mmcs-${m.model}-layer-${m.layer}`)]) {
      for (const ext of ['svg', 'png']) expect(figures, `${f}.${ext}`).toContain(`${f}.${ext}`);
      expect(html).toContain(`data-figure="${f}"`);
    }
  });

  it('a rerun skips every stage; a changed setting redoes only what depends on it', () => {
    const markers = join(run, '.stages');
    const before = Object.fromEntries(readdirSync(markers).map((f) => [f, statSync(join(markers, f)).mtimeMs]));
    const again = runCli(['demo', '--quick', '--out', run, '--quiet']);
    expect(again.code, again.stderr).toBe(0);
    const st = statuses(summaryOf(again.stdout));
    for (const [name, status] of Object.entries(st)) expect(status, name).toBe('cached');
    for (const f of readdirSync(markers)) expect(statSync(join(markers, f)).mtimeMs, f).toBe(before[f]);

    // the same run through a config file with one change: more explanation samples
    const cfgPath = join(tmp, 'changed.json');
    writeFileSync(cfgPath, JSON.stringify({ ...QUICK_DEMO_CONFIG, explain: { samples: 3 } }));
    const changed = runCli(['run', '--config', cfgPath, '--out', run, '--quiet']);
    expect(changed.code, changed.stderr).toBe(0);
    const cs = statuses(summaryOf(changed.stdout));
    for (const name of ['rlhf', 'divergence', 'activations.base', 'activations.tuned', 'eval-utility']) expect(cs[name], name).toBe('cached');
    expect(cs.explain).toBe('done');
    expect(cs.scores).toBe('done');
  });

  it('a failing stage is named, exits 1 and leaves the earlier outputs alone', () => {
    const div = readFileSync(join(run, 'divergence.json'));
    const layer = JSON.parse(div.toString()).top[0];
    const store = join(run, 'activations', 'base', `mlp_out.${layer}`);
    const shard = readdirSync(store).find((f) => f.endsWith('.safetensors'))!;
    truncateSync(join(store, shard), 100);
    const cfgPath = join(tmp, 'more-epochs.json');
    writeFileSync(cfgPath, JSON.stringify({ ...QUICK_DEMO_CONFIG, explain: { samples: 3 }, sae: { epochs: 2 } }));
    const r = runCli(['run', '--config', cfgPath, '--out', run, '--quiet']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/stage "sae\.base\.\d+" failed: .*shard-00000\.safetensors/);
    const s = summaryOf(r.stdout);
    expect(s.failed).toMatch(/^sae\.base\./);
    expect(readFileSync(join(run, 'divergence.json')).equals(div)).toBe(true);
    expect(existsSync(join(run, 'rlhf', 'model', 'model.safetensors'))).toBe(true);
    expect(existsSync(join(run, 'report.json'))).toBe(true);
    expect(readFileSync(join(run, 'index.html'), 'utf8')).toMatch(/<td>sae\.base\.\d+<\/td><td>failed<\/td>/);
  });
});

describe('bad inputs', () => {
  it('config errors name the file and the field', () => {
    const bad = join(tmp, 'bad.yaml');
    writeFileSync(bad, 'name: x\nsae: { epoch: 3 }\n');
    expect(() => loadPipelineConfig(bad)).toThrow(/bad\.yaml: field "sae\.epoch": expected one of the known fields/);
    writeFileSync(bad, 'layers: { top: 0 }\n');
    expect(() => loadPipelineConfig(bad)).toThrow(/field "layers\.top": expected an integer in \[1, /);
    writeFileSync(bad, 'features: { match: greedy }\n');
    expect(() => loadPipelineConfig(bad)).toThrow(/field "features\.match": expected one of "max", "hungarian"/);
    writeFileSync(bad, 'name: [unclosed\n');
    expect(() => loadPipelineConfig(bad)).toThrow(/bad\.yaml: not valid YAML/);
    expect(() => loadPipelineConfig(join(tmp, 'none.yaml'))).toThrow(/none\.yaml: cannot read the config file \(ENOENT\)/);
    const r = runCli(['run', '--config', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^rewardlens: .*bad\.yaml: not valid YAML/);
  });

  it('defaults are documented values and every shipped config resolves', () => {
    const c = resolvePipelineConfig({});
    expect(c.hook).toBe('mlp_out');
    expect(c.sae.lr).toBe(1e-3);
    expect(c.sae.batchSize).toBe(32);
    expect(c.sae.epochs).toBe(3);
    expect(c.features.match).toBe('max');
    expect(c.model).toBe(PIPELINE_DEFAULTS.model);
    for (const f of readdirSync(join(__dirname, '..', 'configs'))) {
      const cfg = loadPipelineConfig(join(__dirname, '..', 'configs', f));
      expect(cfg.name.length, f).toBeGreaterThan(0);
    }
  });

  it('a missing model, mismatched architectures and an empty corpus each fail with a clear error', async () => {
    const missing = join(tmp, 'missing.json');
    writeFileSync(missing, JSON.stringify({ ...QUICK_DEMO_CONFIG, model: join(tmp, 'no-such-model') }));
    const r1 = runCli(['run', '--config', missing, '--out', join(tmp, 'run-missing'), '--quiet']);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/stage "rlhf" failed: .*no-such-model/);

    // a tuned model of another shape
    const other = join(tmp, 'other-model');
    const cfg = { ...readNeoxConfig(DEFAULT_MODEL_DIR), hiddenSize: 64, intermediateSize: 256 };
    const e = NeoxEngine.create(cfg, { seed: 1 });
    await saveNeoxCheckpoint(other, cfg, e, { extraFiles: { 'tokenizer.json': readFileSync(join(DEFAULT_MODEL_DIR, 'tokenizer.json')) } });
    e.dispose();
    const mism = join(tmp, 'mismatch.json');
    writeFileSync(mism, JSON.stringify({ ...QUICK_DEMO_CONFIG, tuned: other }));
    const r2 = runCli(['run', '--config', mism, '--out', join(tmp, 'run-mismatch'), '--quiet']);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/stage "divergence" failed: .*(shape|\[128|\[64)/);
    expect(statuses(summaryOf(r2.stdout)).rlhf).toBe('skipped');

    // an empty corpus
    const empty = join(tmp, 'empty-corpus');
    mkdirSync(empty);
    writeFileSync(join(empty, 'train.jsonl'), '');
    writeFileSync(join(empty, 'test.jsonl'), '');
    const emp = join(tmp, 'empty.json');
    writeFileSync(emp, JSON.stringify({ ...QUICK_DEMO_CONFIG, tuned: DEFAULT_MODEL_DIR, dataset: empty }));
    const r3 = runCli(['run', '--config', emp, '--out', join(tmp, 'run-empty'), '--quiet']);
    expect(r3.code).toBe(1);
    expect(r3.stderr).toMatch(/stage "activations\.base" failed: .*(empty|no review|no records)/i);
    expect(existsSync(join(tmp, 'run-empty', 'divergence.json'))).toBe(true);
  });
});
