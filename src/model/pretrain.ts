// Pretraining a GPT-NeoX from scratch on a review corpus with the native engine: the embedded
// default model is made this way (models/default/README.md has the exact command).
//
// Data: each train review is encoded (no special tokens), followed by <|endoftext|>, and cut to
// `seqLen` tokens; one row per review, right-padded to the longest row of its batch, every review
// starting at position 0 as at inference (no packing, so no attention across reviews). Batches are
// bucketed: each epoch is a seeded permutation of the reviews, cut into chunks of `bucketBatches`
// batches whose reviews are sorted by length (less padding), and the batches of the epoch are then
// shuffled. Batch k of epoch e depends only on (seed, e), so a resumed run sees the same batches.
// The last reviews of an epoch that do not fill a batch are left out of that epoch.
//
// Loss: the engine's mean next-token cross entropy over pairs of unpadded tokens, i.e. every token of
// a row after the first is predicted, <|endoftext|> included. Test loss and perplexity use the same
// targets, summed over a fixed set of test reviews (the first `evalReviews`): ppl = exp(Σ nll / Σ
// targets). The unigram baseline predicts the same targets with add-one smoothed frequencies of the
// train rows' targets: p(w) = (count(w) + 1) / (N + V), V the tokenizer's vocabulary size.
//
// Optimiser: AdamW (src/optim) with two parameter groups built from the engine's per-tensor views:
// tensors with two or more dimensions (embeddings, projections) decay with `weightDecay`; biases and
// LayerNorm parameters do not. Learning rate: linear warmup over `warmupSteps` to `lr`, then cosine
// decay to `minLr` at `steps`. Gradients are clipped to `maxGradNorm` (global L2 norm over
// engine.allGradients()) before each step.
//
// Output folder:
//   pretrain-config.json   the resolved config (every default written out)
//   tokenizer/             the word-level tokenizer built from the train split (build-tokenizer.ts)
//   log.jsonl              one line per step {type:"step", step, loss, lr, grad_norm, tokens,
//                          tokens_per_s, elapsed_s}, per evaluation {type:"eval", step, test_loss,
//                          test_ppl, reviews, tokens}, the baseline {type:"unigram", step:0, test_ppl}
//                          and the end {type:"final", ...metrics.json}
//   checkpoint-<step>/     Hugging Face folder (F32 weights, tokenizer files) + optimizer.safetensors
//                          (AdamW moments m.<param>, v.<param>) + trainer_state.json (step, times,
//                          config); written atomically every `checkpointEvery` steps, on an abort
//                          (Ctrl-C) and at the end; the newest `keepCheckpoints` are kept
//   model/                 the final model (weights as `saveDtype`) with tokenizer files
//   metrics.json           final test perplexity of model/ (loaded back from disk), the unigram
//                          baseline on the same reviews, steps, times, tokens/s, parameter count
//
// Resume (`resume: true`) loads the newest checkpoint (weights, moments, step) and continues; with
// the same config the result equals an unbroken run's bit for bit (no dropout, batches are a function
// of the step, the engine's kernels are deterministic). log.jsonl keeps the lines up to the
// checkpoint's step. Without `resume`, an output folder that already holds checkpoints is refused.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileFormatError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { encodeSafetensors, readSafetensors } from '../io/safetensors.js';
import { AdamW, clipGradNorm } from '../optim/adamw.js';
import { mulberry32 } from '../random.js';
import { corpusFiles, readJsonlAll, type ReviewRecord } from '../data/corpus.js';
import { buildWordTokenizer, tokenizerFileContents, type TokenizerFiles } from '../data/build-tokenizer.js';
import { batchFromIds } from '../data/prompts.js';
import { loadNeoxWeights, saveNeoxCheckpoint } from './hf-checkpoint.js';
import { ConfigFields, NEOX_ACTIVATIONS, readJsonFile, readNeoxConfig } from './hf-config.js';
import type { NeoxActivation, NeoxConfig } from './neox-config.js';
import { NeoxEngine } from './neox-engine.js';
import { loadTokenizer, type Tokenizer } from './tokenizer.js';

// ---------------------------------------------------------------------------------------------
// Config

export interface PretrainModelConfig {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  maxPositions: number;
  rotaryPct: number;
  rotaryBase: number;
  hiddenAct: NeoxActivation;
  parallelResidual: boolean;
  tieWordEmbeddings: boolean;
  layerNormEps: number;
  /** Standard deviation of the normal initialisation of weights (biases 0, LayerNorm 1/0). */
  initStd: number;
}

