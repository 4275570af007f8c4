// `rewardlens bench kernels` (also `npm run bench`): one JSON line per case, rewardlens's native kernel
// and the same math in PyTorch (bench/peer_kernels.py) measured in the same run.
import { cosineStats } from '../interpret/cosine.js';
import { runtime } from '../native.js';
import { PPO_LOSS_DEFAULTS, ppoLoss, tokenLogprobs, tokenLogprobsBackward } from '../rlhf/ppo-kernels.js';
import { SparseAutoencoder } from '../sae/sparse-autoencoder.js';
import { findTorchPython, medianMs, runPeer, type PeerCase } from './peer.js';

export interface KernelCase { case: 'sae_step' | 'mmcs' | 'ppo_loss'; shape: Record<string, number>; repeats: number }

/** The cases the issue asks for. */
export const KERNEL_CASES: KernelCase[] = [
  { case: 'sae_step', shape: { d: 512, n: 1024, batch: 32 }, repeats: 100 },
  { case: 'sae_step', shape: { d: 512, n: 2048, batch: 32 }, repeats: 60 },
  { case: 'sae_step', shape: { d: 512, n: 1024, batch: 4096 }, repeats: 7 },
  { case: 'mmcs', shape: { n1: 512, n2: 1024, d: 512 }, repeats: 50 },
  { case: 'mmcs', shape: { n1: 4096, n2: 8192, d: 512 }, repeats: 5 },
  { case: 'ppo_loss', shape: { B: 64, T: 48, V: 50304 }, repeats: 5 },
];

function gaussian(n: number, seed: number): Float32Array {
  // xorshift + Box-Muller: cheap deterministic inputs
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u()));
    const t = 2 * Math.PI * u();
    out[i] = r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

async function timeSaeStep(shape: Record<string, number>, repeats: number): Promise<number> {
  const { d, n, batch } = shape;
  const sae = SparseAutoencoder.create({ dIn: d, dSae: n, seed: 0 });
  const x = gaussian(batch * d, 1);
  try {
    return await medianMs(() => sae.step(x), repeats, 3);
  } finally {
    sae.dispose();
  }
}

async function timeMmcs(shape: Record<string, number>, repeats: number): Promise<number> {
  const { n1, n2, d } = shape;
  const A = gaussian(n1 * d, 2);
  const B = gaussian(n2 * d, 3);
  return medianMs(() => cosineStats(A, B, d, { topK: 10 }), repeats, 2);
}

async function timePpoLoss(shape: Record<string, number>, repeats: number): Promise<number> {
  const { B, T, V } = shape;
  const logits = gaussian(B * T * V, 4);
  const dlogits = new Float32Array(B * T * V);
  const targets = new Int32Array(B * T);
  for (let i = 0; i < targets.length; i++) targets[i] = (i * 7919) % V;
  const mask = new Float32Array(B * T).fill(1);
  const small = (seed: number, scale = 1) => gaussian(B * T, seed).map((v) => v * scale);
  // Old log-probs near the current ones, so the ratio stays under the threshold and every
  // position carries a gradient (a skipped minibatch would only zero-fill dlogits).
  const first = await tokenLogprobs(logits, targets, { B, T, V });
  const oldLogp = first.logp.map((v, i) => v + 0.01 * Math.sin(i));
  const values = small(6);
  const oldValues = values.map((v, i) => v + 0.1 * Math.sin(i));
  const advantages = small(7);
  const returns = small(8);
  const shapeBT = { B, T };
  return medianMs(async () => {
    const { logp, entropy, lse } = await tokenLogprobs(logits, targets, { B, T, V });
    const { stats, dlogp } = ppoLoss({ logp, oldLogp, values, oldValues, advantages, returns, mask, entropy }, shapeBT, PPO_LOSS_DEFAULTS);
    if (stats.skipped) throw new Error('bench ppo_loss: the ratio threshold skipped the minibatch; the backward would do no work');
    await tokenLogprobsBackward(logits, targets, lse, dlogp, { B, T, V }, { out: dlogits });
  }, repeats, 1);
}

export interface BenchLine {
  case: string; shape: Record<string, number>; backend: string; gemm: string; ms: number;
  peer: string | null; peer_ms: number | null; speedup: number | null; note?: string;
}

export async function benchKernels(opts: { cases?: string[]; peer?: boolean; write?: (line: string) => void } = {}): Promise<BenchLine[]> {
  const write = opts.write ?? ((l: string) => process.stdout.write(l + '\n'));
  const cases = KERNEL_CASES.filter((c) => !opts.cases?.length || opts.cases.includes(c.case));
  const rt = runtime();
  const backend = 'cpu';
  const gemm = rt.gemmBackend();
  let python: string | null = null;
  let peerNote = 'peer disabled (--no-peer)';
  if (opts.peer !== false) {
    const found = findTorchPython();
    python = found.python;
    peerNote = python ? '' : `peer skipped: PyTorch not importable (${found.reason}); install python3-torch`;
    if (!python) process.stderr.write(`rewardlens bench: ${peerNote}\n`);
  }
  const out: BenchLine[] = [];
  for (const c of cases) {
    const ms = c.case === 'sae_step' ? await timeSaeStep(c.shape, c.repeats)
      : c.case === 'mmcs' ? await timeMmcs(c.shape, c.repeats)
        : await timePpoLoss(c.shape, c.repeats);
    let peerMs: number | null = null;
    if (python) {
      const peerCase: PeerCase = { case: c.case, shape: c.shape, repeats: Math.max(3, Math.min(c.repeats, 50)) };
      peerMs = runPeer('peer_kernels.py', [peerCase], python)[0].peer_ms;
    }
    const line: BenchLine = {
      case: c.case, shape: c.shape, backend, gemm, ms: round(ms),
      peer: peerMs === null ? null : 'torch', peer_ms: peerMs === null ? null : round(peerMs),
      speedup: peerMs === null ? null : round(peerMs / ms),
    };
    if (peerNote) line.note = peerNote;
    out.push(line);
    write(JSON.stringify(line));
  }
  return out;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
