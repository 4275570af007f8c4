// A Hugging Face sequence classifier in ONNX form (transformers.js layout) as a reward: the raw
// logit of one label, e.g. lvwerra/distilbert-imdb's POSITIVE, as the paper's code used it.
//
// The folder holds config.json (model_type, id2label), tokenizer.json, tokenizer_config.json and
// onnx/model.onnx (fp32, int64 inputs input_ids and attention_mask, output logits [batch, labels]).
// @huggingface/transformers 4 loads it from an absolute path with remote models off (no network);
// a hub id is first fetched into the hub cache by rewardlens's own hub code (src/model/hub.ts).
//
// Tokenisation: transformers.js truncates after adding [CLS]/[SEP], which drops the final [SEP] of
// a long text; Python's tokenizers truncate the text and then add the special tokens. So each text
// is encoded here without truncation and, when too long, its content is cut to fit between the
// template's special tokens, as Python does. The batch is right-padded with the pad token and an
// attention mask of 0 there.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import type { PreTrainedModel, PreTrainedTokenizer, Tensor } from '@huggingface/transformers';
import { FileFormatError, describe, invalidRange, invalidType } from '../errors.js';
import { HubError, parseModelSpec, resolveModel, type HubProgress } from '../model/hub.js';
import type { RewardModel } from './reward.js';

export interface ClassifierRewardOptions {
  /** The label whose logit is the reward (a value of config.id2label). Default "POSITIVE". */
  label?: string;
  /** Texts per forward pass. Default 32. */
  batchSize?: number;
  /** Tokens per text, special tokens included; longer texts are truncated. Default 512 (at most the model's max_position_embeddings). */
  maxLength?: number;
}

export const CLASSIFIER_REWARD_DEFAULTS: Readonly<Required<ClassifierRewardOptions>> = Object.freeze({ label: 'POSITIVE', batchSize: 32, maxLength: 512 });

/** The files transformers.js reads from a classifier folder (fp32 weights). */
export const CLASSIFIER_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx'] as const;
/** Fetched from the hub when the repo has them; never required. */
export const CLASSIFIER_OPTIONAL_FILES = ['special_tokens_map.json', 'vocab.txt'] as const;

interface ClassifierConfig {
  model_type: string;
  id2label: Record<string, string>;
  max_position_embeddings?: number;
}

function readClassifierConfig(dir: string): ClassifierConfig {
  const path = join(dir, 'config.json');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new FileFormatError(path, `Expected a JSON model config but it could not be read (${(err as Error).message})`);
  }
  const c = raw as Partial<ClassifierConfig> | null;
  if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new FileFormatError(path, `Expected a JSON object but received ${describe(raw)}`);
  if (typeof c.model_type !== 'string') throw new FileFormatError(path, `Expected a string for model_type (e.g. "distilbert") but received ${describe(c.model_type)}`);
  if (c.id2label === null || typeof c.id2label !== 'object' || Object.keys(c.id2label).length === 0) {
    throw new FileFormatError(path, `Expected an object {"0": "NEGATIVE", "1": "POSITIVE", …} for id2label but received ${describe(c.id2label)}`);
  }
  for (const [k, v] of Object.entries(c.id2label)) {
    if (!/^\d+$/.test(k) || typeof v !== 'string') throw new FileFormatError(path, `Expected label index → name pairs in id2label but received ${JSON.stringify(k)}: ${describe(v)}`);
  }
  return c as ClassifierConfig;
}

/** A missing required file is an error naming the folder and every file missing. */
function checkClassifierFolder(dir: string): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new FileFormatError(dir, 'no such folder (expected a classifier folder with config.json, tokenizer.json, tokenizer_config.json and onnx/model.onnx)');
  }
  if (!isDir) throw new FileFormatError(dir, 'Expected a classifier folder but received a file');
  const missing = CLASSIFIER_FILES.filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) {
    throw new FileFormatError(
      dir,
      `Expected a transformers.js classifier folder (${CLASSIFIER_FILES.join(', ')}) but it lacks ${missing.join(', ')}` +
        (missing.includes('onnx/model.onnx') ? ' (an ONNX export of the model, e.g. with optimum: optimum-cli export onnx --model … DIR/onnx)' : ''),
    );
  }
}

