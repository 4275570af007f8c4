// Float64 reference versions of the PPO kernels, written as plainly as TRL 0.7 writes them (two
// passes for log_softmax, the loss as max/clip expressions), to test the native kernels against.
// Inputs are the same float32 arrays the kernels get; every sum is in float64.

export type Arr = ArrayLike<number>;

/** log_softmax(logits / temperature) at the targets, entropy and log-sum-exp per row. */
export function refTokenLogprobs(logits: Arr, targets: Arr, B: number, T: number, V: number, temperature = 1) {
  const logp = new Float64Array(B * T);
  const entropy = new Float64Array(B * T);
  const lse = new Float64Array(B * T);
  for (let r = 0; r < B * T; r++) {
    const y = targets[r];
    if (y < 0) continue;
    const z = (v: number) => logits[r * V + v] / temperature;
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, z(v));
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(z(v) - m);
    const l = m + Math.log(s);
    let h = 0;
    for (let v = 0; v < V; v++) {
      const lp = z(v) - l;
      const p = Math.exp(lp);
      if (p > 0) h -= p * lp;
    }
    lse[r] = l;
    entropy[r] = h;
    logp[r] = z(y) - l;
  }
  return { logp, entropy, lse };
}

/** d(Σ dlogp·logp + Σ dentropy·entropy)/dlogits, from the softmax written out. */
export function refTokenLogprobsBackward(
  logits: Arr, targets: Arr, dlogp: Arr, dentropy: Arr | null, B: number, T: number, V: number, temperature = 1,
): Float64Array {
  const out = new Float64Array(B * T * V);
  const { entropy, lse } = refTokenLogprobs(logits, targets, B, T, V, temperature);
  for (let r = 0; r < B * T; r++) {
    const y = targets[r];
    if (y < 0) continue;
    const dh = dentropy ? dentropy[r] : 0;
    for (let v = 0; v < V; v++) {
      const lp = logits[r * V + v] / temperature - lse[r];
      const p = Math.exp(lp);
      // dlogp/dz_v = 1[v=y] − p_v;  dH/dz_v = −p_v·(log p_v + H)
      const dz = dlogp[r] * ((v === y ? 1 : 0) - p) + (p > 0 ? dh * -p * (lp + entropy[r]) : 0);
      out[r * V + v] = dz / temperature;
    }
  }
  return out;
}

/** TRL compute_rewards followed by the `rewards * mask` of compute_advantages. */
export function refKlPenaltyRewards(
  logp: Arr, logpRef: Arr, mask: Arr, scores: Arr, B: number, T: number, klCoef: number, kind: 'kl' | 'abs' | 'mse' = 'kl',
) {
  const rewards = new Float64Array(B * T);
  const kl = new Float64Array(B * T);
  for (let b = 0; b < B; b++) {
    let last = -1;
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      const d = logp[i] - logpRef[i];
      const k = kind === 'kl' ? d : kind === 'abs' ? Math.abs(d) : 0.5 * d * d;
      kl[i] = k;
      rewards[i] = -klCoef * k;
      if (mask[i]) last = t;
    }
    rewards[b * T + last] += scores[b];
    for (let t = 0; t < T; t++) {
      rewards[b * T + t] *= mask[b * T + t];
      kl[b * T + t] *= mask[b * T + t];
    }
  }
  return { rewards, kl };
}

/** TRL compute_advantages before whitening, line by line. */
export function refGae(rewards: Arr, values: Arr, mask: Arr, B: number, T: number, gamma = 1, lam = 0.95) {
  const advantages = new Float64Array(B * T);
  const returns = new Float64Array(B * T);
  for (let b = 0; b < B; b++) {
    const v = (t: number) => values[b * T + t] * mask[b * T + t];
    const r = (t: number) => rewards[b * T + t] * mask[b * T + t];
    let lastgaelam = 0;
    for (let t = T - 1; t >= 0; t--) {
      const nextvalues = t < T - 1 ? v(t + 1) : 0;
      const delta = r(t) + gamma * nextvalues - v(t);
      lastgaelam = delta + gamma * lam * lastgaelam;
      advantages[b * T + t] = lastgaelam;
      returns[b * T + t] = lastgaelam + v(t);
    }
  }
  return { advantages, returns };
}

export function refMaskedMean(x: Arr, mask: Arr): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    s += x[i] * mask[i];
    n += mask[i];
  }
  return s / n;
}

/** TRL masked_whiten (unbiased masked_var), with 0 written where mask = 0 (rewardlens's choice). */
export function refMaskedWhiten(x: Arr, mask: Arr, shiftMean = true): Float64Array {
  const mean = refMaskedMean(x, mask);
  const centred = Array.from(x, (v) => (v - mean) ** 2);
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i];
  const variance = refMaskedMean(centred, mask) * (n / (n - 1));
  const rs = 1 / Math.sqrt(variance + 1e-8);
  return Float64Array.from(x, (v, i) => (mask[i] ? (v - mean) * rs + (shiftMean ? 0 : mean) : 0));
}

