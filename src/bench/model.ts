// `rewardlens bench model`: the engine on a model with random weights, a training step (forward,
// backward from the LM loss, AdamW) and sampling 16 prompts × 16 new tokens with the KV cache, beside
// the same in plain PyTorch measured in the same run. Two architectures (--arch):
//   gpt-neox (default): Pythia-70m shape (vocab 50304, hidden 512, 6 layers, 8 heads, intermediate 2048),
//     training at batch 8×64; peer bench/peer_neox.py;
//   gpt-neo: GPT-Neo-125m shape (vocab 50257, hidden 768, 12 layers, 12 heads, intermediate 3072,
//     window 256, layers alternating global/local, tied lm_head), training at batch 4×128; peer
//     bench/peer_gptneo.py.
// Each line also says how much memory the engine holds against the weights' own size (param_mb,
// engine_mb: parameters, gradients when made, activations, caches), so "weights held once" shows.
import type { GptNeoConfig, GptNeoxConfig, NeoxConfig } from '../model/neox-config.js';
import { NeoxEngine } from '../model/neox-engine.js';
import { AdamW } from '../optim/adamw.js';
import { findTorchPython, medianMs, runPeer } from './peer.js';

export const PYTHIA_70M_SHAPE: GptNeoxConfig = {
  modelType: 'gpt_neox', vocabSize: 50304, hiddenSize: 512, numLayers: 6, numHeads: 8, intermediateSize: 2048,
  rotaryPct: 0.25, rotaryBase: 10000, maxPositions: 2048, layerNormEps: 1e-5, parallelResidual: true,
  hiddenAct: 'gelu', tieWordEmbeddings: false, attentionBias: true, bosTokenId: 0, eosTokenId: 0,
};

/** GPT-Neo-125m's shape (EleutherAI/gpt-neo-125M's config.json). */
export const GPT_NEO_125M_SHAPE: GptNeoConfig = {
  modelType: 'gpt_neo', vocabSize: 50257, hiddenSize: 768, numLayers: 12, numHeads: 12, intermediateSize: 3072,
  maxPositions: 2048, layerNormEps: 1e-5, hiddenAct: 'gelu_new', tieWordEmbeddings: true,
  attentionLayers: Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? 'global' : 'local')), windowSize: 256,
  bosTokenId: 50256, eosTokenId: 50256,
};

/** The architectures `bench model --arch` measures. */
export const BENCH_ARCHS = ['gpt-neox', 'gpt-neo'] as const;
export type BenchArch = (typeof BENCH_ARCHS)[number];

interface ArchBench {
  cfg: NeoxConfig;
  peer: string;
  train: { batch: number; seq: number };
  /** Extra shape fields the peer reads. */
  extra: Record<string, number>;
}

const ARCH_BENCH: Record<BenchArch, ArchBench> = {
  'gpt-neox': { cfg: PYTHIA_70M_SHAPE, peer: 'peer_neox.py', train: { batch: 8, seq: 64 }, extra: {} },
  'gpt-neo': {
    cfg: GPT_NEO_125M_SHAPE, peer: 'peer_gptneo.py', train: { batch: 4, seq: 128 },
    extra: { positions: GPT_NEO_125M_SHAPE.maxPositions, window: GPT_NEO_125M_SHAPE.windowSize },
  },
};

export interface ModelBenchLine {
  case: string; arch: BenchArch; shape: Record<string, number>; backend: string; ms: number; tokens_per_s: number;
  peer: string | null; peer_ms: number | null; peer_tokens_per_s: number | null; speedup: number | null;
  rss_mb?: number; param_mb?: number; engine_mb?: number; note?: string;
}

interface Timed { ms: number; paramMb: number; engineMb: number }

function ids(n: number, V: number, seed: number): Int32Array {
  const out = new Int32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = s % V;
  }
  return out;
}

const MB = 2 ** 20;

async function timeTrainStep(cfg: NeoxConfig, B: number, T: number, repeats: number): Promise<Timed> {
  const engine = NeoxEngine.create(cfg, { init: 'normal', seed: 0 });
  const opt = new AdamW([engine.allParameters()], { lr: 1e-4 });
  const batch = { inputIds: ids(B * T, cfg.vocabSize, 1), B, T };
  try {
    const ms = await medianMs(async () => {
      engine.zeroGrad();
      await engine.forward(batch, { loss: true, train: true });
      await engine.backward({ loss: 1 });
      opt.step([engine.allGradients()]);
    }, repeats, 2);
    return { ms, paramMb: engine.allParameters().byteLength / MB, engineMb: engine.memoryBytes / MB };
  } finally {
    opt.dispose();
    engine.dispose();
  }
}

