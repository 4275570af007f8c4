// Hugging Face config.json ⇄ NeoxConfig. Reads every form transformers has written for GPT-NeoX
// (Pythia's `rotary_pct`/`rotary_emb_base`, transformers-5's `rope_parameters`, the 4.4x top-level
// `partial_rotary_factor`/`rope_theta`) and writes one that transformers 4 and 5 both load.
//
// Resolution rules (transformers-5's `GPTNeoXConfig`, except that conflicts are errors: transformers 4
// reads `rotary_pct` and transformers 5 reads `rope_parameters`, so a file where they disagree means
// different models to different versions):
//   rotaryPct  = rope_parameters.partial_rotary_factor | partial_rotary_factor | rotary_pct | 0.25
//   rotaryBase = rope_parameters.rope_theta            | rope_theta            | rotary_emb_base | 10000
//   a non-null `rope_scaling` stands in for `rope_parameters` (transformers 5 does the same);
//   any `rope_type` (or 4.x `type`) other than "default" is an error: no RoPE scaling is implemented.
// Defaults as transformers: use_parallel_residual true, tie_word_embeddings false, attention_bias true,
// layer_norm_eps 1e-5, bos/eos null when missing. The sizes (vocab, hidden, layers, heads, intermediate,
// max positions) and `hidden_act` are required: transformers' defaults for them describe GPT-NeoX-20B,
// which no file that leaves them out means.
//
// GPT-Neo (`model_type` "gpt_neo", transformers' GPTNeoConfig): `num_layers`/`num_heads`, `attention_types`
// expanded as transformers does (each [kinds, n] appends kinds n times; the result must have num_layers
// entries, and agree with `attention_layers` when the file also stores that), `window_size` (required
// when a layer is local), `intermediate_size` null or missing → 4 × hidden, `activation_function`
// (default "gelu_new"), `layer_norm_epsilon` (default 1e-5), `tie_word_embeddings` (default true),
// `torch_dtype` or `dtype` (not needed: the weights' dtype is read from the safetensors files).
//
// Adding an architecture: write its `parseXFields(fields)` beside `parseGptNeoxFields`, add it to
// `MODEL_TYPE_PARSERS`, and widen NeoxConfig (src/model/neox-config.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileFormatError } from '../errors.js';
import {
  expandAttentionTypes, neoxDerived, type GptNeoAttentionKind, type GptNeoConfig, type GptNeoxConfig, type NeoxActivation,
  type NeoxConfig,
} from './neox-config.js';

/** The activations a GPT-NeoX config may name (`hidden_act`). */
export const NEOX_ACTIVATIONS: readonly NeoxActivation[] = ['gelu', 'gelu_new', 'gelu_fast', 'gelu_pytorch_tanh'];

const DEFAULT_ROTARY_PCT = 0.25;
const DEFAULT_ROTARY_BASE = 10000;

