// AdamW over any set of Float32Array parameters, with param groups, and global grad-norm clipping.
// Semantics are torch.optim.AdamW's (amsgrad off) and torch.nn.utils.clip_grad_norm_'s:
//   p ← p − lr·wd·p;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
//   p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + eps)
// The moments live natively behind a handle (free them with dispose()); parameters and gradients
// are read and written in place, without copies, on every step.
import { describe as describeValue, invalidRange, invalidType } from '../errors.js';
import { checkInt, checkNumber } from '../validate.js';
import { optimBinding, type NativeAdamWState } from './native.js';

export interface AdamWConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay (0.01, as torch.optim.AdamW). */
  weightDecay: number;
}

/** Every default, written once. */
export const ADAMW_DEFAULTS: Readonly<AdamWConfig> = Object.freeze({
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.01,
});

/** Tensors that share hyperparameters; lr and weightDecay override the optimiser's. */
export interface ParamGroup {
  params: Float32Array[];
  lr?: number;
  weightDecay?: number;
}

export interface AdamWState {
  /** First and second moments, one array per tensor, groups in order. */
  m: Float32Array[];
  v: Float32Array[];
  step: number;
}

interface Group {
  params: Float32Array[];
  lr: number | undefined;
  weightDecay: number | undefined;
}

function checkConfig(cfg: unknown): AdamWConfig {
  if (cfg !== undefined && (cfg === null || typeof cfg !== 'object')) throw invalidType('an AdamW config object', 'cfg', cfg);
  const c = { ...ADAMW_DEFAULTS, ...(cfg as Partial<AdamWConfig> | undefined) };
  checkNumber(c.lr, 'lr', 0);
  checkNumber(c.beta1, 'beta1', 0, 1);
  checkNumber(c.beta2, 'beta2', 0, 1);
  if (c.beta1 >= 1) throw invalidRange('number in [0, 1)', 'beta1', describeValue(c.beta1));
  if (c.beta2 >= 1) throw invalidRange('number in [0, 1)', 'beta2', describeValue(c.beta2));
  checkNumber(c.eps, 'eps', 0);
  checkNumber(c.weightDecay, 'weightDecay', 0);
  return c;
}

/** A list of Float32Arrays (lengths free). */
function checkTensorList(value: unknown, name: string): Float32Array[] {
  if (!Array.isArray(value)) throw invalidType('Array of Float32Array', name, value);
  value.forEach((t, i) => {
    if (!(t instanceof Float32Array)) throw invalidType('Float32Array', `${name}[${i}]`, t);
  });
  return value as Float32Array[];
}

function checkGroups(groups: unknown): Group[] {
  if (!Array.isArray(groups) || groups.length === 0) {
    throw invalidType('non-empty Array of Float32Array or of ParamGroup', 'groups', groups);
  }
  const single = groups.every((g) => g instanceof Float32Array);
  const out = single ? [{ params: groups as Float32Array[], lr: undefined, weightDecay: undefined }] : groups.map((g, i): Group => {
    if (g === null || typeof g !== 'object' || g instanceof Float32Array) {
      throw invalidType('ParamGroup { params, lr?, weightDecay? }', `groups[${i}]`, g);
    }
    const group = g as ParamGroup;
    const params = checkTensorList(group.params, `groups[${i}].params`);
    const lr = group.lr === undefined ? undefined : checkNumber(group.lr, `groups[${i}].lr`, 0);
    const weightDecay = group.weightDecay === undefined ? undefined
      : checkNumber(group.weightDecay, `groups[${i}].weightDecay`, 0);
    return { params, lr, weightDecay };
  });
  const seen = new Set<Float32Array>();
  out.forEach((g, i) => g.params.forEach((p, j) => {
    if (seen.has(p)) {
      throw invalidRange('each tensor listed once', single ? `params[${j}]` : `groups[${i}].params[${j}]`, 'a tensor listed twice');
    }
    seen.add(p);
  }));
  if (seen.size === 0) throw invalidRange('at least one parameter tensor', 'groups', 'none');
  return out;
}

export class AdamW {
  /** The optimiser-wide hyperparameters (lr is the default for groups that set none). */
  readonly config: AdamWConfig;
  private readonly groups: Group[];
  private readonly flat: Float32Array[];
  /** "params[i]" (one group) or "params[g][i]" for each flat tensor, for messages. */
  private readonly names: string[];
  private handle: NativeAdamWState | null;
  private readonly lrBuf: Float64Array;
  private readonly wdBuf: Float64Array;

  constructor(groups: ParamGroup[] | Float32Array[], cfg?: Partial<AdamWConfig>) {
    this.config = checkConfig(cfg);
    this.groups = checkGroups(groups);
    this.flat = this.groups.flatMap((g) => g.params);
    const single = this.groups.length === 1;
    this.names = this.groups.flatMap((g, gi) => g.params.map((_, i) => (single ? `[${i}]` : `[${gi}][${i}]`)));
    this.lrBuf = new Float64Array(this.flat.length);
    this.wdBuf = new Float64Array(this.flat.length);
    const Ctor = optimBinding().AdamWState;
    this.handle = new Ctor(this.flat.map((p) => p.length));
  }

  private native(): NativeAdamWState {
    if (!this.handle) throw new Error('AdamW: this optimiser was disposed');
    return this.handle;
  }

  /** Steps taken so far. */
  get stepCount(): number {
    return this.native().stepCount();
  }

  /** Each group's learning rate (its own, else the optimiser's). */
  get lrs(): number[] {
    return this.groups.map((g) => g.lr ?? this.config.lr);
  }

