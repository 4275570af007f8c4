// The activation store: a model's activations at one hook point of one layer, over the reviews of a
// split (the first `maxTokens` tokens of each), streamed to disk as sharded safetensors.
//
// Layout (one folder per hook and layer, `<out>/<hook>.<layer>/`):
//   manifest.json        {"format":"rewardlens-activations","version":1,"model","hook","layer","d",
//                         "dtype","split","maxTokens","records","rows","shards":[{"file","rows",
//                         "recordStart","recordEnd"}],"complete"} (+ "dataset", "limit": what was read)
//   shard-00000.safetensors …   `activations` [rows,d] F16|F32, `token_ids` [rows] I32,
//                         `record` [rows] I32 (review index in the split, corpus order),
//                         `position` [rows] I32 (token position in the review, from 0)
// Padding never enters the store. A shard holds whole records (at most `shardRows` rows) and is
// written as soon as it fills, then the manifest is rewritten (both atomically): memory stays bounded
// whatever the corpus size, and an interrupted run resumes after the last shard every layer has.
// Reviews are run in fixed groups of `batchSize` consecutive records (group g = records
// [g·batchSize, (g+1)·batchSize)), so a resumed run feeds the engine exactly the batches an
// uninterrupted run would, and writes the same bytes.
//
// The paper's hook point is the MLP output before the residual add (`mlp_out`, the default).
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FileFormatError, invalidRange, invalidType } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { SafetensorsFile, encodeF16Into, writeSafetensors, type TensorToWrite } from '../io/safetensors.js';
import { openReviews, type ReviewSplit, REVIEW_SPLITS } from '../data/dataset.js';
import { DEFAULT_MODEL_DIR, ensureDefaultCorpus } from '../data/defaults.js';
import { batchFromIds } from '../data/prompts.js';
import { loadModel, type LoadedModel } from '../model/load.js';
import { hookShape } from '../model/neox-engine.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { checkInt, checkOneOf } from '../validate.js';

export const HOOK_KINDS = ['mlp_out', 'mlp_post', 'attn_out', 'resid'] as const;
export type HookKind = (typeof HOOK_KINDS)[number];
export const STORE_FORMAT = 'rewardlens-activations';
export const STORE_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';

/** Every default of collectActivations, written once. */
export const ACTIVATION_DEFAULTS = Object.freeze({
  /** The paper's hook point: the MLP block's output, before the residual add. */
  hook: 'mlp_out' as HookKind,
  /** The paper collects activations on the test split. */
  split: 'test' as ReviewSplit,
  /** The first 50 tokens of each review (method notes). */
  maxTokens: 50,
  /** Stored precision (F16 halves the disk; readers widen to F32). */
  dtype: 'F16' as 'F16' | 'F32',
  /** Reviews per forward pass. */
  batchSize: 32,
  /** Largest shard, in rows (vectors); a shard holds whole records. */
  shardRows: 65536,
});

export interface ShardEntry {
  file: string;
  rows: number;
  /** First record in the shard. */
  recordStart: number;
  /** One past the last record the shard covers (records up to it are all done). */
  recordEnd: number;
}

export interface ActivationManifest {
  format: typeof STORE_FORMAT;
  version: 1;
  model: string;
  hook: HookKind;
  layer: number;
  d: number;
  dtype: 'F16' | 'F32';
  split: ReviewSplit;
  maxTokens: number;
  /** Reviews read (stored or, when they have no tokens, left without rows). */
  records: number;
  rows: number;
  shards: ShardEntry[];
  complete: boolean;
  /** The review source read ("default" for the shipped synthetic corpus). */
  dataset?: string;
  /** The review limit of the run (null: every review of the split). */
  limit?: number | null;
}

