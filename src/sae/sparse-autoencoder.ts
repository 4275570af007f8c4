// The sparse autoencoder: a TypeScript handle over the native SAE (native/cpu/sae.cc). Arguments
// are checked here, with messages that name them; the heavy work runs natively off the JS thread.
import { invalidRange, invalidType, withCallerStack } from '../errors.js';
import { checkF32, checkFinite, checkRows, checkU8 } from '../validate.js';
import { resolveSaeConfig, type SaeConfig } from './config.js';
import { saeBinding, type NativeSaeHandle, type NativeSaeMetrics } from './native.js';

/**
 * Metrics of one step, over the valid (unmasked) rows, Bv of them:
 * - `loss` = mse + λ·l1, the training objective;
 * - `mse` = Σ (x̂ − x)² / (Bv·dIn), the mean over elements;
 * - `l1` = Σ_b ‖c_b‖₁ / Bv, the batch mean of each row's L1 norm;
 * - `nmse` = Σ_b ‖x̂_b − x_b‖² / Σ_b ‖x_b‖², the normalised reconstruction error (0 is perfect,
 *   1 is as bad as predicting zeros; 0 when both sums are 0, Infinity when only the denominator is);
 * - `l0` = mean number of non-zero features per row;
 * - `dead` = features that fired on no valid row in the last `deadWindow` steps (counted from creation);
 * - `step` = 1-based count of updates made by this model.
 */
export interface SaeMetrics {
  step: number;
  loss: number;
  mse: number;
  l1: number;
  nmse: number;
  l0: number;
  dead: number;
}

/** SAELens names and shapes: W_enc [dIn,dSae], b_enc [dSae], W_dec [dSae,dIn], b_dec [dIn]. */
export interface SaeWeights {
  W_enc: Float32Array;
  b_enc: Float32Array;
  W_dec: Float32Array;
  b_dec: Float32Array;
}

/**
 * The raw trainable parameters: the dictionary W [dSae,dIn] before row normalisation, the free
 * encoder W_enc [dIn,dSae] of an untied model (absent when tied), and the biases.
 */
export interface SaeParameters {
  W: Float32Array;
  W_enc?: Float32Array;
  b_enc: Float32Array;
  b_dec: Float32Array;
}

export interface SaeBatchOptions {
  /** Per-row validity [rows]: rows whose byte is 0 take no part in loss, metrics or gradients. */
  mask?: Uint8Array;
}

export type SaeForwardMetrics = Omit<SaeMetrics, 'step' | 'dead'>;

const DISPOSED = 'SAE handle has been disposed';

export class SparseAutoencoder {
  readonly config: SaeConfig;
  #handle: NativeSaeHandle;
  #disposed = false;

  private constructor(config: SaeConfig, handle: NativeSaeHandle) {
    this.config = config;
    this.#handle = handle;
  }

  /** A freshly initialised model (see SaeConfig.init; biases 0, Adam moments 0). */
  static create(cfg: Partial<SaeConfig> & { dIn: number; dSae: number }): SparseAutoencoder {
    const config = Object.freeze(resolveSaeConfig(cfg));
    return new SparseAutoencoder(config, new (saeBinding().SaeHandle)(config));
  }

  /**
   * A model from SAELens-layout weights. The dictionary is W_dec (re-normalised in each forward
   * pass when normalizeDecoder). Tied models require W_enc ≈ W_decᵀ (RangeError naming W_enc if not);
   * untied models take W_enc as their encoder. The optimiser state starts fresh.
   */
  static fromWeights(cfg: Partial<SaeConfig> & { dIn: number; dSae: number }, w: SaeWeights): SparseAutoencoder {
    const config = Object.freeze(resolveSaeConfig(cfg));
    const d = config.dIn;
    const n = config.dSae;
    if (typeof w !== 'object' || w === null) throw invalidType('SaeWeights object', 'weights', w);
    const W_enc = checkF32(w.W_enc, 'W_enc', [d, n]);
    const b_enc = checkF32(w.b_enc, 'b_enc', [n]);
    const W_dec = checkF32(w.W_dec, 'W_dec', [n, d]);
    const b_dec = checkF32(w.b_dec, 'b_dec', [d]);
    for (const [name, a] of [['W_enc', W_enc], ['b_enc', b_enc], ['W_dec', W_dec], ['b_dec', b_dec]] as const) {
      checkFinite(a, name);
    }
    if (config.tied) checkTransposed(W_enc, W_dec, n, d);
    const handle = new (saeBinding().SaeHandle)(config);
    handle.setWeights(config.tied ? null : W_enc, b_enc, W_dec, b_dec);
    return new SparseAutoencoder(config, handle);
  }

  /** Updates made so far. */
  get stepCount(): number {
    return this.#live().stepCount();
  }

  /** True after dispose(). */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** One training step on x [B, dIn]: forward, backward and an Adam update, all native. */
  async step(x: Float32Array, opts?: SaeBatchOptions): Promise<SaeMetrics> {
    const site = new Error();
    const h = this.#live();
    const rows = this.#checkX(x, 'x');
    const mask = checkMask(opts, rows);
    return withCallerStack(h.step(x, mask), site);
  }

  /** The forward pass without an update: x̂ [B, dIn], c [B, dSae] (every row) and the metrics over valid rows. */
  async forward(
    x: Float32Array,
    opts?: SaeBatchOptions,
  ): Promise<{ xHat: Float32Array; c: Float32Array; metrics: SaeForwardMetrics }> {
    const site = new Error();
    const h = this.#live();
    const rows = this.#checkX(x, 'x');
    const mask = checkMask(opts, rows);
    const xHat = new Float32Array(rows * this.config.dIn);
    const c = new Float32Array(rows * this.config.dSae);
    const m = await withCallerStack(h.forward(x, mask, xHat, c), site);
    return { xHat, c, metrics: forwardMetrics(m) };
  }

