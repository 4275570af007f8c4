// The PPO part of the native binding (native/napi/ppo.cc), declared once. Outputs are
// caller-allocated typed arrays; src/rlhf/ppo-kernels.ts is the validated public API over it.
import { addon } from '../native.js';

/** What the binding's ppoLoss returns (the same names as PpoLossStats). */
export interface PpoLossStatsRaw {
  /** pgLoss + vfCoef·vfLoss (0 when skipped). */
  loss: number;
  pgLoss: number;
  vfLoss: number;
  pgClipfrac: number;
  vfClipfrac: number;
  approxkl: number;
  policykl: number;
  ratioMean: number;
  /** Masked mean of the given entropy; absent when none was given. */
  entropy?: number;
  /** ratioMean > ratioThreshold: loss, pgLoss and vfLoss zeroed, gradients zero. */
  skipped: boolean;
}

export interface PpoBinding {
  /** Fills logp, entropy, lse [B,T] from logits [B,T,V]; rejects with a RangeError on NaN/+Inf. */
  ppoTokenLogprobs(
    logits: Float32Array, targets: Int32Array, B: number, T: number, V: number, temperature: number,
    logp: Float32Array, entropy: Float32Array, lse: Float32Array,
  ): Promise<void>;
  /** Writes dlogits [B,T,V] into out (which may be logits itself). */
  ppoTokenLogprobsBackward(
    logits: Float32Array, targets: Int32Array, lse: Float32Array, dlogp: Float32Array,
    dentropy: Float32Array | null, B: number, T: number, V: number, temperature: number,
    out: Float32Array,
  ): Promise<void>;
  ppoKlPenaltyRewards(
    logp: Float32Array, logpRef: Float32Array, mask: Uint8Array, scores: Float32Array, B: number,
    T: number, klCoef: number, kind: string, rewards: Float32Array, kl: Float32Array,
  ): void;
  ppoGae(
    rewards: Float32Array, values: Float32Array, mask: Uint8Array, B: number, T: number,
    gamma: number, lam: number, advantages: Float32Array, returns: Float32Array,
  ): void;
  /** out may be x itself. */
  ppoMaskedWhiten(x: Float32Array, mask: Uint8Array, shiftMean: boolean, out: Float32Array): void;
  /** Stats of TRL's PPO loss, and its gradients written into dlogp and dvalues. */
  ppoLoss(
    logp: Float32Array, oldLogp: Float32Array, values: Float32Array, oldValues: Float32Array,
    advantages: Float32Array, returns: Float32Array, mask: Uint8Array, entropy: Float32Array | null,
    B: number, T: number, cliprange: number, clipRangeValue: number, vfCoef: number,
    ratioThreshold: number, dlogp: Float32Array, dvalues: Float32Array,
  ): PpoLossStatsRaw;
}

export function ppoBinding(): PpoBinding {
  return addon<PpoBinding>();
}