export interface CollectActivationsOptions {
  /** A model folder or hub id (default: the shipped default model). */
  model?: string;
  /** Layers (blocks, from 0) to collect. */
  layers: number[];
  hook?: HookKind;
  /** A review source for openReviews (default: the shipped synthetic corpus). */
  dataset?: string;
  split?: ReviewSplit;
  maxTokens?: number;
  /** Only the first `limit` reviews of the split. */
  limit?: number;
  dtype?: 'F16' | 'F32';
  batchSize?: number;
  shardRows?: number;
  /** Output root: one store per layer at `<out>/<hook>.<layer>/`. */
  out: string;
  /** An already loaded model (its engine and tokenizer are used; `model` is only recorded). */
  loaded?: LoadedModel;
  /** Stop after the current batch; what was flushed stays, and a rerun resumes. */
  signal?: AbortSignal;
  onProgress?: (p: { records: number; rows: number; shards: number }) => void;
  /** Called after each shard (of every layer) is on disk. */
  onShard?: (s: { index: number; rows: number; recordStart: number; recordEnd: number }) => void;
}

export interface ActivationStoreSummary {
  stores: { layer: number; dir: string; rows: number; records: number; shards: number; d: number }[];
  hook: HookKind;
  records: number;
  rows: number;
  /** Records skipped because an earlier run had stored them. */
  resumedFrom: number;
  /** False when stopped by the signal. */
  complete: boolean;
  seconds: number;
}

export function storeDirName(hook: string, layer: number): string {
  return `${hook}.${layer}`;
}

function shardName(i: number): string {
  return `shard-${String(i).padStart(5, '0')}.safetensors`;
}

/** Read and check a manifest.json; errors name the file and the field. */
export function readManifest(dir: string): ActivationManifest {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) throw new FileFormatError(path, 'file not found (expected an activation store folder with manifest.json)');
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new FileFormatError(path, `not valid JSON (${(err as Error).message})`);
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new FileFormatError(path, 'expected a JSON object');
  const field = (k: string, ok: (v: unknown) => boolean, what: string) => {
    if (!ok(m[k])) throw new FileFormatError(path, `field "${k}": expected ${what} but found ${JSON.stringify(m[k])}`);
  };
  const int = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
  field('format', (v) => v === STORE_FORMAT, `"${STORE_FORMAT}"`);
  field('version', (v) => v === STORE_VERSION, String(STORE_VERSION));
  field('model', (v) => typeof v === 'string', 'a string');
  field('hook', (v) => (HOOK_KINDS as readonly unknown[]).includes(v), HOOK_KINDS.map((h) => `"${h}"`).join(' or '));
  field('layer', int, 'a non-negative integer');
  field('d', (v) => int(v) && (v as number) > 0, 'a positive integer');
  field('dtype', (v) => v === 'F16' || v === 'F32', '"F16" or "F32"');
  field('split', (v) => (REVIEW_SPLITS as readonly unknown[]).includes(v), REVIEW_SPLITS.map((s) => `"${s}"`).join(' or '));
  field('maxTokens', (v) => int(v) && (v as number) > 0, 'a positive integer');
  field('records', int, 'a non-negative integer');
  field('rows', int, 'a non-negative integer');
  field('complete', (v) => typeof v === 'boolean', 'a boolean');
  field('shards', Array.isArray, 'an array');
  let rows = 0;
  let prevEnd = 0;
  (m.shards as unknown[]).forEach((s, i) => {
    const e = s as Record<string, unknown>;
    const bad = (k: string, what: string) => new FileFormatError(path, `field "shards[${i}].${k}": expected ${what} but found ${JSON.stringify(e?.[k])}`);
    if (typeof e !== 'object' || e === null) throw new FileFormatError(path, `field "shards[${i}]": expected an object`);
    if (typeof e.file !== 'string' || !/^shard-\d{5,}\.safetensors$/.test(e.file)) throw bad('file', 'a shard file name shard-NNNNN.safetensors');
    if (!int(e.rows) || (e.rows as number) < 1) throw bad('rows', 'a positive integer');
    if (!int(e.recordStart) || (e.recordStart as number) < prevEnd) throw bad('recordStart', `an integer >= ${prevEnd} (the previous shard's recordEnd)`);
    if (!int(e.recordEnd) || (e.recordEnd as number) <= (e.recordStart as number)) throw bad('recordEnd', `an integer > recordStart (${e.recordStart})`);
    prevEnd = e.recordEnd as number;
    rows += e.rows as number;
  });
  if (rows !== m.rows) throw new FileFormatError(path, `field "rows": expected ${rows} (the sum of the shards' rows) but found ${m.rows}`);
  return m as unknown as ActivationManifest;
}

