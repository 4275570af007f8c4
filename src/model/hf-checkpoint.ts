// Hugging Face GPT-NeoX and GPT-Neo checkpoints: find the weight files of a folder, load them into any parameter
// store (the native engine's zero-copy views, or HostParameters), and save a folder transformers loads.
//
// Loading reads one tensor at a time and decodes it straight into the destination view: F32 bytes are
// read from the file into the view itself; F16/BF16/F64 are read a chunk at a time (whole rows, or
// parts of a row, at most `chunkBytes`, default 8 MiB) into one reusable scratch buffer and widened
// into the view. No full-model or full-tensor intermediate copy is made. Everything that can be
// checked before writing (every tensor present, shapes, dtypes, unknown tensors) is checked first, so
// a bad checkpoint leaves the store as it was; only an I/O error mid-read can leave it half-written.
// Loading is synchronous (Pythia-70m: about 0.2 s from the page cache on 2 cores).
//
// Tensors in the files that no parameter takes:
//   - buffers transformers has written in some versions (`*.attention.bias`, `*.attention.masked_bias`
//     — GPT-Neo's `transformer.h.{i}.attn.attention.{bias,masked_bias}` among them —,
//     `*.attention.rotary_emb.inv_freq`, `*.rotary_emb.{cos,sin}_cached`): skipped;
//   - `embed_out.weight` (GPT-Neo: `lm_head.weight`) when the config ties embeddings: skipped, as
//     transformers does (the output projection is the input embedding);
//   - `v_head.summary.*` (TRL's value head) when the store has no value head: skipped;
//   - anything else: an error by default (a checkpoint of another architecture or a renamed model is
//     more likely than a harmless extra), or with `unknownTensors: 'warn'` a message to `onWarning`
//     (default: process.emitWarning), or with 'ignore' nothing. Every skipped tensor is in the report.
import { closeSync, existsSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { basename, isAbsolute, join } from 'node:path';
import { FileFormatError } from '../errors.js';
import { writeDirAtomic, writeFileAtomic } from '../io/atomic.js';
import { DTYPE_BYTES, SafetensorsFile, decodeFloatsInto, encodeF16Into, fromF32, type Dtype, type TensorInfo } from '../io/safetensors.js';
import { describeJson, neoxConfigToHf, readJsonFile, readNeoxConfig, type HfTorchDtype } from './hf-config.js';
import { embeddingName, neoxParameterSpecs, outputProjectionName, type NeoxConfig } from './neox-config.js';

/** Named float32 parameters: what the native engine exposes, and HostParameters implements. */
export interface ParameterStore {
  /** Every parameter's Hugging Face name and shape. */
  parameters(): { name: string; shape: readonly number[] }[];
  /** A writable Float32Array over the parameter's storage (row-major, `shape`). */
  parameter(name: string): Float32Array;
}
export type ParameterSink = ParameterStore;
export type ParameterSource = ParameterStore;

/** Parameters in ordinary Float32Arrays, laid out by neoxParameterSpecs. */
export class HostParameters implements ParameterStore {
  private readonly specs: { name: string; shape: number[] }[];
  private readonly data = new Map<string, Float32Array>();

  constructor(readonly config: NeoxConfig, opts: { valueHead?: boolean } = {}) {
    this.specs = neoxParameterSpecs(config, { valueHead: opts.valueHead ?? false });
    for (const s of this.specs) this.data.set(s.name, new Float32Array(s.shape.reduce((a, b) => a * b, 1)));
  }

  parameters(): { name: string; shape: number[] }[] {
    return this.specs.map((s) => ({ name: s.name, shape: [...s.shape] }));
  }

  has(name: string): boolean {
    return this.data.has(name);
  }

  parameter(name: string): Float32Array {
    const d = this.data.get(name);
    if (!d) throw new RangeError(`Expected a parameter name of this model for name but received "${name}" (${this.specs.length} parameters, e.g. "${this.specs[0].name}")`);
    return d;
  }

  /** Total number of floats. */
  numel(): number {
    let n = 0;
    for (const d of this.data.values()) n += d.length;
    return n;
  }
}

// ---------------------------------------------------------------------------------------------
// Finding the files

export interface CheckpointFiles {
  dir: string;
  /** `single`: model.safetensors; `sharded`: model.safetensors.index.json and its shards. */
  kind: 'single' | 'sharded';
  /** Absolute or dir-relative paths of the safetensors files, in index order. */
  files: string[];
  /** The index file, when sharded. */
  index: string | null;
  /** Tensor name → file path, from the index (sharded only). */
  weightMap: Map<string, string> | null;
}

const SINGLE = 'model.safetensors';
const INDEX = 'model.safetensors.index.json';
const BIN = 'pytorch_model.bin';
const BIN_INDEX = 'pytorch_model.bin.index.json';

function convertHint(dir: string): string {
  const d = JSON.stringify(dir);
  return 'rewardlens reads safetensors only (pickle files can run code when loaded). Convert once with Python:\n'
    + `  from transformers import AutoModelForCausalLM\n`
    + `  AutoModelForCausalLM.from_pretrained(${d}).save_pretrained(${d}, safe_serialization=True)\n`
    + 'or, without transformers (an unsharded pytorch_model.bin with untied embeddings):\n'
    + `  import torch; from safetensors.torch import save_file\n`
    + `  save_file({k: v.contiguous() for k, v in torch.load(${JSON.stringify(join(dir, BIN))}, map_location="cpu").items()}, ${JSON.stringify(join(dir, SINGLE))}, metadata={"format": "pt"})`;
}

/** Read and validate model.safetensors.index.json: {metadata?, weight_map: {tensor: shard file}}. */
function readIndex(dir: string, indexPath: string): { files: string[]; weightMap: Map<string, string> } {
  const json = readJsonFile(indexPath);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new FileFormatError(indexPath, `expected a JSON object with "weight_map" but found ${describeJson(json)}`);
  }
  const wm = (json as Record<string, unknown>).weight_map;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) {
    throw new FileFormatError(indexPath, `field "weight_map": expected an object {tensor name: shard file} but found ${describeJson(wm)}`);
  }
  const meta = (json as Record<string, unknown>).metadata;
  if (meta !== undefined && meta !== null && (typeof meta !== 'object' || Array.isArray(meta))) {
    throw new FileFormatError(indexPath, `field "metadata": expected an object or null but found ${describeJson(meta)}`);
  }
  const weightMap = new Map<string, string>();
  const files: string[] = [];
  for (const [tensor, shard] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard === '' || isAbsolute(shard) || shard.split(/[\\/]/).includes('..')) {
      throw new FileFormatError(indexPath, `field "weight_map.${tensor}": expected a shard file name inside the folder but found ${describeJson(shard)}`);
    }
    const path = join(dir, shard);
    if (!files.includes(path)) files.push(path);
    weightMap.set(tensor, path);
  }
  if (weightMap.size === 0) throw new FileFormatError(indexPath, 'field "weight_map": expected at least one tensor but found an empty object');
  const missing = files.filter((p) => !existsSync(p));
  if (missing.length) {
    throw new FileFormatError(indexPath, `${missing.length} of ${files.length} shard file(s) named in "weight_map" are missing: ${missing.map((p) => basename(p)).join(', ')}`);
  }
  return { files, weightMap };
}