/** Describe a JSON value for "found …" in an error. */
export function describeJson(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array ${truncate(JSON.stringify(value))}`;
  switch (typeof value) {
    case 'string': return `the string ${truncate(JSON.stringify(value))}`;
    case 'number': return `the number ${value}`;
    case 'boolean': return `${value}`;
    case 'object': return `an object ${truncate(JSON.stringify(value))}`;
    default: return typeof value;
  }
}

function truncate(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Typed access to the fields of one JSON object in one file. Every error is a FileFormatError naming
 * the file, the field (dotted for nested objects), what was expected and what was found.
 */
export class ConfigFields {
  constructor(
    readonly file: string,
    readonly obj: Record<string, unknown>,
    /** Prefix for field names in messages (e.g. "rope_parameters."). */
    readonly prefix = '',
  ) {}

  /** Wrap a parsed JSON value that must be an object. */
  static of(json: unknown, file: string, what = 'config'): ConfigFields {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new FileFormatError(file, `expected a JSON object (${what}) but found ${describeJson(json)}`);
    }
    return new ConfigFields(file, json as Record<string, unknown>);
  }

  has(name: string): boolean {
    return this.obj[name] !== undefined;
  }

  raw(name: string): unknown {
    return this.obj[name];
  }

  fail(name: string, expected: string, found: unknown): never {
    throw new FileFormatError(this.file, `field "${this.prefix}${name}": expected ${expected} but found ${describeJson(found)}`);
  }

  /** An integer >= min; `fallback` when missing (undefined fallback: required). */
  int(name: string, min: number, fallback?: number): number {
    const v = this.obj[name];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) this.fail(name, `an integer >= ${min}`, v);
    return v;
  }

  /** A finite number within [min, max]; `fallback` when missing. */
  num(name: string, min: number, max: number, fallback?: number, minExclusive = false): number {
    const v = this.obj[name];
    if (v === undefined && fallback !== undefined) return fallback;
    const ok = typeof v === 'number' && Number.isFinite(v) && (minExclusive ? v > min : v >= min) && v <= max;
    if (!ok) {
      const range = max === Infinity ? `${minExclusive ? '>' : '>='} ${min}` : `in ${minExclusive ? '(' : '['}${min}, ${max}]`;
      this.fail(name, `a number ${range}`, v);
    }
    return v as number;
  }

  bool(name: string, fallback?: boolean): boolean {
    const v = this.obj[name];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'boolean') this.fail(name, 'true or false', v);
    return v;
  }

  /** A non-negative integer, or null; missing is null. */
  optionalId(name: string): number | null {
    const v = this.obj[name];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(name, 'a token id (integer >= 0) or null', v);
    return v;
  }

  /** One of a fixed set of strings; `fallback` when missing. */
  oneOf<T extends string>(name: string, options: readonly T[], fallback?: T): T {
    const v = this.obj[name];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v !== 'string' || !options.includes(v as T)) {
      this.fail(name, options.length === 1 ? JSON.stringify(options[0]) : `one of ${options.map((o) => JSON.stringify(o)).join(', ')}`, v);
    }
    return v as T;
  }

  /** A nested object, or null when missing or null. */
  object(name: string): ConfigFields | null {
    const v = this.obj[name];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(name, 'an object or null', v);
    return new ConfigFields(this.file, v as Record<string, unknown>, `${this.prefix}${name}.`);
  }
}

/** Resolve one rotary setting given in up to three places; all present values must agree. */
function resolveRotary(
  file: string,
  candidates: { field: string; value: number | undefined }[],
  fallback: number,
): number {
  const given = candidates.filter((c) => c.value !== undefined) as { field: string; value: number }[];
  if (given.length === 0) return fallback;
  for (const c of given.slice(1)) {
    if (c.value !== given[0].value) {
      throw new FileFormatError(file, `field "${c.field}": expected ${given[0].value} (the value of "${given[0].field}"; both set the same thing) but found the number ${c.value}`);
    }
  }
  return given[0].value;
}

/** The RoPE block (`rope_parameters`, or a non-null `rope_scaling`): only the default rope_type. */
function ropeBlock(f: ConfigFields): ConfigFields | null {
  const scaling = f.object('rope_scaling');
  const params = f.object('rope_parameters');
  for (const block of [scaling, params]) {
    if (!block) continue;
    if (block.has('rope_type')) block.oneOf('rope_type', ['default']);
    if (block.has('type')) block.oneOf('type', ['default']);
  }
  // transformers 5: `self.rope_parameters = rope_scaling or self.rope_parameters`.
  return scaling && Object.keys(scaling.obj).length ? scaling : params;
}

function parseGptNeoxFields(f: ConfigFields): GptNeoxConfig {
  const rope = ropeBlock(f);
  const ropeFactor = rope?.has('partial_rotary_factor') ? rope.num('partial_rotary_factor', 0, 1, undefined, true) : undefined;
  const ropeTheta = rope?.has('rope_theta') ? rope.num('rope_theta', 0, Infinity, undefined, true) : undefined;
  const p = rope?.prefix ?? 'rope_parameters.';
  const rotaryPct = resolveRotary(f.file, [
    { field: `${p}partial_rotary_factor`, value: ropeFactor },
    { field: 'partial_rotary_factor', value: f.has('partial_rotary_factor') ? f.num('partial_rotary_factor', 0, 1, undefined, true) : undefined },
    { field: 'rotary_pct', value: f.has('rotary_pct') ? f.num('rotary_pct', 0, 1, undefined, true) : undefined },
  ], DEFAULT_ROTARY_PCT);
  const rotaryBase = resolveRotary(f.file, [
    { field: `${p}rope_theta`, value: ropeTheta },
    { field: 'rope_theta', value: f.has('rope_theta') ? f.num('rope_theta', 0, Infinity, undefined, true) : undefined },
    { field: 'rotary_emb_base', value: f.has('rotary_emb_base') ? f.num('rotary_emb_base', 0, Infinity, undefined, true) : undefined },
  ], DEFAULT_ROTARY_BASE);

  const cfg: GptNeoxConfig = {
    modelType: 'gpt_neox',
    vocabSize: f.int('vocab_size', 1),
    hiddenSize: f.int('hidden_size', 1),
    numLayers: f.int('num_hidden_layers', 1),
    numHeads: f.int('num_attention_heads', 1),
    intermediateSize: f.int('intermediate_size', 1),
    rotaryPct,
    rotaryBase,
    maxPositions: f.int('max_position_embeddings', 1),
    layerNormEps: f.num('layer_norm_eps', 0, 1, 1e-5, true),
    parallelResidual: f.bool('use_parallel_residual', true),
    hiddenAct: f.oneOf('hidden_act', NEOX_ACTIVATIONS),
    tieWordEmbeddings: f.bool('tie_word_embeddings', false),
    attentionBias: f.bool('attention_bias', true),
    bosTokenId: f.optionalId('bos_token_id'),
    eosTokenId: f.optionalId('eos_token_id'),
  };
  if (cfg.hiddenSize % cfg.numHeads !== 0) {
    throw new FileFormatError(f.file, `field "hidden_size": expected a multiple of num_attention_heads (${cfg.numHeads}) but found the number ${cfg.hiddenSize}`);
  }
  const { headDim, rotaryDims } = neoxDerived(cfg);
  if (rotaryDims % 2 !== 0) {
    throw new FileFormatError(f.file, `field "${ropeFactor !== undefined ? `${p}partial_rotary_factor` : 'rotary_pct'}": expected a fraction that rotates an even number of each head's ${headDim} dimensions but found the number ${rotaryPct} (${rotaryDims} dimensions)`);
  }
  return cfg;
}

