// Feature records: encoding against a float64 ReLU(x W_enc + b_enc) computed here, normalisation to
// 0–10 against round(10·a/max) in float64, top-20 order by max activation, records whose max is 0
// skipped, large-dictionary indices (not small), random baseline records, drawShown, recordLines,
// and the features stage writing the shared file format with tokens from the model's tokenizer.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_DIR } from '../src/data/defaults.js';
import { buildFeatureRecords, featuresStage } from '../src/interpret/features.js';
import { drawShown, recordLines, type FeatureRecord, type FeaturesFile } from '../src/interpret/records.js';
import { writeJsonAtomic } from '../src/io/atomic.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { loadTokenizer } from '../src/model/tokenizer.js';
import { saveSaeFolder } from '../src/sae/saelens.js';
import { SparseAutoencoder } from '../src/sae/sparse-autoencoder.js';
import { makeRng } from './helpers/rng.js';

const d = 4;
const n = 6; // large dictionary
const RECORDS = 30;
const SILENT = new Set([2, 11, 17]); // records on which feature 5 never fires
let tmp: string;
let store: string;
let x: Float32Array;
let recordOfRow: number[];
let tokenIds: number[];
let W_enc: Float32Array;
let b_enc: Float32Array;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'rl-feat-'));
  const rng = makeRng(3);
  W_enc = rng.normalArray(d * n); // [d, n]
  b_enc = Float32Array.from({ length: n }, (_, j) => (j === 5 ? 0 : -0.1));
  const rows: number[][] = [];
  recordOfRow = [];
  tokenIds = [];
  const positions: number[] = [];
  for (let r = 0; r < RECORDS; r++) {
    const len = 1 + (r % 6);
    for (let t = 0; t < len; t++) {
      let v = Array.from(rng.normalArray(d), (e, k) => e + 0.5 * W_enc[k * n + 5]); // feature 5 fires on most records
      if (SILENT.has(r)) v = Array.from({ length: d }, (_, k) => -(1 + rng.next()) * W_enc[k * n + 5]);
      rows.push(v);
      recordOfRow.push(r);
      tokenIds.push(5 + ((r * 7 + t * 13) % 200));
      positions.push(t);
    }
  }
  x = Float32Array.from(rows.flat());
  store = join(tmp, 'store', 'mlp_out.1');
  // two shards split at a record boundary
  const cut = recordOfRow.indexOf(15);
  const shard = (file: string, a: number, b: number) => writeSafetensors(join(store, file), {
    activations: { dtype: 'F32', shape: [b - a, d], data: x.subarray(a * d, b * d) },
    token_ids: { dtype: 'I32', shape: [b - a], data: Int32Array.from(tokenIds.slice(a, b)) },
    record: { dtype: 'I32', shape: [b - a], data: Int32Array.from(recordOfRow.slice(a, b)) },
    position: { dtype: 'I32', shape: [b - a], data: Int32Array.from(positions.slice(a, b)) },
  });
  shard('shard-00000.safetensors', 0, cut);
  shard('shard-00001.safetensors', cut, recordOfRow.length);
  writeJsonAtomic(join(store, 'manifest.json'), {
    format: 'rewardlens-activations', version: 1, model: DEFAULT_MODEL_DIR, hook: 'mlp_out', layer: 1, d, dtype: 'F32', split: 'test',
    maxTokens: 50, records: RECORDS, rows: recordOfRow.length, complete: true,
    shards: [
      { file: 'shard-00000.safetensors', rows: cut, recordStart: 0, recordEnd: 15 },
      { file: 'shard-00001.safetensors', rows: recordOfRow.length - cut, recordStart: 15, recordEnd: RECORDS },
    ],
  });
  // the large SAE: untied, free rows, so encode is exactly ReLU(x W_enc + b_enc)
  const W_dec = new Float32Array(n * d);
  for (let j = 0; j < n; j++) for (let k = 0; k < d; k++) W_dec[j * d + k] = W_enc[k * n + j];
  const cfg = { dIn: d, dSae: n, tied: false, normalizeDecoder: false };
  const large = SparseAutoencoder.fromWeights(cfg, { W_enc, b_enc, W_dec, b_dec: new Float32Array(d) });
  await saveSaeFolder(join(tmp, 'large'), large);
  large.dispose();
  // a small dictionary of 3 features: feature 5 of the large one matches its feature 1 exactly
  const smallDec = new Float32Array(3 * d);
  const rng2 = makeRng(4);
  smallDec.set(rng2.normalArray(d), 0);
  for (let k = 0; k < d; k++) smallDec[1 * d + k] = W_dec[5 * d + k];
  smallDec.set(rng2.normalArray(d), 2 * d);
  const smallEnc = new Float32Array(d * 3);
  for (let j = 0; j < 3; j++) for (let k = 0; k < d; k++) smallEnc[k * 3 + j] = smallDec[j * d + k];
  const small = SparseAutoencoder.fromWeights({ dIn: d, dSae: 3, tied: false, normalizeDecoder: false }, { W_enc: smallEnc, b_enc: new Float32Array(3), W_dec: smallDec, b_dec: new Float32Array(d) });
  await saveSaeFolder(join(tmp, 'small'), small);
  small.dispose();
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Float64 activation of large feature j on row r. */
function act(r: number, j: number): number {
  let s = b_enc[j];
  for (let k = 0; k < d; k++) s += x[r * d + k] * W_enc[k * n + j];
  return Math.max(0, s);
}