/**
 * The weight files of a Hugging Face model folder: `model.safetensors`, or a sharded
 * `model.safetensors.index.json` with its shards. A folder with only pickle weights
 * (`pytorch_model.bin` or its index) is an error that says how to convert it.
 */
export function resolveCheckpointFiles(dir: string): CheckpointFiles {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new FileFormatError(dir, 'model folder not found');
  }
  if (!st.isDirectory()) throw new FileFormatError(dir, 'expected a model folder but found a file');
  const single = join(dir, SINGLE);
  if (existsSync(single)) return { dir, kind: 'single', files: [single], index: null, weightMap: null };
  const index = join(dir, INDEX);
  if (existsSync(index)) {
    const { files, weightMap } = readIndex(dir, index);
    return { dir, kind: 'sharded', files, index, weightMap };
  }
  for (const name of [BIN, BIN_INDEX]) {
    if (existsSync(join(dir, name))) {
      throw new FileFormatError(dir, `found ${name} but no ${SINGLE} or ${INDEX}. ${convertHint(dir)}`);
    }
  }
  throw new FileFormatError(dir, `no model weights: looked for ${SINGLE}, ${INDEX} (safetensors) and ${BIN}, ${BIN_INDEX}`);
}

// ---------------------------------------------------------------------------------------------
// Loading

