// `rewardlens run`: the paper's Algorithm 1 end to end in one run folder (see ../shared/DESIGN.md):
//   rlhf (unless a tuned model is given) → divergence → activations per model → an SAE pair per model
//   × layer → MMCS and top-k features with their records → explanations → scores (Table 3,
//   simulation) → Table 4 → report.
// Each stage reads its inputs from the run folder and writes its outputs there; a stage whose inputs
// have not changed is skipped on a rerun (src/pipeline/stage.ts); a failure names the stage and
// leaves earlier outputs in place; the report is written with whatever finished.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDefaultCorpus } from '../data/defaults.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { collectActivations, storeDirName } from '../interpret/activation-store.js';
import { divergenceStage } from '../interpret/divergence.js';
import { createExplainer, explainFeatures, type Explanation } from '../interpret/explain/explainer.js';
import { readFeatures, writeExplanationsFile } from '../interpret/explain/files.js';
import { featuresStage } from '../interpret/features.js';
import { trainSaePair, type SaePairSummary } from '../interpret/sae-pairs.js';
import { simulationScores, table3 } from '../interpret/scores.js';
import { keywordSimulator, llmSimulator } from '../interpret/simulation.js';
import { readNeoxConfig } from '../model/hf-config.js';
import { UtilityTable } from '../reward/utility-table.js';
import { evalUtility } from '../rlhf/eval-utility.js';
import { runRlhf } from '../rlhf/run.js';
import type { PipelineConfig } from './config.js';
import { assembleReport } from './assemble-report.js';
import { fingerprint, StageError, StageRunner } from './stage.js';