function resolveOptions(opts: ClassifierRewardOptions): Required<ClassifierRewardOptions> {
  if (opts === null || typeof opts !== 'object') throw invalidType('an options object', 'options', opts);
  const label = opts.label ?? CLASSIFIER_REWARD_DEFAULTS.label;
  const batchSize = opts.batchSize ?? CLASSIFIER_REWARD_DEFAULTS.batchSize;
  const maxLength = opts.maxLength ?? CLASSIFIER_REWARD_DEFAULTS.maxLength;
  if (typeof label !== 'string' || label === '') throw invalidType('a non-empty label name', 'label', label);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw invalidRange('an integer >= 1', 'batchSize', describe(batchSize));
  if (!Number.isInteger(maxLength) || maxLength < 3) throw invalidRange('an integer >= 3', 'maxLength', describe(maxLength));
  return { label, batchSize, maxLength };
}

type Transformers = typeof import('@huggingface/transformers');

let transformersModule: Promise<Transformers> | undefined;

/** @huggingface/transformers, imported on first use (it loads onnxruntime), set to never touch the network. */
function transformers(): Promise<Transformers> {
  transformersModule ??= import('@huggingface/transformers').then((tf) => {
    tf.env.allowRemoteModels = false;
    tf.env.allowLocalModels = true;
    return tf;
  });
  return transformersModule;
}

/** The reward of a text: the logit of `label` from a sequence classifier, on the text as given. */
export class ClassifierReward implements RewardModel {
  readonly name: string;
  /** The label whose logit is returned, and its index in the logits. */
  readonly label: string;
  readonly labelIndex: number;
  readonly labels: readonly string[];
  readonly batchSize: number;
  readonly maxLength: number;
  private model: PreTrainedModel | undefined;

  private constructor(
    readonly dir: string,
    private readonly tf: Transformers,
    private readonly tokenizer: PreTrainedTokenizer,
    model: PreTrainedModel,
    labels: string[],
    labelIndex: number,
    opts: Required<ClassifierRewardOptions>,
    private readonly template: { prefix: number[]; suffix: number[] },
    private readonly padId: number,
    name: string,
  ) {
    this.model = model;
    this.labels = labels;
    this.labelIndex = labelIndex;
    this.label = opts.label;
    this.batchSize = opts.batchSize;
    this.maxLength = opts.maxLength;
    this.name = name;
  }

