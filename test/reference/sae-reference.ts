// A float64 reference of the SAE, written as plainly as possible from the method notes and checked
// against central finite differences: forward, loss, metrics, the backward for every parameter,
// and a PyTorch-semantics Adam step. Independent of the native code (no shared helpers).

export interface RefConfig {
  dIn: number;
  dSae: number;
  tied: boolean;
  normalizeDecoder: boolean;
  applyBDecToInput: boolean;
  l1Coefficient: number;
}

/** Raw parameters: W [n,d] (before normalisation), W_enc [d,n] (untied only), b_enc [n], b_dec [d]. */
export interface RefParams {
  W: Float64Array;
  W_enc?: Float64Array;
  b_enc: Float64Array;
  b_dec: Float64Array;
}

export interface RefMetrics {
  loss: number;
  mse: number;
  l1: number;
  nmse: number;
  l0: number;
}

export interface RefForward {
  Wn: Float64Array; // [n,d]
  norms: Float64Array; // [n]
  Wenc: Float64Array; // [d,n] the encoder actually used
  xin: Float64Array; // [B,d]
  pre: Float64Array; // [B,n] x' W_enc + b_enc
  c: Float64Array; // [B,n]
  xHat: Float64Array; // [B,d]
  valid: boolean[];
  Bv: number;
  metrics: RefMetrics;
}

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
}

export interface RefAdamState {
  t: number;
  m: RefParams;
  v: RefParams;
}

export function f64(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a);
}

export function cloneParams(p: RefParams): RefParams {
  return {
    W: p.W.slice(),
    W_enc: p.W_enc?.slice(),
    b_enc: p.b_enc.slice(),
    b_dec: p.b_dec.slice(),
  };
}

export function toRefParams(p: { W: Float32Array; W_enc?: Float32Array; b_enc: Float32Array; b_dec: Float32Array }): RefParams {
  return { W: f64(p.W), W_enc: p.W_enc ? f64(p.W_enc) : undefined, b_enc: f64(p.b_enc), b_dec: f64(p.b_dec) };
}

export function refForward(cfg: RefConfig, p: RefParams, x: ArrayLike<number>, B: number, mask?: ArrayLike<number>): RefForward {
  const d = cfg.dIn;
  const n = cfg.dSae;
  // Wn_i = W_i / ‖W_i‖
  const Wn = new Float64Array(n * d);
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let k = 0; k < d; k++) ss += p.W[i * d + k] ** 2;
    norms[i] = Math.sqrt(ss);
    for (let k = 0; k < d; k++) Wn[i * d + k] = cfg.normalizeDecoder ? p.W[i * d + k] / norms[i] : p.W[i * d + k];
  }
  // W_enc = Wnᵀ when tied
  const Wenc = new Float64Array(d * n);
  for (let k = 0; k < d; k++) {
    for (let i = 0; i < n; i++) Wenc[k * n + i] = cfg.tied ? Wn[i * d + k] : p.W_enc![k * n + i];
  }
  const valid: boolean[] = [];
  let Bv = 0;
  for (let b = 0; b < B; b++) {
    valid.push(mask === undefined || mask[b] !== 0);
    if (valid[b]) Bv++;
  }
  const xin = new Float64Array(B * d);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < d; k++) xin[b * d + k] = x[b * d + k] - (cfg.applyBDecToInput ? p.b_dec[k] : 0);
  }
  const pre = new Float64Array(B * n);
  const c = new Float64Array(B * n);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) {
      let s = p.b_enc[i];
      for (let k = 0; k < d; k++) s += xin[b * d + k] * Wenc[k * n + i];
      pre[b * n + i] = s;
      c[b * n + i] = Math.max(s, 0);
    }
  }
  const xHat = new Float64Array(B * d);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < d; k++) {
      let s = p.b_dec[k];
      for (let i = 0; i < n; i++) s += c[b * n + i] * Wn[i * d + k];
      xHat[b * d + k] = s;
    }
  }
  let sse = 0;
  let sxx = 0;
  let l1 = 0;
  let l0 = 0;
  for (let b = 0; b < B; b++) {
    if (!valid[b]) continue;
    for (let k = 0; k < d; k++) {
      sse += (xHat[b * d + k] - x[b * d + k]) ** 2;
      sxx += x[b * d + k] ** 2;
    }
    for (let i = 0; i < n; i++) {
      l1 += Math.abs(c[b * n + i]);
      if (c[b * n + i] > 0) l0++;
    }
  }
  const mse = sse / (Bv * d);
  const metrics: RefMetrics = {
    loss: mse + cfg.l1Coefficient * (l1 / Bv),
    mse,
    l1: l1 / Bv,
    nmse: sse / sxx,
    l0: l0 / Bv,
  };
  return { Wn, norms, Wenc, xin, pre, c, xHat, valid, Bv, metrics };
}

export function refLoss(cfg: RefConfig, p: RefParams, x: ArrayLike<number>, B: number, mask?: ArrayLike<number>): number {
  return refForward(cfg, p, x, B, mask).metrics.loss;
}

