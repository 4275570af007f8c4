// Hugging Face checkpoints: finding the files, loading into a parameter store (the fixture, a sharded
// copy, F16/BF16 copies, a store over one shared buffer like the native engine's), saving and loading
// back, and each bad-file case.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileFormatError } from '../src/errors.js';
import { SafetensorsFile, floatToHalf, fromF32, halfToFloat, toF32 } from '../src/io/safetensors.js';
import { readNeoxConfig } from '../src/model/hf-config.js';
import {
  HostParameters, loadHostParameters, loadNeoxWeights, resolveCheckpointFiles, saveNeoxCheckpoint, type ParameterStore,
} from '../src/model/hf-checkpoint.js';
import { neoxParameterSpecs, type NeoxConfig } from '../src/model/neox-config.js';
import {
  FIXTURE_DIR, FIXTURE_MODEL, copyFixture, entries, fixtureWith, halfFixture, pack, readRaw, shardedFixture,
} from './helpers/hf-files.js';
import { makeRng } from './helpers/rng.js';

const tmp = mkdtempSync(join(tmpdir(), 'rl-hfckpt-'));
let counter = 0;
const fresh = (tag: string) => join(tmp, `${tag}-${counter++}`);
const cfg = readNeoxConfig(FIXTURE_DIR);

/** The fixture's tensors read directly, as the reference for every comparison. */
const reference = (() => {
  const f = SafetensorsFile.open(FIXTURE_MODEL);
  const out = new Map<string, Float32Array>();
  for (const name of f.names()) out.set(name, f.readF32(name));
  f.close();
  return out;
})();

function errorOf(fn: () => unknown): FileFormatError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FileFormatError);
    return err as FileFormatError;
  }
  throw new Error('expected an error');
}

function maxRelErr(got: Float32Array, ref: Float32Array): number {
  let m = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = Math.abs(ref[i]);
    if (r > 1e-4) m = Math.max(m, Math.abs(got[i] - ref[i]) / r);
  }
  return m;
}

/** A store whose parameters are views into one ArrayBuffer at odd offsets, like native memory. */
class PackedParameters implements ParameterStore {
  readonly buffer: ArrayBuffer;
  private readonly views = new Map<string, Float32Array>();
  private readonly specs: { name: string; shape: number[] }[];
  constructor(config: NeoxConfig, opts: { valueHead?: boolean } = {}) {
    this.specs = neoxParameterSpecs(config, opts);
    const sizes = this.specs.map((s) => s.shape.reduce((a, b) => a * b, 1));
    this.buffer = new ArrayBuffer(4 * (sizes.reduce((a, b) => a + b, 0) + 3 * sizes.length + 3));
    new Float32Array(this.buffer).fill(NaN);
    let off = 3;
    this.specs.forEach((s, i) => {
      this.views.set(s.name, new Float32Array(this.buffer, 4 * off, sizes[i]));
      off += sizes[i] + 3; // a gap of 3 floats that must stay NaN
    });
  }
  parameters() {
    return this.specs;
  }
  parameter(name: string): Float32Array {
    return this.views.get(name)!;
  }
}

function expectMatchesReference(store: ParameterStore, compare: (name: string, got: Float32Array, ref: Float32Array) => void = (n, g, r) => expect(g, n).toEqual(r)): void {
  for (const { name } of store.parameters()) compare(name, store.parameter(name), reference.get(name)!);
}

