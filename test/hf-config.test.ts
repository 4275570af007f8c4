// config.json ⇄ NeoxConfig: every form transformers writes, defaults, each error, and the round trip.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileFormatError } from '../src/errors.js';
import { neoxConfigToHf, parseHfModelConfig, parseNeoxConfig, readNeoxConfig } from '../src/model/hf-config.js';
import type { NeoxConfig } from '../src/model/neox-config.js';
import { FIXTURE_CONFIG, FIXTURE_DIR } from './helpers/hf-files.js';

const dir = mkdtempSync(join(tmpdir(), 'rl-hfcfg-'));
const F = 'x/config.json';

/** Pythia-70m's config.json as published (transformers 4.24 era). */
const PYTHIA_70M = {
  architectures: ['GPTNeoXForCausalLM'],
  bos_token_id: 0,
  eos_token_id: 0,
  hidden_act: 'gelu',
  hidden_size: 512,
  initializer_range: 0.02,
  intermediate_size: 2048,
  layer_norm_eps: 1e-5,
  max_position_embeddings: 2048,
  model_type: 'gpt_neox',
  num_attention_heads: 8,
  num_hidden_layers: 6,
  rotary_emb_base: 10000,
  rotary_pct: 0.25,
  tie_word_embeddings: false,
  torch_dtype: 'float16',
  transformers_version: '4.24.0',
  use_cache: true,
  use_parallel_residual: true,
  vocab_size: 50304,
};

const PYTHIA_CFG: NeoxConfig = {
  modelType: 'gpt_neox', vocabSize: 50304, hiddenSize: 512, numLayers: 6, numHeads: 8, intermediateSize: 2048,
  rotaryPct: 0.25, rotaryBase: 10000, maxPositions: 2048, layerNormEps: 1e-5, parallelResidual: true, hiddenAct: 'gelu',
  tieWordEmbeddings: false, attentionBias: true, bosTokenId: 0, eosTokenId: 0,
};

/** The message of the FileFormatError `fn` throws. */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FileFormatError);
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

function without(obj: Record<string, unknown>, ...keys: string[]): Record<string, unknown> {
  const o = { ...obj };
  for (const k of keys) delete o[k];
  return o;
}

