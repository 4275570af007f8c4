// `rewardlens bench model`: the GPT-NeoX engine on a Pythia-70m-shaped model with random weights
// (vocab 50304, hidden 512, 6 layers, 8 heads, intermediate 2048): a training step (forward, backward
// from the LM loss, AdamW) at batch 8×64, and sampling 16 prompts × 16 new tokens with the KV cache;
// the same in plain PyTorch (bench/peer_neox.py) measured in the same run.
import type { NeoxConfig } from '../model/neox-config.js';
import { NeoxEngine } from '../model/neox-engine.js';
import { AdamW } from '../optim/adamw.js';
import { findTorchPython, medianMs, runPeer } from './peer.js';

export const PYTHIA_70M_SHAPE: NeoxConfig = {
  modelType: 'gpt_neox', vocabSize: 50304, hiddenSize: 512, numLayers: 6, numHeads: 8, intermediateSize: 2048,
  rotaryPct: 0.25, rotaryBase: 10000, maxPositions: 2048, layerNormEps: 1e-5, parallelResidual: true,
  hiddenAct: 'gelu', tieWordEmbeddings: false, attentionBias: true, bosTokenId: 0, eosTokenId: 0,
};

export interface ModelBenchLine {
  case: string; shape: Record<string, number>; backend: string; ms: number; tokens_per_s: number;
  peer: string | null; peer_ms: number | null; peer_tokens_per_s: number | null; speedup: number | null;
  rss_mb?: number; note?: string;
}

function ids(n: number, V: number, seed: number): Int32Array {
  const out = new Int32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = s % V;
  }
  return out;
}

async function timeTrainStep(cfg: NeoxConfig, B: number, T: number, repeats: number): Promise<number> {
  const engine = NeoxEngine.create(cfg, { init: 'normal', seed: 0 });
  const opt = new AdamW([engine.allParameters()], { lr: 1e-4 });
  const batch = { inputIds: ids(B * T, cfg.vocabSize, 1), B, T };
  try {
    return await medianMs(async () => {
      engine.zeroGrad();
      await engine.forward(batch, { loss: true, train: true });
      await engine.backward({ loss: 1 });
      opt.step([engine.allGradients()]);
    }, repeats, 2);
  } finally {
    opt.dispose();
    engine.dispose();
  }
}

type Generate = (prompts: { inputIds: Int32Array; B: number; T: number }, opts: { maxNewTokens: number; minNewTokens?: number; seed?: number; eosTokenId?: number | null }) => Promise<unknown>;

async function timeSampling(cfg: NeoxConfig, P: number, L: number, N: number, repeats: number): Promise<number | null> {
  const engine = NeoxEngine.create(cfg, { init: 'normal', seed: 0 });
  try {
    const generate = (engine as unknown as { generate?: Generate }).generate?.bind(engine);
    if (!generate) return null;
    const prompts = { inputIds: ids(P * L, cfg.vocabSize, 2), B: P, T: L };
    let seed = 0;
    // every row makes exactly N new tokens (no early EOS), as the peer does
    return await medianMs(() => generate(prompts, { maxNewTokens: N, minNewTokens: N, seed: seed++, eosTokenId: null }), repeats, 1);
  } finally {
    engine.dispose();
  }
}

export async function benchModel(opts: { peer?: boolean; cases?: string[]; write?: (line: string) => void } = {}): Promise<ModelBenchLine[]> {
  const write = opts.write ?? ((l: string) => process.stdout.write(l + '\n'));
  const cfg = PYTHIA_70M_SHAPE;
  const base = { vocab: cfg.vocabSize, hidden: cfg.hiddenSize, layers: cfg.numLayers, heads: cfg.numHeads, intermediate: cfg.intermediateSize };
  const cases: { case: string; shape: Record<string, number>; repeats: number; tokens: number }[] = [
    { case: 'train_step', shape: { ...base, batch: 8, seq: 64 }, repeats: 5, tokens: 8 * 64 },
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
    const ms = c.case === 'train_step'
      ? await timeTrainStep(cfg, c.shape.batch, c.shape.seq, c.repeats)
      : await timeSampling(cfg, c.shape.prompts, c.shape.prompt_len, c.shape.new_tokens, c.repeats);
    if (ms === null) {
      process.stderr.write(`rewardlens bench: ${c.case} skipped: this build has no generate()\n`);
      continue;
    }
    let peerMs: number | null = null;
    if (python) peerMs = runPeer('peer_neox.py', [{ case: c.case, shape: c.shape, repeats: 3 }], python)[0].peer_ms;
    const line: ModelBenchLine = {
      case: c.case, shape: c.shape, backend: 'cpu', ms: r3(ms), tokens_per_s: r3(c.tokens / (ms / 1000)),
      peer: peerMs === null ? null : 'torch', peer_ms: peerMs === null ? null : r3(peerMs),
      peer_tokens_per_s: peerMs === null ? null : r3(c.tokens / (peerMs / 1000)),
      speedup: peerMs === null ? null : r3(peerMs / ms), rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20),
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