describe('resolveCheckpointFiles', () => {
  it('finds model.safetensors', () => {
    expect(resolveCheckpointFiles(FIXTURE_DIR)).toEqual({ dir: FIXTURE_DIR, kind: 'single', files: [FIXTURE_MODEL], index: null, weightMap: null });
  });

  it('finds a sharded checkpoint through its index', () => {
    const { dir, shards } = shardedFixture(fresh('sh'));
    const r = resolveCheckpointFiles(dir);
    expect(r.kind).toBe('sharded');
    expect(r.files).toEqual(shards.map((s) => join(dir, s)));
    expect(r.index).toBe(join(dir, 'model.safetensors.index.json'));
    expect(r.weightMap!.size).toBe(reference.size);
  });

  it('explains how to convert a pickle-only folder', () => {
    for (const name of ['pytorch_model.bin', 'pytorch_model.bin.index.json']) {
      const dir = fresh('bin');
      mkdirSync(dir);
      writeFileSync(join(dir, name), 'x');
      const e = errorOf(() => resolveCheckpointFiles(dir));
      expect(e.message).toContain(`found ${name}`);
      expect(e.message).toContain('safe_serialization=True');
      expect(e.message).toContain('save_pretrained');
      expect(e.message).toContain('safetensors.torch import save_file');
    }
  });

  it('names the folder and what it looked for when there are no weights', () => {
    const dir = fresh('empty');
    mkdirSync(dir);
    const e = errorOf(() => resolveCheckpointFiles(dir));
    expect(e.message).toBe(`${dir}: no model weights: looked for model.safetensors, model.safetensors.index.json (safetensors) and pytorch_model.bin, pytorch_model.bin.index.json`);
    expect(errorOf(() => resolveCheckpointFiles(join(dir, 'nope'))).message).toContain('model folder not found');
  });

  it('validates the index: bad JSON, a bad weight_map, missing shards, paths outside the folder', () => {
    const make = (index: string) => {
      const { dir } = shardedFixture(fresh('idx'));
      writeFileSync(join(dir, 'model.safetensors.index.json'), index);
      return dir;
    };
    const indexOf = (dir: string) => join(dir, 'model.safetensors.index.json');
    let dir = make('{"weight_map": {');
    expect(errorOf(() => resolveCheckpointFiles(dir)).message).toContain(`${indexOf(dir)}: not valid JSON`);
    dir = make('{"weight_map": ["a"]}');
    expect(errorOf(() => resolveCheckpointFiles(dir)).message).toBe(`${indexOf(dir)}: field "weight_map": expected an object {tensor name: shard file} but found an array ["a"]`);
    dir = make('{"metadata": {}}');
    expect(errorOf(() => resolveCheckpointFiles(dir)).message).toContain('field "weight_map"');
    dir = make('{"weight_map": {"a": 3}}');
    expect(errorOf(() => resolveCheckpointFiles(dir)).message).toContain('field "weight_map.a": expected a shard file name');
    dir = make('{"weight_map": {"a": "../model.safetensors"}}');
    expect(errorOf(() => resolveCheckpointFiles(dir)).message).toContain('field "weight_map.a"');
    const { dir: d2, shards } = shardedFixture(fresh('miss'));
    rmSync(join(d2, shards[1]));
    const e = errorOf(() => resolveCheckpointFiles(d2));
    expect(e.message).toBe(`${indexOf(d2)}: 1 of 2 shard file(s) named in "weight_map" are missing: ${shards[1]}`);
  });
});

