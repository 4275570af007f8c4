// `rewardlens sae train` and `rewardlens mmcs` end to end through the CLI, checked against
// independent float64 computations on the files they write.
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile, fromF32, writeSafetensors } from '../src/io/safetensors.js';
import { loadSaeFolder } from '../src/sae/saelens.js';
import { syntheticSparseData } from '../src/sae/synthetic.js';
import { runCli } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'rl-cli-'));
const d = 16;
const set = syntheticSparseData({ d, features: 20, rows: 600, activePerRow: 2, seed: 7 });
const actsF16 = join(dir, 'acts-f16.safetensors');
writeSafetensors(actsF16, { activations: { dtype: 'F16', shape: [set.rows, d], data: fromF32('F16', set.data) } });

/** SAELens's standard forward, in float64, from the saved tensors alone. */
function saeLensForward(t: Record<string, Float32Array>, x: Float32Array, rows: number, n: number, applyBDec: boolean) {
  const c = new Float64Array(rows * n);
  const xHat = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < n; j++) {
      let s = t.b_enc[j];
      for (let i = 0; i < d; i++) s += (x[r * d + i] - (applyBDec ? t.b_dec[i] : 0)) * t.W_enc[i * n + j];
      c[r * n + j] = Math.max(0, s);
    }
    for (let i = 0; i < d; i++) {
      let s = t.b_dec[i];
      for (let j = 0; j < n; j++) s += c[r * n + j] * t.W_dec[j * d + i];
      xHat[r * d + i] = s;
    }
  }
  return { c, xHat };
}

function readTensors(folder: string): Record<string, Float32Array> {
  const f = SafetensorsFile.open(join(folder, 'sae_weights.safetensors'));
  try {
    expect(f.names().sort()).toEqual(['W_dec', 'W_enc', 'b_dec', 'b_enc']);
    return Object.fromEntries(f.names().map((k) => [k, f.readF32(k)]));
  } finally {
    f.close();
  }
}