const ATTENTION_KINDS: readonly GptNeoAttentionKind[] = ['global', 'local'];
const GPT_NEO_DEFAULT_WINDOW = 256;

/** `attention_types`: [[kinds, n], …] with kinds an array of "global" / "local" and n an integer >= 0. */
function parseAttentionTypes(f: ConfigFields): [GptNeoAttentionKind[], number][] {
  const v = f.raw('attention_types');
  const form = '[[["global", "local"], n], ...] (kinds repeated n times)';
  if (!Array.isArray(v)) f.fail('attention_types', `an array ${form}`, v);
  return (v as unknown[]).map((entry, i) => {
    if (!Array.isArray(entry) || entry.length !== 2 || !Array.isArray(entry[0])) f.fail(`attention_types[${i}]`, `a pair [kinds, n] as in ${form}`, entry);
    const [kinds, n] = entry as [unknown[], unknown];
    const list = kinds.map((k, j) => {
      if (typeof k !== 'string' || !ATTENTION_KINDS.includes(k as GptNeoAttentionKind)) {
        f.fail(`attention_types[${i}][0][${j}]`, 'one of "global", "local"', k);
      }
      return k as GptNeoAttentionKind;
    });
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) f.fail(`attention_types[${i}][1]`, 'an integer >= 0 (how many times the kinds repeat)', n);
    return [list, n] as [GptNeoAttentionKind[], number];
  });
}

