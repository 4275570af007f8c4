// Activation sets stored as safetensors: tensor `activations` [N, d] in F32, F16 or BF16, and
// optionally `mask` [N] (U8/BOOL; 0 = a padding row that must never enter training); or an
// activation store folder (src/interpret/activation-store.ts: every shard, F16 widened to F32; a store
// holds no padding, so it has no mask).
import { statSync } from 'node:fs';
import { FileFormatError } from '../errors.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { readActivationStore } from '../interpret/activation-store.js';

export interface ActivationSet {
  data: Float32Array;
  rows: number;
  d: number;
  mask?: Uint8Array;
}

export function readActivations(path: string, tensor = 'activations'): ActivationSet {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // a missing path is reported by SafetensorsFile.open below
  }
  if (isDir) {
    const store = readActivationStore(path);
    return { data: store.data, rows: store.rows, d: store.d };
  }
  const f = SafetensorsFile.open(path);
  try {
    const info = f.info(tensor);
    if (info.shape.length !== 2 || info.shape[0] < 1 || info.shape[1] < 1) {
      throw new FileFormatError(path, `tensor "${tensor}": expected shape [N,d] with N >= 1 and d >= 1 but found [${info.shape.join(',')}]`);
    }
    const [rows, d] = info.shape;
    const data = f.readF32(tensor);
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        throw new FileFormatError(path, `tensor "${tensor}": non-finite value ${data[i]} at row ${Math.floor(i / d)}, column ${i % d}`);
      }
    }
    let mask: Uint8Array | undefined;
    if (f.has('mask')) {
      const m = f.info('mask');
      if ((m.dtype !== 'U8' && m.dtype !== 'BOOL') || m.shape.length !== 1 || m.shape[0] !== rows) {
        throw new FileFormatError(path, `tensor "mask": expected U8 or BOOL of shape [${rows}] but found ${m.dtype} [${m.shape.join(',')}]`);
      }
      mask = f.read('mask').data as Uint8Array;
      if (!mask.some((v) => v !== 0)) throw new FileFormatError(path, 'tensor "mask": every row is masked out; nothing to train on');
    }
    return { data, rows, d, mask };
  } finally {
    f.close();
  }
}
