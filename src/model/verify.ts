// Compare the engine with reference tensors that transformers computed (a reference.safetensors
// laid out like ../shared/fixtures/tiny-neox-a: inputs, logits, token_logprobs, loss, hidden.i,
// attn_out.i, mlp_post.i, mlp_out.i, grad.<parameter>). Works for any GPT-NeoX or GPT-Neo configuration
// (../shared/fixtures/tiny-gptneo-a: its grad.transformer.wte.weight is the tied total, which is what
// the engine accumulates; the tied_part.* diagnostics are not compared).
import { FileFormatError } from '../errors.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { embeddingName, outputProjectionName, type NeoxConfig } from './neox-config.js';
import type { NeoxEngine } from './neox-engine.js';

export interface TensorComparison {
  name: string;
  /** How many entries were compared (padded positions are left out). */
  compared: number;
  maxAbs: number;
  /** max |diff| / max |ref| over the compared entries. */
  maxRel: number;
  ok: boolean;
}

export interface VerifyTolerance { rel: number; abs: number }
export const VERIFY_TOLERANCE: VerifyTolerance = { rel: 1e-4, abs: 1e-5 };

function readInt(f: SafetensorsFile, name: string, shape: number[]): Int32Array {
  const info = f.info(name);
  if (info.shape.length !== shape.length || info.shape.some((v, i) => v !== shape[i])) {
    throw new FileFormatError(f.path, `tensor "${name}": expected shape [${shape.join(',')}] but found [${info.shape.join(',')}]`);
  }
  const t = f.read(name);
  if (t.dtype === 'I32') return t.data as Int32Array;
  if (t.dtype === 'I64') return Int32Array.from(t.data as BigInt64Array, (v) => Number(v));
  if (t.dtype === 'U8' || t.dtype === 'BOOL') return Int32Array.from(t.data as Uint8Array);
  throw new FileFormatError(f.path, `tensor "${name}": expected an integer dtype (I32, I64, U8, BOOL) but found ${t.dtype}`);
}

/**
 * Compare `got` with `ref` over the entries where `use(i)` holds. An entry passes when its error is
 * within `tol.abs`, or the tensor's max error is within `tol.rel` of its largest reference entry.
 */
export function compareTensors(name: string, got: Float32Array, ref: Float32Array, use: (i: number) => boolean, tol: VerifyTolerance): TensorComparison {
  let maxAbs = 0;
  let maxRef = 0;
  let compared = 0;
  for (let i = 0; i < ref.length; i++) {
    if (!use(i)) continue;
    compared++;
    const diff = Math.abs(got[i] - ref[i]);
    maxAbs = Number.isNaN(diff) ? Infinity : Math.max(maxAbs, diff);
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
  }
  const maxRel = maxRef > 0 ? maxAbs / maxRef : maxAbs === 0 ? 0 : Infinity;
  return { name, compared, maxAbs, maxRel, ok: maxAbs <= tol.abs || maxRel <= tol.rel };
}

