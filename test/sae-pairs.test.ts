// SAE pairs: sizes from the preset (the default model's 256/128), SAELens folders, metrics.json's
// nmse and L0 against a float64 forward computed here from the saved weights on the held-out
// records, presets of the paper's Table 2, the L1 sweep chart, and the CLI commands of the stage.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../src/data/defaults.js';
import { collectActivations, readActivationStore } from '../src/interpret/activation-store.js';
import { parseL1Grid, sweepL1, trainSaePair } from '../src/interpret/sae-pairs.js';
import { saePresetFor, SAE_PRESETS } from '../src/sae/presets.js';
import { readSaeFolder } from '../src/sae/saelens.js';
import { runCli } from './helpers/cli.js';

let tmp: string;
let store: string;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'rl-pairs-'));
  await collectActivations({ model: DEFAULT_MODEL_DIR, layers: [2], limit: 24, maxTokens: 20, dtype: 'F32', out: join(tmp, 'acts') });
  store = join(tmp, 'acts', 'mlp_out.2');
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** nmse and L0 of a saved tied/normalised SAE on rows [from, rows), in float64. */
function reference(dir: string, data: Float32Array, d: number, from: number, rows: number) {
  const { weights, config } = readSaeFolder(dir);
  const n = config.dSae;
  let err = 0;
  let norm = 0;
  let active = 0;
  for (let r = from; r < rows; r++) {
    const x = data.subarray(r * d, (r + 1) * d);
    const xHat = new Float64Array(d);
    for (let k = 0; k < d; k++) xHat[k] = weights.b_dec[k];
    for (let j = 0; j < n; j++) {
      let c = weights.b_enc[j];
      for (let k = 0; k < d; k++) c += x[k] * weights.W_enc[k * n + j];
      if (c <= 0) continue;
      active++;
      for (let k = 0; k < d; k++) xHat[k] += c * weights.W_dec[j * d + k];
    }
    for (let k = 0; k < d; k++) {
      err += (xHat[k] - x[k]) ** 2;
      norm += x[k] ** 2;
    }
  }
  return { nmse: err / norm, l0: active / (rows - from) };
}

describe('trainSaePair', () => {
  it('trains 2·d and d dictionaries with the default preset and reports held-out nmse and L0', async () => {
    const out = join(tmp, 'sae', 'default', 'mlp_out.2');
    const s = await trainSaePair({ activations: store, out, epochs: 2 });
    expect(s.preset).toBe('default');
    expect(s.d).toBe(128);
    expect(s.sizes.map((x) => x.size)).toEqual([256, 128]);
    const acts = readActivationStore(store);
    const cut = s.sizes[0].trainRows;
    // the hold-out starts at a record boundary, near 90% of the rows
    expect(acts.record[cut]).not.toBe(acts.record[cut - 1]);
    expect(Math.abs(cut - 0.9 * acts.rows)).toBeLessThan(25);
    for (const size of [256, 128]) {
      const dir = join(out, String(size));
      const cfg = JSON.parse(readFileSync(join(dir, 'cfg.json'), 'utf8'));
      expect(cfg.d_in).toBe(128);
      expect(cfg.d_sae).toBe(size);
      expect(cfg.rewardlens.config).toMatchObject({ tied: true, l1Coefficient: 1e-3, lr: 1e-3 });
      expect(cfg.metadata.hook_name).toBe('mlp_out.2');
      const metricsLines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n');
      expect(metricsLines.length).toBe(2 * Math.ceil(cut / 32));
      const m = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
      expect(m.evaluation.heldOut).toBe(true);
      expect(m.evaluation.rows).toBe(acts.rows - cut);
      const ref = reference(dir, acts.data, 128, cut, acts.rows);
      expect(m.evaluation.nmse).toBeCloseTo(ref.nmse, 4);
      expect(m.evaluation.l0).toBeCloseTo(ref.l0, 6);
      expect(m.evaluation.nmse).toBeLessThan(1);
      expect(m.evaluation.l0).toBeGreaterThan(0);
    }
  });

  it('evalFraction 0 trains on every row and reports them; bad options are named', async () => {
    const s = await trainSaePair({ activations: store, out: join(tmp, 'all'), sizes: [32], epochs: 1, evalFraction: 0 });
    const acts = readActivationStore(store);
    expect(s.sizes[0].trainRows).toBe(acts.rows);
    expect(s.sizes[0].rows).toBe(acts.rows);
    await expect(trainSaePair({ activations: store, out: join(tmp, 'x'), preset: 'pythia-70m' })).rejects.toThrow(/width 512.*pythia-70m.*width 128/);
    await expect(trainSaePair({ activations: store, out: join(tmp, 'x'), sizes: [0] })).rejects.toThrow(/sizes\[0\]/);
    await expect(trainSaePair({ activations: join(tmp, 'nope'), out: join(tmp, 'x') })).rejects.toThrow(/nope/);
  });

  it('an L1 sweep writes points and the Figure 4 chart', async () => {
    expect(parseL1Grid('1e-4:1e-2:3').map((v) => +v.toPrecision(6))).toEqual([1e-4, 1e-3, 1e-2]);
    expect(parseL1Grid('0.001,0.002')).toEqual([0.001, 0.002]);
    expect(() => parseL1Grid('1e-4:1e-2')).toThrow(/--l1-sweep/);
    const out = join(tmp, 'sweep');
    const r = await sweepL1({ activations: store, out, grid: [1e-4, 1e-1], size: 64, epochs: 1 });
    expect(r.points.map((p) => p.l1)).toEqual([1e-4, 1e-1]);
    // a stronger L1 penalty gives sparser codes
    expect(r.points[1].l0).toBeLessThan(r.points[0].l0);
    for (const f of r.files) expect(existsSync(f)).toBe(true);
    expect(readFileSync(join(out, 'l1-sweep.svg'), 'utf8')).toMatch(/<svg/);
  });
});