  /**
   * Load a classifier folder (see the file comment for its layout). The label must be one of
   * config.id2label's values; an unknown label is an error listing those present.
   */
  static async load(modelDir: string, opts: ClassifierRewardOptions & { name?: string } = {}): Promise<ClassifierReward> {
    if (typeof modelDir !== 'string' || modelDir === '') throw invalidType('a classifier folder', 'modelDir', modelDir);
    const o = resolveOptions(opts);
    const dir = resolvePath(modelDir);
    checkClassifierFolder(dir);
    const config = readClassifierConfig(dir);
    const size = Math.max(...Object.keys(config.id2label).map(Number)) + 1;
    const labels = Array.from({ length: size }, (_, i) => config.id2label[String(i)] ?? `LABEL_${i}`);
    const labelIndex = labels.indexOf(o.label);
    if (labelIndex < 0) {
      throw invalidRange(`one of the labels in ${join(dir, 'config.json')} (${labels.map((l) => `"${l}"`).join(', ')})`, 'label', `"${o.label}"`);
    }
    const maxPositions = config.max_position_embeddings;
    if (typeof maxPositions === 'number' && o.maxLength > maxPositions) {
      if (opts.maxLength !== undefined) {
        throw invalidRange(`an integer <= ${maxPositions} (max_position_embeddings in ${join(dir, 'config.json')})`, 'maxLength', String(o.maxLength));
      }
      o.maxLength = maxPositions;
    }
    const tf = await transformers();
    let tokenizer: PreTrainedTokenizer;
    let model: PreTrainedModel;
    try {
      tokenizer = await tf.AutoTokenizer.from_pretrained(dir, { local_files_only: true });
    } catch (err) {
      throw new FileFormatError(join(dir, 'tokenizer.json'), `Expected a tokenizer transformers.js can load but it failed: ${(err as Error).message}`);
    }
    try {
      model = await tf.AutoModelForSequenceClassification.from_pretrained(dir, { local_files_only: true, dtype: 'fp32', device: 'cpu' });
    } catch (err) {
      throw new FileFormatError(join(dir, 'onnx/model.onnx'), `Expected an ONNX sequence classifier (model_type "${config.model_type}") transformers.js can load but it failed: ${(err as Error).message}`);
    }
    const template = specialTokenTemplate(tokenizer);
    if (template.prefix.length + template.suffix.length >= o.maxLength) {
      await model.dispose();
      throw invalidRange(`an integer > ${template.prefix.length + template.suffix.length} (the special tokens the tokenizer adds)`, 'maxLength', String(o.maxLength));
    }
    const padId = typeof tokenizer.pad_token_id === 'number' ? tokenizer.pad_token_id : 0;
    const name = opts.name ?? `classifier:${dir}`;
    return new ClassifierReward(dir, tf, tokenizer, model, labels, labelIndex, o, template, padId, name);
  }

  /** Token ids of one text as the model sees it: special tokens added, content truncated to fit maxLength. */
  encode(text: string): number[] {
    const full = this.tokenizer.encode(text);
    if (full.length <= this.maxLength) return full;
    const { prefix, suffix } = this.template;
    const content = this.tokenizer.encode(text, { add_special_tokens: false });
    return [...prefix, ...content.slice(0, this.maxLength - prefix.length - suffix.length), ...suffix];
  }

  /**
   * The label's logit for each text, in order. Texts are batched by token length (batchSize at a
   * time, shortest first) so that a batch carries little padding; the order of the result is the
   * order of `texts`.
   */
  async score(texts: readonly string[]): Promise<Float32Array> {
    checkTexts(texts);
    const rows = texts.map((t) => this.encode(t));
    const order = rows.map((_, i) => i).sort((a, b) => rows[a].length - rows[b].length || a - b);
    const out = new Float32Array(texts.length);
    const n = this.labels.length;
    for (let start = 0; start < order.length; start += this.batchSize) {
      const idx = order.slice(start, start + this.batchSize);
      const logits = await this.forward(idx.map((i) => rows[i]));
      idx.forEach((i, k) => {
        out[i] = logits[k * n + this.labelIndex];
      });
    }
    return out;
  }

  /** Every label's logit for the texts, run as one padded batch: [texts.length, labels.length], row-major. */
  async logits(texts: readonly string[]): Promise<Float32Array> {
    checkTexts(texts);
    return this.forward(texts.map((t) => this.encode(t)));
  }

  /** One forward pass over token rows, right-padded to the longest. */
  private async forward(rows: number[][]): Promise<Float32Array> {
    const model = this.model;
    if (!model) throw new Error(`The classifier ${this.name} was disposed; load it again to score texts`);
    if (rows.length === 0) return new Float32Array(0);
    const B = rows.length;
    const T = Math.max(...rows.map((r) => r.length));
    const ids = new BigInt64Array(B * T).fill(BigInt(this.padId));
    const mask = new BigInt64Array(B * T);
    rows.forEach((r, b) => {
      for (let t = 0; t < r.length; t++) {
        ids[b * T + t] = BigInt(r[t]);
        mask[b * T + t] = 1n;
      }
    });
    const input_ids = new this.tf.Tensor('int64', ids, [B, T]);
    const attention_mask = new this.tf.Tensor('int64', mask, [B, T]);
    const output = (await model({ input_ids, attention_mask })) as { logits?: Tensor };
    const logits = output.logits;
    const n = this.labels.length;
    if (!logits || logits.dims.length !== 2 || logits.dims[0] !== B || logits.dims[1] !== n) {
      throw new FileFormatError(join(this.dir, 'onnx/model.onnx'), `Expected an output "logits" of shape [${B},${n}] (one logit per label of config.json) but received ${logits ? `[${logits.dims.join(',')}]` : 'none'}`);
    }
    return Float32Array.from(logits.data as Float32Array);
  }