function parseGptNeoFields(f: ConfigFields): GptNeoConfig {
  const hiddenSize = f.int('hidden_size', 1);
  const numLayers = f.int('num_layers', 1);
  const numHeads = f.int('num_heads', 1);
  if (hiddenSize % numHeads !== 0) {
    f.fail('hidden_size', `a multiple of num_heads (${numHeads})`, hiddenSize);
  }
  let attentionLayers: GptNeoAttentionKind[];
  if (f.has('attention_types')) {
    attentionLayers = expandAttentionTypes(parseAttentionTypes(f));
    if (attentionLayers.length !== numLayers) {
      f.fail('attention_types', `an expansion with num_layers (${numLayers}) entries (each [kinds, n] appends kinds n times)`, f.raw('attention_types'));
    }
    if (f.has('attention_layers')) {
      const stored = f.raw('attention_layers');
      if (!Array.isArray(stored) || stored.length !== attentionLayers.length || stored.some((k, i) => k !== attentionLayers[i])) {
        f.fail('attention_layers', `${JSON.stringify(attentionLayers)} (the expansion of attention_types)`, stored);
      }
    }
  } else if (f.has('attention_layers')) {
    const stored = f.raw('attention_layers');
    if (!Array.isArray(stored) || stored.length !== numLayers) f.fail('attention_layers', `an array of num_layers (${numLayers}) entries "global" / "local"`, stored);
    attentionLayers = (stored as unknown[]).map((k, i) => {
      if (typeof k !== 'string' || !ATTENTION_KINDS.includes(k as GptNeoAttentionKind)) f.fail(`attention_layers[${i}]`, 'one of "global", "local"', k);
      return k as GptNeoAttentionKind;
    });
  } else {
    f.fail('attention_types', `an array ${'[[["global", "local"], n], ...]'} with num_layers (${numLayers}) entries once expanded`, undefined);
  }
  const anyLocal = attentionLayers.includes('local');
  const windowSize = anyLocal ? f.int('window_size', 1) : f.int('window_size', 1, GPT_NEO_DEFAULT_WINDOW);
  const inter = f.raw('intermediate_size');
  const intermediateSize = inter === null || inter === undefined ? 4 * hiddenSize : f.int('intermediate_size', 1);
  for (const key of ['torch_dtype', 'dtype']) {
    if (f.has(key) && f.raw(key) !== null) f.oneOf(key, ['float32', 'float16', 'bfloat16']);
  }
  return {
    modelType: 'gpt_neo',
    vocabSize: f.int('vocab_size', 1),
    hiddenSize,
    numLayers,
    numHeads,
    intermediateSize,
    maxPositions: f.int('max_position_embeddings', 1),
    layerNormEps: f.num('layer_norm_epsilon', 0, 1, 1e-5, true),
    hiddenAct: f.oneOf('activation_function', NEOX_ACTIVATIONS, 'gelu_new'),
    tieWordEmbeddings: f.bool('tie_word_embeddings', true),
    attentionLayers,
    windowSize,
    bosTokenId: f.optionalId('bos_token_id'),
    eosTokenId: f.optionalId('eos_token_id'),
  };
}

/** Every architecture rewardlens reads, by config.json `model_type`. */
const MODEL_TYPE_PARSERS = {
  gpt_neox: parseGptNeoxFields,
  gpt_neo: parseGptNeoFields,
} as const;

export type HfModelType = keyof typeof MODEL_TYPE_PARSERS;
/** The resolved config of any supported architecture. */
export type HfModelConfig = ReturnType<(typeof MODEL_TYPE_PARSERS)[HfModelType]>;
export const SUPPORTED_MODEL_TYPES = Object.keys(MODEL_TYPE_PARSERS) as HfModelType[];

/** Parse a config.json of any supported architecture, dispatching on `model_type`. */
export function parseHfModelConfig(json: unknown, file: string): HfModelConfig {
  const f = ConfigFields.of(json, file);
  const type = f.oneOf('model_type', SUPPORTED_MODEL_TYPES);
  return MODEL_TYPE_PARSERS[type](f);
}

/** Parse a config.json the engine runs (GPT-NeoX or GPT-Neo; already JSON-parsed); `file` names it in errors. */
export function parseNeoxConfig(json: unknown, file: string): NeoxConfig {
  return parseHfModelConfig(json, file);
}