/** Run the engine on the reference inputs and compare every tensor the file holds. */
export async function verifyAgainstReference(engine: NeoxEngine, referencePath: string, tol: VerifyTolerance = VERIFY_TOLERANCE): Promise<TensorComparison[]> {
  const cfg: NeoxConfig = engine.config;
  const f = SafetensorsFile.open(referencePath);
  try {
    const idsInfo = f.info('input_ids');
    if (idsInfo.shape.length !== 2) throw new FileFormatError(referencePath, `tensor "input_ids": expected shape [B,T] but found [${idsInfo.shape.join(',')}]`);
    const [B, T] = idsInfo.shape;
    const inputIds = readInt(f, 'input_ids', [B, T]);
    const mask = f.has('attention_mask') ? Uint8Array.from(readInt(f, 'attention_mask', [B, T])) : new Uint8Array(B * T).fill(1);
    const positionIds = f.has('position_ids') ? readInt(f, 'position_ids', [B, T]) : undefined;
    const h = cfg.hiddenSize;
    const L = cfg.numLayers;
    const realPos = (p: number) => mask[p] !== 0; // p = b*T + t

    // Hooks: hidden.0 (embeddings), hidden.i = resid.(i-1) for 0 < i < L, attn_out.i, mlp_post.i, mlp_out.i.
    const hooks: Record<string, Float32Array> = {};
    const hookOf: Record<string, string> = {};
    for (const name of f.names()) {
      let hook: string | null = null;
      const m = /^(hidden|attn_out|mlp_post|mlp_out)\.(\d+)$/.exec(name);
      if (!m) continue;
      const i = Number(m[2]);
      if (m[1] === 'hidden') {
        if (i === 0) hook = 'hidden.0';
        else if (i < L) hook = `resid.${i - 1}`;
        else continue; // hidden.L is the final hidden state, compared below
      } else if (i < L) hook = name;
      if (!hook) continue;
      const width = m[1] === 'mlp_post' ? cfg.intermediateSize : h;
      hooks[hook] = new Float32Array(B * T * width);
      hookOf[name] = hook;
    }
    const targets = new Int32Array(B * T).fill(-1);
    for (let b = 0; b < B; b++) for (let t = 0; t + 1 < T; t++) targets[b * T + t] = inputIds[b * T + t + 1];
    engine.zeroGrad();
    const out = await engine.forward({ inputIds, attentionMask: mask, positionIds, B, T }, {
      logits: f.has('logits'), targets, loss: true, lastHidden: true, hooks, train: true,
    });
    const results: TensorComparison[] = [];
    const V = cfg.vocabSize;
    if (f.has('logits') && out.logits) {
      results.push(compareTensors('logits', out.logits, f.readF32('logits', [B, T, V]), (i) => realPos(Math.floor(i / V)), tol));
    }
    if (f.has('token_logprobs') && out.tokenLogprobs) {
      const ref = f.readF32('token_logprobs', [B, T - 1]);
      const got = new Float32Array(B * (T - 1));
      for (let b = 0; b < B; b++) for (let t = 0; t + 1 < T; t++) got[b * (T - 1) + t] = out.tokenLogprobs[b * T + t];
      results.push(compareTensors('token_logprobs', got, ref, (i) => {
        const b = Math.floor(i / (T - 1));
        const t = i % (T - 1);
        return realPos(b * T + t) && realPos(b * T + t + 1);
      }, tol));
    }
    if (f.has('loss') && out.loss !== undefined) {
      results.push(compareTensors('loss', new Float32Array([out.loss]), f.readF32('loss'), () => true, tol));
    }
    if (f.has(`hidden.${L}`) && out.lastHidden) {
      results.push(compareTensors(`hidden.${L}`, out.lastHidden, f.readF32(`hidden.${L}`, [B, T, h]), (i) => realPos(Math.floor(i / h)), tol));
    }
    for (const [name, hook] of Object.entries(hookOf)) {
      const width = name.startsWith('mlp_post') ? cfg.intermediateSize : h;
      results.push(compareTensors(name, hooks[hook], f.readF32(name, [B, T, width]), (i) => realPos(Math.floor(i / width)), tol));
    }
    const gradNames = f.names().filter((n) => n.startsWith('grad.'));
    if (gradNames.length) {
      await engine.backward({ loss: 1 });
      const params = new Map(engine.parameters().map((p) => [p.name, p.shape]));
      for (const gname of gradNames) {
        let pname = gname.slice('grad.'.length);
        if (pname === 'lm_head.weight') pname = cfg.tieWordEmbeddings ? embeddingName(cfg) : outputProjectionName(cfg);
        const shape = params.get(pname);
        if (!shape) throw new FileFormatError(referencePath, `tensor "${gname}": the model has no parameter "${pname}"`);
        results.push(compareTensors(gname, engine.gradient(pname), f.readF32(gname, shape), () => true, tol));
      }
    }
    return results;
  } finally {
    f.close();
  }
}

/** A fixed-width table of comparisons, one line per tensor. */
export function formatComparisons(rows: TensorComparison[]): string {
  const w = Math.max(6, ...rows.map((r) => r.name.length));
  const lines = [`${'tensor'.padEnd(w)}  ${'compared'.padStart(8)}  ${'max abs err'.padStart(11)}  ${'max rel err'.padStart(11)}  result`];
  for (const r of rows) {
    lines.push(`${r.name.padEnd(w)}  ${String(r.compared).padStart(8)}  ${r.maxAbs.toExponential(3).padStart(11)}  ${r.maxRel.toExponential(3).padStart(11)}  ${r.ok ? 'ok' : 'FAIL'}`);
  }
  return lines.join('\n');
}