export interface PretrainTokenizerConfig {
  vocabSize: number;
  minFrequency: number;
}

export interface PretrainTrainConfig {
  steps: number;
  /** Reviews per batch. */
  batchSize: number;
  /** Longest row in tokens (<|endoftext|> included); longer reviews are cut. At most maxPositions. */
  seqLen: number;
  lr: number;
  minLr: number;
  warmupSteps: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  maxGradNorm: number;
  evalEvery: number;
  /** Test reviews in each periodic evaluation (the first ones of the split). */
  evalReviews: number;
  /** Test reviews in the final evaluation; 0: all. */
  finalEvalReviews: number;
  evalBatchSize: number;
  checkpointEvery: number;
  keepCheckpoints: number;
  /** dtype of model/ (checkpoints are always F32, so that resuming is exact). */
  saveDtype: 'F32' | 'F16' | 'BF16';
  /** Seeds the initialisation and the batch order. */
  seed: number;
  /** Batches per length-sorted bucket. */
  bucketBatches: number;
}

export interface PretrainConfig {
  model: PretrainModelConfig;
  tokenizer: PretrainTokenizerConfig;
  train: PretrainTrainConfig;
}

/** Every default, written once (a Pythia-shaped 4-layer model of about a million parameters). */
export const PRETRAIN_DEFAULTS: Readonly<PretrainConfig> = Object.freeze({
  model: Object.freeze({
    hiddenSize: 128, numLayers: 4, numHeads: 4, intermediateSize: 512, maxPositions: 256, rotaryPct: 0.25,
    rotaryBase: 10000, hiddenAct: 'gelu' as NeoxActivation, parallelResidual: true, tieWordEmbeddings: false,
    layerNormEps: 1e-5, initStd: 0.02,
  }),
  tokenizer: Object.freeze({ vocabSize: 4096, minFrequency: 1 }),
  train: Object.freeze({
    steps: 2000, batchSize: 32, seqLen: 256, lr: 2e-3, minLr: 2e-4, warmupSteps: 100, weightDecay: 0.01,
    beta1: 0.9, beta2: 0.95, eps: 1e-8, maxGradNorm: 1, evalEvery: 250, evalReviews: 500, finalEvalReviews: 0,
    evalBatchSize: 64, checkpointEvery: 500, keepCheckpoints: 2, saveDtype: 'F16' as const, seed: 0, bucketBatches: 50,
  }),
});

function checkKeys(f: ConfigFields, allowed: readonly string[]): void {
  for (const key of Object.keys(f.obj)) {
    if (!allowed.includes(key)) f.fail(key, `no such field (known: ${allowed.join(', ')})`, f.obj[key]);
  }
}

/**
 * A pretraining config from parsed JSON: {model, tokenizer, train}, each optional and each field
 * optional (PRETRAIN_DEFAULTS fills in); unknown fields are errors. Errors name `file` and the field.
 */
