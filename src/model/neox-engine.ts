// The GPT-NeoX engine: a TypeScript handle over the native model (native/cpu/neox.cc), as
// transformers' GPTNeoXForCausalLM computes it — or its GPTNeoForCausalLM when config.modelType is
// 'gpt_neo' (same interface, hooks and value head) — with TRL's optional value head. Arguments are
// checked here with messages that name them; forward, backward and generate (sampling with a KV
// cache, src/model/generate.ts for its options) run natively off the JS thread;
// parameters and gradients are Float32Array views of native memory (no copies). docs/neox.md
// writes out the math, the shapes, the hooks and the memory a training forward keeps.
import { describe as describeValue, invalidRange, invalidType, withCallerStack } from '../errors.js';
import { checkBool, checkF32, checkFinite, checkI32, checkInt, checkNumber, checkOneOf, checkU8 } from '../validate.js';
import { resolveGenerateOptions, type NeoxGenerateOptions, type NeoxGenerateResult } from './generate.js';
import { neoxDerived, neoxParameterSpecs, type GptNeoConfig, type NeoxActivation, type NeoxConfig } from './neox-config.js';
import { neoxBinding, type NativeNeoxCacheHandle, type NativeNeoxHandle } from './native-neox.js';

export type { NeoxGenerateOptions, NeoxGenerateResult } from './generate.js';

export interface ParameterSpec {
  name: string;
  shape: number[];
}

/**
 * A batch of B rows of T tokens. `attentionMask` (default all 1) marks real tokens with 1 and
 * padding with 0: padded keys are never attended to. `positionIds` default: counted from the first
 * real token of each row (cumsum(mask) − 1), 0 at padded positions, as for left padding.
 */
export interface NeoxBatch {
  inputIds: Int32Array;
  attentionMask?: Uint8Array;
  positionIds?: Int32Array;
  B: number;
  T: number;
}

/**
 * What to compute. `targets` [B,T] (−1 skips a position) gives `tokenLogprobs` = log softmax(logits)
 * at the target, computed in chunks of rows without a [B,T,V] buffer in JS. `loss` is the mean
 * next-token cross entropy over pairs (t, t+1) whose tokens are both unpadded. `hooks` maps hook
 * names (see hookShape) to caller-provided Float32Arrays, filled during the pass. `train` keeps
 * what backward needs (one backward per training forward).
 */
export interface NeoxForwardRequest {
  logits?: boolean;
  targets?: Int32Array;
  loss?: boolean;
  lastHidden?: boolean;
  values?: boolean;
  /**
   * TRL's value-head dropout: p in [0, 1) on the value head's input (keep ⇔ a hash of
   * (valueDropoutSeed, row b·T + t, feature) is at least p·2³², kept entries scaled by 1/(1 − p);
   * `valueDropoutMask` computes the same mask). A training forward's backward uses the same mask.
   */
  valueDropout?: number;
  valueDropoutSeed?: number;
  hooks?: Record<string, Float32Array>;
  train?: boolean;
}

export interface NeoxForwardResult {
  /** [B,T,V] */
  logits?: Float32Array;
  /** [B,T]; 0 where the target is −1 */
  tokenLogprobs?: Float32Array;
  loss?: number;
  /** [B,T,hidden] after the final layer norm */
  lastHidden?: Float32Array;
  /** [B,T] the value head on lastHidden */
  values?: Float32Array;
}

/**
 * Upstream gradients for backward: of J = loss·L + Σ tokenLogprobs·logp + Σ values·v, with
 * respect to the last training forward's outputs (tokenLogprobs and values are [B,T]).
 */
export interface NeoxBackwardGrads {
  loss?: number;
  tokenLogprobs?: Float32Array;
  values?: Float32Array;
}

export interface NeoxCreateOptions {
  /** Add TRL's value head (v_head.summary.weight [1,hidden], v_head.summary.bias [1]). */
  valueHead?: boolean;
  /** 'normal' (default): Linear and Embedding weights N(0, initStd), biases 0, LayerNorm 1/0.
   *  'zeros': every parameter 0 (for a loader that fills them all). */
  init?: 'zeros' | 'normal';
  seed?: number;
  /** 0.02, transformers' initializer_range. */
  initStd?: number;
  /** Tuning: rows of logits per chunk in a forward that keeps none (0: about 16 MB worth). */
  lmHeadChunkRows?: number;
}

