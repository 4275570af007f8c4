// Activation store: values equal the engine's hook output run here row by row, padding excluded,
// several shards, interruption + resume writes the same bytes, F16 = the F32 values rounded, empty
// corpus and corrupt shards give errors that name the file.
import { mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultCorpusReviews, DEFAULT_MODEL_DIR } from '../src/data/defaults.js';
import {
  collectActivations, iterateShards, readActivationStore, readManifest,
} from '../src/interpret/activation-store.js';
import { floatToHalf, halfToFloat } from '../src/io/safetensors.js';
import { loadModel, type LoadedModel } from '../src/model/load.js';
import { readActivations } from '../src/sae/activations-file.js';

const MAX_TOKENS = 12;
let tmp: string;
let data: string;
let model: LoadedModel;
let texts: string[];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'rl-acts-'));
  texts = [...defaultCorpusReviews('test', 11)].map((r) => r.text);
  texts.splice(3, 0, 'great movie'); // shorter than MAX_TOKENS: the rest of its batch row is padding
  texts.splice(7, 0, ''); // no tokens at all: a record without rows
  data = join(tmp, 'reviews.jsonl');
  writeFileSync(data, texts.map((text, i) => JSON.stringify({ text, label: i % 2 })).join('\n') + '\n');
  model = await loadModel(DEFAULT_MODEL_DIR);
});

afterAll(() => {
  model?.engine.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const base = () => ({ model: DEFAULT_MODEL_DIR, dataset: data, layers: [1, 3], maxTokens: MAX_TOKENS, batchSize: 4, shardRows: 30 });

function shardBytes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort()) if (f.startsWith('shard-')) out[f] = readFileSync(join(dir, f)).toString('base64');
  return out;
}

