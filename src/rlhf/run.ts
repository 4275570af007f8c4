// An RLHF run on disk: load base model (policy + frozen reference) and reward, cut the prompts, run
// PPO steps with a log line each, checkpoint in Hugging Face layout every N steps and at the end,
// resume from the last checkpoint, and stop cleanly (checkpoint first) when asked to.
//
//   OUT/config.json                   the resolved run config (every default written out)
//   OUT/log.jsonl                     one PpoStepStats per step
//   OUT/samples.jsonl                 a few (prompt + response, score) per step
//   OUT/checkpoints/step-000050/      HF folder (config.json, model.safetensors with v_head.*,
//                                     tokenizer files) + trainer_state.json + optimizer.safetensors
//   OUT/model/                        the final policy (HF layout, value head included)
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDefaultCorpus, DEFAULT_MODEL_DIR } from '../data/defaults.js';
import { openReviews } from '../data/dataset.js';
import { rlhfPrompts, type TokenPrompt } from '../data/prompts.js';
import { FileFormatError } from '../errors.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic.js';
import { encodeSafetensors, readSafetensors } from '../io/safetensors.js';
import { saveNeoxCheckpoint, loadNeoxWeights } from '../model/hf-checkpoint.js';
import { loadModel, type LoadedModel } from '../model/load.js';
import type { NeoxEngine } from '../model/neox-engine.js';
import { mulberry32 } from '../random.js';
import { createReward, type RewardModel } from '../reward/reward.js';
import { resolvePpoConfig, type PpoConfig } from './config.js';
import { PpoTrainer, type PpoStepStats } from './trainer.js';

export interface RlhfRunOptions {
  /** Base model: a folder or hub id (default: the shipped default model). */
  model?: string;
  /** 'vader' | 'table:FILE' | 'classifier:MODEL' (default 'vader'). */
  reward?: string;
  /** Reviews: folder, file or hub dataset id (default: the shipped default corpus). */
  dataset?: string;
  out: string;
  /** Total PPO steps (default 390 with the paper preset, 60 with default-world). */
  steps?: number;
  /** 'paper' (Table 1) or 'default-world'; default: 'default-world' for the shipped model, else 'paper'. */
  preset?: string;
  /** Overrides of the preset's PPO config. */
  config?: Partial<PpoConfig>;
  /** Checkpoint every N steps (default 25) and always at the end. */
  checkpointEvery?: number;
  /** Checkpoints kept (default 2). */
  keepCheckpoints?: number;
  /** Continue from the last checkpoint in OUT (default true when one exists). */
  resume?: boolean;
  /** Use at most this many prompts (default: every eligible train review). */
  promptLimit?: number;
  /** Stops after the current step (with a checkpoint) once aborted. */
  signal?: AbortSignal;
  onStart?: (info: { step: number; steps: number; prompts: number }) => void;
  onStep?: (stats: PpoStepStats) => void;
  onMessage?: (message: string) => void;
}

export interface RlhfRunSummary {
  out: string;
  /** The final model folder (OUT/model), or the last checkpoint when stopped early. */
  modelDir: string;
  steps: number;
  stopped: boolean;
  first?: PpoStepStats;
  last?: PpoStepStats;
}

/** What config.json holds; a resume must match it (except steps). */
export interface RlhfRunConfig {
  model: string;
  reward: string;
  dataset: string;
  preset: string;
  steps: number;
  checkpointEvery: number;
  promptLimit: number | null;
  ppo: PpoConfig;
}

const CHECKPOINTS = 'checkpoints';
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt'];

function stepDir(out: string, step: number): string {
  return join(out, CHECKPOINTS, `step-${String(step).padStart(6, '0')}`);
}

