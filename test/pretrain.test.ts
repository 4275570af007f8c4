// Pretraining on a tiny config: the loss falls, checkpoints load back through loadModel with the same
// loss, an interrupted and resumed run equals an unbroken one bit for bit, the CLI runs and Ctrl-C
// saves a checkpoint; plus the schedule, batching, unigram baseline and config checks.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { corpusFiles, readJsonlAll } from '../src/data/corpus.js';
import { writeSyntheticCorpus } from '../src/data/synthetic-reviews.js';
import { loadModel } from '../src/model/load.js';
import {
  encodeReviews, epochBatches, evaluateLm, listCheckpoints, lrAt, pretrain, resolvePretrainConfig,
  unigramLogProbs, unigramPerplexity, type EvalLog, type StepLog,
} from '../src/model/pretrain.js';
import { runCli } from './helpers/cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'rl-pretrain-'));
const corpus = join(tmp, 'corpus');
await writeSyntheticCorpus(corpus, { seed: 1, train: 240, test: 40 });

const tiny = {
  model: { hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 64, maxPositions: 128 },
  tokenizer: { vocabSize: 2048 },
  train: {
    steps: 24, batchSize: 8, seqLen: 64, lr: 1e-2, minLr: 1e-3, warmupSteps: 3, evalEvery: 8, evalReviews: 20,
    checkpointEvery: 8, keepCheckpoints: 2, saveDtype: 'F32', seed: 3, bucketBatches: 4, evalBatchSize: 16,
  },
};

type LogLine = Record<string, number | string>;
const readLog = (dir: string): LogLine[] => readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
/** The deterministic part of a log line (timings dropped). */
const stable = (l: LogLine) => Object.fromEntries(Object.entries(l).filter(([k]) => !['tokens_per_s', 'elapsed_s', 'train_seconds', 'wall_seconds'].includes(k)));