/** Options of forwardCached. */
export interface NeoxForwardCachedOptions {
  /** Logits of every column of the chunk, [B,T,V], instead of the last column's [B,V]. */
  allPositions?: boolean;
}

/**
 * A KV cache for B rows of up to maxLength tokens (NeoxEngine.createCache): per layer the keys
 * (after rotary) and values of every column appended so far, [B,heads,maxLength,headDim] each —
 * 2·layers·B·maxLength·hidden floats — with their attention mask and each row's next position.
 * forwardCached appends to it; reset() empties it; dispose() frees it.
 */
export class NeoxCache {
  readonly B: number;
  readonly maxLength: number;
  /** The model shape it is laid out for. */
  readonly shape: { numLayers: number; numHeads: number; hiddenSize: number };
  #handle: NativeNeoxCacheHandle;
  #disposed = false;

  /** @internal use NeoxEngine.createCache */
  constructor(handle: NativeNeoxCacheHandle, B: number, maxLength: number, shape: NeoxCache['shape']) {
    this.#handle = handle;
    this.B = B;
    this.maxLength = maxLength;
    this.shape = Object.freeze({ ...shape });
  }

  /** Columns filled so far. */
  get length(): number {
    return this.#live().length();
  }

  /** Native bytes held. 0 after dispose(). */
  get memoryBytes(): number {
    return this.#disposed ? 0 : this.#handle.memoryBytes();
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Empties the cache (length 0); the memory is kept. */
  reset(): void {
    this.#live().reset();
  }

  /** Frees the cache (at once, or when an in-flight forwardCached settles). Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#handle.dispose();
  }

  /** @internal the native handle, for NeoxEngine.forwardCached */
  nativeHandle(): NativeNeoxCacheHandle {
    return this.#live();
  }

  #live(): NativeNeoxCacheHandle {
    if (this.#disposed) throw new Error('KV cache has been disposed');
    return this.#handle;
  }
}

const DISPOSED = 'GPT-NeoX engine has been disposed';
const ACTIVATIONS: readonly NeoxActivation[] = ['gelu', 'gelu_new', 'gelu_fast', 'gelu_pytorch_tanh'];
const REQUEST_KEYS = ['logits', 'targets', 'loss', 'lastHidden', 'values', 'valueDropout', 'valueDropoutSeed', 'hooks', 'train'] as const;
const GRAD_KEYS = ['loss', 'tokenLogprobs', 'values'] as const;

/** Checks every field the engine reads; returns a frozen copy. */
export function checkNeoxConfig(cfg: unknown): Readonly<NeoxConfig> {
  if (cfg === null || typeof cfg !== 'object') throw invalidType('NeoxConfig object', 'cfg', cfg);
  const c = cfg as NeoxConfig;
  if (c.modelType === 'gpt_neo') return checkGptNeoConfig(c);
  if (c.modelType !== 'gpt_neox') throw invalidType('"gpt_neox" or "gpt_neo"', 'cfg.modelType', (c as { modelType: unknown }).modelType);
  checkCommon(c);
  checkNumber(c.rotaryPct, 'cfg.rotaryPct', 0, 1);
  const { headDim, rotaryDims } = neoxDerived(c);
  if (rotaryDims % 2 !== 0) {
    throw invalidRange(
      `a fraction giving an even number of rotary dimensions (floor(${headDim}·rotaryPct))`,
      'cfg.rotaryPct', `${c.rotaryPct} (${rotaryDims} dimensions)`,
    );
  }
  checkNumber(c.rotaryBase, 'cfg.rotaryBase', Number.MIN_VALUE);
  checkBool(c.parallelResidual, 'cfg.parallelResidual');
  checkBool(c.attentionBias, 'cfg.attentionBias');
  return Object.freeze({ ...c });
}

/** The fields both architectures have. */
function checkCommon(c: NeoxConfig): void {
  checkInt(c.vocabSize, 'cfg.vocabSize', 1, 2 ** 31 - 1);
  checkInt(c.hiddenSize, 'cfg.hiddenSize', 1, 2 ** 31 - 1);
  checkInt(c.numLayers, 'cfg.numLayers', 1, 100000);
  checkInt(c.numHeads, 'cfg.numHeads', 1, 2 ** 31 - 1);
  if (c.hiddenSize % c.numHeads !== 0) {
    throw invalidRange(`a divisor of hiddenSize ${c.hiddenSize}`, 'cfg.numHeads', describeValue(c.numHeads));
  }
  checkInt(c.intermediateSize, 'cfg.intermediateSize', 1, 2 ** 31 - 1);
  checkInt(c.maxPositions, 'cfg.maxPositions', 1, 2 ** 31 - 1);
  checkNumber(c.layerNormEps, 'cfg.layerNormEps', Number.MIN_VALUE);
  checkOneOf(c.hiddenAct, 'cfg.hiddenAct', ACTIVATIONS);
  checkBool(c.tieWordEmbeddings, 'cfg.tieWordEmbeddings');
  for (const key of ['bosTokenId', 'eosTokenId'] as const) {
    if (c[key] !== null) checkInt(c[key], `cfg.${key}`, 0);
  }
}

function checkGptNeoConfig(c: GptNeoConfig): Readonly<GptNeoConfig> {
  checkCommon(c);
  if (!Array.isArray(c.attentionLayers) || c.attentionLayers.length !== c.numLayers) {
    throw invalidRange(`an array of numLayers (${c.numLayers}) entries "global" / "local"`, 'cfg.attentionLayers', describeValue(c.attentionLayers));
  }
  c.attentionLayers.forEach((k, i) => checkOneOf(k, `cfg.attentionLayers[${i}]`, ['global', 'local'] as const));
  checkInt(c.windowSize, 'cfg.windowSize', 1, 2 ** 31 - 1);
  const binding = neoxBinding();
  if (!binding.NeoxHandle.architectures?.().includes('gpt_neo')) {
    throw new Error('rewardlens: this build of the native addon has no GPT-Neo (rebuild it with `npm run build:native`)');
  }
  return Object.freeze({ ...c, attentionLayers: Object.freeze([...c.attentionLayers]) as GptNeoConfig['attentionLayers'] });
}

const HOOK_FORMS = 'hidden.i (i in [0, L]), resid.i, attn_out.i, mlp_post.i, mlp_out.i (i in [0, L))';

/**
 * The shape of a hook's buffer. Hook names (i counts layers from 0, L = numLayers):
 * - `resid.i` [B,T,hidden]: the residual stream after layer i;
 * - `attn_out.i` [B,T,hidden]: the attention block's output (after dense / GPT-Neo's out_proj, + bias);
 * - `mlp_post.i` [B,T,intermediate]: the activation output, GELU(dense_h_to_4h(ln2(·))) (GPT-Neo: c_fc);
 * - `mlp_out.i` [B,T,hidden]: the MLP block's output (after dense_4h_to_h / GPT-Neo's c_proj, + bias);
 * - `hidden.i` [B,T,hidden], i in [0, L]: transformers' hidden_states[i]: hidden.0 the embeddings,
 *   hidden.i = resid.(i−1) for 0 < i < L, hidden.L after the final layer norm (= lastHidden).
 */
/**
 * Whether the value head's dropout keeps feature c of row n (n = b·T + t) for a seed and p: the
 * native mask (rl::value_dropout_hash in native/include/rewardlens/neox.h), for references and tests.
 */
export function valueDropoutKeeps(seed: number, n: number, c: number, p: number): boolean {
  let x = ((seed >>> 0) ^ Math.imul(n >>> 0, 0x9e3779b1)) >>> 0;
  x ^= x >>> 16; x = Math.imul(x, 0x85ebca6b) >>> 0; x ^= x >>> 13;
  x = (x ^ Math.imul(c >>> 0, 0xc2b2ae35)) >>> 0;
  x ^= x >>> 16; x = Math.imul(x, 0x7feb352d) >>> 0; x ^= x >>> 15; x = Math.imul(x, 0x846ca68b) >>> 0; x ^= x >>> 16;
  const threshold = Math.min(4294967295, p * 4294967296);
  return (x >>> 0) >= Math.floor(threshold);
}

export function hookShape(name: string, cfg: NeoxConfig, B: number, T: number): number[] {
  if (typeof name !== 'string') throw invalidType(`a hook name: ${HOOK_FORMS}`, 'hook', name);
  const m = /^(hidden|resid|attn_out|mlp_post|mlp_out)\.(0|[1-9][0-9]{0,8})$/.exec(name);
  const L = cfg.numLayers;
  const forms = HOOK_FORMS.replace(/L\]/g, `${L}]`).replace(/L\)/g, `${L})`);
  if (!m) throw invalidRange(`a hook name: ${forms}`, 'hook', `"${name}"`);
  const layer = Number(m[2]);
  const last = m[1] === 'hidden' ? L : L - 1;
  if (layer > last) throw invalidRange(`a hook name: ${forms}`, 'hook', `"${name}" (layer ${layer} of a ${L}-layer model)`);
  return [B, T, m[1] === 'mlp_post' ? cfg.intermediateSize : cfg.hiddenSize];
}