function referenceRecords(j: number) {
  const recs = Array.from({ length: RECORDS }, (_, r) => {
    const rows = recordOfRow.map((rr, i) => (rr === r ? i : -1)).filter((i) => i >= 0);
    const a = rows.map((i) => act(i, j));
    const max = Math.max(...a);
    return { record: r, max, norm: a.map((v) => (max > 0 ? Math.round((10 * v) / max) : 0)), rows };
  });
  return recs.filter((r) => r.max > 0).sort((p, q) => q.max - p.max || p.record - q.record);
}

describe('buildFeatureRecords', () => {
  it('ranks records by max activation (top 20), normalises to 0–10, skips silent records, keeps the large index', async () => {
    const [f5, f0] = await buildFeatureRecords({
      activations: store, sae: join(tmp, 'large'), model: 'tiny', decode: (id) => `t${id}`, seed: 1,
      features: [{ feature: 5, matchedSmall: 1, matchCos: 1 }, { feature: 0, matchedSmall: 2, matchCos: 0.3 }],
    });
    for (const [got, j] of [[f5, 5], [f0, 0]] as const) {
      const ref = referenceRecords(j);
      expect(got.feature).toBe(j);
      expect(got.layer).toBe(1);
      expect(got.hook).toBe('mlp_out');
      expect(got.model).toBe('tiny');
      expect(got.top.length).toBe(Math.min(20, ref.length));
      got.top.forEach((rec, i) => {
        expect(rec.record).toBe(ref[i].record);
        expect(rec.maxActivation).toBeCloseTo(ref[i].max, 5);
        expect(rec.tokens.map((t) => t.activation)).toEqual(ref[i].norm);
        expect(rec.tokens.map((t) => t.token)).toEqual(ref[i].rows.map((r) => `t${tokenIds[r]}`));
        expect(rec.raw!.length).toBe(rec.tokens.length);
        expect(Math.max(...rec.tokens.map((t) => t.activation))).toBe(10);
      });
    }
    expect(f5.matchedSmall).toBe(1);
    for (const r of SILENT) expect(f5.top.some((rec) => rec.record === r)).toBe(false);
    expect(referenceRecords(5).length).toBeGreaterThan(20); // so the cut at 20 is exercised
    // random baseline: 20 distinct records, the same draw for each feature, silent ones allowed (all 0)
    expect(f5.random.length).toBe(20);
    expect(new Set(f5.random.map((r) => r.record)).size).toBe(20);
    expect(f5.random.map((r) => r.record)).toEqual(f0.random.map((r) => r.record));
    for (const rec of f5.random) {
      if (SILENT.has(rec.record)) expect(rec.tokens.every((t) => t.activation === 0)).toBe(true);
    }
    const again = await buildFeatureRecords({
      activations: store, sae: join(tmp, 'large'), model: 'tiny', decode: (id) => `t${id}`, seed: 2,
      features: [{ feature: 5, matchedSmall: 1, matchCos: 1 }],
    });
    expect(again[0].top).toEqual(f5.top);
    expect(again[0].random.map((r) => r.record)).not.toEqual(f5.random.map((r) => r.record));
  });

  it('the features stage selects by MMCS, decodes tokens with the model tokenizer and writes the shared format', async () => {
    const out = join(tmp, 'run', 'features', 'tiny.mlp_out.1.json');
    const s = await featuresStage({ activations: store, sae: join(tmp, 'large'), small: join(tmp, 'small'), name: 'tiny', topK: 2, runDir: join(tmp, 'run') });
    expect(s.out).toBe(out);
    const file = JSON.parse(readFileSync(out, 'utf8')) as FeaturesFile;
    expect(file.match).toBe('max');
    expect(file.topK).toBe(2);
    expect(file.features.length).toBe(2);
    // feature 5 of the large dictionary equals feature 1 of the small one: it ranks first
    expect(file.features[0].feature).toBe(5);
    expect(file.features[0].matchedSmall).toBe(1);
    expect(file.features[0].matchCos).toBeCloseTo(1, 5);
    const tok = loadTokenizer(DEFAULT_MODEL_DIR);
    const first = file.features[0].top[0];
    const rows = recordOfRow.map((r, i) => (r === first.record ? i : -1)).filter((i) => i >= 0);
    expect(first.tokens.map((t) => t.token)).toEqual(rows.map((r) => tok.decode([tokenIds[r]])));
  });
});