/** Gradients of the loss with respect to the raw parameters. */
export function refBackward(
  cfg: RefConfig, p: RefParams, x: ArrayLike<number>, B: number, mask?: ArrayLike<number>,
): { fwd: RefForward; grads: RefParams } {
  const d = cfg.dIn;
  const n = cfg.dSae;
  const f = refForward(cfg, p, x, B, mask);
  const { Wn, Wenc, xin, c, xHat, valid, Bv } = f;
  // loss = Σ_valid (x̂ − x)² / (Bv·d) + λ Σ_valid Σ_i c / Bv
  const dxHat = new Float64Array(B * d);
  for (let b = 0; b < B; b++) {
    if (!valid[b]) continue;
    for (let k = 0; k < d; k++) dxHat[b * d + k] = (2 / (Bv * d)) * (xHat[b * d + k] - x[b * d + k]);
  }
  const db_dec = new Float64Array(d);
  for (let b = 0; b < B; b++) for (let k = 0; k < d; k++) db_dec[k] += dxHat[b * d + k];
  // x̂ = c W_dec + b_dec, W_dec = Wn
  const dWdec = new Float64Array(n * d);
  const dc = new Float64Array(B * n);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < d; k++) {
        dWdec[i * d + k] += c[b * n + i] * dxHat[b * d + k];
        s += dxHat[b * d + k] * Wn[i * d + k];
      }
      dc[b * n + i] = s;
    }
  }
  // c = ReLU(pre), plus λ|c|/Bv on valid rows
  const dpre = new Float64Array(B * n);
  for (let b = 0; b < B; b++) {
    if (!valid[b]) continue;
    for (let i = 0; i < n; i++) {
      if (c[b * n + i] > 0) dpre[b * n + i] = dc[b * n + i] + cfg.l1Coefficient / Bv;
    }
  }
  // pre = x' W_enc + b_enc
  const db_enc = new Float64Array(n);
  const dWenc = new Float64Array(d * n);
  const dxin = new Float64Array(B * d);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) {
      const g = dpre[b * n + i];
      db_enc[i] += g;
      for (let k = 0; k < d; k++) {
        dWenc[k * n + i] += xin[b * d + k] * g;
        dxin[b * d + k] += g * Wenc[k * n + i];
      }
    }
  }
  // x' = x − b_dec
  if (cfg.applyBDecToInput) {
    for (let b = 0; b < B; b++) for (let k = 0; k < d; k++) db_dec[k] -= dxin[b * d + k];
  }
  // W_dec = Wn, and W_enc = Wnᵀ when tied
  const dWn = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) dWn[i * d + k] = dWdec[i * d + k] + (cfg.tied ? dWenc[k * n + i] : 0);
  }
  // Wn_i = W_i / ‖W_i‖
  const dW = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    if (!cfg.normalizeDecoder) {
      for (let k = 0; k < d; k++) dW[i * d + k] = dWn[i * d + k];
      continue;
    }
    let dot = 0;
    for (let k = 0; k < d; k++) dot += Wn[i * d + k] * dWn[i * d + k];
    for (let k = 0; k < d; k++) dW[i * d + k] = (dWn[i * d + k] - Wn[i * d + k] * dot) / f.norms[i];
  }
  return { fwd: f, grads: { W: dW, W_enc: cfg.tied ? undefined : dWenc, b_enc: db_enc, b_dec: db_dec } };
}

export function refAdamInit(p: RefParams): RefAdamState {
  const zeros = (a?: Float64Array) => (a ? new Float64Array(a.length) : undefined);
  return {
    t: 0,
    m: { W: zeros(p.W)!, W_enc: zeros(p.W_enc), b_enc: zeros(p.b_enc)!, b_dec: zeros(p.b_dec)! },
    v: { W: zeros(p.W)!, W_enc: zeros(p.W_enc), b_enc: zeros(p.b_enc)!, b_dec: zeros(p.b_dec)! },
  };
}

/** torch.optim.Adam (no weight decay, not amsgrad), in place on p. */
export function refAdamStep(p: RefParams, g: RefParams, s: RefAdamState, h: AdamHyper): void {
  s.t += 1;
  const bc1 = 1 - h.beta1 ** s.t;
  const bc2 = 1 - h.beta2 ** s.t;
  const update = (param: Float64Array, grad: Float64Array, m: Float64Array, v: Float64Array) => {
    for (let i = 0; i < param.length; i++) {
      m[i] = h.beta1 * m[i] + (1 - h.beta1) * grad[i];
      v[i] = h.beta2 * v[i] + (1 - h.beta2) * grad[i] * grad[i];
      const denom = Math.sqrt(v[i]) / Math.sqrt(bc2) + h.eps;
      param[i] -= (h.lr / bc1) * (m[i] / denom);
    }
  };
  update(p.W, g.W, s.m.W, s.v.W);
  if (p.W_enc) update(p.W_enc, g.W_enc!, s.m.W_enc!, s.v.W_enc!);
  update(p.b_enc, g.b_enc, s.m.b_enc, s.v.b_enc);
  update(p.b_dec, g.b_dec, s.m.b_dec, s.v.b_dec);
}