  /**
   * The loss, metrics and gradients of the raw parameters (see SaeParameters) on x, without an
   * update. For tests and diagnostics.
   */
  async lossAndGrad(
    x: Float32Array,
    opts?: SaeBatchOptions,
  ): Promise<{ metrics: SaeForwardMetrics; grads: SaeParameters }> {
    const site = new Error();
    const h = this.#live();
    const rows = this.#checkX(x, 'x');
    const mask = checkMask(opts, rows);
    const grads = this.#emptyParameters();
    const m = await withCallerStack(h.lossAndGrad(x, mask, grads.W, grads.W_enc ?? null, grads.b_enc, grads.b_dec), site);
    return { metrics: forwardMetrics(m), grads };
  }

  /** c = ReLU(x' W_enc + b_enc) for x [N, dIn] → [N, dSae], into `out` when given. */
  async encode(x: Float32Array, out?: Float32Array): Promise<Float32Array> {
    const site = new Error();
    const h = this.#live();
    const rows = this.#checkX(x, 'x');
    const c = out === undefined ? new Float32Array(rows * this.config.dSae) : checkF32(out, 'out', [rows, this.config.dSae]);
    await withCallerStack(h.encode(x, c), site);
    return c;
  }

  /** Copies in SAELens layout; W_dec holds the normalised rows when normalizeDecoder (W_enc = W_decᵀ when tied). */
  weights(): SaeWeights {
    const h = this.#live();
    const { dIn: d, dSae: n } = this.config;
    const w: SaeWeights = {
      W_enc: new Float32Array(d * n),
      b_enc: new Float32Array(n),
      W_dec: new Float32Array(n * d),
      b_dec: new Float32Array(d),
    };
    h.getWeights(w.W_enc, w.b_enc, w.W_dec, w.b_dec);
    return w;
  }

  /** Copies of the raw parameters (the dictionary before normalisation). */
  rawParameters(): SaeParameters {
    const h = this.#live();
    const p = this.#emptyParameters();
    h.getParams(p.W, p.W_enc ?? null, p.b_enc, p.b_dec);
    return p;
  }

  /** Overwrites the raw parameters; the Adam moments and the step count are kept. */
  setRawParameters(p: SaeParameters): void {
    const h = this.#live();
    const { dIn: d, dSae: n, tied } = this.config;
    if (typeof p !== 'object' || p === null) throw invalidType('SaeParameters object', 'parameters', p);
    const W = checkF32(p.W, 'W', [n, d]);
    const W_enc = tied ? null : checkF32(p.W_enc, 'W_enc', [d, n]);
    const b_enc = checkF32(p.b_enc, 'b_enc', [n]);
    const b_dec = checkF32(p.b_dec, 'b_dec', [d]);
    checkFinite(W, 'W');
    if (W_enc) checkFinite(W_enc, 'W_enc');
    checkFinite(b_enc, 'b_enc');
    checkFinite(b_dec, 'b_dec');
    h.setParams(W, W_enc, b_enc, b_dec);
  }

  /** Frees the native memory (at once, or when an in-flight call settles). Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#handle.dispose();
  }

  #live(): NativeSaeHandle {
    if (this.#disposed) throw new Error(DISPOSED);
    return this.#handle;
  }

  // The NaN/Inf check of x (RangeError "Expected finite values in x for x but received NaN at
  // index i") runs natively, vectorised and off the JS thread, before the model is touched: a
  // JS loop over a large encode() input would block the event loop for as long as the work.
  #checkX(x: unknown, name: string): number {
    return checkRows(x, name, this.config.dIn);
  }

  #emptyParameters(): SaeParameters {
    const { dIn: d, dSae: n, tied } = this.config;
    const p: SaeParameters = { W: new Float32Array(n * d), b_enc: new Float32Array(n), b_dec: new Float32Array(d) };
    if (!tied) p.W_enc = new Float32Array(d * n);
    return p;
  }
}

function checkMask(opts: SaeBatchOptions | undefined, rows: number): Uint8Array | null {
  if (opts === undefined) return null;
  if (typeof opts !== 'object' || opts === null) throw invalidType('options object', 'opts', opts);
  if (opts.mask === undefined) return null;
  const mask = checkU8(opts.mask, 'mask', [rows]);
  if (!mask.some((v) => v !== 0)) {
    throw invalidRange('at least one non-zero entry', 'mask', `all ${rows} entries 0`);
  }
  return mask;
}

/** Tied weights: W_enc [d,n] must equal W_decᵀ up to float rounding. */
function checkTransposed(W_enc: Float32Array, W_dec: Float32Array, n: number, d: number): void {
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) {
      const dec = W_dec[i * d + k];
      const enc = W_enc[k * n + i];
      if (Math.abs(enc - dec) > 1e-5 * Math.max(1, Math.abs(dec))) {
        throw invalidRange(
          'W_decᵀ (a tied model; pass tied: false for separate encoder weights)',
          'W_enc',
          `W_enc[${k},${i}] = ${enc} where W_dec[${i},${k}] = ${dec}`,
        );
      }
    }
  }
}

function forwardMetrics(m: NativeSaeMetrics): SaeForwardMetrics {
  return { loss: m.loss, mse: m.mse, l1: m.l1, nmse: m.nmse, l0: m.l0 };
}

