// trainSae: the paper's training loop. Seeded shuffles each epoch, the last partial batch kept,
// batches gathered into one reused buffer, one native step (forward + backward + Adam) per batch.
import { invalidRange, invalidType } from '../errors.js';
import { checkBool, checkFinite, checkInt, checkRows, checkU8 } from '../validate.js';
import { resolveSaeConfig, type SaeConfig } from './config.js';
import { SparseAutoencoder, type SaeMetrics } from './sparse-autoencoder.js';
import { mulberry32 } from '../random.js';

export interface SaeTrainProgress {
  /** 0-based epoch index. */
  epoch: number;
  /** 0-based batch index within the epoch. */
  batch: number;
  batchesPerEpoch: number;
}

export interface SaeTrainOptions {
  /** Passes over the data (default 3, the paper's text). */
  epochs?: number;
  /** Rows per step (default 32); the last batch of an epoch may be smaller. */
  batchSize?: number;
  /** A fresh seeded permutation of the rows each epoch (default true); false keeps data order. */
  shuffle?: boolean;
  /** Shuffle seed (default cfg.seed). */
  seed?: number;
  /** Per-row validity of data [N]: rows whose byte is 0 are left out of training. */
  mask?: Uint8Array;
  /** Called after every step with its metrics. */
  onStep?: (m: SaeMetrics, progress: SaeTrainProgress) => void;
  /** Aborts between steps (the model is disposed and the signal's reason thrown). */
  signal?: AbortSignal;
}

export const SAE_TRAIN_DEFAULTS = Object.freeze({
  /** The paper's text: 3 epochs. */
  epochs: 3,
  /** Rows per Adam step. */
  batchSize: 32,
  /** Shuffle each epoch. */
  shuffle: true,
});

/** Trains a new SAE on data [N, dIn]; returns it and the metrics of every step. */
export async function trainSae(
  data: Float32Array,
  cfg: Partial<SaeConfig> & { dIn: number; dSae: number },
  opts: SaeTrainOptions = {},
): Promise<{ sae: SparseAutoencoder; history: SaeMetrics[] }> {
  const config = resolveSaeConfig(cfg);
  const d = config.dIn;
  const rows = checkRows(data, 'data', d);
  checkFinite(data, 'data');
  if (typeof opts !== 'object' || opts === null) throw invalidType('SaeTrainOptions object', 'opts', opts);
  const epochs = checkInt(opts.epochs ?? SAE_TRAIN_DEFAULTS.epochs, 'epochs', 1);
  const batchSize = checkInt(opts.batchSize ?? SAE_TRAIN_DEFAULTS.batchSize, 'batchSize', 1, 2 ** 30 - 1);
  const shuffle = checkBool(opts.shuffle ?? SAE_TRAIN_DEFAULTS.shuffle, 'shuffle');
  const seed = checkInt(opts.seed ?? config.seed, 'seed', 0);
  if (opts.onStep !== undefined && typeof opts.onStep !== 'function') throw invalidType('function', 'onStep', opts.onStep);
  const signal = opts.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidType('AbortSignal', 'signal', signal);

  // The rows that take part, in data order.
  let order: Uint32Array;
  if (opts.mask !== undefined) {
    const mask = checkU8(opts.mask, 'mask', [rows]);
    let valid = 0;
    for (let i = 0; i < rows; i++) if (mask[i] !== 0) valid++;
    if (valid === 0) throw invalidRange('at least one non-zero entry', 'mask', `all ${rows} entries 0`);
    order = new Uint32Array(valid);
    for (let i = 0, j = 0; i < rows; i++) if (mask[i] !== 0) order[j++] = i;
  } else {
    order = new Uint32Array(rows);
    for (let i = 0; i < rows; i++) order[i] = i;
  }
  const count = order.length;
  const contiguous = !shuffle && count === rows; // batches are plain views of data
  const batchesPerEpoch = Math.ceil(count / batchSize);
  const buffer = contiguous ? null : new Float32Array(Math.min(batchSize, count) * d);
  const random = mulberry32(seed);

  signal?.throwIfAborted();
  const sae = SparseAutoencoder.create(config);
  const history: SaeMetrics[] = [];
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      if (shuffle) permute(order, random);
      for (let batch = 0; batch < batchesPerEpoch; batch++) {
        const start = batch * batchSize;
        const size = Math.min(batchSize, count - start);
        let x: Float32Array;
        if (buffer === null) {
          x = data.subarray(start * d, (start + size) * d);
        } else {
          for (let r = 0; r < size; r++) {
            const i = order[start + r];
            buffer.set(data.subarray(i * d, i * d + d), r * d);
          }
          x = size * d === buffer.length ? buffer : buffer.subarray(0, size * d);
        }
        signal?.throwIfAborted();
        const m = await sae.step(x);
        history.push(m);
        opts.onStep?.(m, { epoch, batch, batchesPerEpoch });
      }
    }
  } catch (err) {
    sae.dispose();
    throw err;
  }
  return { sae, history };
}

/** Fisher–Yates shuffle in place. */
function permute(a: Uint32Array, random: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}
