// Float64 references for AdamW (torch.optim.AdamW, amsgrad off) and global grad-norm clipping,
// written from the PyTorch documentation's algorithm, independently of the native code.

export interface RefAdamWState { m: Float64Array; v: Float64Array }

/** One AdamW step in float64 on one tensor, in place; t counts from 1. */
export function adamwStepReference(
  p: Float64Array, g: ArrayLike<number>, s: RefAdamWState, t: number,
  lr: number, beta1: number, beta2: number, eps: number, weightDecay: number,
): void {
  const bc1 = 1 - beta1 ** t;
  const bc2 = 1 - beta2 ** t;
  for (let k = 0; k < p.length; k++) {
    p[k] *= 1 - lr * weightDecay;
    s.m[k] = beta1 * s.m[k] + (1 - beta1) * g[k];
    s.v[k] = beta2 * s.v[k] + (1 - beta2) * g[k] * g[k];
    const mHat = s.m[k] / bc1;
    const vHat = s.v[k] / bc2;
    p[k] -= (lr * mHat) / (Math.sqrt(vHat) + eps);
  }
}

export function gradNormReference(grads: ArrayLike<number>[]): number {
  let s = 0;
  for (const g of grads) for (let k = 0; k < g.length; k++) s += g[k] * g[k];
  return Math.sqrt(s);
}

/** torch.nn.utils.clip_grad_norm_ as the brief states it: scale only when norm > maxNorm. */
export function clipReference(grads: ArrayLike<number>[], maxNorm: number): { norm: number; clipped: Float64Array[] } {
  const norm = gradNormReference(grads);
  const scale = norm > maxNorm ? maxNorm / (norm + 1e-6) : 1;
  return { norm, clipped: grads.map((g) => Float64Array.from(g, (x) => x * scale)) };
}
