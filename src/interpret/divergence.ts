// Parameter divergence per layer between a base and a tuned checkpoint (the paper's Section 5.1 and
// its code): for each block i, the sum over its weight and bias tensors of the Frobenius norm
// ‖θ_base − θ_tuned‖_F; embeddings, the final layer norm, the LM head and a value head belong to no
// block and are left out. Sorted descending, the top n are the layers to interpret.
//
// Checkpoints are read straight from their safetensors files (single or sharded), tensor by tensor
// and in chunks of rows, with the differences summed in float64: memory stays at one chunk whatever
// the model size, and no engine is built. Block tensors are found by their layer index in the name:
// GPT-NeoX `gpt_neox.layers.<i>.…`, GPT-Neo `transformer.h.<i>.…` (and the same under any prefix).
// Buffers that transformers saves inside blocks (attention masks, rotary tables) are not parameters
// and are skipped.
import { FileFormatError, invalidRange } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { SafetensorsFile, type TensorInfo } from '../io/safetensors.js';
import { resolveCheckpointFiles } from '../model/hf-checkpoint.js';
import { resolveModel, type ResolveModelOptions } from '../model/hub.js';
import { barChartSvg, writeChart } from '../report/chart.js';
import { checkInt } from '../validate.js';

export const DIVERGENCE_DEFAULTS = Object.freeze({
  /** The paper keeps the 5 most divergent layers. */
  top: 5,
  /** Elements per chunk read from a tensor (8 Mi floats: 32 MiB as F32). */
  chunkElements: 1 << 23,
});

export interface LayerDivergence {
  layer: number;
  divergence: number;
}

export interface DivergenceResult {
  /** Every layer, sorted by divergence descending (ties: lower layer first). */
  layers: LayerDivergence[];
  /** The `top` most divergent layers' indices, in that order. */
  top: number[];
  /** Parameter tensors compared (all layers). */
  tensors: number;
}

/** The block index a tensor name belongs to, or null for tensors outside the blocks. */
export function layerOfTensor(name: string): number | null {
  const m = /(?:^|\.)(?:layers|h)\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : null;
}

const BUFFER = [/\.attention\.bias$/, /\.attention\.masked_bias$/, /\.attn\.bias$/, /\.attn\.masked_bias$/, /rotary_emb\./, /\.inv_freq$/];
const FLOAT = new Set(['F32', 'F16', 'BF16', 'F64']);

function isParameter(name: string, info: TensorInfo): boolean {
  return /\.(weight|bias)$/.test(name) && !BUFFER.some((re) => re.test(name)) && FLOAT.has(info.dtype);
}

interface Checkpoint {
  dir: string;
  files: SafetensorsFile[];
  tensors: Map<string, { file: SafetensorsFile; info: TensorInfo }>;
}

function openCheckpoint(dir: string): Checkpoint {
  const cf = resolveCheckpointFiles(dir);
  const files: SafetensorsFile[] = [];
  const tensors = new Map<string, { file: SafetensorsFile; info: TensorInfo }>();
  try {
    for (const path of cf.files) {
      const f = SafetensorsFile.open(path);
      files.push(f);
      for (const name of f.names()) {
        const info = f.info(name);
        if (layerOfTensor(name) !== null && isParameter(name, info)) tensors.set(name, { file: f, info });
      }
    }
  } catch (err) {
    for (const f of files) f.close();
    throw err;
  }
  return { dir, files, tensors };
}

const fmt = (s: readonly number[]) => `[${s.join(',')}]`;

/**
 * Per-layer divergence between two checkpoints of the same architecture (local folders or hub ids).
 * Different tensor sets, shapes or layer counts are an error naming the tensor and both shapes.
 */
export async function computeDivergence(
  base: string,
  tuned: string,
  opts: { top?: number; resolve?: ResolveModelOptions; chunkElements?: number } = {},
): Promise<DivergenceResult> {
  const top = checkInt(opts.top ?? DIVERGENCE_DEFAULTS.top, 'top', 1);
  const chunk = checkInt(opts.chunkElements ?? DIVERGENCE_DEFAULTS.chunkElements, 'chunkElements', 1);
  const a = openCheckpoint((await resolveModel(base, opts.resolve)).dir);
  try {
    const b = openCheckpoint((await resolveModel(tuned, opts.resolve)).dir);
    try {
      return divergenceOf(a, b, top, chunk);
    } finally {
      for (const f of b.files) f.close();
    }
  } finally {
    for (const f of a.files) f.close();
  }
}