  /**
   * Sets the learning rate of every group (torch's `for g in opt.param_groups: g['lr'] = lr`), or
   * only of group `group` when given.
   */
  setLr(lr: number, group?: number): void {
    checkNumber(lr, 'lr', 0);
    if (group === undefined) {
      this.config.lr = lr;
      for (const g of this.groups) g.lr = lr;
    } else {
      this.groups[checkInt(group, 'group', 0, this.groups.length - 1)].lr = lr;
    }
  }

  /**
   * One AdamW step. `grads` has the shape of the parameters: one array per group
   * (`Float32Array[][]`), or one flat list over all groups in order (`Float32Array[]`).
   * `opts.lr` replaces every group's learning rate for this step only (for schedules).
   * NaN/Inf gradients are not checked for (as in torch); clip or check them first.
   */
  step(grads: Float32Array[][] | Float32Array[], opts?: { lr?: number }): void {
    const handle = this.native();
    const flatGrads = this.checkGrads(grads);
    const override = opts?.lr === undefined ? undefined : checkNumber(opts.lr, 'lr', 0);
    let k = 0;
    for (const g of this.groups) {
      const lr = override ?? g.lr ?? this.config.lr;
      const wd = g.weightDecay ?? this.config.weightDecay;
      for (let i = 0; i < g.params.length; i++, k++) {
        this.lrBuf[k] = lr;
        this.wdBuf[k] = wd;
      }
    }
    const { beta1, beta2, eps } = this.config;
    handle.step(this.flat, flatGrads, this.lrBuf, this.wdBuf, beta1, beta2, eps);
  }

  /** Copies of the moments and the step count, for checkpoints. */
  state(): AdamWState {
    const handle = this.native();
    const m = this.flat.map((p) => new Float32Array(p.length));
    const v = this.flat.map((p) => new Float32Array(p.length));
    const step = handle.readState(m, v);
    return { m, v, step };
  }

  /** Restores moments and step count saved by state() (copied in; shapes must match). */
  loadState(s: AdamWState): void {
    const handle = this.native();
    if (s === null || typeof s !== 'object') throw invalidType('AdamW state { m, v, step }', 'state', s);
    for (const key of ['m', 'v'] as const) {
      const list = checkTensorList(s[key], `state.${key}`);
      if (list.length !== this.flat.length) {
        throw invalidRange(`${this.flat.length} tensors (one per parameter)`, `state.${key}`, `${list.length}`);
      }
      list.forEach((t, i) => {
        if (t.length !== this.flat[i].length) {
          throw invalidRange(`Float32Array of length ${this.flat[i].length} (that of params${this.names[i]})`,
            `state.${key}${this.names[i]}`, `length ${t.length}`);
        }
      });
    }
    handle.writeState(s.m, s.v, checkInt(s.step, 'state.step', 0));
  }

  /** Frees the native moments; any later call throws. Safe to call twice. */
  dispose(): void {
    this.handle?.dispose();
    this.handle = null;
  }

  private checkGrads(grads: unknown): Float32Array[] {
    if (!Array.isArray(grads)) throw invalidType('Array of Float32Array (or one per param group)', 'grads', grads);
    const nested = grads.length > 0 && grads.every((g) => Array.isArray(g));
    let flat: unknown[];
    let names: string[];
    if (nested) {
      if (grads.length !== this.groups.length) {
        throw invalidRange(`${this.groups.length} lists of gradients (one per param group)`, 'grads', `${grads.length}`);
      }
      this.groups.forEach((g, gi) => {
        const list = grads[gi] as unknown[];
        if (list.length !== g.params.length) {
          throw invalidRange(`${g.params.length} tensors (as params[${gi}])`, `grads[${gi}]`, `${list.length}`);
        }
      });
      flat = (grads as unknown[][]).flat();
      names = this.groups.flatMap((g, gi) => g.params.map((_, i) => `[${gi}][${i}]`));
    } else {
      if (grads.length !== this.flat.length) {
        throw invalidRange(`${this.flat.length} tensors (as params)`, 'grads', `${grads.length}`);
      }
      flat = grads;
      names = this.flat.map((_, i) => `[${i}]`);
    }
    flat.forEach((g, i) => {
      const p = this.flat[i];
      if (!(g instanceof Float32Array)) {
        throw invalidType(`Float32Array of length ${p.length}`, `grads${names[i]}`, g);
      }
      if (g.length !== p.length) {
        throw invalidRange(`Float32Array of length ${p.length} (that of params${this.names[i]})`,
          `grads${names[i]}`, `length ${g.length}`);
      }
    });
    return flat as Float32Array[];
  }
}

/** Global L2 norm over all tensors together (accumulated in double). */
export function gradNorm(grads: Float32Array[]): number {
  return Math.sqrt(optimBinding().gradNormSq(checkTensorList(grads, 'grads')));
}

/**
 * Clips the global L2 norm of `grads` to `maxNorm`, in place, as torch.nn.utils.clip_grad_norm_:
 * when the norm exceeds maxNorm every tensor is scaled by maxNorm / (norm + 1e-6). Returns the
 * norm before clipping. Below the threshold nothing is touched (torch also scales there, by a
 * factor within 1e-6/norm of 1). A NaN/Inf norm is returned as is and nothing is scaled.
 */
export function clipGradNorm(grads: Float32Array[], maxNorm: number): number {
  const list = checkTensorList(grads, 'grads');
  return optimBinding().clipGradNorm(list, checkNumber(maxNorm, 'maxNorm', 0));
}
