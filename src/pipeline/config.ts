// The configuration of a whole run (`rewardlens run --config FILE`, YAML or JSON): every stage's
// settings with documented defaults. Unknown keys and bad values are errors that name the file and
// the field. The resolved config (every default written out) is saved as run/config.json.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { FileFormatError } from '../errors.js';
import { DEFAULT_MODEL_DIR } from '../data/defaults.js';
import { HOOK_KINDS, type HookKind } from '../interpret/activation-store.js';
import { MATCH_KINDS } from '../interpret/features.js';
import type { PpoConfig } from '../rlhf/config.js';
import { PPO_PRESETS } from '../rlhf/config.js';

export interface PipelineConfig {
  /** Run name (report title). */
  name: string;
  /** The base model: a folder or hub id (default: the shipped default model). */
  model: string;
  /** An already tuned model; when given, the RLHF stage is skipped. */
  tuned: string | null;
  /** Reviews (folder, file, hub dataset id); null: the shipped default corpus. */
  dataset: string | null;
  /** The RLHF reward and the utility table the scores use: 'vader' | 'table:FILE' | 'classifier:MODEL'. */
  reward: string;
  /** One seed for every stage (each stage derives its own). */
  seed: number;
  rlhf: {
    /** PPO steps; null: 390 (paper preset) or 60 (default-world). */
    steps: number | null;
    /** 'paper' | 'default-world'; null: default-world for the shipped model, else paper. */
    preset: string | null;
    /** Overrides of the PPO config (see docs/rlhf.md). */
    ppo: Partial<PpoConfig>;
    promptLimit: number | null;
    checkpointEvery: number;
  };
  /** Which layers to study: the `top` most divergent (the paper: 5), or an explicit list. */
  layers: { top: number } | { list: number[] };
  /** Hook point (the paper's: mlp_out, the MLP output before the residual add). */
  hook: HookKind;
  activations: {
    split: 'train' | 'test';
    /** First tokens of each review (the paper: 50). */
    maxTokens: number;
    /** Only the first n reviews of the split (null: all). */
    limit: number | null;
    dtype: 'F16' | 'F32';
    batchSize: number;
  };
  sae: {
    /** A preset of src/sae/presets.ts (null: from the model's name or width). */
    preset: string | null;
    /** [large, small] (null: the preset's 2·d and d). */
    sizes: number[] | null;
    l1: number | null;
    lr: number;
    batchSize: number;
    epochs: number;
    evalFraction: number;
  };
  features: {
    /** Features explained per model × layer (the paper: 10; 30 for Table 3). */
    topK: number;
    match: 'max' | 'hungarian';
    /** Features per model × layer shown in the report's feature tables. */
    shown: number;
  };
  explain: {
    /** 'offline' (free, deterministic) or 'openai' (GPT-4 or any OpenAI-compatible server); null: openai when OPENAI_API_KEY is set, else offline. */
    explainer: 'offline' | 'openai' | null;
    model: string;
    baseURL: string | null;
    /** Explanations per feature (the paper's mean over 3). */
    samples: number;
    concurrency: number;
  };
  scores: {
    /** Simulation scoring: 'offline' keyword simulator, 'openai' the LLM, or null for none. */
    simulator: 'offline' | 'openai' | null;
    /** Utility table for Tables 3 and 4: 'vader' or a table file. */
    table: string;
  };
  /** Table 4; null skips it. */
  evalUtility: { n: number; prefixTokens: number; maxNewTokens: number; seeds: number } | null;
}

export const PIPELINE_DEFAULTS: Readonly<PipelineConfig> = Object.freeze({
  name: 'rewardlens run',
  model: DEFAULT_MODEL_DIR,
  tuned: null,
  dataset: null,
  reward: 'vader',
  seed: 0,
  rlhf: { steps: null, preset: null, ppo: {}, promptLimit: null, checkpointEvery: 25 },
  layers: { top: 5 },
  hook: 'mlp_out',
  activations: { split: 'test', maxTokens: 50, limit: null, dtype: 'F16', batchSize: 32 },
  sae: { preset: null, sizes: null, l1: null, lr: 1e-3, batchSize: 32, epochs: 3, evalFraction: 0.1 },
  features: { topK: 30, match: 'max', shown: 10 },
  explain: { explainer: null, model: 'gpt-4', baseURL: null, samples: 3, concurrency: 4 },
  scores: { simulator: 'offline', table: 'vader' },
  evalUtility: { n: 100, prefixTokens: 30, maxNewTokens: 30, seeds: 3 },
} as PipelineConfig);

