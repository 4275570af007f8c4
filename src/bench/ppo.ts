// `rewardlens bench ppo`: one PPO step of the paper's shape (batch 64, minibatch 16, 4 epochs,
// 16 new tokens) — sampling, policy/reference log-probs and values, rewards, GAE, whitening, and 16
// clipped AdamW minibatch updates — on the shipped default model (target: under 5 s on 2 cores)
// and on a Pythia-70m-shaped model with random weights, against the same step in plain PyTorch
// (bench/peer_ppo.py: TRL 0.7's formulas; TRL itself does not install here) in the same run.
// Prompts are 8 tokens and responses exactly 16 tokens on both sides; the scores are random numbers
// (the reward model is not part of the measured step).
import type { TokenPrompt } from '../data/prompts.js';
import type { NeoxConfig } from '../model/neox-config.js';
import { NeoxEngine } from '../model/neox-engine.js';
import type { Tokenizer } from '../model/tokenizer.js';
import { mulberry32 } from '../random.js';
import type { RewardModel } from '../reward/reward.js';
import { resolvePpoConfig } from '../rlhf/config.js';
import { PpoTrainer } from '../rlhf/trainer.js';
import { readNeoxConfig } from '../model/hf-config.js';
import { DEFAULT_MODEL_DIR } from '../data/defaults.js';
import { PYTHIA_70M_SHAPE } from './model.js';
import { findTorchPython, runPeer } from './peer.js';

export interface PpoBenchLine {
  case: string; shape: Record<string, number>; backend: string; ms: number; peer: string | null; peer_ms: number | null;
  speedup: number | null; rss_mb: number; note?: string;
}

const randomReward = (seed: number): RewardModel => {
  const rnd = mulberry32(seed);
  return { name: 'random', async score(texts) { return Float32Array.from(texts, () => 2 * rnd() - 1); }, async dispose() {} };
};

async function timePpoStep(cfg: NeoxConfig, shape: Record<string, number>, repeats: number): Promise<number> {
  const policy = NeoxEngine.create(cfg, { valueHead: true, init: 'normal', seed: 0 });
  const ref = NeoxEngine.create(cfg, { init: 'normal', seed: 0 });
  const rnd = mulberry32(1);
  const prompts: TokenPrompt[] = Array.from({ length: shape.batch * 4 }, (_, i) => ({
    ids: Array.from({ length: shape.prompt_len }, () => Math.floor(rnd() * cfg.vocabSize)), text: '', source: i, label: 1, truncated: true,
  }));
  const tokenizer = { padTokenId: 0, eosTokenId: null, decode: () => '' } as unknown as Tokenizer;
  const config = resolvePpoConfig({
    batchSize: shape.batch, miniBatchSize: shape.mini_batch, ppoEpochs: shape.epochs, minNewTokens: shape.new_tokens,
    maxNewTokens: shape.new_tokens, learningRate: 1e-6, warmupSteps: 0, decaySteps: 0,
  });
  const trainer = new PpoTrainer({ policy, ref, tokenizer, reward: randomReward(2), prompts, config });
  try {
    await trainer.trainStep(); // warm-up
    const times: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      await trainer.trainStep();
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return times[times.length >> 1];
  } finally {
    trainer.dispose();
    policy.dispose();
    ref.dispose();
  }
}

export async function benchPpo(opts: { peer?: boolean; cases?: string[]; write?: (line: string) => void } = {}): Promise<PpoBenchLine[]> {
  const write = opts.write ?? ((l: string) => process.stdout.write(l + '\n'));
  const step = { batch: 64, mini_batch: 16, epochs: 4, prompt_len: 8, new_tokens: 16 };
  // the default model's shape, without EOS so every response has 16 tokens as in the peer
  const def: NeoxConfig = { ...readNeoxConfig(DEFAULT_MODEL_DIR), eosTokenId: null };
  const pythia: NeoxConfig = { ...PYTHIA_70M_SHAPE, eosTokenId: null };
  const shapeOf = (c: NeoxConfig) => ({ vocab: c.vocabSize, hidden: c.hiddenSize, layers: c.numLayers, heads: c.numHeads, intermediate: c.intermediateSize, ...step });
  const cases = [
    { case: 'ppo_step_default_model', cfg: def, repeats: 5 },
    { case: 'ppo_step_pythia70m', cfg: pythia, repeats: 3 },
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
  const out: PpoBenchLine[] = [];
  for (const c of cases) {
    const shape = shapeOf(c.cfg);
    const ms = await timePpoStep(c.cfg, shape, c.repeats);
    const peerMs = python ? runPeer('peer_ppo.py', [{ case: c.case, shape, repeats: c.repeats }], python)[0].peer_ms : null;
    const line: PpoBenchLine = {
      case: c.case, shape, backend: 'cpu', ms: Math.round(ms), peer: peerMs === null ? null : 'torch', peer_ms: peerMs === null ? null : Math.round(peerMs),
      speedup: peerMs === null ? null : Math.round((peerMs / ms) * 100) / 100, rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20),
    };
    if (note) line.note = note;
    out.push(line);
    write(JSON.stringify(line));
  }
  return out;
}
