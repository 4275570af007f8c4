// One call from a model spec (a local folder, or a hub id `org/name[@revision]`) to a ready engine:
// resolve (download or find in the cache), parse config.json, allocate the native engine, and read
// the weights straight into its parameter memory (held once, F16/BF16 widened once).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadNeoxWeights, type LoadOptions, type LoadReport } from './hf-checkpoint.js';
import { readNeoxConfig } from './hf-config.js';
import { resolveModel, type ResolveModelOptions } from './hub.js';
import type { NeoxConfig } from './neox-config.js';
import { NeoxEngine } from './neox-engine.js';
import { loadTokenizer, type Tokenizer } from './tokenizer.js';

export interface LoadedModel {
  dir: string;
  config: NeoxConfig;
  engine: NeoxEngine;
  /** Null when the folder has no tokenizer.json. */
  tokenizer: Tokenizer | null;
  report: LoadReport;
}

export interface LoadModelOptions extends ResolveModelOptions {
  valueHead?: boolean;
  load?: LoadOptions;
}

export async function loadModel(spec: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const { dir } = await resolveModel(spec, opts);
  const config = readNeoxConfig(dir);
  const engine = NeoxEngine.create(config, { valueHead: opts.valueHead ?? false, init: 'zeros' });
  try {
    const report = loadNeoxWeights(dir, config, engine, { valueHead: opts.valueHead ? 'if-present' : 'skip', ...opts.load });
    const tokenizer = existsSync(join(dir, 'tokenizer.json')) ? loadTokenizer(dir) : null;
    return { dir, config, engine, tokenizer, report };
  } catch (err) {
    engine.dispose();
    throw err;
  }
}