  async dispose(): Promise<void> {
    const model = this.model;
    this.model = undefined;
    await model?.dispose();
  }
}

function checkTexts(texts: readonly string[]): void {
  if (!Array.isArray(texts)) throw invalidType('an array of strings', 'texts', texts);
  texts.forEach((t, i) => {
    if (typeof t !== 'string') throw invalidType('a string', `texts[${i}]`, t);
  });
}

/**
 * The special tokens the tokenizer puts before and after a single text (BERT: [CLS] … [SEP]), found
 * by encoding a probe text with and without them.
 */
function specialTokenTemplate(tokenizer: PreTrainedTokenizer): { prefix: number[]; suffix: number[] } {
  const probe = 'reward probe text';
  const full = tokenizer.encode(probe);
  const content = tokenizer.encode(probe, { add_special_tokens: false });
  for (let k = 0; k + content.length <= full.length; k++) {
    if (content.every((id, i) => full[k + i] === id)) return { prefix: full.slice(0, k), suffix: full.slice(k + content.length) };
  }
  throw new Error('The tokenizer adds special tokens inside the text; cannot truncate long texts as Python does');
}

export interface ResolveClassifierOptions {
  /** Hub cache root; default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
  cacheDir?: string;
  /** Use the cache only; default: HF_HUB_OFFLINE. */
  offline?: boolean;
  /** Default: $HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Default: $HF_TOKEN or the token file. */
  token?: string;
  onProgress?: (p: HubProgress) => void;
}

/**
 * The folder of a classifier spec: a local folder as it is, or a hub id `org/name[@revision]` whose
 * classifier files (CLASSIFIER_FILES, plus CLASSIFIER_OPTIONAL_FILES where the repo has them) are
 * fetched into the hub cache (Python's layout, offline mode, resume and checks: src/model/hub.ts);
 * returns the snapshot folder.
 */
export async function resolveClassifier(spec: string, opts: ResolveClassifierOptions = {}): Promise<string> {
  const parsed = parseModelSpec(spec);
  if (parsed.kind === 'local') return parsed.dir;
  const hubOpts = { cacheDir: opts.cacheDir, offline: opts.offline, endpoint: opts.endpoint, token: opts.token, onProgress: opts.onProgress };
  let required;
  try {
    required = await resolveModel(spec, { ...hubOpts, files: [...CLASSIFIER_FILES] });
  } catch (err) {
    if (err instanceof HubError && err.missing?.includes('onnx/model.onnx')) {
      throw new HubError(
        err.code,
        `${err.message}. A classifier reward needs the model in ONNX form (transformers.js layout, onnx/model.onnx): ` +
          `use a repo that has it, or export one (optimum-cli export onnx --model ${parsed.repo} DIR, then move model.onnx to DIR/onnx/) and pass the folder`,
        { repo: err.repo, revision: err.revision, status: err.status, file: err.file, missing: err.missing, cause: err },
      );
    }
    throw err;
  }
  // Optional files, pinned to the commit just resolved: a cached one costs no request; one the repo
  // (or, offline, the cache) lacks is skipped.
  const pinned = `${parsed.repo}@${required.commit}`;
  for (const f of CLASSIFIER_OPTIONAL_FILES) {
    try {
      await resolveModel(pinned, { ...hubOpts, files: [f] });
    } catch (err) {
      if (!(err instanceof HubError) || (err.code !== 'not-found' && err.code !== 'offline-missing')) throw err;
    }
  }
  return required.dir;
}