describe('parseNeoxConfig', () => {
  it('reads the fixture (transformers-5 rope_parameters form)', () => {
    const cfg = readNeoxConfig(FIXTURE_DIR);
    expect(cfg).toEqual({
      modelType: 'gpt_neox', vocabSize: 96, hiddenSize: 64, numLayers: 2, numHeads: 4, intermediateSize: 256,
      rotaryPct: 0.25, rotaryBase: 10000, maxPositions: 64, layerNormEps: 1e-5, parallelResidual: true, hiddenAct: 'gelu',
      tieWordEmbeddings: false, attentionBias: true, bosTokenId: 0, eosTokenId: 2,
    });
    expect(readNeoxConfig(FIXTURE_CONFIG)).toEqual(cfg);
  });

  it("reads Pythia's config (rotary_pct and rotary_emb_base)", () => {
    expect(parseNeoxConfig(PYTHIA_70M, F)).toEqual(PYTHIA_CFG);
  });

  it('reads the transformers-4.4x form (top-level partial_rotary_factor and rope_theta beside the old keys)', () => {
    const cfg = parseNeoxConfig({ ...PYTHIA_70M, rotary_pct: 0.5, rotary_emb_base: 500, partial_rotary_factor: 0.5, rope_theta: 500, rope_scaling: null }, F);
    expect(cfg.rotaryPct).toBe(0.5);
    expect(cfg.rotaryBase).toBe(500);
  });

  it('takes rope_parameters over nothing and agrees with the old keys when both are there', () => {
    const both = { ...PYTHIA_70M, rope_parameters: { rope_type: 'default', rope_theta: 10000, partial_rotary_factor: 0.25 } };
    expect(parseNeoxConfig(both, F)).toEqual(PYTHIA_CFG);
    const onlyNew = { ...without(PYTHIA_70M, 'rotary_pct', 'rotary_emb_base'), rope_parameters: { rope_theta: 20000, partial_rotary_factor: 0.5 } };
    expect(parseNeoxConfig(onlyNew, F)).toMatchObject({ rotaryPct: 0.5, rotaryBase: 20000 });
  });

  it("defaults the rotary settings as transformers (0.25, 10000) when no form is given", () => {
    expect(parseNeoxConfig(without(PYTHIA_70M, 'rotary_pct', 'rotary_emb_base'), F)).toMatchObject({ rotaryPct: 0.25, rotaryBase: 10000 });
  });

  it('rejects rotary settings that disagree between forms, naming both fields', () => {
    const m = errorOf(() => parseNeoxConfig({ ...PYTHIA_70M, rope_parameters: { rope_theta: 10000, partial_rotary_factor: 0.5 } }, F));
    expect(m).toContain(F);
    expect(m).toContain('"rotary_pct"');
    expect(m).toContain('rope_parameters.partial_rotary_factor');
    const m2 = errorOf(() => parseNeoxConfig({ ...PYTHIA_70M, rope_theta: 1e6 }, F));
    expect(m2).toContain('"rotary_emb_base"');
    expect(m2).toContain('rope_theta');
  });

  it('accepts rope_scaling null or default, rejects any other rope type naming the field', () => {
    expect(parseNeoxConfig({ ...PYTHIA_70M, rope_scaling: null }, F)).toEqual(PYTHIA_CFG);
    expect(parseNeoxConfig({ ...PYTHIA_70M, rope_scaling: { rope_type: 'default' } }, F)).toEqual(PYTHIA_CFG);
    const m = errorOf(() => parseNeoxConfig({ ...PYTHIA_70M, rope_scaling: { type: 'linear', factor: 2 } }, F));
    expect(m).toContain('field "rope_scaling.type"');
    expect(m).toContain('"default"');
    expect(m).toContain('"linear"');
    const m2 = errorOf(() => parseNeoxConfig({ ...PYTHIA_70M, rope_parameters: { rope_type: 'yarn', rope_theta: 10000, factor: 4 } }, F));
    expect(m2).toContain('field "rope_parameters.rope_type"');
    expect(m2).toContain('"yarn"');
    const m3 = errorOf(() => parseNeoxConfig({ ...PYTHIA_70M, rope_parameters: 'default' }, F));
    expect(m3).toContain('field "rope_parameters"');
  });

  it('fills the defaults transformers uses', () => {
    const minimal = without(PYTHIA_70M, 'use_parallel_residual', 'tie_word_embeddings', 'layer_norm_eps', 'bos_token_id', 'eos_token_id');
    expect(parseNeoxConfig(minimal, F)).toEqual({ ...PYTHIA_CFG, bosTokenId: null, eosTokenId: null });
    expect(parseNeoxConfig({ ...PYTHIA_70M, bos_token_id: null, eos_token_id: 7 }, F)).toMatchObject({ bosTokenId: null, eosTokenId: 7 });
  });

  it('reads the flags and every accepted activation', () => {
    const cfg = parseNeoxConfig({ ...PYTHIA_70M, use_parallel_residual: false, tie_word_embeddings: true, attention_bias: false, layer_norm_eps: 1e-6 }, F);
    expect(cfg).toMatchObject({ parallelResidual: false, tieWordEmbeddings: true, attentionBias: false, layerNormEps: 1e-6 });
    for (const act of ['gelu', 'gelu_new', 'gelu_fast', 'gelu_pytorch_tanh'] as const) {
      expect(parseNeoxConfig({ ...PYTHIA_70M, hidden_act: act }, F).hiddenAct).toBe(act);
    }
  });

  it('rejects another model_type, naming the field and the expected value', () => {
    const m = errorOf(() => parseNeoxConfig({ ...PYTHIA_70M, model_type: 'llama' }, F));
    expect(m).toBe(`${F}: field "model_type": expected one of "gpt_neox", "gpt_neo" but found the string "llama"`);
    expect(errorOf(() => parseNeoxConfig(without(PYTHIA_70M, 'model_type'), F))).toContain('field "model_type": expected one of "gpt_neox", "gpt_neo" but found nothing');
    expect(errorOf(() => parseHfModelConfig({ ...PYTHIA_70M, model_type: 'gpt2' }, F))).toContain('field "model_type"');
    expect(parseHfModelConfig(PYTHIA_70M, F)).toEqual(PYTHIA_CFG);
  });

  it('rejects an unknown activation, listing the accepted ones', () => {
    const m = errorOf(() => parseNeoxConfig({ ...PYTHIA_70M, hidden_act: 'relu' }, F));
    expect(m).toBe(`${F}: field "hidden_act": expected one of "gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh" but found the string "relu"`);
  });

  it.each([
    ['vocab_size', undefined, 'an integer >= 1', 'nothing'],
    ['hidden_size', '512', 'an integer >= 1', 'the string "512"'],
    ['num_hidden_layers', 0, 'an integer >= 1', 'the number 0'],
    ['num_attention_heads', 8.5, 'an integer >= 1', 'the number 8.5'],
    ['intermediate_size', null, 'an integer >= 1', 'null'],
    ['max_position_embeddings', undefined, 'an integer >= 1', 'nothing'],
    ['layer_norm_eps', -1, 'a number in (0, 1]', 'the number -1'],
    ['use_parallel_residual', 'yes', 'true or false', 'the string "yes"'],
    ['tie_word_embeddings', 1, 'true or false', 'the number 1'],
    ['attention_bias', null, 'true or false', 'null'],
    ['bos_token_id', '0', 'a token id', 'the string "0"'],
    ['eos_token_id', [0, 1], 'a token id', 'an array [0,1]'],
    ['rotary_pct', 1.5, 'a number in (0, 1]', 'the number 1.5'],
    ['rotary_emb_base', 'big', 'a number > 0', 'the string "big"'],
    ['hidden_act', undefined, 'one of', 'nothing'],
  ])('names the file, field %s, the expected and the found value', (field, value, expected, found) => {
    const json: Record<string, unknown> = { ...PYTHIA_70M };
    if (value === undefined) delete json[field];
    else json[field] = value;
    const m = errorOf(() => parseNeoxConfig(json, F));
    expect(m).toContain(F);
    expect(m).toContain(`field "${field}"`);
    expect(m).toContain(`expected ${expected}`);
    expect(m).toContain(`found ${found}`);
  });

  it('rejects a hidden size that the heads do not divide, and odd rotary widths', () => {
    const m = errorOf(() => parseNeoxConfig({ ...PYTHIA_70M, num_attention_heads: 7 }, F));
    expect(m).toContain('field "hidden_size"');
    expect(m).toContain('multiple of num_attention_heads (7)');
    // head_dim 64 × 0.203125 = 13 rotated dimensions: rotate_half needs an even count.
    expect(errorOf(() => parseNeoxConfig({ ...PYTHIA_70M, rotary_pct: 0.203125 }, F))).toContain('field "rotary_pct"');
  });

  it('rejects a config that is not an object', () => {
    expect(errorOf(() => parseNeoxConfig([1, 2], F))).toContain('expected a JSON object');
    expect(errorOf(() => parseNeoxConfig(null, F))).toContain('found null');
  });

  it('reports bad JSON and a missing file by name', () => {
    const bad = join(dir, 'bad');
    writeFileSync(join(dir, 'bad-config.json'), '{"model_type": "gpt_neox",');
    const m = errorOf(() => readNeoxConfig(join(dir, 'bad-config.json')));
    expect(m).toContain('bad-config.json');
    expect(m).toContain('not valid JSON');
    expect(errorOf(() => readNeoxConfig(bad))).toBe(`${join(bad, 'config.json')}: file not found`);
  });
});