export interface RefPpoInputs {
  logp: Arr; oldLogp: Arr; values: Arr; oldValues: Arr; advantages: Arr; returns: Arr; mask: Arr; entropy?: Arr;
}
export interface RefPpoConfig { cliprange: number; clipRangeValue: number; vfCoef: number; ratioThreshold: number }
export const REF_PPO_DEFAULTS: RefPpoConfig = { cliprange: 0.2, clipRangeValue: 0.2, vfCoef: 0.1, ratioThreshold: 10 };

const clip = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);

/** TRL 0.7 PPOTrainer.loss, its statistics, as float64. */
export function refPpoLoss(inp: RefPpoInputs, cfg: RefPpoConfig = REF_PPO_DEFAULTS) {
  const n = inp.logp.length;
  const ratio = Array.from({ length: n }, (_, i) => Math.exp(inp.logp[i] - inp.oldLogp[i]));
  const pg1 = ratio.map((r, i) => -inp.advantages[i] * r);
  const pg2 = ratio.map((r, i) => -inp.advantages[i] * clip(r, 1 - cfg.cliprange, 1 + cfg.cliprange));
  const vclip = Array.from({ length: n }, (_, i) =>
    clip(inp.values[i], inp.oldValues[i] - cfg.clipRangeValue, inp.oldValues[i] + cfg.clipRangeValue));
  const vf1 = Array.from({ length: n }, (_, i) => (inp.values[i] - inp.returns[i]) ** 2);
  const vf2 = vclip.map((vc, i) => (vc - inp.returns[i]) ** 2);
  const m = inp.mask;
  let pgLoss = refMaskedMean(pg1.map((a, i) => Math.max(a, pg2[i])), m);
  let vfLoss = 0.5 * refMaskedMean(vf1.map((a, i) => Math.max(a, vf2[i])), m);
  const pgClipfrac = refMaskedMean(pg1.map((a, i) => (pg2[i] > a ? 1 : 0)), m);
  const vfClipfrac = refMaskedMean(vf1.map((a, i) => (vf2[i] > a ? 1 : 0)), m);
  let loss = pgLoss + cfg.vfCoef * vfLoss;
  const d = Array.from({ length: n }, (_, i) => inp.logp[i] - inp.oldLogp[i]);
  const approxkl = 0.5 * refMaskedMean(d.map((x) => x * x), m);
  const policykl = refMaskedMean(d.map((x) => -x), m);
  const ratioMean = refMaskedMean(ratio, m);
  const skipped = ratioMean > cfg.ratioThreshold;
  if (skipped) {
    pgLoss *= 0;
    vfLoss *= 0;
    loss *= 0;
  }
  const entropy = inp.entropy ? refMaskedMean(inp.entropy, m) : undefined;
  return { loss, pgLoss, vfLoss, pgClipfrac, vfClipfrac, approxkl, policykl, ratioMean, entropy, skipped };
}

/** dloss/dlogp and dloss/dvalues of refPpoLoss (pg1 / vf1 chosen at ties), written out by hand. */
export function refPpoLossGrad(inp: RefPpoInputs, cfg: RefPpoConfig = REF_PPO_DEFAULTS) {
  const n = inp.logp.length;
  const dlogp = new Float64Array(n);
  const dvalues = new Float64Array(n);
  if (refPpoLoss(inp, cfg).skipped) return { dlogp, dvalues };
  let msum = 0;
  for (let i = 0; i < n; i++) msum += inp.mask[i];
  for (let i = 0; i < n; i++) {
    if (!inp.mask[i]) continue;
    const A = inp.advantages[i];
    const r = Math.exp(inp.logp[i] - inp.oldLogp[i]);
    const rc = clip(r, 1 - cfg.cliprange, 1 + cfg.cliprange);
    // pg1 = −A·r (dr/dlogp = r); pg2 = −A·clip(r): slope −A·r inside the range, 0 outside
    const dpg = -A * r >= -A * rc ? -A * r : (rc === r ? -A * r : 0);
    dlogp[i] = dpg / msum;
    const v = inp.values[i];
    const R = inp.returns[i];
    const vc = clip(v, inp.oldValues[i] - cfg.clipRangeValue, inp.oldValues[i] + cfg.clipRangeValue);
    const dvf = (v - R) ** 2 >= (vc - R) ** 2 ? 2 * (v - R) : (vc === v ? 2 * (v - R) : 0);
    dvalues[i] = (cfg.vfCoef * 0.5 * dvf) / msum;
  }
  return { dlogp, dvalues };
}

/** Central difference of a scalar function along coordinate i of x (a float64 copy is perturbed). */
export function centralDiff(f: (x: Float64Array) => number, x: Arr, i: number, h: number): number {
  const xp = Float64Array.from(x);
  const xm = Float64Array.from(x);
  xp[i] += h;
  xm[i] -= h;
  return (f(xp) - f(xm)) / (2 * h);
}