export interface LoadOptions {
  /**
   * TRL's value head (`v_head.summary.weight` [1,h], `v_head.summary.bias` [1]), used only when the
   * store lists those parameters. 'if-present' (default): loaded when the checkpoint has them, else the
   * store's values are left as they are; 'required': missing is an error; 'skip': never loaded.
   */
  valueHead?: 'if-present' | 'required' | 'skip';
  /** Tensors no parameter takes and that are not known buffers: 'error' (default), 'warn' or 'ignore'. */
  unknownTensors?: 'error' | 'warn' | 'ignore';
  /** Receives warnings (default: process.emitWarning). */
  onWarning?: (message: string) => void;
  /** Largest scratch buffer for converting F16/BF16/F64 rows (default 8 MiB). */
  chunkBytes?: number;
  /** Called after each parameter is loaded. */
  onProgress?: (done: number, total: number, name: string) => void;
}

export interface LoadReport {
  files: string[];
  /** Parameters written into the store. */
  loaded: string[];
  /** Tensors in the files that no parameter took, with the reason. */
  skipped: { name: string; reason: string }[];
  /** Whether the value head was loaded from the checkpoint. */
  valueHead: boolean;
  /** Count of loaded tensors by stored dtype. */
  dtypes: Partial<Record<Dtype, number>>;
}

const KNOWN_BUFFERS = [
  /\.attention\.bias$/,
  /\.attention\.masked_bias$/,
  /\.rotary_emb\.inv_freq$/,
  /\.rotary_emb\.(cos|sin)_cached$/,
];

const FLOAT_DTYPES: readonly Dtype[] = ['F32', 'F16', 'BF16', 'F64'];
const DEFAULT_CHUNK = 8 << 20;


function readFully(fd: number, file: string, tensor: string, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.byteLength) {
    const n = readSync(fd, buf, done, Math.min(buf.byteLength - done, 1 << 30), position + done);
    if (n <= 0) throw new FileFormatError(file, `tensor "${tensor}": file truncated while reading (got ${done} of ${buf.byteLength} bytes)`);
    done += n;
  }
}

/** Open headers (validated by SafetensorsFile) and raw descriptors of the checkpoint files. */
class OpenCheckpoint {
  readonly headers: SafetensorsFile[] = [];
  private readonly fds = new Map<string, number>();

  constructor(readonly files: CheckpointFiles) {
    try {
      for (const path of files.files) {
        this.headers.push(SafetensorsFile.open(path));
        this.fds.set(path, openSync(path, 'r'));
      }
    } catch (err) {
      this.close();
      throw err;
    }
    if (files.weightMap) {
      for (const [tensor, path] of files.weightMap) {
        if (!this.header(path).has(tensor)) {
          throw new FileFormatError(files.index!, `field "weight_map.${tensor}": names shard ${basename(path)}, which does not hold that tensor`);
        }
      }
    }
  }

  header(path: string): SafetensorsFile {
    return this.headers.find((h) => h.path === path)!;
  }

  fd(path: string): number {
    return this.fds.get(path)!;
  }

  /** Where a tensor is, or null. With an index, the index decides; else the single file. */
  find(name: string): { file: SafetensorsFile; info: TensorInfo } | null {
    if (this.files.weightMap) {
      const path = this.files.weightMap.get(name);
      if (!path) return null;
      const file = this.header(path);
      return { file, info: file.info(name) };
    }
    for (const file of this.headers) if (file.has(name)) return { file, info: file.info(name) };
    return null;
  }

  allTensors(): { name: string; file: string }[] {
    const out: { name: string; file: string }[] = [];
    for (const h of this.headers) for (const name of h.names()) out.push({ name, file: h.path });
    return out;
  }

  searched(): string {
    return this.files.index
      ? `${this.files.index} (weight_map) and its ${this.files.files.length} shard(s)`
      : this.files.files.join(', ');
  }

