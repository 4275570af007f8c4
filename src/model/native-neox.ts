// The GPT-NeoX part of the native binding's interface, declared once (see native/napi/neox.cc).
import { addon } from '../native.js';
import type { ResolvedGenerateOptions } from './generate.js';
import type { NeoxConfig } from './neox-config.js';

/** One parameter tensor of the native layout: offset in floats into the single allocation. */
export interface NativeNeoxTensor {
  name: string;
  offset: number;
  shape: number[];
}

export interface NativeNeoxOptions {
  valueHead: boolean;
  init: 'zeros' | 'normal';
  seed: number;
  initStd: number;
  /** Rows of logits per chunk in a forward that keeps none (0 or absent: about 16 MB worth). */
  lmHeadChunkRows?: number;
}

/** A forward request as the binding reads it; absent outputs are null. */
export interface NativeNeoxForwardRequest {
  inputIds: Int32Array;
  attentionMask: Uint8Array | null;
  positionIds: Int32Array | null;
  B: number;
  T: number;
  logits: Float32Array | null;
  targets: Int32Array | null;
  tokenLogprobs: Float32Array | null;
  loss: boolean;
  lastHidden: Float32Array | null;
  values: Float32Array | null;
  /** The value head's dropout p in [0, 1) and its mask seed (uint32). */
  valueDropout: number;
  valueDropoutSeed: number;
  hookNames: string[];
  hookBuffers: Float32Array[];
  train: boolean;
}

/** An incremental forward's chunk as the binding reads it (B = the cache's rows). */
export interface NativeNeoxCachedRequest {
  inputIds: Int32Array;
  attentionMask: Uint8Array | null;
  positionIds: Int32Array | null;
  B: number;
  T: number;
  /** [B,V] (the last column), or [B,T,V] with allPositions; null: only fill the cache */
  logits: Float32Array | null;
  allPositions: boolean;
}

/** A generate request as the binding reads it; every option resolved (src/model/generate.ts). */
export interface NativeNeoxGenerateRequest extends Omit<ResolvedGenerateOptions, 'returnLogprobs'> {
  inputIds: Int32Array;
  attentionMask: Uint8Array | null;
  positionIds: Int32Array | null;
  B: number;
  T: number;
  /** [B,maxNewTokens] out */
  tokens: Int32Array;
  /** [B] out */
  lengths: Int32Array;
  /** [B,maxNewTokens] out, or null */
  logprobs: Float32Array | null;
}

/**
 * One native KV cache (new NeoxCacheHandle(model, B, maxLength)). Busy while a forwardCached uses
 * it (every other call throws); after dispose() every call throws "KV cache has been disposed".
 */
export interface NativeNeoxCacheHandle {
  rows(): number;
  capacity(): number;
  /** Columns filled. */
  length(): number;
  reset(): void;
  memoryBytes(): number;
  isBusy(): boolean;
  /** Idempotent; memory is released now, or when an in-flight call settles. */
  dispose(): void;
}

/**
 * One native GPT-NeoX model. While forward or backward runs the handle is busy and every other
 * call throws an Error; after dispose() every call throws "GPT-NeoX engine has been disposed" and
 * the exposed buffers are detached (their views have length 0).
 */
export interface NativeNeoxHandle {
  /** The parameter layout, in neoxParameterSpecs order (packed, no gaps). */
  tensors(): NativeNeoxTensor[];
  numParams(): number;
  /** The parameter allocation as an external ArrayBuffer (the same object on every call). */
  parameterBuffer(): ArrayBuffer;
  /** The gradient allocation (made and zeroed on the first call). */
  gradientBuffer(): ArrayBuffer;
  /** Resolves with the loss when req.loss, else undefined. */
  forward(req: NativeNeoxForwardRequest): Promise<number | undefined>;
  /** Accumulates the gradients of lossScale·loss + Σ dTokenLogprobs·logp + Σ dValues·values. */
  backward(lossScale: number, dTokenLogprobs: Float32Array | null, dValues: Float32Array | null): Promise<void>;
  /** Appends the chunk to the cache and runs the model on it (see rl::neox_forward_cached). */
  forwardCached(cache: NativeNeoxCacheHandle, req: NativeNeoxCachedRequest): Promise<void>;
  /** Fills req.tokens, req.lengths and req.logprobs (see rl::neox_generate). */
  generate(req: NativeNeoxGenerateRequest): Promise<void>;
  zeroGrad(): void;
  memoryBytes(): number;
  isBusy(): boolean;
  /** Idempotent; memory is released now, or when an in-flight call settles. */
  dispose(): void;
}

export interface NeoxBinding {
  NeoxHandle: {
    new (config: NeoxConfig, opts: NativeNeoxOptions): NativeNeoxHandle;
    /** The config.modelType values the build reads (absent in builds before GPT-Neo). */
    architectures?: () => string[];
  };
  NeoxCacheHandle: new (model: NativeNeoxHandle, B: number, maxLength: number) => NativeNeoxCacheHandle;
}

export function neoxBinding(): NeoxBinding {
  return addon<NeoxBinding>();
}