type Obj = Record<string, unknown>;

class ConfigChecker {
  constructor(readonly file: string) {}

  fail(field: string, expected: string, got: unknown): never {
    throw new FileFormatError(this.file, `field "${field}": expected ${expected} but found ${JSON.stringify(got)}`);
  }

  obj(v: unknown, field: string): Obj {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(field, 'an object', v);
    return v as Obj;
  }

  keys(o: Obj, field: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.fail(field ? `${field}.${k}` : k, `one of the known fields (${allowed.join(', ')})`, k);
    }
  }

  str(v: unknown, field: string): string {
    if (typeof v !== 'string' || v === '') this.fail(field, 'a non-empty string', v);
    return v as string;
  }

  int(v: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(field, `an integer in [${min}, ${max}]`, v);
    return v as number;
  }

  num(v: unknown, field: string, min: number, max = Infinity): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) this.fail(field, `a number in [${min}, ${max}]`, v);
    return v as number;
  }

  oneOf<T extends string>(v: unknown, field: string, options: readonly T[]): T {
    if (!options.includes(v as T)) this.fail(field, `one of ${options.map((o) => JSON.stringify(o)).join(', ')}`, v);
    return v as T;
  }

  nullable<T>(v: unknown, f: (v: unknown) => T): T | null {
    return v === null ? null : f(v);
  }
}