describe('loadNeoxWeights', () => {
  it('loads the fixture exactly into HostParameters', () => {
    const host = new HostParameters(cfg);
    const progress: number[] = [];
    const report = loadNeoxWeights(FIXTURE_DIR, cfg, host, { onProgress: (done) => progress.push(done) });
    expectMatchesReference(host);
    const specs = neoxParameterSpecs(cfg);
    expect(report.loaded).toEqual(specs.map((s) => s.name));
    expect(report.dtypes).toEqual({ F32: specs.length });
    expect(report.skipped).toEqual([]);
    expect(report.valueHead).toBe(false);
    expect(progress.at(-1)).toBe(specs.length);
    expect(host.numel()).toBe([...reference.values()].reduce((a, t) => a + t.length, 0));
  });

  it('reads config and weights in one call with loadHostParameters', () => {
    const { config, params, report } = loadHostParameters(FIXTURE_DIR, { withValueHead: true });
    expect(config).toEqual(cfg);
    expect(report.valueHead).toBe(false);
    expect(params.has('v_head.summary.weight')).toBe(true);
    expectMatchesReference({ parameters: () => neoxParameterSpecs(cfg), parameter: (n) => params.parameter(n) });
  });

  it('writes into views over one shared buffer without touching the bytes between them', () => {
    const packed = new PackedParameters(cfg);
    loadNeoxWeights(FIXTURE_DIR, cfg, packed);
    expectMatchesReference(packed);
    const all = new Float32Array(packed.buffer);
    const written = new Set<number>();
    for (const { name } of packed.parameters()) {
      const v = packed.parameter(name);
      for (let i = 0; i < v.length; i++) written.add(v.byteOffset / 4 + i);
    }
    for (let i = 0; i < all.length; i++) if (!written.has(i)) expect(all[i]).toBeNaN();
  });

  it('loads a sharded copy identically', () => {
    const { dir } = shardedFixture(fresh('sh'), 2);
    const host = new HostParameters(cfg);
    const report = loadNeoxWeights(dir, cfg, host);
    expectMatchesReference(host);
    expect(report.files).toHaveLength(2);
  });

  it.each(['F16', 'BF16'] as const)('loads a %s copy within its precision, decoding exactly', (dtype) => {
    const dir = halfFixture(fresh(dtype), dtype);
    const host = new HostParameters(cfg);
    const report = loadNeoxWeights(dir, cfg, host);
    expect(report.dtypes).toEqual({ [dtype]: neoxParameterSpecs(cfg).length });
    // Decoding is exact: the loaded values are the stored half-precision values widened.
    expectMatchesReference(host, (name, got, ref) => expect(got, name).toEqual(toF32(dtype, new Uint8Array(fromF32(dtype, ref).buffer))));
    // And within half a unit in the last place of the original (2^-11 for F16, 2^-8 for BF16).
    const bound = dtype === 'F16' ? 2 ** -11 : 2 ** -8;
    expectMatchesReference(host, (name, got, ref) => expect(maxRelErr(got, ref), name).toBeLessThanOrEqual(bound * 1.0001));
    // Small conversion chunks (parts of a row at a time) give the same values.
    const chunked = new HostParameters(cfg);
    loadNeoxWeights(dir, cfg, chunked, { chunkBytes: 10 });
    for (const { name } of host.parameters()) expect(chunked.parameter(name), name).toEqual(host.parameter(name));
  });

  it('loads F64 tensors, narrowing them', () => {
    const raw = readRaw(FIXTURE_MODEL);
    const f64 = entries(raw).map((t) => ({ ...t, dtype: 'F64', bytes: new Uint8Array(Float64Array.from(toF32('F32', new Uint8Array(t.bytes))).buffer) }));
    const dir = fixtureWith(fresh('f64'), pack(f64));
    const host = new HostParameters(cfg);
    loadNeoxWeights(dir, cfg, host, { chunkBytes: 1000 });
    expectMatchesReference(host);
  });

  it('skips the buffers transformers has written, and embed_out when embeddings are tied', () => {
    const raw = readRaw(FIXTURE_MODEL);
    const extra = [
      { name: 'gpt_neox.layers.0.attention.bias', dtype: 'BOOL', shape: [1, 1, 64, 64], bytes: new Uint8Array(64 * 64).fill(1) },
      { name: 'gpt_neox.layers.0.attention.masked_bias', dtype: 'F32', shape: [], bytes: new Uint8Array(new Float32Array([-1e9]).buffer) },
      { name: 'gpt_neox.layers.1.attention.rotary_emb.inv_freq', dtype: 'F32', shape: [2], bytes: new Uint8Array(8) },
    ];
    const dir = fixtureWith(fresh('buf'), pack([...entries(raw), ...extra]));
    const host = new HostParameters(cfg);
    const report = loadNeoxWeights(dir, cfg, host);
    expectMatchesReference(host);
    expect(report.skipped).toEqual(extra.map((e) => ({ name: e.name, reason: 'buffer' })));

    const tied: NeoxConfig = { ...cfg, tieWordEmbeddings: true };
    const tiedHost = new HostParameters(tied);
    expect(tiedHost.has('embed_out.weight')).toBe(false);
    const r2 = loadNeoxWeights(FIXTURE_DIR, tied, tiedHost);
    expect(r2.skipped).toEqual([{ name: 'embed_out.weight', reason: 'tied to gpt_neox.embed_in.weight' }]);
    expectMatchesReference(tiedHost);
  });

  it('rejects unknown tensors by default, or warns, or ignores them', () => {
    const raw = readRaw(FIXTURE_MODEL);
    const extra = { name: 'score.weight', dtype: 'F32', shape: [1, 64], bytes: new Uint8Array(256) };
    const dir = fixtureWith(fresh('unk'), pack([...entries(raw), extra]));
    const host = new HostParameters(cfg);
    const e = errorOf(() => loadNeoxWeights(dir, cfg, host));
    expect(e.message).toContain('"score.weight"');
    expect(e.message).toContain("unknownTensors: 'warn'");
    expect(host.parameter('gpt_neox.embed_in.weight').every((v) => v === 0)).toBe(true); // nothing written
    const warnings: string[] = [];
    const report = loadNeoxWeights(dir, cfg, host, { unknownTensors: 'warn', onWarning: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('"score.weight"');
    expect(report.skipped).toEqual([{ name: 'score.weight', reason: 'unknown' }]);
    expectMatchesReference(host);
    const quiet: string[] = [];
    loadNeoxWeights(dir, cfg, new HostParameters(cfg), { unknownTensors: 'ignore', onWarning: (m) => quiet.push(m) });
    expect(quiet).toEqual([]);
  });

  it('loads the value head when present and requested, and otherwise leaves it or skips it', () => {
    const h = cfg.hiddenSize;
    const vw = makeRng(3).normalArray(h);
    const vb = new Float32Array([0.25]);
    const raw = readRaw(FIXTURE_MODEL);
    const withHead = fixtureWith(fresh('vh'), pack([
      ...entries(raw),
      { name: 'v_head.summary.weight', dtype: 'F32', shape: [1, h], bytes: new Uint8Array(vw.buffer) },
      { name: 'v_head.summary.bias', dtype: 'F32', shape: [1], bytes: new Uint8Array(vb.buffer) },
    ]));
    const host = new HostParameters(cfg, { valueHead: true });
    const r = loadNeoxWeights(withHead, cfg, host);
    expect(r.valueHead).toBe(true);
    expect(host.parameter('v_head.summary.weight')).toEqual(vw);
    expect(host.parameter('v_head.summary.bias')).toEqual(vb);

    // Absent: left as initialised ('if-present'), or an error ('required').
    const init = new HostParameters(cfg, { valueHead: true });
    init.parameter('v_head.summary.bias')[0] = 7;
    expect(loadNeoxWeights(FIXTURE_DIR, cfg, init).valueHead).toBe(false);
    expect(init.parameter('v_head.summary.bias')[0]).toBe(7);
    const e = errorOf(() => loadNeoxWeights(FIXTURE_DIR, cfg, init, { valueHead: 'required' }));
    expect(e.message).toContain('"v_head.summary.weight"');
    expect(e.message).toContain(`searched ${FIXTURE_MODEL}`);

    // Present but not wanted: skipped.
    const skip = new HostParameters(cfg, { valueHead: true });
    const r2 = loadNeoxWeights(withHead, cfg, skip, { valueHead: 'skip' });
    expect(r2.valueHead).toBe(false);
    expect(skip.parameter('v_head.summary.bias')[0]).toBe(0);
    const noHead = new HostParameters(cfg);
    const r3 = loadNeoxWeights(withHead, cfg, noHead);
    expect(r3.skipped.map((s) => s.name)).toEqual(['v_head.summary.weight', 'v_head.summary.bias']);
    expectMatchesReference(noHead);
  });

  it('names the tensor and the files searched when one is missing', () => {
    const raw = readRaw(FIXTURE_MODEL);
    const name = 'gpt_neox.layers.1.mlp.dense_4h_to_h.bias';
    const dir = fixtureWith(fresh('missing'), pack(entries(raw).filter((t) => t.name !== name)));
    const e = errorOf(() => loadNeoxWeights(dir, cfg, new HostParameters(cfg)));
    expect(e.message).toBe(`${join(dir, 'model.safetensors')}: tensor "${name}" missing (searched ${join(dir, 'model.safetensors')})`);

    const { dir: sdir, weightMap } = shardedFixture(fresh('shmiss'));
    delete weightMap[name];
    writeFileSync(join(sdir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
    const e2 = errorOf(() => loadNeoxWeights(sdir, cfg, new HostParameters(cfg), { unknownTensors: 'ignore' }));
    expect(e2.message).toContain(`tensor "${name}" missing`);
    expect(e2.message).toContain('model.safetensors.index.json (weight_map) and its 2 shard(s)');
  });

  it('names the shard when the index points at one without the tensor', () => {
    const { dir, weightMap, shards } = shardedFixture(fresh('wrongshard'));
    const name = Object.keys(weightMap).find((k) => weightMap[k] === shards[0])!;
    weightMap[name] = shards[1];
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
    const e = errorOf(() => loadNeoxWeights(dir, cfg, new HostParameters(cfg)));
    expect(e.message).toContain(`field "weight_map.${name}": names shard ${shards[1]}, which does not hold that tensor`);
  });

  it('names the file, tensor and both shapes for a misshapen tensor, and leaves the store untouched', () => {
    const raw = readRaw(FIXTURE_MODEL);
    const name = 'gpt_neox.layers.0.attention.query_key_value.weight';
    raw.header[name].shape = [64, 192];
    const dir = fixtureWith(fresh('shape'), raw);
    const host = new HostParameters(cfg);
    const e = errorOf(() => loadNeoxWeights(dir, cfg, host));
    expect(e.message).toBe(`${join(dir, 'model.safetensors')}: tensor "${name}": expected shape [192,64] but found [64,192]`);
    for (const { name: n } of host.parameters()) expect(host.parameter(n).every((v) => v === 0)).toBe(true);
  });

  it('rejects an unknown dtype and a non-float dtype', () => {
    const raw = readRaw(FIXTURE_MODEL);
    const name = 'gpt_neox.final_layer_norm.bias';
    raw.header[name].dtype = 'F8_E4M3';
    const dir = fixtureWith(fresh('dtype'), raw);
    const e = errorOf(() => loadNeoxWeights(dir, cfg, new HostParameters(cfg)));
    expect(e.message).toContain(join(dir, 'model.safetensors'));
    expect(e.message).toContain(`tensor "${name}": unknown dtype "F8_E4M3"`);

    const raw2 = readRaw(FIXTURE_MODEL);
    raw2.header[name].dtype = 'I32';
    const dir2 = fixtureWith(fresh('dtype'), raw2);
    expect(errorOf(() => loadNeoxWeights(dir2, cfg, new HostParameters(cfg))).message)
      .toBe(`${join(dir2, 'model.safetensors')}: tensor "${name}": expected dtype F32, F16, BF16 or F64 but found I32`);
  });

  it('rejects offsets past the end of the data', () => {
    const raw = readRaw(FIXTURE_MODEL);
    const name = 'embed_out.weight';
    const [a, b] = raw.header[name].data_offsets;
    raw.header[name].data_offsets = [a + raw.data.length, b + raw.data.length];
    const dir = fixtureWith(fresh('offs'), raw);
    const e = errorOf(() => loadNeoxWeights(dir, cfg, new HostParameters(cfg)));
    expect(e.message).toContain(`tensor "${name}": data_offsets end at ${b + raw.data.length} past the end of the data`);
  });

  it('rejects a truncated shard, naming it', () => {
    const { dir, shards } = shardedFixture(fresh('trunc'));
    const path = join(dir, shards[1]);
    truncateSync(path, statSync(path).size - 100);
    const e = errorOf(() => loadNeoxWeights(dir, cfg, new HostParameters(cfg)));
    expect(e.message).toContain(path);
    expect(e.message).toContain('truncated');
    // Cut inside the header too.
    const single = copyFixture(fresh('trunc1'));
    truncateSync(join(single, 'model.safetensors'), 20);
    expect(errorOf(() => loadNeoxWeights(single, cfg, new HostParameters(cfg))).message).toContain('truncated');
  });

  it('rejects a store that does not match the config', () => {
    const other: NeoxConfig = { ...cfg, intermediateSize: 128 };
    expect(() => loadNeoxWeights(FIXTURE_DIR, cfg, new HostParameters(other))).toThrow(/Expected shape \[256,64\] \(from the config\) for sink parameter gpt_neox\.layers\.0\.mlp\.dense_h_to_4h\.weight but received \[128,64\]/);
    const odd: ParameterStore = { parameters: () => [{ name: 'lm_head.weight', shape: [96, 64] }], parameter: () => new Float32Array(96 * 64) };
    expect(() => loadNeoxWeights(FIXTURE_DIR, cfg, odd)).toThrow(RangeError);
  });
});

describe('saveNeoxCheckpoint', () => {
  function randomHost(config: NeoxConfig, seed: number, valueHead = false): HostParameters {
    const rng = makeRng(seed);
    const host = new HostParameters(config, { valueHead });
    for (const { name } of host.parameters()) host.parameter(name).set(rng.normalArray(host.parameter(name).length, 0.5));
    return host;
  }

  it('round-trips F32 exactly, with config.json and metadata as transformers writes them', async () => {
    const src = randomHost(cfg, 1);
    const dir = fresh('save');
    await saveNeoxCheckpoint(dir, cfg, src, { metadata: { rewardlens: 'test' } });
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
    expect(readNeoxConfig(dir)).toEqual(cfg);
    const json = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(json).toMatchObject({ architectures: ['GPTNeoXForCausalLM'], torch_dtype: 'float32', dtype: 'float32' });
    const f = SafetensorsFile.open(join(dir, 'model.safetensors'));
    expect(f.metadata).toEqual({ rewardlens: 'test', format: 'pt' });
    expect(f.names().sort()).toEqual(neoxParameterSpecs(cfg).map((s) => s.name).sort());
    f.close();
    expect(Number(readFileSync(join(dir, 'model.safetensors')).readBigUInt64LE(0)) % 8).toBe(0);
    const back = new HostParameters(readNeoxConfig(dir));
    loadNeoxWeights(dir, readNeoxConfig(dir), back);
    for (const { name } of src.parameters()) expect(back.parameter(name), name).toEqual(src.parameter(name));
    expect(readdirSync(tmp).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('round-trips F16 and BF16 within their precision', async () => {
    const src = randomHost(cfg, 2);
    for (const dtype of ['F16', 'BF16'] as const) {
      const dir = fresh(`save${dtype}`);
      await saveNeoxCheckpoint(dir, cfg, src, { dtype });
      expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).torch_dtype).toBe(dtype === 'F16' ? 'float16' : 'bfloat16');
      const back = new HostParameters(cfg);
      expect(loadNeoxWeights(dir, cfg, back).dtypes).toEqual({ [dtype]: neoxParameterSpecs(cfg).length });
      for (const { name } of src.parameters()) {
        const s = src.parameter(name);
        expect(back.parameter(name), name).toEqual(toF32(dtype, new Uint8Array(fromF32(dtype, s).buffer)));
        expect(maxRelErr(back.parameter(name), s)).toBeLessThanOrEqual((dtype === 'F16' ? 2 ** -11 : 2 ** -8) * 1.0001);
      }
    }
  });

  it('rounds to F16 exactly as floatToHalf does, edge cases included', async () => {
    const src = randomHost(cfg, 5);
    const edge = [0, -0, 1, -1, 65504, -65504, 65519, -65519.99, 2 ** -14, 2 ** -24, 2 ** -25, 2 ** -25 * 1.5, 3 * 2 ** -26, 2 ** -26,
      5.960464477539063e-8, 6.097555160522461e-5, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 / 3, Infinity, -Infinity, NaN, 1e-30, -1e-30];
    const w = src.parameter('gpt_neox.layers.1.mlp.dense_4h_to_h.bias');
    w.set(edge);
    const dir = fresh('f16edge');
    await saveNeoxCheckpoint(dir, cfg, src, { dtype: 'F16' });
    const raw = readRaw(join(dir, 'model.safetensors'));
    for (const { name } of src.parameters()) {
      const [a, b] = raw.header[name].data_offsets;
      const stored = new Uint16Array(raw.data.buffer.slice(raw.data.byteOffset + a, raw.data.byteOffset + b));
      const s = src.parameter(name);
      const want = Uint16Array.from(s, (x) => floatToHalf(x));
      expect(stored, name).toEqual(want);
    }
    expect(halfToFloat(floatToHalf(65519))).toBe(65504);
  });

  it('saves the value head on request, tied models without embed_out, and replaces an existing folder', async () => {
    const tied: NeoxConfig = { ...cfg, tieWordEmbeddings: true, attentionBias: false };
    const src = randomHost(tied, 3, true);
    const dir = fresh('vh');
    mkdirSync(dir);
    writeFileSync(join(dir, 'stale.txt'), 'old');
    await saveNeoxCheckpoint(dir, tied, src, { includeValueHead: true, extraFiles: { 'tokenizer.json': '{}' } });
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    const f = SafetensorsFile.open(join(dir, 'model.safetensors'));
    expect(f.has('embed_out.weight')).toBe(false);
    expect(f.has('gpt_neox.layers.0.attention.dense.bias')).toBe(false);
    expect(f.info('v_head.summary.weight').shape).toEqual([1, tied.hiddenSize]);
    f.close();
    const back = new HostParameters(readNeoxConfig(dir), { valueHead: true });
    expect(loadNeoxWeights(dir, readNeoxConfig(dir), back, { valueHead: 'required' }).valueHead).toBe(true);
    for (const { name } of src.parameters()) expect(back.parameter(name), name).toEqual(src.parameter(name));
    // Without includeValueHead the head stays out of the file.
    const dir2 = fresh('novh');
    await saveNeoxCheckpoint(dir2, tied, src);
    expect(SafetensorsFile.open(join(dir2, 'model.safetensors')).has('v_head.summary.bias')).toBe(false);
  });

  it('refuses bad sources and F16 overflow, leaving no folder behind', async () => {
    const src = randomHost(cfg, 4);
    const dir = fresh('bad');
    await expect(saveNeoxCheckpoint(dir, cfg, src, { includeValueHead: true })).rejects.toThrow(/v_head\.summary\.weight.*includeValueHead/);
    src.parameter('embed_out.weight')[5] = 1e6;
    await expect(saveNeoxCheckpoint(dir, cfg, src, { dtype: 'F16' })).rejects.toThrow(/magnitude below 65520; its largest is 65504\) for embed_out\.weight but received 1000000 at index 5/);
    await expect(saveNeoxCheckpoint(dir, { ...cfg, hiddenSize: 32, numHeads: 2 }, src)).rejects.toThrow(RangeError);
    await expect(saveNeoxCheckpoint(dir, cfg, src, { extraFiles: { '../x': 'y' } })).rejects.toThrow(/extraFiles/);
    expect(existsSync(dir)).toBe(false);
    expect(readdirSync(tmp).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('saves what it loaded from the fixture byte-identically in F32', async () => {
    const host = new HostParameters(cfg);
    loadNeoxWeights(FIXTURE_DIR, cfg, host);
    const dir = fresh('resave');
    await saveNeoxCheckpoint(dir, cfg, host);
    const f = SafetensorsFile.open(join(dir, 'model.safetensors'));
    for (const [name, ref] of reference) expect(f.readF32(name), name).toEqual(ref);
    f.close();
  });
});
