// Divergence: per-layer sums of Frobenius norms equal float64 sums computed here from the parameter
// arrays (and hand-checked values for constant shifts), sorted descending; embeddings and the final
// layer norm ignored; GPT-Neo names; mismatched architectures refused naming the tensor and shapes.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeDivergence, divergenceStage, layerOfTensor } from '../src/interpret/divergence.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { HostParameters, saveNeoxCheckpoint } from '../src/model/hf-checkpoint.js';
import type { NeoxConfig } from '../src/model/neox-config.js';
import { makeRng } from './helpers/rng.js';
import { runCli } from './helpers/cli.js';

const CFG: NeoxConfig = {
  modelType: 'gpt_neox', vocabSize: 50, hiddenSize: 16, numLayers: 4, numHeads: 2, intermediateSize: 32,
  rotaryPct: 0.25, rotaryBase: 10000, maxPositions: 64, layerNormEps: 1e-5, parallelResidual: true,
  hiddenAct: 'gelu', tieWordEmbeddings: false, attentionBias: true, bosTokenId: 0, eosTokenId: 0,
};

let tmp: string;
let base: HostParameters;
let tuned: HostParameters;

function randomParams(cfg: NeoxConfig, seed: number): HostParameters {
  const p = new HostParameters(cfg);
  const rng = makeRng(seed);
  for (const { name } of p.parameters()) {
    if (name.endsWith('.weight')) p.parameter(name).set(rng.normalArray(p.parameter(name).length, 0.1));
  }
  return p;
}