describe('collectActivations', () => {
  it('stores exactly the hook outputs of every real token, in record order, over several shards', async () => {
    const out = join(tmp, 'f32');
    const s = await collectActivations({ ...base(), dtype: 'F32', out, loaded: model });
    expect(s.complete).toBe(true);
    expect(s.records).toBe(texts.length);
    const tok = model.tokenizer!;
    const ids = texts.map((t) => tok.encode(t, { addSpecialTokens: false }).slice(0, MAX_TOKENS));
    const expectedRows = ids.reduce((a, r) => a + r.length, 0);
    expect(ids[3].length).toBeLessThan(MAX_TOKENS);
    expect(ids[7].length).toBe(0);
    expect(s.rows).toBe(expectedRows);

    for (const layer of [1, 3]) {
      const dir = join(out, `mlp_out.${layer}`);
      const m = readManifest(dir);
      expect(m).toMatchObject({ format: 'rewardlens-activations', version: 1, hook: 'mlp_out', layer, d: 128, dtype: 'F32', split: 'test', maxTokens: MAX_TOKENS, records: texts.length, rows: expectedRows, complete: true });
      expect(m.shards.length).toBeGreaterThanOrEqual(3);
      for (const sh of m.shards) expect(sh.rows).toBeLessThanOrEqual(30);
      const store = readActivationStore(dir);
      // reference: each review alone, unpadded, through the engine
      let row = 0;
      let maxErr = 0;
      for (let r = 0; r < ids.length; r++) {
        const n = ids[r].length;
        if (n === 0) continue;
        const hook = new Float32Array(n * 128);
        await model.engine.forward({ inputIds: Int32Array.from(ids[r]), B: 1, T: n }, { hooks: { [`mlp_out.${layer}`]: hook } });
        for (let t = 0; t < n; t++, row++) {
          expect(store.record[row]).toBe(r);
          expect(store.position[row]).toBe(t);
          expect(store.tokenIds[row]).toBe(ids[r][t]);
          for (let k = 0; k < 128; k++) {
            const ref = hook[t * 128 + k];
            // float32 sums in another order (a padded batch against one row): a few ulps of the row's scale
            maxErr = Math.max(maxErr, Math.abs(store.data[row * 128 + k] - ref) / (1e-2 + Math.abs(ref)));
          }
        }
      }
      expect(row).toBe(store.rows);
      expect(maxErr).toBeLessThan(1e-4);
      // readActivations takes the folder too
      const set = readActivations(dir);
      expect(set.rows).toBe(store.rows);
      expect(set.d).toBe(128);
      expect(Buffer.from(set.data.buffer, set.data.byteOffset, set.data.byteLength).equals(Buffer.from(store.data.buffer))).toBe(true);
      // the iterator yields the same rows shard by shard
      let seen = 0;
      for (const sh of iterateShards(dir)) {
        expect(sh.activations).toEqual(store.data.subarray(seen * 128, (seen + sh.rows) * 128));
        seen += sh.rows;
      }
      expect(seen).toBe(store.rows);
    }
  });

  it('F16 stores the F32 values rounded to half precision', async () => {
    const s16 = await collectActivations({ ...base(), layers: [1], dtype: 'F16', out: join(tmp, 'f16'), loaded: model });
    expect(s16.complete).toBe(true);
    const a = readActivationStore(join(tmp, 'f16', 'mlp_out.1'));
    const b = readActivationStore(join(tmp, 'f32', 'mlp_out.1'));
    expect(a.manifest.dtype).toBe('F16');
    expect(a.rows).toBe(b.rows);
    let mismatches = 0;
    for (let i = 0; i < b.data.length; i++) if (a.data[i] !== halfToFloat(floatToHalf(b.data[i]))) mismatches++;
    expect(mismatches).toBe(0);
  });

  it('resumes an interrupted collection and writes the same shards as an uninterrupted run', async () => {
    const out = join(tmp, 'resume');
    const ac = new AbortController();
    const first = await collectActivations({
      ...base(), dtype: 'F32', out, loaded: model, signal: ac.signal,
      onShard: (sh) => { if (sh.index === 1) ac.abort(); },
    });
    expect(first.complete).toBe(false);
    const partial = readManifest(join(out, 'mlp_out.3'));
    expect(partial.complete).toBe(false);
    expect(partial.shards.length).toBe(2);
    expect(() => readActivationStore(join(out, 'mlp_out.3'))).toThrow(/complete.*expected true.*resume/);
    const second = await collectActivations({ ...base(), dtype: 'F32', out, loaded: model });
    expect(second.complete).toBe(true);
    expect(second.resumedFrom).toBe(partial.shards[1].recordEnd);
    for (const layer of [1, 3]) {
      expect(shardBytes(join(out, `mlp_out.${layer}`))).toEqual(shardBytes(join(tmp, 'f32', `mlp_out.${layer}`)));
      const m = readManifest(join(out, `mlp_out.${layer}`));
      const ref = readManifest(join(tmp, 'f32', `mlp_out.${layer}`));
      expect(m).toEqual(ref);
    }
    // a complete store is left as it is
    const third = await collectActivations({ ...base(), dtype: 'F32', out, loaded: model });
    expect(third.complete).toBe(true);
    expect(third.rows).toBe(second.rows);
    // other settings into the same folder: refused, naming the field
    await expect(collectActivations({ ...base(), dtype: 'F16', out, loaded: model })).rejects.toThrow(/manifest\.json.*dtype/);
  });

  it('an empty corpus, a layer past the model and a corrupt shard give clear errors', async () => {
    const empty = join(tmp, 'empty.jsonl');
    writeFileSync(empty, '');
    await expect(collectActivations({ ...base(), dataset: empty, out: join(tmp, 'e'), loaded: model })).rejects.toThrow(/empty\.jsonl.*no reviews in the test split/);
    await expect(collectActivations({ ...base(), layers: [4], out: join(tmp, 'l'), loaded: model })).rejects.toThrow(/mlp_out\.4.*4-layer/);

    const dir = join(tmp, 'corrupt');
    await collectActivations({ ...base(), layers: [1], dtype: 'F32', out: dir, loaded: model });
    const store = join(dir, 'mlp_out.1');
    const shard = join(store, 'shard-00001.safetensors');
    truncateSync(shard, 200);
    expect(() => readActivationStore(store)).toThrow(/shard-00001\.safetensors.*truncated/);
    writeFileSync(join(store, 'manifest.json'), '{"format":"rewardlens-activations"');
    expect(() => readActivationStore(store)).toThrow(/manifest\.json: not valid JSON/);
  });
});