export interface StoreShard {
  index: number;
  file: string;
  rows: number;
  d: number;
  recordStart: number;
  recordEnd: number;
  /** [rows, d], widened to F32. */
  activations: Float32Array;
  tokenIds: Int32Array;
  record: Int32Array;
  position: Int32Array;
}

function readI32(f: SafetensorsFile, name: string, rows: number): Int32Array {
  const info = f.info(name);
  if (info.dtype !== 'I32' || info.shape.length !== 1 || info.shape[0] !== rows) {
    throw new FileFormatError(f.path, `tensor "${name}": expected I32 of shape [${rows}] but found ${info.dtype} [${info.shape.join(',')}]`);
  }
  const bytes = f.readBytes(name);
  return new Int32Array(bytes.buffer, bytes.byteOffset, rows);
}

/** One shard, checked against its manifest entry. */
export function readShard(dir: string, m: ActivationManifest, index: number): StoreShard {
  const entry = m.shards[index];
  const path = join(dir, entry.file);
  const f = SafetensorsFile.open(path);
  try {
    const info = f.info('activations');
    if (info.dtype !== m.dtype || info.shape.length !== 2 || info.shape[0] !== entry.rows || info.shape[1] !== m.d) {
      throw new FileFormatError(path, `tensor "activations": expected ${m.dtype} of shape [${entry.rows},${m.d}] (manifest.json) but found ${info.dtype} [${info.shape.join(',')}]`);
    }
    const activations = f.readF32('activations');
    for (let i = 0; i < activations.length; i++) {
      if (!Number.isFinite(activations[i])) {
        throw new FileFormatError(path, `tensor "activations": non-finite value ${activations[i]} at row ${Math.floor(i / m.d)}, column ${i % m.d}`);
      }
    }
    const tokenIds = readI32(f, 'token_ids', entry.rows);
    const record = readI32(f, 'record', entry.rows);
    const position = readI32(f, 'position', entry.rows);
    for (let r = 0; r < entry.rows; r++) {
      if (record[r] < entry.recordStart || record[r] >= entry.recordEnd || (r > 0 && record[r] < record[r - 1])) {
        throw new FileFormatError(path, `tensor "record": expected non-decreasing record indices in [${entry.recordStart}, ${entry.recordEnd}) but found ${record[r]} at row ${r}`);
      }
      if (position[r] < 0 || position[r] >= m.maxTokens) {
        throw new FileFormatError(path, `tensor "position": expected positions in [0, ${m.maxTokens}) but found ${position[r]} at row ${r}`);
      }
    }
    return { index, file: path, rows: entry.rows, d: m.d, recordStart: entry.recordStart, recordEnd: entry.recordEnd, activations, tokenIds, record, position };
  } finally {
    f.close();
  }
}

function checkStoreDir(dir: string, opts: { allowIncomplete?: boolean }): ActivationManifest {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new FileFormatError(dir, 'not a folder (expected an activation store with manifest.json)');
  const m = readManifest(dir);
  if (!m.complete && !opts.allowIncomplete) {
    throw new FileFormatError(join(dir, MANIFEST_FILE), `field "complete": expected true but found false (the collection was interrupted after ${m.records} records; rerun \`rewardlens activations\` with the same --out to resume)`);
  }
  if (m.shards.length === 0) throw new FileFormatError(join(dir, MANIFEST_FILE), 'field "shards": expected at least one shard but found none (the store holds no activations)');
  return m;
}

/** The shards of a store one at a time (memory: one shard). */
export function* iterateShards(dir: string, opts: { allowIncomplete?: boolean } = {}): Generator<StoreShard> {
  const m = checkStoreDir(dir, opts);
  for (let i = 0; i < m.shards.length; i++) yield readShard(dir, m, i);
}

export interface ActivationStore {
  manifest: ActivationManifest;
  /** [rows, d] F32. */
  data: Float32Array;
  rows: number;
  d: number;
  tokenIds: Int32Array;
  record: Int32Array;
  position: Int32Array;
}

