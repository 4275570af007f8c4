// The SAE part of the native binding's interface, declared once (see native/napi/sae.cc).
import { addon } from '../native.js';
import type { SaeConfig } from './config.js';

/** Metrics as the binding returns them (names fixed project-wide). */
export interface NativeSaeMetrics {
  step: number;
  loss: number;
  mse: number;
  l1: number;
  nmse: number;
  l0: number;
  dead: number;
}

/**
 * One native SAE: parameters, Adam moments and scratch live behind it. Shapes: rows = x.length / dIn,
 * n = dSae, d = dIn. While a Promise-returning call runs the handle is busy and every other call
 * throws an Error; after dispose() every call throws "SAE handle has been disposed".
 */
export interface NativeSaeHandle {
  /** Forward, backward and one Adam update. mask [rows] or null (all rows valid). */
  step(x: Float32Array, mask: Uint8Array | null): Promise<NativeSaeMetrics>;
  /** Forward only into xHat [rows,d] and c [rows,n]. */
  forward(x: Float32Array, mask: Uint8Array | null, xHat: Float32Array, c: Float32Array): Promise<NativeSaeMetrics>;
  /** Forward and backward without an update: gradients of the raw parameters (W_enc untied only). */
  lossAndGrad(
    x: Float32Array, mask: Uint8Array | null,
    W: Float32Array, W_enc: Float32Array | null, b_enc: Float32Array, b_dec: Float32Array,
  ): Promise<NativeSaeMetrics>;
  /** c [rows,n] = ReLU(x' W_enc + b_enc), in chunks. */
  encode(x: Float32Array, c: Float32Array): Promise<void>;
  /** SAELens layout copies: W_enc [d,n], b_enc [n], W_dec [n,d] (normalised rows), b_dec [d]. */
  getWeights(W_enc: Float32Array, b_enc: Float32Array, W_dec: Float32Array, b_dec: Float32Array): void;
  /** Loads SAELens weights (W_enc read only when untied); resets Adam, step count and dead window. */
  setWeights(W_enc: Float32Array | null, b_enc: Float32Array, W_dec: Float32Array, b_dec: Float32Array): void;
  /** Raw parameters: W [n,d] (before normalisation), W_enc [d,n] (untied only, else null). */
  getParams(W: Float32Array, W_enc: Float32Array | null, b_enc: Float32Array, b_dec: Float32Array): void;
  setParams(W: Float32Array, W_enc: Float32Array | null, b_enc: Float32Array, b_dec: Float32Array): void;
  stepCount(): number;
  memoryBytes(): number;
  isBusy(): boolean;
  /** Idempotent; memory is freed now, or when an in-flight call settles. */
  dispose(): void;
}

export interface SaeBinding {
  SaeHandle: new (config: SaeConfig) => NativeSaeHandle;
}

export function saeBinding(): SaeBinding {
  return addon<SaeBinding>();
}