describe('rewardlens sae train', () => {
  const out = join(dir, 'sae-a');
  const n = 24;
  const r = runCli(['sae', 'train', '--activations', actsF16, '--dict-size', String(n), '--epochs', '2', '--seed', '3', '--out', out, '--quiet']);

  it('writes a SAELens folder', () => {
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['cfg.json', 'metrics.jsonl', 'sae_weights.safetensors']);
    const cfg = JSON.parse(readFileSync(join(out, 'cfg.json'), 'utf8'));
    expect(cfg).toMatchObject({
      architecture: 'standard', d_in: d, d_sae: n, dtype: 'float32', apply_b_dec_to_input: false,
      normalize_activations: 'none', metadata: { sae_lens_version: '6.0.0' },
    });
    expect(cfg.rewardlens.config).toMatchObject({ tied: true, l1Coefficient: 1e-3, lr: 1e-3, seed: 3 });
    const f = SafetensorsFile.open(join(out, 'sae_weights.safetensors'));
    expect(f.info('W_enc').shape).toEqual([d, n]);
    expect(f.info('b_enc').shape).toEqual([n]);
    expect(f.info('W_dec').shape).toEqual([n, d]);
    expect(f.info('b_dec').shape).toEqual([d]);
    f.close();
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBe(2 * Math.ceil(set.rows / 32));
    expect(lines[lines.length - 1].step).toBe(lines.length);
    for (const key of ['loss', 'mse', 'l1', 'nmse', 'l0', 'dead']) expect(typeof lines[0][key]).toBe('number');
    expect(lines[lines.length - 1].mse).toBeLessThan(lines[0].mse);
    const summary = JSON.parse(r.stdout.trim());
    expect(summary).toMatchObject({ out, d_in: d, d_sae: n, rows: set.rows });
  });

  it('saves a tied dictionary as unit-norm rows with W_enc = W_decᵀ', () => {
    const t = readTensors(out);
    for (let j = 0; j < n; j++) {
      let norm = 0;
      for (let i = 0; i < d; i++) {
        norm += t.W_dec[j * d + i] ** 2;
        expect(t.W_enc[i * n + j]).toBe(t.W_dec[j * d + i]);
      }
      expect(Math.sqrt(norm)).toBeCloseTo(1, 5);
    }
  });

  it('reads back: the loaded SAE computes what SAELens computes from the files', async () => {
    const t = readTensors(out);
    const sae = loadSaeFolder(out);
    const rows = 50;
    const x = set.data.subarray(0, rows * d);
    const { c, xHat } = await sae.forward(x);
    const ref = saeLensForward(t, x, rows, n, false);
    let maxC = 0;
    let maxX = 0;
    for (let i = 0; i < c.length; i++) maxC = Math.max(maxC, Math.abs(c[i] - ref.c[i]));
    for (let i = 0; i < xHat.length; i++) maxX = Math.max(maxX, Math.abs(xHat[i] - ref.xHat[i]));
    expect(maxC).toBeLessThan(1e-4);
    expect(maxX).toBeLessThan(1e-4);
    const w = sae.weights();
    expect(Array.from(w.W_dec)).toEqual(Array.from(t.W_dec));
    expect(Array.from(w.b_enc)).toEqual(Array.from(t.b_enc));
    sae.dispose();
  });

  it('is repeatable for a seed', () => {
    const out2 = join(dir, 'sae-a2');
    const r2 = runCli(['sae', 'train', '--activations', actsF16, '--dict-size', String(n), '--epochs', '2', '--seed', '3', '--out', out2, '--quiet']);
    expect(r2.code).toBe(0);
    expect(Array.from(readTensors(out2).W_dec)).toEqual(Array.from(readTensors(out).W_dec));
  });

  it('untied, with b_dec applied to the input, round-trips too', async () => {
    const out3 = join(dir, 'sae-untied');
    const r3 = runCli(['sae', 'train', '--activations', actsF16, '--dict-size', '8', '--epochs', '1', '--no-tied', '--apply-b-dec-to-input', '--out', out3, '--quiet']);
    expect(r3.code).toBe(0);
    const cfg = JSON.parse(readFileSync(join(out3, 'cfg.json'), 'utf8'));
    expect(cfg.apply_b_dec_to_input).toBe(true);
    expect(cfg.rewardlens.config.tied).toBe(false);
    const t = readTensors(out3);
    const sae = loadSaeFolder(out3);
    const x = set.data.subarray(0, 10 * d);
    const { c } = await sae.forward(x);
    const ref = saeLensForward(t, x, 10, 8, true);
    for (let i = 0; i < c.length; i++) expect(Math.abs(c[i] - ref.c[i])).toBeLessThan(1e-4);
    sae.dispose();
  });
});