describe('pretrain (tiny config)', async () => {
  const outA = join(tmp, 'a');
  const steps: StepLog[] = [];
  const evals: EvalLog[] = [];
  const resA = await pretrain({ corpusDir: corpus, outDir: outA, config: tiny, onStep: (l) => steps.push(l), onEval: (e) => evals.push(e) });

  it('lowers the loss and beats the unigram baseline', () => {
    expect(resA.interrupted).toBe(false);
    expect(steps).toHaveLength(24);
    const first = steps[0].loss;
    const last = steps.slice(-4).reduce((s, l) => s + l.loss, 0) / 4;
    expect(first).toBeGreaterThan(Math.log(600)); // about uniform over the vocabulary at the start
    expect(last).toBeLessThan(first - 1.5);
    expect(evals.map((e) => e.step)).toEqual([8, 16, 24]);
    expect(evals[2].test_loss).toBeLessThan(evals[0].test_loss);
    const m = resA.metrics!;
    expect(m.test_ppl).toBeLessThan(m.unigram_ppl);
    expect(m.ratio).toBeCloseTo(m.unigram_ppl / m.test_ppl, 10);
    expect(m.steps).toBe(24);
    expect(m.test_reviews).toBe(40);
    expect(m.tokens_per_s).toBeGreaterThan(0);
    expect(JSON.parse(readFileSync(join(outA, 'metrics.json'), 'utf8'))).toEqual(m);
  });

  it('follows the learning-rate schedule and logs one line per step and per evaluation', () => {
    const t = resolvePretrainConfig(tiny).train;
    steps.forEach((l, i) => {
      expect(l.step).toBe(i + 1);
      expect(l.lr).toBe(lrAt(i, t));
      expect(l.grad_norm).toBeGreaterThan(0);
      expect(l.tokens).toBeGreaterThan(8 * 2);
    });
    const log = readLog(outA);
    expect(log[0]).toMatchObject({ type: 'unigram', step: 0 });
    expect(log.filter((l) => l.type === 'step')).toHaveLength(24);
    expect(log.filter((l) => l.type === 'eval')).toHaveLength(3);
    expect(log[log.length - 1]).toMatchObject({ type: 'final', step: 24 });
    for (const l of log.filter((x) => x.type === 'step')) {
      expect(Object.keys(l).sort()).toEqual(['elapsed_s', 'grad_norm', 'loss', 'lr', 'step', 'tokens', 'tokens_per_s', 'type']);
    }
    expect(JSON.parse(readFileSync(join(outA, 'pretrain-config.json'), 'utf8'))).toEqual(resolvePretrainConfig(tiny));
  });

  it('keeps the newest checkpoints, each a Hugging Face folder that loadModel reads with the same loss', async () => {
    expect(listCheckpoints(outA).map((c) => c.step)).toEqual([16, 24]);
    const ckpt = join(outA, 'checkpoint-24');
    expect(readdirSync(ckpt).sort()).toEqual(['config.json', 'model.safetensors', 'optimizer.safetensors', 'special_tokens_map.json',
      'tokenizer.json', 'tokenizer_config.json', 'trainer_state.json']);
    const loaded = await loadModel(ckpt);
    const fromModel = await loadModel(join(outA, 'model'));
    try {
      expect(loaded.tokenizer).not.toBeNull();
      expect(loaded.config.vocabSize).toBe(loaded.tokenizer!.vocabSize);
      expect(loaded.config).toMatchObject({ hiddenSize: 32, numLayers: 2, rotaryPct: 0.25, parallelResidual: true, hiddenAct: 'gelu', tieWordEmbeddings: false, eosTokenId: 0 });
      const test = await readJsonlAll(corpusFiles(corpus).test);
      const rows = encodeReviews(loaded.tokenizer!, test.slice(0, 20), 64);
      const ev = await evaluateLm(loaded.engine, rows, loaded.tokenizer!.padTokenId!, 16);
      // The loss the training engine logged at step 24, recomputed from the files.
      expect(ev.loss).toBeCloseTo(evals[2].test_loss, 5);
      const ev2 = await evaluateLm(fromModel.engine, rows, 1, 16);
      expect(ev2.loss).toBe(ev.loss);
      const all = encodeReviews(loaded.tokenizer!, test, 64);
      expect((await evaluateLm(fromModel.engine, all, 1, 16)).ppl).toBeCloseTo(resA.metrics!.test_ppl, 6);
    } finally {
      loaded.engine.dispose();
      fromModel.engine.dispose();
    }
  });

  it('resumes an interrupted run to the same weights and log as an unbroken run', async () => {
    const outB = join(tmp, 'b');
    const ac = new AbortController();
    const part = await pretrain({ corpusDir: corpus, outDir: outB, config: tiny, signal: ac.signal, onStep: (l) => { if (l.step === 11) ac.abort(); } });
    expect(part).toMatchObject({ interrupted: true, step: 11 });
    expect(part.metrics).toBeUndefined();
    expect(listCheckpoints(outB).map((c) => c.step)).toEqual([8, 11]);
    expect(existsSync(join(outB, 'model'))).toBe(false);
    // An interrupted process may have logged past its checkpoint; resuming drops those lines.
    writeFileSync(join(outB, 'log.jsonl'), readFileSync(join(outB, 'log.jsonl'), 'utf8') + JSON.stringify({ type: 'step', step: 12, loss: 0 }) + '\n');
    // Without --resume the folder is refused; with a different config the resume is refused.
    await expect(pretrain({ corpusDir: corpus, outDir: outB, config: tiny })).rejects.toThrow(/checkpoint-8, checkpoint-11/);
    await expect(pretrain({ corpusDir: corpus, outDir: outB, resume: true, config: { ...tiny, train: { ...tiny.train, lr: 0.02 } } }))
      .rejects.toThrow(/train\.lr: 0\.01 \(saved\) vs 0\.02 \(given\)/);
    let startedAt = -1;
    const rest = await pretrain({ corpusDir: corpus, outDir: outB, resume: true, onStart: (s) => { startedAt = s.step; } });
    expect(startedAt).toBe(11);
    expect(rest.interrupted).toBe(false);
    expect(readFileSync(join(outB, 'model', 'model.safetensors')).equals(readFileSync(join(outA, 'model', 'model.safetensors')))).toBe(true);
    expect(readFileSync(join(outB, 'checkpoint-24', 'optimizer.safetensors')).equals(readFileSync(join(outA, 'checkpoint-24', 'optimizer.safetensors')))).toBe(true);
    expect(readLog(outB).map(stable)).toEqual(readLog(outA).map(stable));
    expect(rest.metrics!.test_ppl).toBe(resA.metrics!.test_ppl);
  });

  it('saves F16 models when asked, and reports their perplexity as saved', async () => {
    const outC = join(tmp, 'c');
    const res = await pretrain({ corpusDir: corpus, outDir: outC, config: { ...tiny, train: { ...tiny.train, saveDtype: 'F16', steps: 8 } } });
    const header = readFileSync(join(outC, 'model', 'model.safetensors'));
    const len = Number(header.readBigUInt64LE(0));
    expect(header.subarray(8, 8 + len).toString()).toContain('"dtype":"F16"');
    expect(readFileSync(join(outC, 'checkpoint-8', 'model.safetensors')).subarray(8, 8 + 200).toString()).toContain('F32');
    expect(res.metrics!.save_dtype).toBe('F16');
  });
});