export function resolvePretrainConfig(json: unknown, file = 'pretrain config'): PretrainConfig {
  const f = ConfigFields.of(json ?? {}, file, 'pretrain config');
  checkKeys(f, ['model', 'tokenizer', 'train']);
  const empty = (name: string) => f.object(name) ?? new ConfigFields(file, {}, `${name}.`);
  const m = empty('model');
  const t = empty('tokenizer');
  const tr = empty('train');
  const D = PRETRAIN_DEFAULTS;
  checkKeys(m, Object.keys(D.model));
  checkKeys(t, Object.keys(D.tokenizer));
  checkKeys(tr, Object.keys(D.train));
  const model: PretrainModelConfig = {
    hiddenSize: m.int('hiddenSize', 1, D.model.hiddenSize),
    numLayers: m.int('numLayers', 1, D.model.numLayers),
    numHeads: m.int('numHeads', 1, D.model.numHeads),
    intermediateSize: m.int('intermediateSize', 1, D.model.intermediateSize),
    maxPositions: m.int('maxPositions', 2, D.model.maxPositions),
    rotaryPct: m.num('rotaryPct', 0, 1, D.model.rotaryPct),
    rotaryBase: m.num('rotaryBase', 0, Infinity, D.model.rotaryBase, true),
    hiddenAct: m.oneOf('hiddenAct', NEOX_ACTIVATIONS, D.model.hiddenAct),
    parallelResidual: m.bool('parallelResidual', D.model.parallelResidual),
    tieWordEmbeddings: m.bool('tieWordEmbeddings', D.model.tieWordEmbeddings),
    layerNormEps: m.num('layerNormEps', 0, 1, D.model.layerNormEps, true),
    initStd: m.num('initStd', 0, 10, D.model.initStd),
  };
  if (model.hiddenSize % model.numHeads !== 0) m.fail('numHeads', `a divisor of hiddenSize (${model.hiddenSize})`, model.numHeads);
  const headDim = model.hiddenSize / model.numHeads;
  if (Math.floor(headDim * model.rotaryPct) % 2 !== 0) m.fail('rotaryPct', `a fraction that rotates an even number of each head's ${headDim} dimensions`, model.rotaryPct);
  const tokenizer: PretrainTokenizerConfig = {
    vocabSize: t.int('vocabSize', 64, D.tokenizer.vocabSize),
    minFrequency: t.int('minFrequency', 1, D.tokenizer.minFrequency),
  };
  const train: PretrainTrainConfig = {
    steps: tr.int('steps', 1, D.train.steps),
    batchSize: tr.int('batchSize', 1, D.train.batchSize),
    seqLen: tr.int('seqLen', 2, D.train.seqLen),
    lr: tr.num('lr', 0, Infinity, D.train.lr),
    minLr: tr.num('minLr', 0, Infinity, D.train.minLr),
    warmupSteps: tr.int('warmupSteps', 0, D.train.warmupSteps),
    weightDecay: tr.num('weightDecay', 0, Infinity, D.train.weightDecay),
    beta1: tr.num('beta1', 0, 0.999999, D.train.beta1),
    beta2: tr.num('beta2', 0, 0.999999999, D.train.beta2),
    eps: tr.num('eps', 0, 1, D.train.eps),
    maxGradNorm: tr.num('maxGradNorm', 0, Infinity, D.train.maxGradNorm, true),
    evalEvery: tr.int('evalEvery', 1, D.train.evalEvery),
    evalReviews: tr.int('evalReviews', 1, D.train.evalReviews),
    finalEvalReviews: tr.int('finalEvalReviews', 0, D.train.finalEvalReviews),
    evalBatchSize: tr.int('evalBatchSize', 1, D.train.evalBatchSize),
    checkpointEvery: tr.int('checkpointEvery', 1, D.train.checkpointEvery),
    keepCheckpoints: tr.int('keepCheckpoints', 1, D.train.keepCheckpoints),
    saveDtype: tr.oneOf('saveDtype', ['F32', 'F16', 'BF16'] as const, D.train.saveDtype),
    seed: tr.int('seed', 0, D.train.seed),
    bucketBatches: tr.int('bucketBatches', 1, D.train.bucketBatches),
  };
  if (train.seqLen > model.maxPositions) tr.fail('seqLen', `at most model.maxPositions (${model.maxPositions})`, train.seqLen);
  if (train.minLr > train.lr) tr.fail('minLr', `at most lr (${train.lr})`, train.minLr);
  if (train.warmupSteps > train.steps) tr.fail('warmupSteps', `at most steps (${train.steps})`, train.warmupSteps);
  return { model, tokenizer, train };
}

/** Read and resolve a pretraining config file. */
export function readPretrainConfig(path: string): PretrainConfig {
  return resolvePretrainConfig(readJsonFile(path), path);
}

/** The GPT-NeoX config of the model a pretraining config describes. */
export function neoxConfigFor(model: PretrainModelConfig, vocabSize: number, eosTokenId: number): NeoxConfig {
  return {
    modelType: 'gpt_neox', vocabSize, hiddenSize: model.hiddenSize, numLayers: model.numLayers,
    numHeads: model.numHeads, intermediateSize: model.intermediateSize, rotaryPct: model.rotaryPct,
    rotaryBase: model.rotaryBase, maxPositions: model.maxPositions, layerNormEps: model.layerNormEps,
    parallelResidual: model.parallelResidual, hiddenAct: model.hiddenAct, tieWordEmbeddings: model.tieWordEmbeddings,
    attentionBias: true, bosTokenId: eosTokenId, eosTokenId,
  };
}