describe('rewardlens sae train: bad input', () => {
  it('a missing file is named, and nothing is written', () => {
    const out = join(dir, 'never');
    const r = runCli(['sae', 'train', '--activations', join(dir, 'missing.safetensors'), '--dict-size', '4', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/missing\.safetensors: file not found/);
    expect(existsSync(out)).toBe(false);
  });
  it('a file without the activations tensor is named with what it holds', () => {
    const p = join(dir, 'other.safetensors');
    writeSafetensors(p, { x: { dtype: 'F32', shape: [2, 2], data: new Float32Array(4) } });
    const r = runCli(['sae', 'train', '--activations', p, '--dict-size', '4', '--out', join(dir, 'never2')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/other\.safetensors: tensor "activations" is missing \(the file holds "x"\)/);
  });
  it('a 1-D activations tensor is rejected with its shape', () => {
    const p = join(dir, 'flat.safetensors');
    writeSafetensors(p, { activations: { dtype: 'F32', shape: [8], data: new Float32Array(8) } });
    const r = runCli(['sae', 'train', '--activations', p, '--dict-size', '4', '--out', join(dir, 'never3')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tensor "activations": expected shape \[N,d\].*found \[8\]/);
  });
  it('NaN activations are named by row and column', () => {
    const p = join(dir, 'nan.safetensors');
    const a = new Float32Array(12).fill(1);
    a[7] = NaN;
    writeSafetensors(p, { activations: { dtype: 'F32', shape: [3, 4], data: a } });
    const r = runCli(['sae', 'train', '--activations', p, '--dict-size', '4', '--out', join(dir, 'never4')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/non-finite value NaN at row 1, column 3/);
  });
  it('a bad dictionary size is a usage error naming the option', () => {
    const r = runCli(['sae', 'train', '--activations', actsF16, '--dict-size', '0', '--out', join(dir, 'never5')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Expected integer between 1 and \d+ for --dict-size but received 0 of type number/);
    expect(existsSync(join(dir, 'never5'))).toBe(false);
  });
  it('a truncated weights file in a folder is reported by mmcs', () => {
    const bad = join(dir, 'bad-folder');
    runCli(['sae', 'train', '--activations', actsF16, '--dict-size', '4', '--epochs', '1', '--out', bad, '--quiet']);
    const w = join(bad, 'sae_weights.safetensors');
    const bytes = readFileSync(w);
    writeFileSync(w, bytes.subarray(0, bytes.length - 10));
    const r = runCli(['mmcs', bad, bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sae_weights\.safetensors: tensor "\w+": data_offsets end at \d+ past the end of the data/);
  });
});

describe('rewardlens mmcs', () => {
  function refMmcs(A: Float32Array, B: Float32Array, dd: number) {
    const n1 = A.length / dd;
    const n2 = B.length / dd;
    const norm = (M: Float32Array, r: number) => Math.sqrt(Array.from(M.subarray(r * dd, (r + 1) * dd)).reduce((s, v) => s + v * v, 0));
    const rows: { a: number; b: number; cos: number }[] = [];
    for (let i = 0; i < n1; i++) {
      let best = -Infinity;
      let arg = -1;
      for (let j = 0; j < n2; j++) {
        let dot = 0;
        for (let k = 0; k < dd; k++) dot += A[i * dd + k] * B[j * dd + k];
        const cos = dot / (norm(A, i) * norm(B, j));
        if (cos > best) { best = cos; arg = j; }
      }
      rows.push({ a: i, b: arg, cos: best });
    }
    return { mmcs: rows.reduce((s, r) => s + r.cos, 0) / n1, rows: rows.sort((x, y) => y.cos - x.cos) };
  }

  it('prints MMCS and the top-k pairs as JSON, between a folder and a plain file', () => {
    const rng = syntheticSparseData({ d: 12, features: 30, rows: 1, activePerRow: 1, seed: 11 });
    const other = syntheticSparseData({ d: 12, features: 17, rows: 1, activePerRow: 1, seed: 12 });
    const fa = join(dir, 'dictA.safetensors');
    const fb = join(dir, 'dictB.safetensors');
    const A = rng.dictionary.map((v, i) => v * (1 + (i % 5)));
    writeSafetensors(fa, { W_dec: { dtype: 'F32', shape: [30, 12], data: A } });
    writeSafetensors(fb, { W_dec: { dtype: 'F32', shape: [17, 12], data: other.dictionary } });
    const r = runCli(['mmcs', fa, fb, '--top-k', '5', '--json']);
    expect(r.code).toBe(0);
    const got = JSON.parse(r.stdout);
    const ref = refMmcs(A, other.dictionary, 12);
    expect(got.mmcs).toBeCloseTo(ref.mmcs, 5);
    expect(got.top).toHaveLength(5);
    got.top.forEach((p: { a: number; b: number; cos: number }, k: number) => {
      expect(p.a).toBe(ref.rows[k].a);
      expect(p.b).toBe(ref.rows[k].b);
      expect(p.cos).toBeCloseTo(ref.rows[k].cos, 5);
    });
    const text = runCli(['mmcs', fa, fb]);
    expect(text.stdout).toMatch(new RegExp(`^MMCS ${ref.mmcs.toFixed(6).slice(0, -1)}`));
  });

  it('dictionaries of different widths are an error naming both', () => {
    const fa = join(dir, 'w8.safetensors');
    const fb = join(dir, 'w9.safetensors');
    writeSafetensors(fa, { W_dec: { dtype: 'F32', shape: [2, 8], data: new Float32Array(16).fill(1) } });
    writeSafetensors(fb, { W_dec: { dtype: 'F32', shape: [2, 9], data: new Float32Array(18).fill(1) } });
    const r = runCli(['mmcs', fa, fb]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Expected dictionaries of the same width \(A has d=8\) for B but received d=9/);
  });
});