export interface PipelineOptions {
  config: PipelineConfig;
  runDir: string;
  /** Redo every stage even when its marker says it is done. */
  force?: boolean;
  quiet?: boolean;
  signal?: AbortSignal;
  onMessage?: (message: string) => void;
  /** Progress of the long stages (a label, done, total). */
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface PipelineResult {
  runDir: string;
  stages: StageRunner['records'];
  report: string | null;
  error?: StageError;
}

export const MODEL_LABELS = ['base', 'tuned'] as const;

/** Where each stage writes, relative to the run folder (DESIGN.md's layout). */
export const RUN_PATHS = {
  rlhf: 'rlhf',
  divergence: 'divergence.json',
  activations: (model: string) => join('activations', model),
  sae: (model: string, hook: string, layer: number) => join('sae', model, `${hook}.${layer}`),
  features: (model: string, hook: string, layer: number) => join('features', `${model}.${hook}.${layer}.json`),
  explanations: join('explanations', 'explanations.json'),
  explanationCache: join('explanations', 'cache'),
  scores: 'scores.json',
  evalUtility: 'eval-utility.json',
} as const;

export async function runPipeline(o: PipelineOptions): Promise<PipelineResult> {
  const cfg = o.config;
  const run = o.runDir;
  const say = o.onMessage ?? (() => {});
  const runner = new StageRunner(run, { force: o.force, onMessage: say });
  const p = (rel: string) => join(run, rel);
  writeJsonAtomic(p('config.json'), cfg);
  const dataset = cfg.dataset ?? await ensureDefaultCorpus();
  const base = cfg.model;
  let tuned = cfg.tuned;
  const ctx: { layers: number[]; pairs: Map<string, SaePairSummary>; featureFiles: string[] } = { layers: [], pairs: new Map(), featureFiles: [] };
  let error: StageError | undefined;
  const explainerKind = cfg.explain.explainer ?? (process.env.OPENAI_API_KEY ? 'openai' : 'offline');

  try {
    // 1. RLHF (skipped when a tuned model is given)
    if (tuned === null) {
      const out = p(RUN_PATHS.rlhf);
      const res = await runner.run('rlhf', { base: fingerprint(base), reward: cfg.reward, dataset: fingerprint(dataset), rlhf: cfg.rlhf, seed: cfg.seed }, [], [join(out, 'model')], async () => {
        const opts = {
          model: base, reward: cfg.reward, dataset, out, steps: cfg.rlhf.steps ?? undefined, preset: cfg.rlhf.preset ?? undefined,
          config: { seed: cfg.seed, ...cfg.rlhf.ppo }, checkpointEvery: cfg.rlhf.checkpointEvery, promptLimit: cfg.rlhf.promptLimit ?? undefined,
          signal: o.signal, onMessage: say,
          onStep: (s: { step: number }) => o.onProgress?.('rlhf', s.step, stepsTotal),
        };
        let stepsTotal = cfg.rlhf.steps ?? 0;
        const r = await runRlhf({ ...opts, onStart: (i) => { stepsTotal = i.steps; } }).catch(async (err: Error) => {
          // a run folder left by different settings: start the stage over
          if (!/was started with/.test(err.message)) throw err;
          say(`rlhf: settings changed since the last run; starting over in ${out}`);
          rmSync(out, { recursive: true, force: true });
          return runRlhf({ ...opts, onStart: (i) => { stepsTotal = i.steps; } });
        });
        if (r.stopped) throw new Error(`stopped at step ${r.steps}; rerun to resume`);
        return { modelDir: r.modelDir, steps: r.steps };
      });
      tuned = res.modelDir;
    } else {
      runner.skip('rlhf');
    }
    const models: Record<(typeof MODEL_LABELS)[number], string> = { base, tuned };
    const modelInputs = { base: fingerprint(base), tuned: cfg.tuned === null ? 'rlhf' : fingerprint(tuned) };

    // 2. Divergence → the layers to study
    const div = await runner.run('divergence', { models: modelInputs, layers: cfg.layers }, ['rlhf'], [p(RUN_PATHS.divergence)], async () => {
      const r = await divergenceStage(base, tuned!, p(RUN_PATHS.divergence), { top: 'top' in cfg.layers ? cfg.layers.top : 1 });
      return { layers: r.layers, top: r.top };
    });
    if ('list' in cfg.layers) {
      const n = div.layers.length;
      for (const l of cfg.layers.list) if (l >= n) throw new StageError('divergence', new RangeError(`Expected layers below the model's ${n} for config field layers but received ${l}`));
      ctx.layers = [...cfg.layers.list];
    } else {
      ctx.layers = div.top.slice(0, cfg.layers.top);
    }
    const hook = cfg.hook;

    // 3. Activations per model (all studied layers in one pass)
    for (const label of MODEL_LABELS) {
      const out = p(RUN_PATHS.activations(label));
      const stores = ctx.layers.map((l) => join(out, storeDirName(hook, l)));
      await runner.run(`activations.${label}`, { model: modelInputs[label], dataset: fingerprint(dataset), layers: ctx.layers, hook, a: cfg.activations }, ['rlhf', 'divergence'], stores, async () => {
        if (runner.stale(`activations.${label}`)) rmSync(out, { recursive: true, force: true });
        const r = await collectActivations({
          model: models[label], layers: ctx.layers, hook, dataset, split: cfg.activations.split, maxTokens: cfg.activations.maxTokens,
          limit: cfg.activations.limit ?? undefined, dtype: cfg.activations.dtype, batchSize: cfg.activations.batchSize, out, signal: o.signal,
          onProgress: (pr) => o.onProgress?.(`activations.${label}`, pr.records, cfg.activations.limit ?? 0),
        });
        if (!r.complete) throw new Error('stopped before the end; rerun to resume');
        return { rows: r.rows, records: r.records };
      });
    }

    // 4. SAE pairs per model × layer
    for (const label of MODEL_LABELS) {
      for (const layer of ctx.layers) {
        const name = `sae.${label}.${layer}`;
        const out = p(RUN_PATHS.sae(label, hook, layer));
        const store = join(p(RUN_PATHS.activations(label)), storeDirName(hook, layer));
        const summary = await runner.run(name, { sae: cfg.sae, seed: cfg.seed }, [`activations.${label}`], [out], async () => {
          rmSync(out, { recursive: true, force: true });
          return trainSaePair({
            activations: store, out, preset: cfg.sae.preset ?? undefined, sizes: cfg.sae.sizes ?? undefined, l1: cfg.sae.l1 ?? undefined,
            lr: cfg.sae.lr, batchSize: cfg.sae.batchSize, epochs: cfg.sae.epochs, seed: cfg.seed, evalFraction: cfg.sae.evalFraction, signal: o.signal,
            onStep: (_size, _m, pr) => o.onProgress?.(name, pr.epoch * pr.batchesPerEpoch + pr.batch, cfg.sae.epochs * pr.batchesPerEpoch),
          });
        });
        ctx.pairs.set(`${label}.${layer}`, summary);
      }
    }

    // 5. MMCS, top-k features and their records per model × layer
    for (const label of MODEL_LABELS) {
      for (const layer of ctx.layers) {
        const pair = ctx.pairs.get(`${label}.${layer}`)!;
        const sorted = [...pair.sizes].sort((a, b) => b.size - a.size);
        if (sorted.length < 2) throw new StageError(`features.${label}.${layer}`, new RangeError('Expected two dictionary sizes (large and small) for config field sae.sizes but received one'));
        const out = p(RUN_PATHS.features(label, hook, layer));
        await runner.run(`features.${label}.${layer}`, { f: cfg.features, seed: cfg.seed }, [`sae.${label}.${layer}`], [out], async () => {
          const r = await featuresStage({
            activations: join(p(RUN_PATHS.activations(label)), storeDirName(hook, layer)), sae: sorted[0].dir, small: sorted[1].dir,
            model: models[label], name: label, topK: cfg.features.topK, match: cfg.features.match, seed: cfg.seed, out,
          });
          return { mmcs: r.mmcs, features: r.features.length };
        });
        ctx.featureFiles.push(out);
      }
    }
    const featureDeps = MODEL_LABELS.flatMap((l) => ctx.layers.map((layer) => `features.${l}.${layer}`));

    // 6. Explanations
    const explPath = p(RUN_PATHS.explanations);
    const explainerSettings = { kind: explainerKind, model: cfg.explain.model, baseURL: cfg.explain.baseURL, samples: cfg.explain.samples };
    await runner.run('explain', { e: explainerSettings, seed: cfg.seed }, featureDeps, [explPath], async () => {
      const features = readFeatures(ctx.featureFiles);
      const explainer = createExplainer({
        kind: explainerKind, model: cfg.explain.model, baseURL: cfg.explain.baseURL ?? undefined,
        cacheDir: p(RUN_PATHS.explanationCache), concurrency: cfg.explain.concurrency,
      });
      const explanations = await explainFeatures(features, explainer, {
        samples: cfg.explain.samples, seed: cfg.seed, concurrency: cfg.explain.concurrency,
        onProgress: (d, t) => o.onProgress?.('explain', d, t),
      });
      const failures = explanations.filter((e) => e.text === null).length;
      writeExplanationsFile(explPath, {
        format: 'rewardlens-explanations', version: 1, explainer: explainer.name, samples: cfg.explain.samples, seed: cfg.seed,
        features: ctx.featureFiles, stats: { explanations: explanations.length, requests: explainer.stats.requests, retries: explainer.stats.retries, cacheHits: explainer.stats.cacheHits, failures }, explanations,
      });
      return { explainer: explainer.name, explanations: explanations.length, failures, stats: explainer.stats };
    });

    // 7. Scores: Table 3 and simulation
    const table = await loadTable(cfg.scores.table);
    await runner.run('scores', { table: cfg.scores.table === 'vader' ? 'vader' : fingerprint(cfg.scores.table), simulator: cfg.scores.simulator, model: cfg.explain.model }, ['explain'], [p(RUN_PATHS.scores)], async () => {
      const { readExplanationsFile } = await import('../interpret/explain/files.js');
      const ex = readExplanationsFile(explPath);
      const explanations: Explanation[] = ex.explanations;
      const t3 = table3(explanations, table);
      let sim = null;
      if (cfg.scores.simulator !== null) {
        const simulator = cfg.scores.simulator === 'openai'
          ? llmSimulator({ model: cfg.explain.model, baseURL: cfg.explain.baseURL ?? undefined, cacheDir: p(RUN_PATHS.explanationCache), concurrency: cfg.explain.concurrency })
          : keywordSimulator();
        sim = await simulationScores(explanations, readFeatures(ctx.featureFiles), simulator, { seed: cfg.seed, explainSeed: ex.seed, onProgress: (d, t) => o.onProgress?.('scores', d, t) });
      }
      writeJsonAtomic(p(RUN_PATHS.scores), { table3: t3, simulation: sim });
      return { table3: Object.fromEntries(Object.entries(t3.models).map(([m, v]) => [m, { mean: v.mean, sd: v.sd }])) };
    });

    // 8. Table 4
    if (cfg.evalUtility) {
      const ev = cfg.evalUtility;
      await runner.run('eval-utility', { models: modelInputs, ev, table: cfg.scores.table, seed: cfg.seed }, ['rlhf'], [p(RUN_PATHS.evalUtility)], async () => {
        const r = await evalUtility({
          models: MODEL_LABELS.map((label) => ({ label, spec: models[label] })), dataset, n: ev.n, prefixTokens: ev.prefixTokens,
          maxNewTokens: Math.min(ev.maxNewTokens, maxNewTokensFor(base, ev.prefixTokens)), seeds: Array.from({ length: ev.seeds }, (_, i) => cfg.seed + i), table,
          onProgress: (d, t) => o.onProgress?.('eval-utility', d, t),
        });
        writeJsonAtomic(p(RUN_PATHS.evalUtility), r);
        return { models: r.models.map((m) => ({ label: m.label, mean: m.mean, std: m.std })) };
      });
    } else {
      runner.skip('eval-utility');
    }
  } catch (err) {
    if (err instanceof StageError) error = err;
    else error = new StageError('setup', err);
  }

  // 9. Report, with whatever finished
  let report: string | null = null;
  try {
    report = await assembleReport({ runDir: run, config: cfg, base, tuned, tunedByRlhf: cfg.tuned === null, layers: ctx.layers, hook: cfg.hook, featureFiles: ctx.featureFiles, stages: runner.records, table: cfg.scores.table });
  } catch (err) {
    say(`report: ${(err as Error).message}`);
    if (!error) error = new StageError('report', err);
  }
  return { runDir: run, stages: runner.records, report, error };
}

async function loadTable(spec: string): Promise<UtilityTable> {
  return spec === 'vader' ? UtilityTable.vader() : UtilityTable.load(spec);
}

/** New tokens that fit after a prefix in the model's positions. */
function maxNewTokensFor(model: string, prefixTokens: number): number {
  try {
    const dir = existsSync(model) ? model : null;
    if (!dir) return Number.MAX_SAFE_INTEGER;
    return Math.max(1, readNeoxConfig(dir).maxPositions - prefixTokens);
  } catch {
    return Number.MAX_SAFE_INTEGER;
  }
}