type Generate = (prompts: { inputIds: Int32Array; B: number; T: number }, opts: { maxNewTokens: number; minNewTokens?: number; seed?: number; eosTokenId?: number | null }) => Promise<unknown>;

async function timeSampling(cfg: NeoxConfig, P: number, L: number, N: number, repeats: number): Promise<Timed | null> {
  const engine = NeoxEngine.create(cfg, { init: 'normal', seed: 0 });
  try {
    const generate = (engine as unknown as { generate?: Generate }).generate?.bind(engine);
    if (!generate) return null;
    const prompts = { inputIds: ids(P * L, cfg.vocabSize, 2), B: P, T: L };
    let seed = 0;
    // every row makes exactly N new tokens (no early EOS), as the peer does
    const ms = await medianMs(() => generate(prompts, { maxNewTokens: N, minNewTokens: N, seed: seed++, eosTokenId: null }), repeats, 1);
    return { ms, paramMb: engine.allParameters().byteLength / MB, engineMb: engine.memoryBytes / MB };
  } finally {
    engine.dispose();
  }
}

export async function benchModel(opts: { peer?: boolean; cases?: string[]; arch?: BenchArch; write?: (line: string) => void } = {}): Promise<ModelBenchLine[]> {
  const write = opts.write ?? ((l: string) => process.stdout.write(l + '\n'));
  const arch = opts.arch ?? 'gpt-neox';
  const spec = ARCH_BENCH[arch];
  if (!spec) throw new RangeError(`Expected one of ${BENCH_ARCHS.join(', ')} for arch but received ${JSON.stringify(arch)}`);
  const cfg = spec.cfg;
  const base = { vocab: cfg.vocabSize, hidden: cfg.hiddenSize, layers: cfg.numLayers, heads: cfg.numHeads, intermediate: cfg.intermediateSize, ...spec.extra };
  const { batch, seq } = spec.train;
  const cases: { case: string; shape: Record<string, number>; repeats: number; tokens: number }[] = [
    { case: 'train_step', shape: { ...base, batch, seq }, repeats: 5, tokens: batch * seq },
    { case: 'sample', shape: { ...base, prompts: 16, prompt_len: 8, new_tokens: 16 }, repeats: 5, tokens: 16 * 16 },
  ].filter((c) => !opts.cases?.length || opts.cases.includes(c.case));
  let python: string | null = null;
  let note = opts.peer === false ? 'peer disabled (--no-peer)' : '';
  if (opts.peer !== false) {
    const found = findTorchPython();
    python = found.python;
    if (!python) {
      note = `peer skipped: PyTorch not importable (${found.reason}); install python3-torch`;
      process.stderr.write(`rewardlens bench: ${note}\n`);
    }
  }
  const out: ModelBenchLine[] = [];
  for (const c of cases) {
    const timed = c.case === 'train_step'
      ? await timeTrainStep(cfg, c.shape.batch, c.shape.seq, c.repeats)
      : await timeSampling(cfg, c.shape.prompts, c.shape.prompt_len, c.shape.new_tokens, c.repeats);
    if (timed === null) {
      process.stderr.write(`rewardlens bench: ${c.case} skipped: this build has no generate()\n`);
      continue;
    }
    const { ms } = timed;
    let peerMs: number | null = null;
    if (python) peerMs = runPeer(spec.peer, [{ case: c.case, shape: c.shape, repeats: 3 }], python)[0].peer_ms;
    const line: ModelBenchLine = {
      case: c.case, arch, shape: c.shape, backend: 'cpu', ms: r3(ms), tokens_per_s: r3(c.tokens / (ms / 1000)),
      peer: peerMs === null ? null : 'torch', peer_ms: peerMs === null ? null : r3(peerMs),
      peer_tokens_per_s: peerMs === null ? null : r3(c.tokens / (peerMs / 1000)),
      speedup: peerMs === null ? null : r3(peerMs / ms), rss_mb: Math.round(process.memoryUsage().rss / MB),
      param_mb: Math.round(timed.paramMb), engine_mb: Math.round(timed.engineMb),
    };
    if (note) line.note = note;
    out.push(line);
    write(JSON.stringify(line));
  }
  return out;
}

function r3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