describe('schedule, batches and baseline', () => {
  it('warms up linearly, then decays along a cosine to minLr', () => {
    const t = { lr: 1, minLr: 0.1, warmupSteps: 4, steps: 14 };
    expect([0, 1, 2, 3].map((s) => lrAt(s, t))).toEqual([0.25, 0.5, 0.75, 1]);
    expect(lrAt(4, t)).toBe(1);
    expect(lrAt(9, t)).toBeCloseTo(0.55, 12);
    expect(lrAt(14, t)).toBeCloseTo(0.1, 12);
    expect(lrAt(0, { ...t, warmupSteps: 0 })).toBe(1);
  });

  it('makes seeded epochs of full batches, sorted by length within each bucket', () => {
    const lengths = Array.from({ length: 103 }, (_, i) => (i * 37) % 50 + 2);
    const a = epochBatches(lengths, 10, 3, 5, 0);
    expect(a).toHaveLength(10);
    expect(a.every((b) => b.length === 10)).toBe(true);
    expect(new Set(a.flat()).size).toBe(100);
    expect(epochBatches(lengths, 10, 3, 5, 0)).toEqual(a);
    expect(epochBatches(lengths, 10, 3, 5, 1)).not.toEqual(a);
    expect(epochBatches(lengths, 10, 3, 6, 0)).not.toEqual(a);
    for (const b of a) for (let i = 1; i < b.length; i++) expect(lengths[b[i]]).toBeGreaterThanOrEqual(lengths[b[i - 1]]);
  });

  it('computes the add-one unigram perplexity on targets after the first token', () => {
    const train = [Int32Array.from([5, 1, 1, 2]), Int32Array.from([4, 2])]; // targets 1, 1, 2, 2
    const lp = unigramLogProbs(train, 4);
    [1 / 8, 3 / 8, 3 / 8, 1 / 8].forEach((p, i) => expect(Math.exp(lp[i])).toBeCloseTo(p, 14));
    const u = unigramPerplexity(lp, [Int32Array.from([0, 1, 3])]);
    expect(u.tokens).toBe(2);
    expect(u.ppl).toBeCloseTo(Math.sqrt(8 / 3 * 8), 12);
  });

  it('checks configs, naming the field', () => {
    expect(() => resolvePretrainConfig({ train: { stpes: 3 } }, 'cfg.json')).toThrow(/cfg\.json: field "train\.stpes": expected no such field/);
    expect(() => resolvePretrainConfig({ model: { maxPositions: 64 }, train: { seqLen: 128 } })).toThrow(/train\.seqLen.*at most model\.maxPositions \(64\)/);
    expect(() => resolvePretrainConfig({ model: { hiddenSize: 30, numHeads: 4 } })).toThrow(/numHeads/);
    expect(() => resolvePretrainConfig({ train: { saveDtype: 'F8' } })).toThrow(/saveDtype/);
    const d = resolvePretrainConfig({});
    expect(d.model).toMatchObject({ hiddenSize: 128, numLayers: 4, numHeads: 4, intermediateSize: 512, rotaryPct: 0.25, hiddenAct: 'gelu' });
  });
});

describe('rewardlens pretrain', () => {
  const cfgFile = join(tmp, 'tiny.json');
  writeFileSync(cfgFile, JSON.stringify({ ...tiny, train: { ...tiny.train, steps: 6, evalEvery: 3, checkpointEvery: 3 } }));

  it('trains, writes the folder and prints the metrics', () => {
    const out = join(tmp, 'cli');
    const r = runCli(['pretrain', '--corpus', corpus, '--config', cfgFile, '--out', out, '--quiet']);
    expect(r.code).toBe(0);
    const m = JSON.parse(r.stdout);
    expect(m).toMatchObject({ out, model: join(out, 'model'), steps: 6 });
    expect(m.test_ppl).toBeGreaterThan(1);
    expect(readLog(out).filter((l) => l.type === 'step')).toHaveLength(6);
    const again = runCli(['pretrain', '--corpus', corpus, '--config', cfgFile, '--out', out, '--quiet']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/--resume/);
    const resumed = runCli(['pretrain', '--corpus', corpus, '--out', out, '--resume', '--quiet']);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout).test_ppl).toBe(m.test_ppl);
  });

  it('saves a checkpoint and exits 130 on Ctrl-C', async () => {
    const out = join(tmp, 'sigint');
    const long = join(tmp, 'long.json');
    writeFileSync(long, JSON.stringify({ ...tiny, train: { ...tiny.train, steps: 100000, checkpointEvery: 100000, evalEvery: 100000 } }));
    const bin = join(__dirname, '..', 'bin', 'rewardlens.js');
    const child = spawn(process.execPath, [bin, 'pretrain', '--corpus', corpus, '--config', long, '--out', out, '--quiet'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const logPath = join(out, 'log.jsonl');
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !(existsSync(logPath) && readFileSync(logPath, 'utf8').split('\n').length > 5)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGINT');
    const code = await exited;
    expect(code).toBe(130);
    expect(stderr).toMatch(/saving a checkpoint/);
    const ckpts = listCheckpoints(out);
    expect(ckpts).toHaveLength(1);
    const state = JSON.parse(readFileSync(join(ckpts[0].dir, 'trainer_state.json'), 'utf8'));
    expect(state.step).toBe(ckpts[0].step);
    expect(readLog(out).filter((l) => l.type === 'step').pop()!.step).toBe(ckpts[0].step);
  });
});