describe('neoxConfigToHf', () => {
  const variants: NeoxConfig[] = [
    PYTHIA_CFG,
    { ...PYTHIA_CFG, tieWordEmbeddings: true, attentionBias: false, parallelResidual: false, hiddenAct: 'gelu_new', rotaryPct: 1, rotaryBase: 500000, layerNormEps: 1e-6, bosTokenId: null, eosTokenId: null },
    { ...PYTHIA_CFG, hiddenAct: 'gelu_pytorch_tanh', rotaryPct: 0.5, bosTokenId: 1, eosTokenId: 2 },
  ];

  it.each(variants.map((v, i) => [i, v] as const))('round-trips through JSON and parseNeoxConfig (variant %i)', (_, cfg) => {
    const json = JSON.parse(JSON.stringify(neoxConfigToHf(cfg)));
    expect(parseNeoxConfig(json, F)).toEqual(cfg);
    // The old keys alone and the new block alone each describe the same model.
    expect(parseNeoxConfig(without(json, 'rope_parameters'), F)).toEqual(cfg);
    expect(parseNeoxConfig(without(json, 'rotary_pct', 'rotary_emb_base'), F)).toEqual(cfg);
  });

  it('writes what transformers reads', () => {
    const json = neoxConfigToHf(PYTHIA_CFG, { dtype: 'float16' });
    expect(json).toMatchObject({
      architectures: ['GPTNeoXForCausalLM'], model_type: 'gpt_neox', vocab_size: 50304, hidden_size: 512,
      num_hidden_layers: 6, num_attention_heads: 8, intermediate_size: 2048, hidden_act: 'gelu',
      rotary_pct: 0.25, rotary_emb_base: 10000,
      rope_parameters: { rope_type: 'default', rope_theta: 10000, partial_rotary_factor: 0.25 },
      max_position_embeddings: 2048, layer_norm_eps: 1e-5, use_parallel_residual: true, tie_word_embeddings: false,
      attention_bias: true, bos_token_id: 0, eos_token_id: 0, torch_dtype: 'float16', dtype: 'float16',
    });
    expect(neoxConfigToHf(PYTHIA_CFG).dtype).toBe('float32');
  });

  it("reproduces the fixture's fields", () => {
    const fixture = JSON.parse(readFileSync(FIXTURE_CONFIG, 'utf8')) as Record<string, unknown>;
    const ours = neoxConfigToHf(readNeoxConfig(FIXTURE_DIR));
    for (const key of Object.keys(fixture)) {
      if (key === 'transformers_version') continue;
      expect(ours[key], key).toEqual(fixture[key]);
    }
  });
});