function divergenceOf(a: Checkpoint, b: Checkpoint, top: number, chunk: number): DivergenceResult {
  const layersOf = (c: Checkpoint) => new Set([...c.tensors.keys()].map((n) => layerOfTensor(n)!));
  const la = layersOf(a);
  const lb = layersOf(b);
  if (la.size === 0) throw new FileFormatError(a.dir, 'no block parameters found (expected tensors named like gpt_neox.layers.<i>.… or transformer.h.<i>.…)');
  if (la.size !== lb.size) {
    throw invalidRange(`a checkpoint with ${la.size} layers, as the base (${a.dir})`, 'the tuned model', `${lb.size} layers in ${b.dir}`);
  }
  for (const [name, ta] of a.tensors) {
    const tb = b.tensors.get(name);
    if (!tb) throw new FileFormatError(b.dir, `tensor "${name}" (shape ${fmt(ta.info.shape)} in the base ${a.dir}) is missing: the checkpoints differ in architecture`);
    if (fmt(ta.info.shape) !== fmt(tb.info.shape)) {
      throw new FileFormatError(b.dir, `tensor "${name}": shape ${fmt(tb.info.shape)} but the base ${a.dir} has ${fmt(ta.info.shape)}: the checkpoints differ in architecture`);
    }
  }
  for (const [name, tb] of b.tensors) {
    if (!a.tensors.has(name)) throw new FileFormatError(a.dir, `tensor "${name}" (shape ${fmt(tb.info.shape)} in the tuned ${b.dir}) is missing: the checkpoints differ in architecture`);
  }
  const sums = new Map<number, number>();
  for (const [name, ta] of a.tensors) {
    const tb = b.tensors.get(name)!;
    const shape = ta.info.shape;
    const rows = shape.length === 0 ? 1 : shape[0];
    const perRow = rows === 0 ? 0 : shape.reduce((x, y) => x * y, 1) / rows;
    const step = Math.max(1, Math.floor(chunk / Math.max(1, perRow)));
    let ss = 0;
    for (let r = 0; r < rows; r += step) {
      const n = Math.min(step, rows - r);
      const xa = shape.length === 0 ? ta.file.readF32(name) : ta.file.readF32(name, undefined, r, n);
      const xb = shape.length === 0 ? tb.file.readF32(name) : tb.file.readF32(name, undefined, r, n);
      for (let i = 0; i < xa.length; i++) {
        const diff = xa[i] - xb[i];
        ss += diff * diff;
      }
    }
    const layer = layerOfTensor(name)!;
    sums.set(layer, (sums.get(layer) ?? 0) + Math.sqrt(ss));
  }
  const layers = [...la].map((layer) => ({ layer, divergence: sums.get(layer) ?? 0 }))
    .sort((x, y) => y.divergence - x.divergence || x.layer - y.layer);
  return { layers, top: layers.slice(0, top).map((l) => l.layer), tensors: a.tensors.size };
}

/** The bar chart of the paper's Figure 3: divergence per layer, in layer order. */
export function divergenceChartSvg(result: DivergenceResult, title = 'Parameter divergence per layer'): string {
  const byLayer = [...result.layers].sort((x, y) => x.layer - y.layer);
  return barChartSvg({
    title,
    xLabel: 'layer',
    yLabel: 'Σ ‖θ_base − θ_tuned‖_F',
    labels: byLayer.map((l) => String(l.layer)),
    values: byLayer.map((l) => l.divergence),
  });
}

/**
 * The divergence stage: compute, write `out` (divergence.json: {layers, top}) and the chart beside
 * it (`<out without .json>.svg/.png`) atomically, and return the result.
 */
export async function divergenceStage(base: string, tuned: string, out: string, opts: { top?: number; chart?: boolean; resolve?: ResolveModelOptions } = {}): Promise<DivergenceResult & { files: string[] }> {
  const r = await computeDivergence(base, tuned, opts);
  writeJsonAtomic(out, { base, tuned, layers: r.layers, top: r.top });
  const files = [out];
  if (opts.chart ?? true) {
    const chart = writeChart(out.replace(/\.json$/i, ''), divergenceChartSvg(r));
    files.push(chart.svg, chart.png);
  }
  return { ...r, files };
}