/** Learning rate of 0-based step `step`: linear warmup to lr, then cosine decay to minLr at `steps`. */
export function lrAt(step: number, t: Pick<PretrainTrainConfig, 'lr' | 'minLr' | 'warmupSteps' | 'steps'>): number {
  if (step < t.warmupSteps) return (t.lr * (step + 1)) / t.warmupSteps;
  const span = t.steps - t.warmupSteps;
  const progress = span <= 0 ? 1 : Math.min(1, (step - t.warmupSteps) / span);
  return t.minLr + 0.5 * (t.lr - t.minLr) * (1 + Math.cos(Math.PI * progress));
}

// ---------------------------------------------------------------------------------------------
// Data

/** Each review's tokens followed by eos, cut to seqLen. */
export function encodeReviews(tokenizer: Tokenizer, records: readonly ReviewRecord[], seqLen: number): Int32Array[] {
  const eos = tokenizer.eosTokenId;
  if (eos === null) throw new RangeError('Expected a tokenizer with an eos token for pretraining but received one without');
  return records.map((r) => {
    const ids = tokenizer.encode(r.text, { addSpecialTokens: false });
    ids.push(eos);
    return Int32Array.from(ids.length > seqLen ? ids.slice(0, seqLen) : ids);
  });
}

function hashSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    for (const c of String(p)) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
    h = Math.imul(h ^ 0x2c, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The batches (lists of review indices) of one epoch: permuted with (seed, epoch), bucketed by length. */
export function epochBatches(lengths: ArrayLike<number>, batchSize: number, bucketBatches: number, seed: number, epoch: number): number[][] {
  const n = lengths.length;
  const rnd = mulberry32(hashSeed(seed, epoch, 7));
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const full = Math.floor(n / batchSize) * batchSize;
  const batches: number[][] = [];
  const chunk = batchSize * bucketBatches;
  for (let start = 0; start < full; start += chunk) {
    const part = perm.slice(start, Math.min(full, start + chunk)).sort((a, b) => lengths[a] - lengths[b] || a - b);
    for (let k = 0; k < part.length; k += batchSize) batches.push(part.slice(k, k + batchSize));
  }
  for (let i = batches.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [batches[i], batches[j]] = [batches[j], batches[i]];
  }
  return batches;
}

/** Rows as a right-padded batch for the engine. */
function rightPadded(rows: readonly Int32Array[], padId: number) {
  return batchFromIds(rows.map((r) => Array.from(r)), padId, { padding: 'right' });
}

export interface LmEvaluation {
  /** Mean next-token loss (nats) over every target. */
  loss: number;
  ppl: number;
  /** Targets scored (tokens after each row's first). */
  tokens: number;
  reviews: number;
}

/** Test loss and perplexity of an engine on token rows (each row's tokens after the first are targets). */
export async function evaluateLm(engine: NeoxEngine, rows: readonly Int32Array[], padId: number, batchSize = 64): Promise<LmEvaluation> {
  const order = rows.map((_, i) => i).filter((i) => rows[i].length >= 2).sort((a, b) => rows[a].length - rows[b].length);
  let nll = 0;
  let tokens = 0;
  for (let k = 0; k < order.length; k += batchSize) {
    const part = order.slice(k, k + batchSize).map((i) => rows[i]);
    const b = rightPadded(part, padId);
    const { loss } = await engine.forward({ inputIds: b.inputIds, attentionMask: b.attentionMask, positionIds: b.positionIds, B: b.B, T: b.T }, { loss: true });
    const pairs = part.reduce((s, r) => s + r.length - 1, 0);
    nll += (loss as number) * pairs;
    tokens += pairs;
  }
  const loss = tokens ? nll / tokens : NaN;
  return { loss, ppl: Math.exp(loss), tokens, reviews: order.length };
}

/** Add-one smoothed unigram log-probabilities from the targets of train rows (tokens after the first). */
export function unigramLogProbs(rows: readonly Int32Array[], vocabSize: number): Float64Array {
  const counts = new Float64Array(vocabSize);
  let n = 0;
  for (const r of rows) {
    for (let t = 1; t < r.length; t++) {
      counts[r[t]]++;
      n++;
    }
  }
  const out = new Float64Array(vocabSize);
  for (let i = 0; i < vocabSize; i++) out[i] = Math.log((counts[i] + 1) / (n + vocabSize));
  return out;
}

/** Perplexity of a unigram model on the targets of rows. */
export function unigramPerplexity(logProbs: Float64Array, rows: readonly Int32Array[]): { ppl: number; loss: number; tokens: number } {
  let nll = 0;
  let tokens = 0;
  for (const r of rows) {
    for (let t = 1; t < r.length; t++) {
      nll -= logProbs[r[t]];
      tokens++;
    }
  }
  const loss = nll / tokens;
  return { ppl: Math.exp(loss), loss, tokens };
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

const CHECKPOINT_RE = /^checkpoint-(\d+)$/;

/** Checkpoint folders of an output folder (those with a trainer_state.json), oldest first. */
export function listCheckpoints(outDir: string): { step: number; dir: string }[] {
  if (!existsSync(outDir)) return [];
  return readdirSync(outDir)
    .map((name) => ({ m: CHECKPOINT_RE.exec(name), name }))
    .filter((e) => e.m && existsSync(join(outDir, e.name, 'trainer_state.json')))
    .map((e) => ({ step: Number(e.m![1]), dir: join(outDir, e.name) }))
    .sort((a, b) => a.step - b.step);
}

interface TrainerState {
  step: number;
  /** Seconds spent in training steps so far (all runs). */
  train_seconds: number;
  /** Seconds of wall time so far (all runs; steps, evaluations and checkpoints). */
  wall_seconds: number;
  tokens_seen: number;
  config: PretrainConfig;
}

class Optimizer {
  readonly names: string[];
  readonly adamw: AdamW;
  private readonly grads: Float32Array[][];

  constructor(engine: NeoxEngine, t: PretrainTrainConfig) {
    const specs = engine.parameters();
    const decay = specs.filter((s) => s.shape.length >= 2).map((s) => s.name);
    const noDecay = specs.filter((s) => s.shape.length < 2).map((s) => s.name);
    this.names = [...decay, ...noDecay];
    engine.gradient(specs[0].name); // allocates the gradient buffer
    this.adamw = new AdamW([
      { params: decay.map((n) => engine.parameter(n)), weightDecay: t.weightDecay },
      { params: noDecay.map((n) => engine.parameter(n)), weightDecay: 0 },
    ], { lr: t.lr, beta1: t.beta1, beta2: t.beta2, eps: t.eps, weightDecay: t.weightDecay });
    this.grads = [decay.map((n) => engine.gradient(n)), noDecay.map((n) => engine.gradient(n))];
  }

  step(lr: number): void {
    this.adamw.step(this.grads, { lr });
  }

  /** optimizer.safetensors bytes: m.<name>, v.<name> (F32). */
  encode(): Uint8Array {
    const s = this.adamw.state();
    const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
    this.names.forEach((name, i) => {
      tensors[`m.${name}`] = { dtype: 'F32', shape: [s.m[i].length], data: s.m[i] };
      tensors[`v.${name}`] = { dtype: 'F32', shape: [s.v[i].length], data: s.v[i] };
    });
    return encodeSafetensors(tensors, { step: String(s.step), format: 'rewardlens-adamw' });
  }

  load(path: string): void {
    const { tensors, metadata } = readSafetensors(path);
    const get = (key: string, len: number) => {
      const t = tensors[key];
      if (!t || t.dtype !== 'F32' || t.data.length !== len) {
        throw new FileFormatError(path, `tensor "${key}": expected F32 of ${len} values but found ${t ? `${t.dtype} of ${t.data.length}` : 'nothing'}`);
      }
      return t.data as Float32Array;
    };
    const flat = this.adamw.state();
    const step = Number(metadata.step);
    if (!Number.isInteger(step) || step < 0) throw new FileFormatError(path, `metadata "step": expected an integer >= 0 but found ${JSON.stringify(metadata.step)}`);
    this.adamw.loadState({
      m: this.names.map((n, i) => get(`m.${n}`, flat.m[i].length)),
      v: this.names.map((n, i) => get(`v.${n}`, flat.v[i].length)),
      step,
    });
  }

  dispose(): void {
    this.adamw.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// The training loop

export interface StepLog {
  type: 'step';
  step: number;
  loss: number;
  lr: number;
  grad_norm: number;
  tokens: number;
  tokens_per_s: number;
  elapsed_s: number;
}

export interface EvalLog {
  type: 'eval';
  step: number;
  test_loss: number;
  test_ppl: number;
  reviews: number;
  tokens: number;
}

export interface PretrainMetrics {
  steps: number;
  parameters: number;
  vocab_size: number;
  /** Test perplexity of model/ as saved (loaded back from disk). */
  test_ppl: number;
  test_loss: number;
  unigram_ppl: number;
  /** unigram_ppl / test_ppl. */
  ratio: number;
  test_reviews: number;
  test_tokens: number;
  train_reviews: number;
  tokens_seen: number;
  /** Seconds in training steps (all runs) and tokens per second over them. */
  train_seconds: number;
  tokens_per_s: number;
  /** Wall seconds of the whole run (all runs; steps, evaluations, checkpoints, final evaluation). */
  wall_seconds: number;
  save_dtype: string;
}

export interface PretrainOptions {
  /** Folder with train.jsonl and test.jsonl. */
  corpusDir: string;
  outDir: string;
  /** The config (resolved or raw JSON); on resume without one, the saved config is used. */
  config?: PretrainConfig | unknown;
  resume?: boolean;
  /** Aborting saves a checkpoint after the current step and returns { interrupted: true }. */
  signal?: AbortSignal;
  /** Called once training is about to start (step > 0 when resuming). */
  onStart?: (info: { step: number; steps: number; config: PretrainConfig }) => void;
  onStep?: (log: StepLog) => void;
  onEval?: (log: EvalLog) => void;
  /** One-line messages (phases: reading, tokenizer, unigram, saving). */
  onMessage?: (msg: string) => void;
}

export interface PretrainResult {
  step: number;
  interrupted: boolean;
  config: PretrainConfig;
  /** The final model folder (absent when interrupted). */
  modelDir?: string;
  metrics?: PretrainMetrics;
}

function sameJson(a: unknown, b: unknown): string | null {
  const fa = flatten(a);
  const fb = flatten(b);
  for (const k of new Set([...fa.keys(), ...fb.keys()])) {
    if (fa.get(k) !== fb.get(k)) return `${k}: ${fb.get(k) ?? 'missing'} (saved) vs ${fa.get(k) ?? 'missing'} (given)`;
  }
  return null;
}

function flatten(v: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.set(prefix, JSON.stringify(v));
  }
  return out;
}

/** Train (or resume training) a GPT-NeoX on a corpus folder; see the file's comment for the layout. */
export async function pretrain(opts: PretrainOptions): Promise<PretrainResult> {
  const wallStart = performance.now();
  const say = opts.onMessage ?? (() => {});
  const { outDir } = opts;
  const checkpoints = listCheckpoints(outDir);
  const resumeFrom = opts.resume && checkpoints.length ? checkpoints[checkpoints.length - 1] : null;
  if (!opts.resume && checkpoints.length) {
    throw new RangeError(`Expected an output folder without checkpoints for --out (or --resume) but received ${outDir}, which holds ${checkpoints.map((c) => `checkpoint-${c.step}`).join(', ')}`);
  }
  let state: TrainerState | null = null;
  let config: PretrainConfig;
  if (resumeFrom) {
    const statePath = join(resumeFrom.dir, 'trainer_state.json');
    state = readJsonFile(statePath) as TrainerState;
    const saved = resolvePretrainConfig(state.config, `${statePath} (config)`);
    config = opts.config === undefined ? saved : isResolved(opts.config) ? opts.config : resolvePretrainConfig(opts.config);
    const diff = sameJson(config, saved);
    if (diff) throw new RangeError(`Expected the config the run was started with for a resumed run but received a different one (${diff}); start a new --out to change it`);
  } else {
    config = opts.config === undefined ? resolvePretrainConfig({}) : isResolved(opts.config) ? opts.config : resolvePretrainConfig(opts.config);
  }
  const t = config.train;
  mkdirSync(outDir, { recursive: true });
  writeJsonAtomic(join(outDir, 'pretrain-config.json'), config);

  // Corpus and tokenizer.
  const files = corpusFiles(opts.corpusDir);
  say(`reading ${files.train} and ${files.test}`);
  const trainRecords = await readJsonlAll(files.train);
  const testRecords = await readJsonlAll(files.test);
  if (trainRecords.length < t.batchSize) throw new RangeError(`Expected at least batchSize (${t.batchSize}) train reviews in ${files.train} but received ${trainRecords.length}`);
  if (testRecords.length === 0) throw new RangeError(`Expected at least one test review in ${files.test} but received none`);
  const tokDir = join(outDir, 'tokenizer');
  let tokFiles: TokenizerFiles;
  if (resumeFrom && existsSync(join(tokDir, 'tokenizer.json'))) {
    tokFiles = readTokenizerFiles(tokDir);
  } else {
    say('building the tokenizer');
    tokFiles = await buildWordTokenizer(trainRecords.map((r) => r.text), { ...config.tokenizer, modelMaxLength: config.model.maxPositions });
    for (const [name, text] of Object.entries(tokenizerFileContents(tokFiles))) writeFileAtomic(join(tokDir, name), text);
  }
  const tokenizer = loadTokenizer(tokDir);
  const tokText = tokenizerFileContents(tokFiles);
  const padId = tokenizer.padTokenId ?? 0;
  say(`encoding ${trainRecords.length} train and ${testRecords.length} test reviews`);
  const trainRows = encodeReviews(tokenizer, trainRecords, t.seqLen);
  const testRows = encodeReviews(tokenizer, testRecords, t.seqLen);
  const evalRows = testRows.slice(0, t.evalReviews);
  const lengths = Int32Array.from(trainRows, (r) => r.length);
  const unigram = unigramLogProbs(trainRows, tokenizer.vocabSize);

  const modelCfg = neoxConfigFor(config.model, tokenizer.vocabSize, tokenizer.eosTokenId!);
  const engine = NeoxEngine.create(modelCfg, { seed: t.seed, initStd: config.model.initStd, init: resumeFrom ? 'zeros' : 'normal' });
  const opt = new Optimizer(engine, t);
  const logPath = join(outDir, 'log.jsonl');
  try {
    let step = 0;
    let trainSeconds = 0;
    let wallBefore = 0;
    let tokensSeen = 0;
    if (resumeFrom && state) {
      say(`resuming from ${resumeFrom.dir}`);
      loadNeoxWeights(resumeFrom.dir, modelCfg, engine, { valueHead: 'skip' });
      opt.load(join(resumeFrom.dir, 'optimizer.safetensors'));
      step = state.step;
      trainSeconds = state.train_seconds;
      wallBefore = state.wall_seconds;
      tokensSeen = state.tokens_seen;
      truncateLog(logPath, step);
    } else {
      writeFileSync(logPath, '');
      const u = unigramPerplexity(unigram, evalRows);
      appendLog(logPath, { type: 'unigram', step: 0, test_ppl: u.ppl, test_loss: u.loss, reviews: evalRows.length, tokens: u.tokens });
    }
    const wallSoFar = () => wallBefore + (performance.now() - wallStart) / 1000;

    const saveCheckpoint = async () => {
      const dir = join(outDir, `checkpoint-${step}`);
      const st: TrainerState = { step, train_seconds: trainSeconds, wall_seconds: wallSoFar(), tokens_seen: tokensSeen, config };
      await saveNeoxCheckpoint(dir, modelCfg, engine, {
        dtype: 'F32',
        extraFiles: { ...tokText, 'optimizer.safetensors': opt.encode(), 'trainer_state.json': JSON.stringify(st, null, 2) + '\n' },
      });
      const all = listCheckpoints(outDir);
      for (const c of all.slice(0, Math.max(0, all.length - t.keepCheckpoints))) rmSync(c.dir, { recursive: true, force: true });
    };

    const batchesPerEpoch = Math.floor(trainRows.length / t.batchSize);
    opts.onStart?.({ step, steps: t.steps, config });
    let cachedEpoch = -1;
    let epochList: number[][] = [];
    let lastSaved = resumeFrom ? step : -1;
    while (step < t.steps) {
      const epoch = Math.floor(step / batchesPerEpoch);
      if (epoch !== cachedEpoch) {
        epochList = epochBatches(lengths, t.batchSize, t.bucketBatches, t.seed, epoch);
        cachedEpoch = epoch;
      }
      const rows = epochList[step % batchesPerEpoch].map((i) => trainRows[i]);
      const b = rightPadded(rows, padId);
      const lr = lrAt(step, t);
      const t0 = performance.now();
      engine.zeroGrad();
      const { loss } = await engine.forward({ inputIds: b.inputIds, attentionMask: b.attentionMask, positionIds: b.positionIds, B: b.B, T: b.T }, { loss: true, train: true });
      if (!Number.isFinite(loss)) throw new Error(`pretraining diverged: loss ${loss} at step ${step + 1} (lower train.lr or train.maxGradNorm)`);
      await engine.backward({ loss: 1 });
      const gradNorm = clipGradNorm([engine.allGradients()], t.maxGradNorm);
      opt.step(lr);
      const dt = (performance.now() - t0) / 1000;
      step++;
      const tokens = rows.reduce((s, r) => s + r.length, 0);
      trainSeconds += dt;
      tokensSeen += tokens;
      const log: StepLog = { type: 'step', step, loss: loss as number, lr, grad_norm: gradNorm, tokens, tokens_per_s: tokens / dt, elapsed_s: wallSoFar() };
      appendLog(logPath, log);
      opts.onStep?.(log);
      if (step % t.evalEvery === 0 || step === t.steps) {
        const ev = await evaluateLm(engine, evalRows, padId, t.evalBatchSize);
        const elog: EvalLog = { type: 'eval', step, test_loss: ev.loss, test_ppl: ev.ppl, reviews: ev.reviews, tokens: ev.tokens };
        appendLog(logPath, elog);
        opts.onEval?.(elog);
      }
      if (step % t.checkpointEvery === 0 || step === t.steps) {
        await saveCheckpoint();
        lastSaved = step;
      }
      if (opts.signal?.aborted && step < t.steps) {
        if (lastSaved !== step) await saveCheckpoint();
        say(`interrupted: saved checkpoint-${step}`);
        return { step, interrupted: true, config };
      }
    }
    if (lastSaved !== step) await saveCheckpoint();

    // The final model, and its perplexity as saved (F16 rounding included).
    const modelDir = join(outDir, 'model');
    say(`saving ${modelDir}`);
    await saveNeoxCheckpoint(modelDir, modelCfg, engine, { dtype: t.saveDtype, extraFiles: tokText });
    const finalRows = t.finalEvalReviews === 0 ? testRows : testRows.slice(0, t.finalEvalReviews);
    const saved = NeoxEngine.create(readNeoxConfig(modelDir), { init: 'zeros' });
    let ev: LmEvaluation;
    try {
      loadNeoxWeights(modelDir, modelCfg, saved, { valueHead: 'skip' });
      say(`evaluating ${modelDir} on ${finalRows.length} test reviews`);
      ev = await evaluateLm(saved, finalRows, padId, t.evalBatchSize);
    } finally {
      saved.dispose();
    }
    const u = unigramPerplexity(unigram, finalRows);
    const metrics: PretrainMetrics = {
      steps: step, parameters: engine.allParameters().length, vocab_size: tokenizer.vocabSize,
      test_ppl: ev.ppl, test_loss: ev.loss, unigram_ppl: u.ppl, ratio: u.ppl / ev.ppl, test_reviews: ev.reviews,
      test_tokens: ev.tokens, train_reviews: trainRows.length, tokens_seen: tokensSeen, train_seconds: trainSeconds,
      tokens_per_s: tokensSeen / trainSeconds, wall_seconds: wallSoFar(), save_dtype: t.saveDtype,
    };
    writeJsonAtomic(join(outDir, 'metrics.json'), metrics);
    appendLog(logPath, { type: 'final', step, ...metrics });
    return { step, interrupted: false, config, modelDir, metrics };
  } finally {
    opt.dispose();
    engine.dispose();
  }
}

function isResolved(c: unknown): c is PretrainConfig {
  if (c === null || typeof c !== 'object') return false;
  const o = c as Record<string, unknown>;
  return ['model', 'tokenizer', 'train'].every((k) => o[k] !== null && typeof o[k] === 'object')
    && Object.keys(PRETRAIN_DEFAULTS.train).every((k) => k in (o.train as object))
    && Object.keys(PRETRAIN_DEFAULTS.model).every((k) => k in (o.model as object));
}

function readTokenizerFiles(dir: string): TokenizerFiles {
  const read = (name: string) => readJsonFile(join(dir, name)) as Record<string, unknown>;
  return {
    'tokenizer.json': read('tokenizer.json'),
    'tokenizer_config.json': read('tokenizer_config.json'),
    'special_tokens_map.json': read('special_tokens_map.json'),
  };
}

function appendLog(path: string, entry: object): void {
  appendFileSync(path, JSON.stringify(entry) + '\n');
}

/** Keep the log lines up to `step` (a resumed run rewrites what came after its checkpoint). */
function truncateLog(path: string, step: number): void {
  if (!existsSync(path)) {
    writeFileSync(path, '');
    return;
  }
  const kept = readFileSync(path, 'utf8').split('\n').filter((line) => {
    if (!line.trim()) return false;
    try {
      const e = JSON.parse(line) as { step?: number; type?: string };
      return e.type !== 'final' && typeof e.step === 'number' && e.step <= step;
    } catch {
      return false;
    }
  });
  writeFileAtomic(path, kept.map((l) => l + '\n').join(''));
}