/** The reference: float64 sums over each layer's tensors of sqrt(Σ (a − b)²), from the arrays. */
function reference(a: HostParameters, b: HostParameters): Map<number, number> {
  const out = new Map<number, number>();
  for (const { name } of a.parameters()) {
    const m = /^gpt_neox\.layers\.(\d+)\./.exec(name);
    if (!m) continue;
    const x = a.parameter(name);
    const y = b.parameter(name);
    let ss = 0;
    for (let i = 0; i < x.length; i++) ss += (x[i] - y[i]) ** 2;
    out.set(Number(m[1]), (out.get(Number(m[1])) ?? 0) + Math.sqrt(ss));
  }
  return out;
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'rl-div-'));
  base = randomParams(CFG, 1);
  tuned = new HostParameters(CFG);
  for (const { name } of base.parameters()) tuned.parameter(name).set(base.parameter(name));
  // hand-checkable shifts on zero biases: 0.25 on 16 entries → 0.25·4 = 1; 1 on 16 entries → 4
  tuned.parameter('gpt_neox.layers.0.attention.dense.bias').fill(0.25);
  tuned.parameter('gpt_neox.layers.2.mlp.dense_4h_to_h.bias').fill(1);
  // a random change of a weight in layer 3, and in layer 2 as well
  const rng = makeRng(7);
  for (const name of ['gpt_neox.layers.3.mlp.dense_h_to_4h.weight', 'gpt_neox.layers.2.attention.query_key_value.weight']) {
    const w = tuned.parameter(name);
    for (let i = 0; i < w.length; i++) w[i] += 0.05 * rng.normal();
  }
  // big changes outside the blocks, which must not count
  tuned.parameter('gpt_neox.embed_in.weight').fill(3);
  tuned.parameter('embed_out.weight').fill(-3);
  tuned.parameter('gpt_neox.final_layer_norm.weight').fill(9);
  await saveNeoxCheckpoint(join(tmp, 'base'), CFG, base);
  await saveNeoxCheckpoint(join(tmp, 'tuned'), CFG, tuned);
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('computeDivergence', () => {
  it('equals the float64 per-layer sums, sorted descending, embeddings and final norm ignored', async () => {
    const r = await computeDivergence(join(tmp, 'base'), join(tmp, 'tuned'), { top: 2 });
    const ref = reference(base, tuned);
    expect(r.layers.map((l) => l.layer).sort()).toEqual([0, 1, 2, 3]);
    for (const l of r.layers) expect(l.divergence).toBeCloseTo(ref.get(l.layer)!, 12);
    // hand-checked: layer 0 holds exactly the 0.25 shift of 16 entries, layer 1 nothing
    expect(r.layers.find((l) => l.layer === 0)!.divergence).toBe(1);
    expect(r.layers.find((l) => l.layer === 1)!.divergence).toBe(0);
    expect(ref.get(2)!).toBeGreaterThan(4);
    const sorted = [...ref.entries()].sort((a, b) => b[1] - a[1]).map(([l]) => l);
    expect(r.layers.map((l) => l.layer)).toEqual(sorted);
    expect(r.top).toEqual(sorted.slice(0, 2));
    for (let i = 1; i < r.layers.length; i++) expect(r.layers[i - 1].divergence).toBeGreaterThanOrEqual(r.layers[i].divergence);
  });

  it('reads in chunks with the same result, and the same checkpoint gives zeros', async () => {
    const whole = await computeDivergence(join(tmp, 'base'), join(tmp, 'tuned'));
    const chunked = await computeDivergence(join(tmp, 'base'), join(tmp, 'tuned'), { chunkElements: 7 });
    for (let i = 0; i < whole.layers.length; i++) expect(chunked.layers[i].divergence).toBeCloseTo(whole.layers[i].divergence, 12);
    const same = await computeDivergence(join(tmp, 'base'), join(tmp, 'base'));
    expect(same.layers.every((l) => l.divergence === 0)).toBe(true);
  });

  it('matches GPT-Neo tensor names (transformer.h.<i>.…) and skips their attention buffers', async () => {
    expect(layerOfTensor('transformer.h.11.mlp.c_fc.weight')).toBe(11);
    expect(layerOfTensor('gpt_neox.layers.3.attention.dense.bias')).toBe(3);
    expect(layerOfTensor('transformer.wte.weight')).toBeNull();
    const write = (dir: string, shift: number) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'gpt_neo' }));
      const t: Record<string, { dtype: 'F32' | 'BOOL'; shape: number[]; data: ArrayBufferView }> = {
        'transformer.wte.weight': { dtype: 'F32', shape: [4, 2], data: new Float32Array(8).fill(shift * 10) },
        'transformer.ln_f.weight': { dtype: 'F32', shape: [2], data: new Float32Array(2).fill(shift * 10) },
      };
      for (let i = 0; i < 2; i++) {
        t[`transformer.h.${i}.mlp.c_fc.weight`] = { dtype: 'F32', shape: [3, 2], data: new Float32Array(6).fill(i === 1 ? shift : 0) };
        t[`transformer.h.${i}.mlp.c_fc.bias`] = { dtype: 'F32', shape: [3], data: new Float32Array(3).fill(i === 0 ? shift : 0) };
        t[`transformer.h.${i}.attn.attention.bias`] = { dtype: 'BOOL', shape: [1, 1, 2, 2], data: new Uint8Array(4).fill(shift ? 1 : 0) };
      }
      writeSafetensors(join(dir, 'model.safetensors'), t);
    };
    write(join(tmp, 'neo-a'), 0);
    write(join(tmp, 'neo-b'), 2);
    const r = await computeDivergence(join(tmp, 'neo-a'), join(tmp, 'neo-b'));
    // layer 1: 6 entries shifted by 2 → 2√6; layer 0: 3 entries by 2 → 2√3
    expect(r.layers).toEqual([{ layer: 1, divergence: 2 * Math.sqrt(6) }, { layer: 0, divergence: 2 * Math.sqrt(3) }]);
  });

  it('refuses checkpoints of different architectures, naming the tensor and both shapes', async () => {
    await saveNeoxCheckpoint(join(tmp, 'wide'), { ...CFG, intermediateSize: 48 }, new HostParameters({ ...CFG, intermediateSize: 48 }));
    await expect(computeDivergence(join(tmp, 'base'), join(tmp, 'wide'))).rejects.toThrow(/tensor "gpt_neox\.layers\.0\.mlp\.dense_h_to_4h\.(weight|bias)": shape \[48(,16)?\] but the base .* has \[32(,16)?\]/);
    await saveNeoxCheckpoint(join(tmp, 'short'), { ...CFG, numLayers: 3 }, new HostParameters({ ...CFG, numLayers: 3 }));
    await expect(computeDivergence(join(tmp, 'base'), join(tmp, 'short'))).rejects.toThrow(/4 layers.*3 layers/);
  });

  it('the stage writes divergence.json and the Figure 3 chart; the CLI prints JSON', async () => {
    const out = join(tmp, 'run', 'divergence.json');
    const r = await divergenceStage(join(tmp, 'base'), join(tmp, 'tuned'), out, { top: 3 });
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(json.layers).toEqual(r.layers);
    expect(json.top).toEqual(r.top);
    expect(existsSync(join(tmp, 'run', 'divergence.svg'))).toBe(true);
    const png = readFileSync(join(tmp, 'run', 'divergence.png'));
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    const cli = runCli(['divergence', join(tmp, 'base'), join(tmp, 'tuned'), '--json', '--top', '2']);
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    const printed = JSON.parse(cli.stdout);
    expect(printed.layers).toEqual(r.layers);
    expect(printed.top).toEqual(r.top.slice(0, 2));
    const bad = runCli(['divergence', join(tmp, 'base'), join(tmp, 'short')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/layers/);
  });
});