describe('drawShown and recordLines', () => {
  const rec = (i: number): FeatureRecord => ({ record: i, maxActivation: 20 - i, tokens: [{ token: `w${i}`, activation: 10 }] });
  const top = Array.from({ length: 20 }, (_, i) => rec(i));

  it('draws 5 distinct records from the top 20, in rank order, repeatable for a seed', () => {
    const a = drawShown(top, 3);
    expect(a.length).toBe(5);
    expect(new Set(a.map((r) => r.record)).size).toBe(5);
    const ranks = a.map((r) => top.indexOf(r));
    expect(ranks).toEqual([...ranks].sort((p, q) => p - q));
    expect(drawShown(top, 3)).toEqual(a);
    const seeds = new Set(Array.from({ length: 8 }, (_, s) => drawShown(top, s).map((r) => r.record).join(',')));
    expect(seeds.size).toBeGreaterThan(1);
    expect(drawShown(top.slice(0, 3), 0).length).toBe(3);
    expect(drawShown(top, 0, 2).length).toBe(2);
  });

  it('lists token<TAB>activation, repeating the non-zero pairs when under a fifth of tokens are non-zero', () => {
    const sparse: FeatureRecord = {
      record: 0, maxActivation: 1,
      tokens: Array.from({ length: 11 }, (_, i) => ({ token: `w${i}`, activation: i === 4 ? 10 : i === 7 ? 3 : 0 })),
    };
    const lines = recordLines(sparse);
    expect(lines.slice(0, 11)).toEqual(sparse.tokens.map((t) => `${t.token}\t${t.activation}`));
    expect(lines.slice(11)).toEqual(['w4\t10', 'w7\t3']); // 2 of 11 < 11/5
    const dense: FeatureRecord = { ...sparse, tokens: sparse.tokens.map((t, i) => ({ ...t, activation: i % 3 === 0 ? 5 : 0 })) };
    expect(recordLines(dense).length).toBe(11); // 4 of 11 ≥ 11/5
  });
});