describe('SAE presets', () => {
  it("follow the paper's Table 2 and Section 5.2", () => {
    expect(saePresetFor('EleutherAI/pythia-70m@main')).toMatchObject({ large: 1024, small: 512, l1: 1e-3 });
    expect(saePresetFor('pythia-160m')).toMatchObject({ large: 1536, small: 768 });
    expect(saePresetFor('EleutherAI/pythia-410m-deduped')).toMatchObject({ large: 2048, small: 1024 });
    expect(saePresetFor('EleutherAI/gpt-neo-125m')).toMatchObject({ large: 1536, small: 768, l1: 0.0015, l1Code: 0.015 });
    expect(saePresetFor(DEFAULT_MODEL_DIR)).toMatchObject({ d: 128, large: 256, small: 128 });
    expect(saePresetFor({ hiddenSize: 768, modelType: 'gpt_neo' }).name).toBe('gpt-neo-125m');
    expect(saePresetFor({ d: 96 })).toMatchObject({ large: 192, small: 96, l1: 1e-3 });
    for (const p of Object.values(SAE_PRESETS)) expect(p.large).toBe(2 * p.small);
    expect(() => saePresetFor('gpt2')).toThrow(/preset.*gpt2/);
  });
});

describe('CLI: sae pairs, features, mmcs --match', () => {
  it('runs the stage end to end from the command line', () => {
    const out = join(tmp, 'cli', 'sae');
    const r = runCli(['sae', 'pairs', '--activations', store, '--sizes', '64,32', '--epochs', '1', '--out', out, '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).sizes.map((x: { size: number }) => x.size)).toEqual([64, 32]);
    const feats = join(tmp, 'cli', 'features.json');
    const f = runCli(['features', '--activations', store, '--sae', join(out, '64'), '--small', join(out, '32'), '--top-k', '3', '--match', 'hungarian', '--out', feats, '--quiet']);
    expect(f.stderr).toBe('');
    expect(f.code).toBe(0);
    const file = JSON.parse(readFileSync(feats, 'utf8'));
    expect(file.match).toBe('hungarian');
    expect(file.features.length).toBe(3);
    for (const feat of file.features) {
      expect(feat.feature).toBeLessThan(64);
      expect(feat.matchedSmall).toBeLessThan(32);
      expect(feat.model).toBe('default');
    }
    const m = runCli(['mmcs', join(out, '64'), join(out, '32'), '--match', 'hungarian', '--json', '--top-k', '3']);
    expect(m.code).toBe(0);
    expect(JSON.parse(m.stdout).mmcs).toBeCloseTo(file.mmcs, 6);
    const bad = runCli(['sae', 'pairs', '--activations', store, '--sizes', '64,x', '--out', out]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--sizes/);
  });
});
