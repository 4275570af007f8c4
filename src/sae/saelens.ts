// SAELens-compatible dictionary folders: `cfg.json` + `sae_weights.safetensors` (+ rewardlens's
// `metrics.jsonl`). SAELens 6 loads them with `SAE.load_from_disk(dir)`: it keeps the cfg keys it
// knows (architecture, d_in, d_sae, dtype, apply_b_dec_to_input, normalize_activations, ...),
// ignores the others (rewardlens's own settings live under "rewardlens"), and requires exactly the
// four tensors W_enc [d,n], b_enc [n], W_dec [n,d], b_dec [d].
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileFormatError } from '../errors.js';
import { writeDirAtomic } from '../io/atomic.js';
import { SafetensorsFile, writeSafetensors } from '../io/safetensors.js';
import { resolveSaeConfig, type SaeConfig } from './config.js';
import { SparseAutoencoder, type SaeMetrics, type SaeWeights } from './sparse-autoencoder.js';

/** The SAELens version whose on-disk format these folders follow. */
export const SAELENS_VERSION = '6.0.0';
export const CFG_FILE = 'cfg.json';
export const WEIGHTS_FILE = 'sae_weights.safetensors';
export const METRICS_FILE = 'metrics.jsonl';
const TENSORS = ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const;

/** Training settings recorded beside the dictionary (not read by SAELens). */
export interface SaeTrainingRecord {
  epochs?: number;
  batchSize?: number;
  rows?: number;
  activations?: string;
  seconds?: number;
  final?: SaeMetrics;
  [key: string]: unknown;
}

export interface SaveSaeOptions {
  training?: SaeTrainingRecord;
  metrics?: readonly SaeMetrics[];
  /** Extra SAELens metadata (model_name, hook_name, ...). */
  metadata?: Record<string, unknown>;
}

/** The cfg.json object for a config. */
export function saeLensCfg(cfg: SaeConfig, opts: SaveSaeOptions = {}): Record<string, unknown> {
  return {
    architecture: 'standard',
    d_in: cfg.dIn,
    d_sae: cfg.dSae,
    dtype: 'float32',
    device: 'cpu',
    apply_b_dec_to_input: cfg.applyBDecToInput,
    normalize_activations: 'none',
    reshape_activations: 'none',
    metadata: { sae_lens_version: SAELENS_VERSION, sae_lens_training_version: SAELENS_VERSION, ...opts.metadata },
    rewardlens: {
      config: cfg,
      training: opts.training ?? null,
    },
  };
}

/** Write a dictionary folder atomically: nothing half-written is ever left at `dir`. */
export async function saveSaeFolder(dir: string, sae: SparseAutoencoder, opts: SaveSaeOptions = {}): Promise<void> {
  const w = sae.weights();
  const { dIn: d, dSae: n } = sae.config;
  await writeDirAtomic(dir, (tmp) => {
    writeSafetensors(join(tmp, WEIGHTS_FILE), {
      W_enc: { dtype: 'F32', shape: [d, n], data: w.W_enc },
      b_enc: { dtype: 'F32', shape: [n], data: w.b_enc },
      W_dec: { dtype: 'F32', shape: [n, d], data: w.W_dec },
      b_dec: { dtype: 'F32', shape: [d], data: w.b_dec },
    });
    writeFileSync(join(tmp, CFG_FILE), JSON.stringify(saeLensCfg(sae.config, opts), null, 2) + '\n');
    const lines = (opts.metrics ?? []).map((m) => JSON.stringify(m)).join('\n');
    writeFileSync(join(tmp, METRICS_FILE), lines ? lines + '\n' : '');
  });
}

export interface SaeFolder {
  config: SaeConfig;
  weights: SaeWeights;
  cfgJson: Record<string, unknown>;
}

