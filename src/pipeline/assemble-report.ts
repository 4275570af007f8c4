// Gather a run folder's stage outputs into one ReportData (src/report/report-data.ts) and write the
// report (report.json, report.md, index.html, figures/). Missing outputs leave their section out.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { cosineStats } from '../interpret/cosine.js';
import type { FeaturesFile } from '../interpret/records.js';
import type { ExplanationsFile } from '../interpret/explain/files.js';
import type { SimulationScores, Table3 } from '../interpret/scores.js';
import { readDictionary } from '../sae/saelens.js';
import { REPORT_VERSION, type ReportData } from '../report/report-data.js';
import { writeReport } from '../report/write-report.js';
import type { EvalUtilityResult } from '../rlhf/eval-utility.js';
import { readRlhfLog } from '../rlhf/run.js';
import type { PipelineConfig } from './config.js';
import type { StageRecord } from './stage.js';
import { MODEL_LABELS, RUN_PATHS } from './run.js';

export interface AssembleOptions {
  runDir: string;
  config: PipelineConfig;
  base: string;
  tuned: string | null;
  tunedByRlhf: boolean;
  layers: number[];
  hook: string;
  featureFiles: string[];
  stages: StageRecord[];
  table: string;
}

const readJson = <T>(path: string): T | null => (existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : null);

/** Build the report data and write the report; returns the path of report.md. */
export async function assembleReport(o: AssembleOptions): Promise<string> {
  const run = o.runDir;
  const rel = (p: string) => relative(run, p);
  const data: ReportData = {
    version: REPORT_VERSION,
    name: o.config.name,
    createdAt: new Date().toISOString(),
    config: o.config as unknown as Record<string, unknown>,
    models: { base: o.base, tuned: o.tuned ?? '(not trained)', tunedByRlhf: o.tunedByRlhf },
    stages: o.stages.map((s) => ({ name: s.name, status: s.status, seconds: s.seconds, ...(s.error ? { error: s.error } : {}) })),
    layers: o.layers,
    hook: o.hook,
    saes: [],
    mmcs: [],
    features: [],
    explainer: null,
  };

  // RLHF
  const rlhfDir = join(run, RUN_PATHS.rlhf);
  if (o.tunedByRlhf && existsSync(join(rlhfDir, 'log.jsonl'))) {
    const log = readRlhfLog(rlhfDir);
    const samplesPath = join(rlhfDir, 'samples.jsonl');
    const samples = existsSync(samplesPath)
      ? readFileSync(samplesPath, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { step: number; text: string; score: number })
      : [];
    const last = samples.length ? samples[samples.length - 1].step : 0;
    data.rlhf = {
      dir: rel(rlhfDir), steps: log.length, reward: o.config.reward, log,
      samples: samples.filter((s) => s.step === last).slice(0, 8).map((s) => ({ step: s.step, text: s.text, score: s.score })),
      ...(existsSync(join(rlhfDir, 'curves.svg')) ? { curves: { svg: rel(join(rlhfDir, 'curves.svg')), png: rel(join(rlhfDir, 'curves.png')) } } : {}),
    };
  }

  // Divergence
  const div = readJson<{ layers: { layer: number; divergence: number }[]; top: number[] }>(join(run, RUN_PATHS.divergence));
  if (div) {
    const svg = join(run, 'divergence.svg');
    data.divergence = { layers: div.layers, top: div.top, ...(existsSync(svg) ? { chart: { svg: rel(svg), png: rel(join(run, 'divergence.png')) } } : {}) };
  }

  // SAEs (Tables 6–7) and MMCS distributions
  for (const model of MODEL_LABELS) {
    for (const layer of o.layers) {
      const dir = join(run, RUN_PATHS.sae(model, o.hook, layer));
      if (!existsSync(dir)) continue;
      const sizes: { size: number; dir: string }[] = [];
      for (const name of (await import('node:fs')).readdirSync(dir)) {
        const m = readJson<{ size: number; l1: number; trainRows: number; evaluation: { nmse: number; mse: number; l0: number; dead: number } }>(join(dir, name, 'metrics.json'));
        if (!m) continue;
        const training = readJson<{ rewardlens?: { training?: { seconds?: number } } }>(join(dir, name, 'cfg.json'));
        data.saes.push({
          model, layer, size: m.size, dir: rel(join(dir, name)), nmse: m.evaluation.nmse, mse: m.evaluation.mse, l0: m.evaluation.l0,
          dead: m.evaluation.dead, l1: m.l1, trainRows: m.trainRows, seconds: training?.rewardlens?.training?.seconds ?? 0,
        });
        sizes.push({ size: m.size, dir: join(dir, name) });
      }
      if (sizes.length >= 2) {
        sizes.sort((a, b) => b.size - a.size);
        const large = readDictionary(sizes[0].dir);
        const small = readDictionary(sizes[1].dir);
        const stats = await cosineStats(large.W_dec, small.W_dec, large.d, { topK: 1 });
        const ff = readJson<FeaturesFile>(join(run, RUN_PATHS.features(model, o.hook, layer)));
        data.mmcs.push({
          model, layer, match: ff?.match ?? o.config.features.match, mmcs: ff?.mmcs ?? stats.mmcs, maxCos: Array.from(stats.rowMax),
        });
      }
    }
  }

  // Features, explanations and scores
  const expl = readJson<ExplanationsFile>(join(run, RUN_PATHS.explanations));
  const scores = readJson<{ table3: Table3; simulation: SimulationScores | null }>(join(run, RUN_PATHS.scores));
  const key = (m: string, l: number, f: number, s: number) => `${m}|${l}|${f}|${s}`;
  const utilities = new Map((scores?.table3.perExplanation ?? []).map((e) => [key(e.model, e.layer, e.feature, e.sample), e.utility]));
  const sims = new Map((scores?.simulation?.perExplanation ?? []).map((e) => [key(e.model, e.layer, e.feature, e.sample), e.correlation]));
  for (const file of o.featureFiles) {
    const ff = readJson<FeaturesFile>(file);
    if (!ff) continue;
    for (const f of ff.features) {
      const mine = (expl?.explanations ?? []).filter((e) => e.model === f.model && e.layer === f.layer && e.feature === f.feature);
      data.features.push({
        ...f,
        explanations: mine.map((e) => ({
          sample: e.sample, text: e.text, ...(e.error ? { error: e.error } : {}),
          utility: utilities.get(key(e.model, e.layer, e.feature, e.sample)) ?? null,
          simulation: sims.get(key(e.model, e.layer, e.feature, e.sample)) ?? null,
        })),
      });
    }
  }
  if (expl) {
    data.explainer = { name: expl.explainer, samples: expl.samples, requests: expl.stats.requests, cacheHits: expl.stats.cacheHits, failures: expl.stats.failures };
  }
  if (scores) {
    data.table3 = scores.table3;
    if (scores.simulation) data.simulation = scores.simulation;
  }
  const t4 = readJson<EvalUtilityResult>(join(run, RUN_PATHS.evalUtility));
  if (t4) data.table4 = t4;

  return (await writeReport(run, data)).markdown;
}