/** A whole store in memory: every shard concatenated (F16 widened to F32). */
export function readActivationStore(dir: string, opts: { allowIncomplete?: boolean } = {}): ActivationStore {
  const m = checkStoreDir(dir, opts);
  const data = new Float32Array(m.rows * m.d);
  const tokenIds = new Int32Array(m.rows);
  const record = new Int32Array(m.rows);
  const position = new Int32Array(m.rows);
  let at = 0;
  for (let i = 0; i < m.shards.length; i++) {
    const s = readShard(dir, m, i);
    data.set(s.activations, at * m.d);
    tokenIds.set(s.tokenIds, at);
    record.set(s.record, at);
    position.set(s.position, at);
    at += s.rows;
  }
  return { manifest: m, data, rows: m.rows, d: m.d, tokenIds, record, position };
}

export function isActivationStore(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory() && existsSync(join(path, MANIFEST_FILE));
}

// ---------------------------------------------------------------------------------------------
// Collecting

/** One layer's shard being filled. */
class ShardBuffer {
  readonly f32: Float32Array | null;
  readonly f16: Uint16Array | null;
  rows = 0;
  constructor(readonly d: number, readonly capacity: number, dtype: 'F16' | 'F32') {
    this.f32 = dtype === 'F32' ? new Float32Array(capacity * d) : null;
    this.f16 = dtype === 'F16' ? new Uint16Array(capacity * d) : null;
  }
  /** Append `count` consecutive rows of `src` starting at row `from`. */
  append(src: Float32Array, from: number, count: number): void {
    const d = this.d;
    const part = src.subarray(from * d, (from + count) * d);
    if (this.f32) this.f32.set(part, this.rows * d);
    else encodeF16Into(part, this.f16!.subarray(this.rows * d, (this.rows + count) * d));
    this.rows += count;
  }
  tensor(): TensorToWrite {
    const n = this.rows * this.d;
    return this.f32
      ? { dtype: 'F32', shape: [this.rows, this.d], data: this.f32.subarray(0, n) }
      : { dtype: 'F16', shape: [this.rows, this.d], data: this.f16!.subarray(0, n) };
  }
}

interface ResolvedCollect {
  model: string;
  layers: number[];
  hook: HookKind;
  dataset: string;
  split: ReviewSplit;
  maxTokens: number;
  limit: number | null;
  dtype: 'F16' | 'F32';
  batchSize: number;
  shardRows: number;
  out: string;
}

function resolveCollect(o: CollectActivationsOptions): ResolvedCollect {
  if (o === null || typeof o !== 'object') throw invalidType('CollectActivationsOptions object', 'options', o);
  const D = ACTIVATION_DEFAULTS;
  if (!Array.isArray(o.layers) || o.layers.length === 0) throw invalidType('a non-empty array of layer indices', 'layers', o.layers);
  const layers = o.layers.map((l, i) => checkInt(l, `layers[${i}]`, 0));
  if (new Set(layers).size !== layers.length) throw invalidRange('distinct layers', 'layers', `[${layers.join(',')}]`);
  if (typeof o.out !== 'string' || o.out === '') throw invalidType('an output folder', 'out', o.out);
  const maxTokens = checkInt(o.maxTokens ?? D.maxTokens, 'maxTokens', 1);
  const shardRows = checkInt(o.shardRows ?? D.shardRows, 'shardRows', maxTokens);
  return {
    model: o.model ?? DEFAULT_MODEL_DIR,
    layers,
    hook: checkOneOf(o.hook ?? D.hook, 'hook', HOOK_KINDS),
    dataset: o.dataset ?? 'default',
    split: checkOneOf(o.split ?? D.split, 'split', REVIEW_SPLITS),
    maxTokens,
    limit: o.limit === undefined ? null : checkInt(o.limit, 'limit', 1),
    dtype: checkOneOf(o.dtype ?? D.dtype, 'dtype', ['F16', 'F32'] as const),
    batchSize: checkInt(o.batchSize ?? D.batchSize, 'batchSize', 1),
    shardRows,
    out: o.out,
  };
}

/** What must match for a rerun to resume into an existing store. */
function sameRun(m: ActivationManifest, want: ActivationManifest): string | null {
  for (const k of ['model', 'hook', 'layer', 'd', 'dtype', 'split', 'maxTokens', 'dataset', 'limit'] as const) {
    if ((m[k] ?? null) !== (want[k] ?? null)) return `${k} ${JSON.stringify(m[k])} (this run: ${JSON.stringify(want[k])})`;
  }
  return null;
}