function readCfg(dir: string): Record<string, unknown> {
  const path = join(dir, CFG_FILE);
  if (!existsSync(path)) throw new FileFormatError(path, 'file not found (expected a SAELens cfg.json)');
  let cfg: unknown;
  try {
    cfg = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new FileFormatError(path, `not valid JSON (${(err as Error).message})`);
  }
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) throw new FileFormatError(path, 'expected a JSON object');
  const c = cfg as Record<string, unknown>;
  const arch = c.architecture ?? 'standard';
  if (arch !== 'standard') throw new FileFormatError(path, `field "architecture": expected "standard" but found ${JSON.stringify(arch)}`);
  for (const key of ['d_in', 'd_sae'] as const) {
    if (!Number.isInteger(c[key]) || (c[key] as number) < 1) {
      throw new FileFormatError(path, `field "${key}": expected a positive integer but found ${JSON.stringify(c[key])}`);
    }
  }
  const norm = c.normalize_activations ?? 'none';
  if (norm !== 'none') {
    throw new FileFormatError(path, `field "normalize_activations": expected "none" but found ${JSON.stringify(norm)} (rewardlens does not rescale inputs)`);
  }
  return c;
}

/** Read a dictionary folder written by rewardlens or SAELens (standard architecture). */
export function readSaeFolder(dir: string): SaeFolder {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new FileFormatError(dir, 'not a folder (expected a SAELens dictionary folder)');
  const cfgJson = readCfg(dir);
  const d = cfgJson.d_in as number;
  const n = cfgJson.d_sae as number;
  const own = (cfgJson.rewardlens as { config?: Partial<SaeConfig> } | undefined)?.config ?? {};
  const file = SafetensorsFile.open(join(dir, WEIGHTS_FILE));
  let weights: SaeWeights;
  try {
    const extra = file.names().filter((t) => !(TENSORS as readonly string[]).includes(t));
    if (extra.length) throw new FileFormatError(file.path, `unexpected tensors ${extra.map((t) => `"${t}"`).join(', ')} (a standard SAE holds exactly W_enc, b_enc, W_dec, b_dec)`);
    weights = {
      W_enc: file.readF32('W_enc', [d, n]),
      b_enc: file.readF32('b_enc', [n]),
      W_dec: file.readF32('W_dec', [n, d]),
      b_dec: file.readF32('b_dec', [d]),
    };
  } finally {
    file.close();
  }
  const applyBDecToInput = cfgJson.apply_b_dec_to_input;
  if (applyBDecToInput !== undefined && typeof applyBDecToInput !== 'boolean') {
    throw new FileFormatError(join(dir, CFG_FILE), `field "apply_b_dec_to_input": expected a boolean but found ${JSON.stringify(applyBDecToInput)}`);
  }
  // A folder without rewardlens settings (e.g. trained by SAELens) is loaded untied and free, so
  // its W_enc and W_dec are used exactly as stored.
  const config = resolveSaeConfig({
    tied: false,
    normalizeDecoder: false,
    ...own,
    dIn: d,
    dSae: n,
    applyBDecToInput: applyBDecToInput ?? own.applyBDecToInput ?? false,
  });
  return { config, weights, cfgJson };
}

/** Load a dictionary folder into a native SAE (ready to encode, or to go on training). */
export function loadSaeFolder(dir: string): SparseAutoencoder {
  const { config, weights } = readSaeFolder(dir);
  return SparseAutoencoder.fromWeights(config, weights);
}

/**
 * The decoder dictionary W_dec [n, d] from a SAELens folder or from a safetensors file that holds
 * a `W_dec` tensor (what `rewardlens mmcs` compares).
 */
export function readDictionary(path: string): { W_dec: Float32Array; n: number; d: number } {
  if (!existsSync(path)) throw new FileFormatError(path, 'not found (expected a SAELens folder or a safetensors file with W_dec)');
  const file = statSync(path).isDirectory() ? join(path, WEIGHTS_FILE) : path;
  const f = SafetensorsFile.open(file);
  try {
    const info = f.info('W_dec');
    if (info.shape.length !== 2) throw new FileFormatError(file, `tensor "W_dec": expected shape [n,d] but found [${info.shape.join(',')}]`);
    const [n, d] = info.shape;
    if (n < 1 || d < 1) throw new FileFormatError(file, `tensor "W_dec": expected a non-empty [n,d] but found [${n},${d}]`);
    return { W_dec: f.readF32('W_dec'), n, d };
  } finally {
    f.close();
  }
}