interface TrainState {
  B: number;
  T: number;
  loss: boolean;
  targets: boolean;
}

export class NeoxEngine {
  readonly config: NeoxConfig;
  readonly hasValueHead: boolean;
  #handle: NativeNeoxHandle;
  #specs: readonly ParameterSpec[];
  #layout: Map<string, { offset: number; numel: number }>;
  #paramViews = new Map<string, Float32Array>();
  #gradViews = new Map<string, Float32Array>();
  #paramBuffer: ArrayBuffer | null = null;
  #gradBuffer: ArrayBuffer | null = null;
  #train: TrainState | null = null;
  #disposed = false;

  private constructor(config: NeoxConfig, valueHead: boolean, handle: NativeNeoxHandle) {
    this.config = config;
    this.hasValueHead = valueHead;
    this.#handle = handle;
    this.#specs = Object.freeze(neoxParameterSpecs(config, { valueHead }));
    this.#layout = new Map();
    const tensors = handle.tensors();
    const mismatch = tensors.length !== this.#specs.length || tensors.some((t, i) => {
      const s = this.#specs[i];
      return t.name !== s.name || t.shape.length !== s.shape.length || t.shape.some((d, k) => d !== s.shape[k]);
    });
    if (mismatch) {
      handle.dispose();
      throw new Error('rewardlens: the native GPT-NeoX layout differs from neoxParameterSpecs (a build mismatch: rebuild the addon)');
    }
    for (const t of tensors) this.#layout.set(t.name, { offset: t.offset, numel: t.shape.reduce((a, b) => a * b, 1) });
  }

  /** A model with the given config; parameters initialised as opts.init says (default 'normal'). */
  static create(cfg: NeoxConfig, opts: NeoxCreateOptions = {}): NeoxEngine {
    const config = checkNeoxConfig(cfg);
    if (opts === null || typeof opts !== 'object') throw invalidType('options object', 'opts', opts);
    const valueHead = opts.valueHead === undefined ? false : checkBool(opts.valueHead, 'opts.valueHead');
    const init = opts.init === undefined ? 'normal' : checkOneOf(opts.init, 'opts.init', ['zeros', 'normal'] as const);
    const seed = opts.seed === undefined ? 0 : checkInt(opts.seed, 'opts.seed', 0);
    const initStd = opts.initStd === undefined ? 0.02 : checkNumber(opts.initStd, 'opts.initStd', 0);
    const lmHeadChunkRows = opts.lmHeadChunkRows === undefined ? 0 : checkInt(opts.lmHeadChunkRows, 'opts.lmHeadChunkRows', 0, 2 ** 31);
    const handle = new (neoxBinding().NeoxHandle)(config, { valueHead, init, seed, initStd, lmHeadChunkRows });
    return new NeoxEngine(config, valueHead, handle);
  }

  /** Names and shapes in layout order (= neoxParameterSpecs(config, { valueHead })). */
  parameters(): ParameterSpec[] {
    return this.#specs.map((s) => ({ name: s.name, shape: [...s.shape] }));
  }

  /** A writable view of one parameter's native memory (no copy). */
  parameter(name: string): Float32Array {
    this.#alive();
    const cached = this.#paramViews.get(name);
    if (cached) return cached;
    const { offset, numel } = this.#find(name, 'name');
    const view = new Float32Array(this.#params(), offset * 4, numel);
    this.#paramViews.set(name, view);
    return view;
  }

  /** A view of one parameter's gradient (native memory, allocated and zeroed on first use). */
  gradient(name: string): Float32Array {
    this.#alive();
    const cached = this.#gradViews.get(name);
    if (cached) return cached;
    const { offset, numel } = this.#find(name, 'name');
    const view = new Float32Array(this.#grads(), offset * 4, numel);
    this.#gradViews.set(name, view);
    return view;
  }

  /** The single parameter allocation: the tensors of parameters() concatenated in order. */
  allParameters(): Float32Array {
    this.#alive();
    return new Float32Array(this.#params());
  }

  /** The single gradient allocation, in the same layout. */
  allGradients(): Float32Array {
    this.#alive();
    return new Float32Array(this.#grads());
  }

  /** Native bytes held: parameters, gradients (once made), activations and scratch. 0 after dispose(). */
  get memoryBytes(): number {
    if (this.#disposed) return 0;
    return this.#handle.memoryBytes();
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** One forward pass; see NeoxForwardRequest. Any forward ends the previous training state. */
  async forward(batch: NeoxBatch, req: NeoxForwardRequest = {}): Promise<NeoxForwardResult> {
    const site = new Error();
    const h = this.#live();
    const cfg = this.config;
    const V = cfg.vocabSize;
    const { B, T, inputIds, attentionMask, positionIds } = checkBatch(batch, 'batch', V);

    if (req === null || typeof req !== 'object') throw invalidType('NeoxForwardRequest object', 'req', req);
    for (const key of Object.keys(req)) {
      if (!(REQUEST_KEYS as readonly string[]).includes(key)) {
        throw invalidRange(`one of ${REQUEST_KEYS.join(', ')}`, 'req', `unknown key "${key}"`);
      }
    }
    const flag = (v: unknown, name: string) => (v === undefined ? false : checkBool(v, name));
    const wantLogits = flag(req.logits, 'req.logits');
    const wantLoss = flag(req.loss, 'req.loss');
    const wantHidden = flag(req.lastHidden, 'req.lastHidden');
    const wantValues = flag(req.values, 'req.values');
    const train = flag(req.train, 'req.train');
    if (wantValues && !this.hasValueHead) {
      throw invalidRange('a model created with { valueHead: true }', 'req.values', 'a model without a value head');
    }
    const valueDropout = req.valueDropout === undefined ? 0 : checkNumber(req.valueDropout, 'req.valueDropout', 0, 1);
    if (valueDropout >= 1) throw invalidRange('a dropout probability in [0, 1)', 'req.valueDropout', String(valueDropout));
    const valueDropoutSeed = req.valueDropoutSeed === undefined ? 0 : checkInt(req.valueDropoutSeed, 'req.valueDropoutSeed', 0, 0xffffffff);
    if (valueDropout > 0 && !wantValues) throw invalidRange('values: true with valueDropout', 'req.valueDropout', `${valueDropout} without values`);
    const targets = req.targets === undefined ? null : checkI32(req.targets, 'req.targets', [B, T]);
    if (targets) checkIntegers(targets, 'req.targets', -1, V - 1);
    if (wantLoss && !hasLossPair(attentionMask, B, T)) {
      throw invalidRange(
        'at least one pair of consecutive unpadded tokens (for the loss)', 'batch.attentionMask',
        T < 2 ? `T = ${T}` : 'no such pair',
      );
    }
    const hookNames: string[] = [];
    const hookBuffers: Float32Array[] = [];
    if (req.hooks !== undefined) {
      if (req.hooks === null || typeof req.hooks !== 'object' || ArrayBuffer.isView(req.hooks)) {
        throw invalidType('Record<string, Float32Array> of hook buffers', 'req.hooks', req.hooks);
      }
      for (const [name, buf] of Object.entries(req.hooks)) {
        const shape = hookShape(name, cfg, B, T);
        hookBuffers.push(checkF32(buf, `req.hooks["${name}"]`, shape));
        hookNames.push(name);
      }
    }

    const out: NeoxForwardResult = {};
    const logits = wantLogits ? new Float32Array(B * T * V) : null;
    const tokenLogprobs = targets ? new Float32Array(B * T) : null;
    const lastHidden = wantHidden ? new Float32Array(B * T * cfg.hiddenSize) : null;
    const values = wantValues ? new Float32Array(B * T) : null;
    this.#train = null;
    const loss = await withCallerStack(h.forward({
      inputIds, attentionMask, positionIds, B, T, logits, targets, tokenLogprobs, loss: wantLoss,
      lastHidden, values, valueDropout, valueDropoutSeed, hookNames, hookBuffers, train,
    }), site);
    if (train) this.#train = { B, T, loss: wantLoss, targets: targets !== null };
    if (logits) out.logits = logits;
    if (tokenLogprobs) out.tokenLogprobs = tokenLogprobs;
    if (wantLoss) out.loss = loss as number;
    if (lastHidden) out.lastHidden = lastHidden;
    if (values) out.values = values;
    return out;
  }

  /**
   * Backward from the last training forward: accumulates (+=) d J / d parameter into the gradients,
   * J = loss·(mean next-token loss) + Σ tokenLogprobs·logp + Σ values·v. One backward per
   * training forward.
   */
  async backward(grads: NeoxBackwardGrads): Promise<void> {
    const site = new Error();
    const h = this.#live();
    if (grads === null || typeof grads !== 'object') throw invalidType('{ loss?, tokenLogprobs?, values? }', 'grads', grads);
    for (const key of Object.keys(grads)) {
      if (!(GRAD_KEYS as readonly string[]).includes(key)) {
        throw invalidRange(`one of ${GRAD_KEYS.join(', ')}`, 'grads', `unknown key "${key}"`);
      }
    }
    const state = this.#train;
    if (!state) {
      throw new Error('backward needs a training forward first: call forward(batch, { train: true, ... }) (each allows one backward)');
    }
    const { B, T } = state;
    const loss = grads.loss === undefined ? 0 : checkNumber(grads.loss, 'grads.loss');
    if (loss !== 0 && !state.loss) {
      throw invalidRange('a training forward that computed the loss (req.loss: true)', 'grads.loss', 'one without it');
    }
    let dlogp: Float32Array | null = null;
    if (grads.tokenLogprobs !== undefined) {
      if (!state.targets) {
        throw invalidRange('a training forward with req.targets', 'grads.tokenLogprobs', 'one without targets');
      }
      dlogp = checkF32(grads.tokenLogprobs, 'grads.tokenLogprobs', [B, T]);
      checkFinite(dlogp, 'grads.tokenLogprobs');
    }
    let dvalues: Float32Array | null = null;
    if (grads.values !== undefined) {
      if (!this.hasValueHead) throw invalidRange('a model created with { valueHead: true }', 'grads.values', 'a model without a value head');
      dvalues = checkF32(grads.values, 'grads.values', [B, T]);
      checkFinite(dvalues, 'grads.values');
    }
    if (grads.loss === undefined && dlogp === null && dvalues === null) {
      throw invalidRange('at least one of loss, tokenLogprobs, values', 'grads', 'none');
    }
    this.#train = null;
    if (this.#gradBuffer === null) this.#grads(); // the allocation happens here, on the JS thread
    await withCallerStack(h.backward(loss, dlogp, dvalues), site);
  }

  /**
   * Generates up to opts.maxNewTokens tokens after each of B left-padded prompts (every row's last
   * column a real token; e.g. Tokenizer.encodeBatch's inputIds, attentionMask and positionIds): the
   * prompts in one pass, then one token per step for the rows still going, off the JS thread. A row
   * stops after EOS or its maximum. See NeoxGenerateOptions for the sampling, and docs/neox.md for
   * the memory (a KV cache of 2·layers·B·(T + maxNewTokens − 1)·hidden floats, kept for the next
   * call). Leaves any training state as it is.
   */
  async generate(prompts: NeoxBatch, opts: NeoxGenerateOptions): Promise<NeoxGenerateResult> {
    const site = new Error();
    const h = this.#live();
    const { B, T, inputIds, attentionMask, positionIds } = checkBatch(prompts, 'prompts', this.config.vocabSize);
    const o = resolveGenerateOptions(opts, this.config, B);
    for (let b = 0; b < B; b++) {
      if (attentionMask && attentionMask[b * T + T - 1] !== 1) {
        throw invalidRange('left-padded prompts (attentionMask 1 in the last column of every row)', 'prompts.attentionMask', `0 at row ${b}, column ${T - 1}`);
      }
      if (positionIds && positionIds[b * T + T - 1] + o.maxNewTokens > 2 ** 31 - 1) {
        throw invalidRange(`positions below 2^31 − maxNewTokens`, 'prompts.positionIds', `${positionIds[b * T + T - 1]} at row ${b}`);
      }
    }
    const S = o.maxNewTokens;
    const tokens = new Int32Array(B * S);
    const lengths = new Int32Array(B);
    const logprobs = o.returnLogprobs ? new Float32Array(B * S) : null;
    await withCallerStack(h.generate({
      inputIds, attentionMask, positionIds, B, T, maxNewTokens: S, minNewTokens: o.minNewTokens,
      maxNewTokensPerRow: o.maxNewTokensPerRow, temperature: o.temperature, topK: o.topK, topP: o.topP,
      greedy: o.greedy, eosTokenId: o.eosTokenId, padTokenId: o.padTokenId, seed: o.seed, tokens, lengths, logprobs,
    }), site);
    return logprobs ? { tokens, lengths, logprobs } : { tokens, lengths };
  }

  /**
   * A KV cache for B rows of up to maxLength tokens, for forwardCached:
   * 2·layers·B·maxLength·hidden floats (see NeoxCache). Any engine of the same shape can use it.
   */
  createCache(B: number, maxLength: number): NeoxCache {
    const h = this.#live();
    checkInt(B, 'B', 1, 2 ** 30);
    checkInt(maxLength, 'maxLength', 1, 2 ** 30);
    const { numLayers, numHeads, hiddenSize } = this.config;
    const handle = new (neoxBinding().NeoxCacheHandle)(h, B, maxLength);
    return new NeoxCache(handle, B, maxLength, { numLayers, numHeads, hiddenSize });
  }

  /**
   * The incremental forward: appends the chunk's T columns to every row of the cache and runs the
   * model on them, each query attending to the cached columns and the chunk's up to itself (mask 1
   * only) — the logits forward() gives over the concatenation of all chunks so far. Default
   * positions go on counting from each row's last real token. Resolves with the logits of the
   * chunk's last column [B,V], or of every column [B,T,V] with allPositions.
   */
  async forwardCached(cache: NeoxCache, chunk: NeoxBatch, opts: NeoxForwardCachedOptions = {}): Promise<Float32Array> {
    const site = new Error();
    const h = this.#live();
    const cfg = this.config;
    if (!(cache instanceof NeoxCache)) throw invalidType('NeoxCache (engine.createCache)', 'cache', cache);
    const ch = cache.nativeHandle();
    const shape = cache.shape;
    if (shape.numLayers !== cfg.numLayers || shape.numHeads !== cfg.numHeads || shape.hiddenSize !== cfg.hiddenSize) {
      throw invalidRange(
        `a cache for ${cfg.numLayers} layers, ${cfg.numHeads} heads, hidden ${cfg.hiddenSize} (this model's shape)`, 'cache',
        `one for ${shape.numLayers} layers, ${shape.numHeads} heads, hidden ${shape.hiddenSize}`,
      );
    }
    const { B, T, inputIds, attentionMask, positionIds } = checkBatch(chunk, 'chunk', cfg.vocabSize);
    if (B !== cache.B) throw invalidRange(`B = ${cache.B} (the cache's rows)`, 'chunk.B', `${B}`);
    const free = cache.maxLength - ch.length();
    if (T > free) {
      throw invalidRange(`at most ${free} columns (the cache holds ${cache.maxLength - free} of ${cache.maxLength})`, 'chunk.T', `${T}`);
    }
    if (opts === null || typeof opts !== 'object') throw invalidType('{ allPositions? }', 'opts', opts);
    for (const key of Object.keys(opts)) {
      if (key !== 'allPositions') throw invalidRange('allPositions', 'opts', `unknown key "${key}"`);
    }
    const allPositions = opts.allPositions === undefined ? false : checkBool(opts.allPositions, 'opts.allPositions');
    const logits = new Float32Array((allPositions ? B * T : B) * cfg.vocabSize);
    await withCallerStack(h.forwardCached(ch, { inputIds, attentionMask, positionIds, B, T, logits, allPositions }), site);
    return logits;
  }

  /** Gradients to 0 (one memset). */
  zeroGrad(): void {
    this.#live().zeroGrad();
  }

  /** Frees the native memory (at once, or when an in-flight call settles); views read as length 0. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#train = null;
    this.#paramViews.clear();
    this.#gradViews.clear();
    this.#paramBuffer = null;
    this.#gradBuffer = null;
    this.#handle.dispose();
  }

  #alive(): void {
    if (this.#disposed) throw new Error(DISPOSED);
  }

  #live(): NativeNeoxHandle {
    this.#alive();
    return this.#handle;
  }

  #params(): ArrayBuffer {
    this.#paramBuffer ??= this.#handle.parameterBuffer();
    return this.#paramBuffer;
  }

  #grads(): ArrayBuffer {
    this.#gradBuffer ??= this.#handle.gradientBuffer();
    return this.#gradBuffer;
  }

  #find(name: unknown, arg: string): { offset: number; numel: number } {
    if (typeof name !== 'string') throw invalidType('a parameter name (string)', arg, name);
    const entry = this.#layout.get(name);
    if (entry) return entry;
    const names = this.#specs.map((s) => s.name);
    const few = [...names.slice(0, 3), ...names.slice(-2)].map((n) => `"${n}"`).join(', ');
    throw invalidRange(`one of the ${names.length} parameter names (e.g. ${few}; see parameters())`, arg, `"${name}"`);
  }
}

/** A NeoxBatch argument called `name` (batch, prompts, chunk): shapes, token ids, 0/1 mask, positions. */
function checkBatch(batch: unknown, name: string, V: number) {
  if (batch === null || typeof batch !== 'object') throw invalidType('NeoxBatch object', name, batch);
  const b = batch as NeoxBatch;
  const B = checkInt(b.B, `${name}.B`, 1, 2 ** 30);
  const T = checkInt(b.T, `${name}.T`, 1, 2 ** 30);
  const inputIds = checkI32(b.inputIds, `${name}.inputIds`, [B, T]);
  checkIntegers(inputIds, `${name}.inputIds`, 0, V - 1);
  const attentionMask = b.attentionMask === undefined ? null : checkU8(b.attentionMask, `${name}.attentionMask`, [B, T]);
  if (attentionMask) checkIntegers(attentionMask, `${name}.attentionMask`, 0, 1);
  const positionIds = b.positionIds === undefined ? null : checkI32(b.positionIds, `${name}.positionIds`, [B, T]);
  if (positionIds) checkIntegers(positionIds, `${name}.positionIds`, 0, 2 ** 31 - 1);
  return { B, T, inputIds, attentionMask, positionIds };
}

/** Every entry an integer in [lo, hi]; the first bad one is named with its index. */
function checkIntegers(x: Int32Array | Uint8Array, name: string, lo: number, hi: number): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v < lo || v > hi) {
      throw invalidRange(`integers in [${lo}, ${hi}]`, name, `${v} at index ${i}`);
    }
  }
}

function hasLossPair(mask: Uint8Array | null, B: number, T: number): boolean {
  if (T < 2) return false;
  if (!mask) return true;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      if (mask[b * T + t] && mask[b * T + t + 1]) return true;
    }
  }
  return false;
}