/** Checkpoint steps present in OUT, ascending (only complete ones: trainer_state.json is written last). */
export function listCheckpoints(out: string): number[] {
  const dir = join(out, CHECKPOINTS);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((n) => /^step-(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null && existsSync(join(dir, m[0], 'trainer_state.json')))
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** torch.nn.Linear's default init for the value head (U(±1/√h)), seeded, when the checkpoint has none. */
function initValueHead(engine: NeoxEngine, seed: number): void {
  const w = engine.parameter('v_head.summary.weight');
  const b = engine.parameter('v_head.summary.bias');
  const bound = 1 / Math.sqrt(w.length);
  const rnd = mulberry32(seed ^ 0x5eed);
  for (let i = 0; i < w.length; i++) w[i] = (2 * rnd() - 1) * bound;
  b[0] = (2 * rnd() - 1) * bound;
}

export async function runRlhf(opts: RlhfRunOptions): Promise<RlhfRunSummary> {
  const say = opts.onMessage ?? (() => {});
  const modelSpec = opts.model ?? DEFAULT_MODEL_DIR;
  const preset = opts.preset ?? (modelSpec === DEFAULT_MODEL_DIR ? 'default-world' : 'paper');
  const ppo = resolvePpoConfig(opts.config ?? {}, preset);
  const steps = opts.steps ?? (preset === 'default-world' ? 60 : 390);
  const cfg: RlhfRunConfig = {
    model: modelSpec,
    reward: opts.reward ?? 'vader',
    dataset: opts.dataset ?? await ensureDefaultCorpus(),
    preset,
    steps,
    checkpointEvery: opts.checkpointEvery ?? 25,
    promptLimit: opts.promptLimit ?? null,
    ppo,
  };
  if (!Number.isInteger(cfg.steps) || cfg.steps < 1) throw new RangeError(`Expected an integer >= 1 for steps but received ${cfg.steps}`);
  if (!Number.isInteger(cfg.checkpointEvery) || cfg.checkpointEvery < 1) throw new RangeError(`Expected an integer >= 1 for checkpointEvery but received ${cfg.checkpointEvery}`);
  const keep = opts.keepCheckpoints ?? 2;
  const out = opts.out;

  const existing = listCheckpoints(out);
  const resumeFrom = opts.resume === false ? undefined : existing.at(-1);
  const cfgPath = join(out, 'config.json');
  if (resumeFrom !== undefined && existsSync(cfgPath)) {
    const prev = JSON.parse(readFileSync(cfgPath, 'utf8')) as RlhfRunConfig;
    const diff = firstDifference({ ...prev, steps: 0 }, { ...cfg, steps: 0 });
    if (diff) {
      throw new FileFormatError(cfgPath, `the run in ${out} was started with ${diff.path} = ${JSON.stringify(diff.a)}, and this call asks for ${JSON.stringify(diff.b)}; resume with the same settings, or pass a new --out (or --no-resume to start over)`);
    }
  }

  // Models: the policy with a value head, the reference frozen.
  const policyDir = resumeFrom !== undefined ? stepDir(out, resumeFrom) : modelSpec;
  let policy: LoadedModel | null = null;
  let ref: LoadedModel | null = null;
  let reward: RewardModel | null = null;
  let trainer: PpoTrainer | null = null;
  try {
    ref = await loadModel(modelSpec, { load: { unknownTensors: 'warn', onWarning: say } });
    policy = await loadModel(modelSpec, { valueHead: true, load: { unknownTensors: 'warn', onWarning: say } });
    if (resumeFrom !== undefined) {
      loadNeoxWeights(policyDir, policy.config, policy.engine, { valueHead: 'required' });
    } else if (!policy.report.valueHead) {
      initValueHead(policy.engine, ppo.seed);
    }
    const tokenizer = ref.tokenizer;
    if (!tokenizer) throw new FileFormatError(join(ref.dir, 'tokenizer.json'), 'the model folder has no tokenizer.json, which RLHF needs to cut prompts and decode responses');
    reward = await createReward(cfg.reward);

    const source = await openReviews(cfg.dataset, 'train');
    const prompts: TokenPrompt[] = await rlhfPrompts(tokenizer, source, { seed: ppo.seed, limit: cfg.promptLimit ?? undefined });
    if (prompts.length < ppo.batchSize) {
      throw new RangeError(`Expected at least batchSize = ${ppo.batchSize} train reviews longer than 200 characters in ${cfg.dataset} but received ${prompts.length}`);
    }
    trainer = new PpoTrainer({ policy: policy.engine, ref: ref.engine, tokenizer, reward, prompts, config: ppo });

    // The run folder is written only once the models, the reward and the prompts are in hand, so a
    // bad model, reward or dataset leaves no folder behind (nor removes an earlier run's checkpoints).
    mkdirSync(out, { recursive: true });
    if (resumeFrom === undefined && existing.length > 0 && opts.resume === false) {
      rmSync(join(out, CHECKPOINTS), { recursive: true, force: true });
    }
    writeJsonAtomic(cfgPath, cfg);

    const logPath = join(out, 'log.jsonl');
    const samplesPath = join(out, 'samples.jsonl');
    let logLines: string[] = [];
    let sampleLines: string[] = [];
    if (resumeFrom !== undefined) {
      const dir = stepDir(out, resumeFrom);
      const state = JSON.parse(readFileSync(join(dir, 'trainer_state.json'), 'utf8'));
      trainer.loadState(state.trainer);
      const moments = readSafetensors(join(dir, 'optimizer.safetensors')).tensors;
      trainer.optimizer.loadState({ m: [moments.m.data as Float32Array], v: [moments.v.data as Float32Array], step: state.optimizerStep });
      const keepLines = (p: string) => existsSync(p)
        ? readFileSync(p, 'utf8').split('\n').filter((l) => l.trim() !== '' && JSON.parse(l).step <= resumeFrom)
        : [];
      logLines = keepLines(logPath);
      sampleLines = keepLines(samplesPath);
      say(`resuming from ${dir} (step ${resumeFrom})`);
    }
    writeFileAtomic(logPath, logLines.map((l) => l + '\n').join(''));
    writeFileAtomic(samplesPath, sampleLines.map((l) => l + '\n').join(''));

    const tokenizerFiles: Record<string, Uint8Array> = {};
    for (const f of TOKENIZER_FILES) if (existsSync(join(ref.dir, f))) tokenizerFiles[f] = readFileSync(join(ref.dir, f));

    const save = async (dir: string, withState: boolean) => {
      const extra: Record<string, string | Uint8Array> = { ...tokenizerFiles };
      if (withState) {
        const st = trainer!.optimizer.state();
        extra['optimizer.safetensors'] = encodeSafetensors({
          m: { dtype: 'F32', shape: [st.m[0].length], data: st.m[0] },
          v: { dtype: 'F32', shape: [st.v[0].length], data: st.v[0] },
        });
        extra['trainer_state.json'] = JSON.stringify({ trainer: trainer!.state(), optimizerStep: st.step, config: cfg }, null, 2) + '\n';
      }
      await saveNeoxCheckpoint(dir, policy!.config, policy!.engine, { includeValueHead: true, extraFiles: extra });
    };
    const checkpoint = async () => {
      await save(stepDir(out, trainer!.step), true);
      const all = listCheckpoints(out);
      for (const s of all.slice(0, Math.max(0, all.length - keep))) rmSync(stepDir(out, s), { recursive: true, force: true });
    };

    opts.onStart?.({ step: trainer.step, steps: cfg.steps, prompts: prompts.length });
    let first: PpoStepStats | undefined;
    let last: PpoStepStats | undefined;
    let stopped = false;
    while (trainer.step < cfg.steps) {
      if (opts.signal?.aborted) {
        stopped = true;
        break;
      }
      const stats = await trainer.trainStep();
      first ??= stats;
      last = stats;
      logLines.push(JSON.stringify(stats));
      writeFileAtomic(logPath, logLines.map((l) => l + '\n').join(''));
      const sample = trainer.lastSamples(4).map((s) => JSON.stringify({ step: stats.step, ...s }));
      sampleLines.push(...sample);
      writeFileAtomic(samplesPath, sampleLines.map((l) => l + '\n').join(''));
      opts.onStep?.(stats);
      if (trainer.step % cfg.checkpointEvery === 0 && trainer.step < cfg.steps) await checkpoint();
    }
    if (stopped) {
      if (listCheckpoints(out).at(-1) !== trainer.step) await checkpoint();
      say(`stopped at step ${trainer.step}; checkpoint written, rerun the same command to resume`);
      return { out, modelDir: stepDir(out, trainer.step), steps: trainer.step, stopped, first, last };
    }
    await checkpoint();
    await save(join(out, 'model'), false);
    return { out, modelDir: join(out, 'model'), steps: trainer.step, stopped, first, last };
  } finally {
    trainer?.dispose();
    await reward?.dispose();
    policy?.engine.dispose();
    ref?.engine.dispose();
  }
}

/** The first field (dotted path) where two JSON-like values differ. */
function firstDifference(a: unknown, b: unknown, path = ''): { path: string; a: unknown; b: unknown } | null {
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return Object.is(a, b) ? null : { path: path || '(root)', a, b };
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
    if (d) return d;
  }
  return null;
}

/** Read log.jsonl of a run folder. */
export function readRlhfLog(out: string): PpoStepStats[] {
  const p = join(out, 'log.jsonl');
  if (!existsSync(p)) throw new FileFormatError(p, 'no log.jsonl: is this an rlhf output folder?');
  return readFileSync(p, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l, i) => {
    try {
      return JSON.parse(l) as PpoStepStats;
    } catch {
      throw new FileFormatError(p, `line ${i + 1} is not JSON`);
    }
  });
}