  close(): void {
    for (const h of this.headers) h.close();
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

const fmtShape = (s: readonly number[]) => `[${s.join(',')}]`;

/**
 * Load the GPT-NeoX weights of a Hugging Face folder into `sink`, decoding each tensor directly into
 * the sink's view. Every sink parameter must be a parameter of `cfg` (neoxParameterSpecs) with the
 * same shape. Throws FileFormatError naming the file and tensor for a missing tensor (listing the
 * files searched), a shape mismatch (both shapes), a non-float dtype, and a truncated file.
 */
export function loadNeoxWeights(dir: string, cfg: NeoxConfig, sink: ParameterSink, opts: LoadOptions = {}): LoadReport {
  const valueHeadMode = opts.valueHead ?? 'if-present';
  const unknownMode = opts.unknownTensors ?? 'error';
  const warn = opts.onWarning ?? ((m: string) => process.emitWarning(m, 'RewardlensCheckpointWarning'));
  const chunkBytes = Math.max(opts.chunkBytes ?? DEFAULT_CHUNK, 8);

  const expected = new Map(neoxParameterSpecs(cfg, { valueHead: true }).map((s) => [s.name, s.shape]));
  const params = sink.parameters();
  for (const p of params) {
    const shape = expected.get(p.name);
    if (!shape) throw new RangeError(`Expected a ${cfg.modelType} parameter name (neoxParameterSpecs) for sink parameter but received "${p.name}"`);
    if (!sameShape(shape, p.shape)) {
      throw new RangeError(`Expected shape ${fmtShape(shape)} (from the config) for sink parameter ${p.name} but received ${fmtShape(p.shape)}`);
    }
  }

  const files = resolveCheckpointFiles(dir);
  const ckpt = new OpenCheckpoint(files);
  const report: LoadReport = { files: files.files, loaded: [], skipped: [], valueHead: false, dtypes: {} };
  let scratch: Uint8Array | null = null;
  try {
    // Check everything we can before writing anything, so a bad checkpoint leaves the sink untouched.
    const plan: { name: string; file: SafetensorsFile; info: TensorInfo }[] = [];
    const missing: string[] = [];
    for (const p of params) {
      const isValueHead = p.name.startsWith('v_head.');
      if (isValueHead && valueHeadMode === 'skip') continue;
      const at = ckpt.find(p.name);
      if (!at) {
        if (isValueHead && valueHeadMode === 'if-present') continue;
        missing.push(p.name);
        continue;
      }
      const { file, info } = at;
      if (!sameShape(info.shape, p.shape)) {
        throw new FileFormatError(file.path, `tensor "${p.name}": expected shape ${fmtShape(p.shape)} but found ${fmtShape(info.shape)}`);
      }
      if (!FLOAT_DTYPES.includes(info.dtype)) {
        throw new FileFormatError(file.path, `tensor "${p.name}": expected dtype F32, F16, BF16 or F64 but found ${info.dtype}`);
      }
      plan.push({ name: p.name, file, info });
    }
    if (missing.length) {
      const list = missing.length > 5 ? `${missing.slice(0, 5).map((m) => `"${m}"`).join(', ')} and ${missing.length - 5} more` : missing.map((m) => `"${m}"`).join(', ');
      throw new FileFormatError(files.index ?? files.files[0], `tensor ${list} missing (searched ${ckpt.searched()})`);
    }
    const taken = new Set(plan.map((p) => p.name));
    const sinkNames = new Set(params.map((p) => p.name));
    const unknown: string[] = [];
    for (const { name } of ckpt.allTensors()) {
      if (taken.has(name)) continue;
      let reason: string | null = null;
      if (KNOWN_BUFFERS.some((re) => re.test(name))) reason = 'buffer';
      else if (name === outputProjectionName(cfg) && cfg.tieWordEmbeddings) reason = `tied to ${embeddingName(cfg)}`;
      else if (name.startsWith('v_head.')) reason = sinkNames.has(name) ? 'value head not requested' : 'value head (not in the sink)';
      else if (expected.has(name) && !sinkNames.has(name)) reason = 'not in the sink';
      if (reason) report.skipped.push({ name, reason });
      else unknown.push(name);
    }
    if (unknown.length) {
      const msg = `${unknown.length} tensor(s) that are not ${cfg.modelType} parameters or known buffers: ${unknown.slice(0, 8).map((n) => `"${n}"`).join(', ')}${unknown.length > 8 ? ', ...' : ''}`;
      if (unknownMode === 'error') {
        throw new FileFormatError(files.index ?? files.files[0], `${msg} (is this a ${cfg.modelType} causal LM checkpoint? pass unknownTensors: 'warn' to load anyway)`);
      }
      if (unknownMode === 'warn') warn(`${files.index ?? files.files[0]}: skipped ${msg}`);
      for (const name of unknown) report.skipped.push({ name, reason: 'unknown' });
    }

    for (let k = 0; k < plan.length; k++) {
      const { name, file, info } = plan[k];
      const view = sink.parameter(name);
      const numel = info.shape.reduce((a, b) => a * b, 1);
      if (!(view instanceof Float32Array) || view.length !== numel) {
        throw new RangeError(`Expected a Float32Array of length ${numel} from sink.parameter("${name}") but received ${view instanceof Float32Array ? `length ${view.length}` : typeof view}`);
      }
      const fd = ckpt.fd(file.path);
      if (info.dtype === 'F32') {
        readFully(fd, file.path, name, new Uint8Array(view.buffer, view.byteOffset, view.byteLength), info.offset);
      } else {
        const esize = DTYPE_BYTES[info.dtype];
        const perChunk = Math.max(1, Math.floor(chunkBytes / esize));
        const need = Math.min(perChunk, numel) * esize;
        if (!scratch || scratch.byteLength < need) scratch = new Uint8Array(need);
        // Chunks are element ranges (whole rows when a row fits, else parts of a row).
        for (let start = 0; start < numel; start += perChunk) {
          const count = Math.min(perChunk, numel - start);
          const bytes = scratch.subarray(0, count * esize);
          readFully(fd, file.path, name, bytes, info.offset + start * esize);
          decodeFloatsInto(info.dtype, bytes, view.subarray(start, start + count));
        }
      }
      report.loaded.push(name);
      report.dtypes[info.dtype] = (report.dtypes[info.dtype] ?? 0) + 1;
      if (name.startsWith('v_head.')) report.valueHead = true;
      opts.onProgress?.(k + 1, plan.length, name);
    }
  } finally {
    ckpt.close();
  }
  return report;
}

/**
 * Read a folder's config.json and weights into new HostParameters (with a value head when
 * `withValueHead`; its values stay 0 when the checkpoint has none, unless valueHead is 'required').
 */
export function loadHostParameters(dir: string, opts: LoadOptions & { withValueHead?: boolean } = {}): { config: NeoxConfig; params: HostParameters; report: LoadReport } {
  const config = readNeoxConfig(dir);
  const params = new HostParameters(config, { valueHead: opts.withValueHead ?? false });
  const report = loadNeoxWeights(dir, config, params, opts);
  return { config, params, report };
}

// ---------------------------------------------------------------------------------------------
// Saving

export interface SaveOptions {
  /** Stored dtype of the weights (default F32). */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** Also write TRL's value head (`v_head.summary.*`); the source must have it. */
  includeValueHead?: boolean;
  /** Extra safetensors metadata (`format: "pt"` is always written, as transformers does). */
  metadata?: Record<string, string>;
  /** Other files to put in the folder (e.g. tokenizer.json), name → contents. */
  extraFiles?: Record<string, string | Uint8Array>;
}

const TORCH_DTYPE: Record<'F32' | 'F16' | 'BF16', HfTorchDtype> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };
/** The smallest magnitude that rounds to infinity in F16. */
const F16_OVERFLOW = 65520;

/**
 * Write `dir` as a Hugging Face folder: config.json (neoxConfigToHf) and model.safetensors with every
 * parameter of `cfg` taken from `source` (and the value head with includeValueHead). The folder is
 * built under a temporary name and renamed into place: an existing folder at `dir` is replaced whole,
 * and a failure leaves it untouched. The safetensors file is streamed tensor by tensor.
 * F16 refuses finite values that would round to infinity (|x| >= 65520) rather than writing them.
 */
export async function saveNeoxCheckpoint(dir: string, cfg: NeoxConfig, source: ParameterSource, opts: SaveOptions = {}): Promise<void> {
  const dtype = opts.dtype ?? 'F32';
  if (!['F32', 'F16', 'BF16'].includes(dtype)) throw new TypeError(`Expected one of "F32", "F16", "BF16" for dtype but received ${JSON.stringify(dtype)}`);
  const specs = neoxParameterSpecs(cfg, { valueHead: opts.includeValueHead ?? false });
  const have = new Map(source.parameters().map((p) => [p.name, p.shape]));
  for (const s of specs) {
    const shape = have.get(s.name);
    if (!shape) throw new RangeError(`Expected parameter ${s.name} in the source but received a source without it${s.name.startsWith('v_head.') ? ' (includeValueHead needs a value head)' : ''}`);
    if (!sameShape(shape, s.shape)) throw new RangeError(`Expected shape ${fmtShape(s.shape)} for source parameter ${s.name} but received ${fmtShape(shape)}`);
    const n = s.shape.reduce((a, b) => a * b, 1);
    const v = source.parameter(s.name);
    if (!(v instanceof Float32Array) || v.length !== n) throw new RangeError(`Expected a Float32Array of length ${n} for source parameter ${s.name} but received ${v instanceof Float32Array ? `length ${v.length}` : typeof v}`);
    if (dtype === 'F16') {
      for (let i = 0; i < n; i++) {
        if (Math.abs(v[i]) >= F16_OVERFLOW && Number.isFinite(v[i])) {
          throw new RangeError(`Expected values that F16 holds (magnitude below ${F16_OVERFLOW}; its largest is 65504) for ${s.name} but received ${v[i]} at index ${i}; save as BF16 or F32`);
        }
      }
    }
  }
  await writeDirAtomic(dir, (tmp) => {
    writeFileAtomic(join(tmp, 'config.json'), JSON.stringify(neoxConfigToHf(cfg, { dtype: TORCH_DTYPE[dtype] }), null, 2) + '\n');
    writeStreamed(join(tmp, SINGLE), specs, source, dtype, { ...(opts.metadata ?? {}), format: 'pt' });
    for (const [name, contents] of Object.entries(opts.extraFiles ?? {})) {
      if (name === '' || name.includes('/') || name.includes('\\') || name === '..' || name === '.' || name === 'config.json' || name === SINGLE) {
        throw new RangeError(`Expected a plain file name other than config.json and ${SINGLE} for extraFiles key but received "${name}"`);
      }
      writeFileAtomic(join(tmp, name), contents);
    }
  });
}

/** Write a safetensors file tensor by tensor (same layout as encodeSafetensors: 8-byte aligned data). */
function writeStreamed(path: string, specs: { name: string; shape: number[] }[], source: ParameterSource, dtype: 'F32' | 'F16' | 'BF16', metadata: Record<string, string>): void {
  const esize = DTYPE_BYTES[dtype];
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const s of specs) {
    const bytes = s.shape.reduce((a, b) => a * b, 1) * esize;
    header[s.name] = { dtype, shape: s.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(headerBytes.length));
  const fd = openSync(path, 'w');
  try {
    writeAll(fd, lenBuf);
    writeAll(fd, headerBytes);
    const CHUNK = 1 << 20; // elements per conversion chunk
    for (const s of specs) {
      const v = source.parameter(s.name);
      if (dtype === 'F32') {
        writeAll(fd, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      } else {
        const out = new Uint16Array(Math.min(CHUNK, v.length));
        for (let start = 0; start < v.length; start += CHUNK) {
          const part = v.subarray(start, Math.min(v.length, start + CHUNK));
          const bits = dtype === 'F16' ? encodeF16Into(part, out) : fromF32(dtype, part);
          writeAll(fd, new Uint8Array(bits.buffer, bits.byteOffset, 2 * part.length));
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}


function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.byteLength) done += writeSync(fd, data, done, Math.min(data.byteLength - done, 1 << 30));
}