/** Read and JSON-parse a file; a missing file or bad JSON is a FileFormatError naming it. */
export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new FileFormatError(path, e.code === 'ENOENT' ? 'file not found' : `cannot read: ${e.message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FileFormatError(path, `not valid JSON (${(err as Error).message})`);
  }
}

/** Read `<dir>/config.json` (or the file itself when `path` ends in .json): a GPT-NeoX or GPT-Neo config. */
export function readNeoxConfig(path: string): NeoxConfig {
  const file = path.endsWith('.json') ? path : join(path, 'config.json');
  return parseNeoxConfig(readJsonFile(file), file);
}

export type HfTorchDtype = 'float32' | 'float16' | 'bfloat16';

/**
 * A config.json for `cfg` that transformers (4.x and 5.x) loads as GPTNeoXForCausalLM and that
 * parseNeoxConfig reads back to an equal config. Rotary settings are written in both forms (the
 * values agree, so both readers see the same model). `dtype` is the weights' dtype (written as
 * `torch_dtype` for transformers 4 and `dtype` for 5).
 */
export function neoxConfigToHf(cfg: NeoxConfig, opts: { dtype?: HfTorchDtype } = {}): Record<string, unknown> {
  const dtype = opts.dtype ?? 'float32';
  if (cfg.modelType === 'gpt_neo') return gptNeoConfigToHf(cfg, dtype);
  return {
    architectures: ['GPTNeoXForCausalLM'],
    model_type: 'gpt_neox',
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    num_hidden_layers: cfg.numLayers,
    num_attention_heads: cfg.numHeads,
    intermediate_size: cfg.intermediateSize,
    hidden_act: cfg.hiddenAct,
    rotary_pct: cfg.rotaryPct,
    rotary_emb_base: cfg.rotaryBase,
    rope_parameters: { rope_type: 'default', rope_theta: cfg.rotaryBase, partial_rotary_factor: cfg.rotaryPct },
    max_position_embeddings: cfg.maxPositions,
    layer_norm_eps: cfg.layerNormEps,
    use_parallel_residual: cfg.parallelResidual,
    tie_word_embeddings: cfg.tieWordEmbeddings,
    attention_bias: cfg.attentionBias,
    attention_dropout: 0.0,
    hidden_dropout: 0.0,
    classifier_dropout: 0.1,
    initializer_range: 0.02,
    use_cache: true,
    is_decoder: false,
    bos_token_id: cfg.bosTokenId,
    eos_token_id: cfg.eosTokenId,
    pad_token_id: null,
    torch_dtype: dtype,
    dtype,
  };
}

/** The shortest `attention_types` that expands to `layers`: [[period, n]] when the layers repeat a
 *  period, else [[layers, 1]]. */
export function compressAttentionLayers(layers: readonly GptNeoAttentionKind[]): [GptNeoAttentionKind[], number][] {
  for (let p = 1; p <= layers.length; p++) {
    if (layers.length % p !== 0) continue;
    if (layers.every((k, i) => k === layers[i % p])) return [[layers.slice(0, p), layers.length / p]];
  }
  return [[[...layers], 1]];
}

/** A config.json transformers loads as GPTNeoForCausalLM (and parseNeoxConfig reads back equal). */
function gptNeoConfigToHf(cfg: GptNeoConfig, dtype: HfTorchDtype): Record<string, unknown> {
  return {
    architectures: ['GPTNeoForCausalLM'],
    model_type: 'gpt_neo',
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.hiddenSize,
    num_layers: cfg.numLayers,
    num_heads: cfg.numHeads,
    intermediate_size: cfg.intermediateSize,
    activation_function: cfg.hiddenAct,
    attention_types: compressAttentionLayers(cfg.attentionLayers),
    attention_layers: [...cfg.attentionLayers],
    window_size: cfg.windowSize,
    max_position_embeddings: cfg.maxPositions,
    layer_norm_epsilon: cfg.layerNormEps,
    tie_word_embeddings: cfg.tieWordEmbeddings,
    embed_dropout: 0.0,
    attention_dropout: 0.0,
    resid_dropout: 0.0,
    classifier_dropout: 0.1,
    initializer_range: 0.02,
    use_cache: true,
    bos_token_id: cfg.bosTokenId,
    eos_token_id: cfg.eosTokenId,
    pad_token_id: null,
    torch_dtype: dtype,
    dtype,
  };
}