/** Merge `raw` (a parsed config file) over the defaults and check every field. */
export function resolvePipelineConfig(raw: unknown, file = 'config'): PipelineConfig {
  const c = new ConfigChecker(file);
  const r = c.obj(raw ?? {}, '(root)');
  const D = PIPELINE_DEFAULTS;
  c.keys(r, '', Object.keys(D));
  const sub = (key: keyof PipelineConfig): Obj => {
    if (r[key] === undefined) return {};
    const o = c.obj(r[key], key);
    c.keys(o, key, Object.keys(D[key] as object));
    return o;
  };
  const pick = <T>(o: Obj, key: string, def: T): unknown => (o[key] === undefined ? def : o[key]);

  const rl = sub('rlhf');
  const ac = sub('activations');
  const sa = sub('sae');
  const fe = sub('features');
  const ex = sub('explain');
  const sc = sub('scores');

  let layers: PipelineConfig['layers'];
  const lv = r.layers;
  if (lv === undefined) layers = { ...D.layers };
  else if (Array.isArray(lv)) {
    if (lv.length === 0) c.fail('layers', 'a non-empty list of layer indices or { top: n }', lv);
    layers = { list: lv.map((x, i) => c.int(x, `layers[${i}]`, 0)) };
  } else {
    const lo = c.obj(lv, 'layers');
    c.keys(lo, 'layers', ['top']);
    layers = { top: c.int(lo.top, 'layers.top', 1) };
  }

  let evalUtility: PipelineConfig['evalUtility'];
  if (r.evalUtility === null || r.evalUtility === false) evalUtility = null;
  else {
    const ev = r.evalUtility === undefined ? {} : c.obj(r.evalUtility, 'evalUtility');
    c.keys(ev, 'evalUtility', Object.keys(D.evalUtility!));
    const d = D.evalUtility!;
    evalUtility = {
      n: c.int(pick(ev, 'n', d.n), 'evalUtility.n', 1),
      prefixTokens: c.int(pick(ev, 'prefixTokens', d.prefixTokens), 'evalUtility.prefixTokens', 1),
      maxNewTokens: c.int(pick(ev, 'maxNewTokens', d.maxNewTokens), 'evalUtility.maxNewTokens', 1),
      seeds: c.int(pick(ev, 'seeds', d.seeds), 'evalUtility.seeds', 1, 100),
    };
  }

  const ppo = pick(rl, 'ppo', {});
  const explainer = pick(ex, 'explainer', D.explain.explainer);
  const simulator = pick(sc, 'simulator', D.scores.simulator);
  const sizes = pick(sa, 'sizes', D.sae.sizes);
  return {
    name: c.str(pick(r, 'name', D.name), 'name'),
    model: c.str(pick(r, 'model', D.model), 'model'),
    tuned: c.nullable(pick(r, 'tuned', D.tuned), (v) => c.str(v, 'tuned')),
    dataset: c.nullable(pick(r, 'dataset', D.dataset), (v) => c.str(v, 'dataset')),
    reward: c.str(pick(r, 'reward', D.reward), 'reward'),
    seed: c.int(pick(r, 'seed', D.seed), 'seed', 0, 2 ** 31 - 1),
    rlhf: {
      steps: c.nullable(pick(rl, 'steps', D.rlhf.steps), (v) => c.int(v, 'rlhf.steps', 1)),
      preset: c.nullable(pick(rl, 'preset', D.rlhf.preset), (v) => c.oneOf(v, 'rlhf.preset', Object.keys(PPO_PRESETS))),
      ppo: c.obj(ppo, 'rlhf.ppo') as Partial<PpoConfig>,
      promptLimit: c.nullable(pick(rl, 'promptLimit', D.rlhf.promptLimit), (v) => c.int(v, 'rlhf.promptLimit', 1)),
      checkpointEvery: c.int(pick(rl, 'checkpointEvery', D.rlhf.checkpointEvery), 'rlhf.checkpointEvery', 1),
    },
    layers,
    hook: c.oneOf(pick(r, 'hook', D.hook), 'hook', HOOK_KINDS),
    activations: {
      split: c.oneOf(pick(ac, 'split', D.activations.split), 'activations.split', ['train', 'test'] as const),
      maxTokens: c.int(pick(ac, 'maxTokens', D.activations.maxTokens), 'activations.maxTokens', 1),
      limit: c.nullable(pick(ac, 'limit', D.activations.limit), (v) => c.int(v, 'activations.limit', 1)),
      dtype: c.oneOf(pick(ac, 'dtype', D.activations.dtype), 'activations.dtype', ['F16', 'F32'] as const),
      batchSize: c.int(pick(ac, 'batchSize', D.activations.batchSize), 'activations.batchSize', 1),
    },
    sae: {
      preset: c.nullable(pick(sa, 'preset', D.sae.preset), (v) => c.str(v, 'sae.preset')),
      sizes: sizes === null ? null : Array.isArray(sizes) && sizes.length > 0
        ? sizes.map((s, i) => c.int(s, `sae.sizes[${i}]`, 1))
        : c.fail('sae.sizes', 'null or a non-empty list of dictionary sizes [large, small]', sizes),
      l1: c.nullable(pick(sa, 'l1', D.sae.l1), (v) => c.num(v, 'sae.l1', 0)),
      lr: c.num(pick(sa, 'lr', D.sae.lr), 'sae.lr', Number.MIN_VALUE),
      batchSize: c.int(pick(sa, 'batchSize', D.sae.batchSize), 'sae.batchSize', 1),
      epochs: c.int(pick(sa, 'epochs', D.sae.epochs), 'sae.epochs', 1),
      evalFraction: c.num(pick(sa, 'evalFraction', D.sae.evalFraction), 'sae.evalFraction', 0, 0.5),
    },
    features: {
      topK: c.int(pick(fe, 'topK', D.features.topK), 'features.topK', 1),
      match: c.oneOf(pick(fe, 'match', D.features.match), 'features.match', MATCH_KINDS),
      shown: c.int(pick(fe, 'shown', D.features.shown), 'features.shown', 1),
    },
    explain: {
      explainer: c.nullable(explainer, (v) => c.oneOf(v, 'explain.explainer', ['offline', 'openai'] as const)),
      model: c.str(pick(ex, 'model', D.explain.model), 'explain.model'),
      baseURL: c.nullable(pick(ex, 'baseURL', D.explain.baseURL), (v) => c.str(v, 'explain.baseURL')),
      samples: c.int(pick(ex, 'samples', D.explain.samples), 'explain.samples', 1, 100),
      concurrency: c.int(pick(ex, 'concurrency', D.explain.concurrency), 'explain.concurrency', 1, 256),
    },
    scores: {
      simulator: c.nullable(simulator, (v) => c.oneOf(v, 'scores.simulator', ['offline', 'openai'] as const)),
      table: c.str(pick(sc, 'table', D.scores.table), 'scores.table'),
    },
    evalUtility,
  };
}

/** Read a YAML (.yaml/.yml) or JSON config file and resolve it. */
export function loadPipelineConfig(path: string): PipelineConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FileFormatError(path, `cannot read the config file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let raw: unknown;
  const ext = extname(path).toLowerCase();
  try {
    raw = ext === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new FileFormatError(path, `not valid ${ext === '.json' ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`);
  }
  return resolvePipelineConfig(raw, path);
}
