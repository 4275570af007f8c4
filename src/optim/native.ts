// The optimiser part of the native binding's interface (native/napi/optim.cc).
import { addon } from '../native.js';

/** AdamW moments for a fixed list of tensors, held natively until dispose(). */
export interface NativeAdamWState {
  /** One step over every tensor; lr and weightDecay are per tensor. Throws once disposed. */
  step(
    params: Float32Array[], grads: Float32Array[], lr: Float64Array, weightDecay: Float64Array,
    beta1: number, beta2: number, eps: number,
  ): void;
  stepCount(): number;
  /** Copies the moments into m and v (one array per tensor); returns the step count. */
  readState(m: Float32Array[], v: Float32Array[]): number;
  writeState(m: Float32Array[], v: Float32Array[], step: number): void;
  dispose(): void;
}

export interface OptimBinding {
  AdamWState: new (sizes: number[]) => NativeAdamWState;
  /** One AdamW step over one flat tensor, in place; t counts from 1. */
  adamwStep(
    param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, lr: number,
    beta1: number, beta2: number, eps: number, weightDecay: number, t: number,
  ): void;
  /** Σ x² over all tensors, accumulated in double. */
  gradNormSq(grads: Float32Array[]): number;
  /** Global L2 norm before clipping; scales every tensor by maxNorm/(norm+1e-6) when norm > maxNorm. */
  clipGradNorm(grads: Float32Array[], maxNorm: number): number;
  scale(x: Float32Array, s: number): void;
}

export function optimBinding(): OptimBinding {
  return addon<OptimBinding>();
}