/**
 * Run the model over the split's reviews and stream the hook's activations of each layer into a
 * store at `<out>/<hook>.<layer>/`. Resumes an interrupted store; a complete one with the same
 * settings is left as it is.
 */
export async function collectActivations(opts: CollectActivationsOptions): Promise<ActivationStoreSummary> {
  const started = Date.now();
  const o = resolveCollect(opts);
  const loaded = opts.loaded ?? (await loadModel(o.model));
  const ownEngine = opts.loaded === undefined;
  try {
    if (!loaded.tokenizer) throw new FileFormatError(loaded.dir, 'no tokenizer.json: activation collection needs the model\'s tokenizer');
    const tokenizer = loaded.tokenizer;
    const engine = loaded.engine;
    const hooks = o.layers.map((l) => `${o.hook}.${l}`);
    const d = hookShape(hooks[0], engine.config, 1, 1)[2];
    for (const h of hooks) hookShape(h, engine.config, 1, 1); // a layer past the model is an error naming it
    const dirs = o.layers.map((l) => join(o.out, storeDirName(o.hook, l)));
    const fresh = (layer: number): ActivationManifest => ({
      format: STORE_FORMAT, version: STORE_VERSION, model: o.model, hook: o.hook, layer, d, dtype: o.dtype,
      split: o.split, maxTokens: o.maxTokens, records: 0, rows: 0, shards: [], complete: false, dataset: o.dataset, limit: o.limit,
    });

    // Resume: every layer continues from the last shard all of them have.
    const manifests = o.layers.map((layer, i) => {
      const want = fresh(layer);
      if (!existsSync(join(dirs[i], MANIFEST_FILE))) return want;
      const m = readManifest(dirs[i]);
      const diff = sameRun(m, want);
      if (diff) throw new FileFormatError(join(dirs[i], MANIFEST_FILE), `holds a store of another run: ${diff}; choose another --out or delete the folder`);
      return m;
    });
    const doneUpTo = (m: ActivationManifest) => (m.complete ? Infinity : m.shards.length ? m.shards[m.shards.length - 1].recordEnd : 0);
    const resumeAt = Math.min(...manifests.map(doneUpTo));
    if (resumeAt === Infinity) {
      return summary(o, dirs, manifests, 0, true, started);
    }
    manifests.forEach((m, i) => {
      const keep = m.shards.filter((s) => s.recordEnd <= resumeAt);
      for (const s of m.shards.slice(keep.length)) rmSync(join(dirs[i], s.file), { force: true });
      m.shards = keep;
      m.rows = keep.reduce((a, s) => a + s.rows, 0);
      m.records = resumeAt;
      m.complete = false;
      mkdirSync(dirs[i], { recursive: true });
      writeJsonAtomic(join(dirs[i], MANIFEST_FILE), m);
    });

    const source = await openReviews(o.dataset === 'default' ? await ensureDefaultCorpus() : o.dataset, o.split);
    const buffers = o.layers.map(() => new ShardBuffer(d, o.shardRows, o.dtype));
    const tokenIds = new Int32Array(o.shardRows);
    const recordIdx = new Int32Array(o.shardRows);
    const positions = new Int32Array(o.shardRows);
    let shardStart = resumeAt; // first record of the shard being filled
    let totalRows = manifests[0].rows;
    let shardCount = manifests[0].shards.length;

    const flush = (recordEnd: number) => {
      const rows = buffers[0].rows;
      if (rows === 0) return;
      const name = shardName(shardCount);
      const entry: ShardEntry = { file: name, rows, recordStart: shardStart, recordEnd };
      buffers.forEach((b, i) => {
        writeSafetensors(join(dirs[i], name), {
          activations: b.tensor(),
          token_ids: { dtype: 'I32', shape: [rows], data: tokenIds.subarray(0, rows) },
          record: { dtype: 'I32', shape: [rows], data: recordIdx.subarray(0, rows) },
          position: { dtype: 'I32', shape: [rows], data: positions.subarray(0, rows) },
        }, { format: STORE_FORMAT, hook: o.hook, layer: String(o.layers[i]) });
        const m = manifests[i];
        m.shards.push(entry);
        m.rows += rows;
        m.records = recordEnd;
        writeJsonAtomic(join(dirs[i], MANIFEST_FILE), m);
        b.rows = 0;
      });
      opts.onShard?.({ index: shardCount, rows, recordStart: shardStart, recordEnd });
      shardCount++;
      totalRows += rows;
      shardStart = recordEnd;
    };

    const hookBuffers: Record<string, Float32Array> = {};
    const runGroup = async (group: { record: number; ids: number[] }[]) => {
      const rows = group.filter((g) => g.ids.length > 0);
      if (rows.length > 0) {
        const batch = batchFromIds(rows.map((g) => g.ids), tokenizer.padTokenId ?? 0, { padding: 'right' });
        const { B, T } = batch;
        for (const h of hooks) {
          if (!hookBuffers[h] || hookBuffers[h].length < B * T * d) hookBuffers[h] = new Float32Array(B * T * d);
        }
        const req: Record<string, Float32Array> = {};
        for (const h of hooks) req[h] = hookBuffers[h].subarray(0, B * T * d);
        await engine.forward(batch, { hooks: req });
        rows.forEach((g, b) => {
          if (g.record < resumeAt) return; // computed only to keep the batch as an uninterrupted run has it
          const n = g.ids.length;
          if (buffers[0].rows + n > o.shardRows) flush(g.record);
          const at = buffers[0].rows;
          for (let t = 0; t < n; t++) {
            tokenIds[at + t] = g.ids[t];
            recordIdx[at + t] = g.record;
            positions[at + t] = t;
          }
          hooks.forEach((h, i) => buffers[i].append(req[h], b * T, n));
        });
      }
      const last = group[group.length - 1].record + 1;
      if (last > resumeAt) {
        manifests.forEach((m) => (m.records = Math.max(m.records, last)));
      }
      opts.onProgress?.({ records: Math.max(last, resumeAt), rows: totalRows + buffers[0].rows, shards: shardCount });
    };

    const firstGroup = Math.floor(resumeAt / o.batchSize) * o.batchSize;
    let group: { record: number; ids: number[] }[] = [];
    let index = 0;
    let stopped = false;
    for await (const review of source) {
      if (o.limit !== null && index >= o.limit) break;
      if (index >= firstGroup) {
        group.push({ record: index, ids: encodeFirst(tokenizer, review.text, o.maxTokens) });
        if (group.length === o.batchSize) {
          await runGroup(group);
          group = [];
          if (opts.signal?.aborted) {
            stopped = true;
            break;
          }
        }
      }
      index++;
    }
    if (!stopped && group.length) await runGroup(group);
    if (stopped) {
      return summary(o, dirs, manifests, resumeAt, false, started);
    }
    if (index === 0) {
      throw new FileFormatError(o.dataset === 'default' ? 'the default corpus' : o.dataset, `no reviews in the ${o.split} split: nothing to collect`);
    }
    if (index < resumeAt) {
      throw new FileFormatError(join(dirs[0], MANIFEST_FILE), `field "records": the store says ${resumeAt} records are done but the ${o.split} split has only ${index}: the dataset changed; delete the store`);
    }
    flush(index);
    if (totalRows === 0) {
      throw new FileFormatError(o.dataset === 'default' ? 'the default corpus' : o.dataset, `the ${index} reviews of the ${o.split} split have no tokens: nothing to collect`);
    }
    manifests.forEach((m, i) => {
      m.records = index;
      m.complete = true;
      writeJsonAtomic(join(dirs[i], MANIFEST_FILE), m);
    });
    return summary(o, dirs, manifests, resumeAt, true, started);
  } finally {
    if (ownEngine) loaded.engine.dispose();
  }
}

function encodeFirst(tokenizer: Tokenizer, text: string, n: number): number[] {
  return tokenizer.encode(text, { addSpecialTokens: false }).slice(0, n);
}

function summary(o: ResolvedCollect, dirs: string[], ms: ActivationManifest[], resumedFrom: number, complete: boolean, started: number): ActivationStoreSummary {
  return {
    stores: ms.map((m, i) => ({ layer: o.layers[i], dir: dirs[i], rows: m.rows, records: m.records, shards: m.shards.length, d: m.d })),
    hook: o.hook,
    records: ms[0].records,
    rows: ms[0].rows,
    resumedFrom,
    complete,
    seconds: (Date.now() - started) / 1000,
  };
}
