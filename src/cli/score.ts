// `rewardlens score EXPLANATIONS_JSON`: the paper's Table 3 (aggregate absolute utility per model,
// per sample and mean ± sd) and simulation correlations against a chance baseline; writes scores.json.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { invalidType } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic.js';
import { barChartSvg, writeChart } from '../report/chart.js';
import { CHAT_DEFAULTS } from '../interpret/explain/chat-client.js';
import { readExplanationsFile, readFeatures } from '../interpret/explain/files.js';
import { simulationScores, table3, type BaselineKind, type SimulationScores, type Table3 } from '../interpret/scores.js';
import { keywordSimulator, llmSimulator, type Simulator } from '../interpret/simulation.js';
import { UtilityTable } from '../reward/utility-table.js';
import { checkInt } from '../validate.js';
import { progressBar } from './progress.js';

export interface ScoreArgs {
  explanations: string;
  features?: string[];
  table: string;
  simulator: 'offline' | 'openai' | 'none';
  model: string;
  baseUrl?: string;
  concurrency: number;
  maxRetries: number;
  timeout: number;
  cacheDir?: string;
  baseline: BaselineKind;
  seed: number;
  out: string;
  figures: boolean;
  quiet: boolean;
}

export interface ScoresFile {
  format: 'rewardlens-scores';
  version: 1;
  explanations: string;
  explainer: string;
  table3: Table3;
  simulation: SimulationScores | null;
  /** Chart files written beside scores.json (SVG and PNG). */
  figures: string[];
}

export function scoreBuilder(y: Argv): Argv<ScoreArgs> {
  return y
    .positional('explanations', { type: 'string', demandOption: true, describe: 'explanations.json written by `rewardlens explain`' })
    .option('features', { type: 'string', array: true, describe: 'features files for simulation (default: those the explanations were made from)' })
    .option('table', { type: 'string', default: 'vader', describe: 'utility table: vader, or a TSV/CSV/JSON file' })
    .option('simulator', { choices: ['offline', 'openai', 'none'] as const, default: 'offline' as const, describe: 'offline: keyword simulator; openai: an LLM predicts activations; none: Table 3 only' })
    .option('model', { type: 'string', default: CHAT_DEFAULTS.model, describe: 'LLM name (openai simulator)' })
    .option('base-url', { type: 'string', describe: 'OpenAI-compatible server (openai simulator)' })
    .option('concurrency', { type: 'number', default: CHAT_DEFAULTS.concurrency })
    .option('max-retries', { type: 'number', default: CHAT_DEFAULTS.maxRetries })
    .option('timeout', { type: 'number', default: CHAT_DEFAULTS.timeoutMs, describe: 'per-request timeout in ms' })
    .option('cache-dir', { type: 'string', describe: 'reply cache (default: cache/ beside --out)' })
    .option('baseline', { choices: ['other-feature', 'random-words'] as const, default: 'other-feature' as const, describe: 'chance explanation scored beside each real one' })
    .option('seed', { type: 'number', default: 0, describe: 'seed of the baseline draws' })
    .option('out', { type: 'string', demandOption: true, describe: 'scores.json path' })
    .option('figures', { type: 'boolean', default: true, describe: 'bar charts beside --out: OUT.table3.{svg,png}, OUT.simulation.{svg,png} (--no-figures to skip)' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' }) as unknown as Argv<ScoreArgs>;
}

/** Bar charts of Table 3 (mean per model) and of the simulation correlation beside its baseline. */
export function writeScoreCharts(base: string, t3: Table3, simulation: SimulationScores | null): string[] {
  const files: string[] = [];
  const models = Object.keys(t3.models);
  if (models.length > 0) {
    const svg = barChartSvg({
      title: 'Aggregate absolute utility of explanations (Table 3)', xLabel: 'model', yLabel: 'score (mean over samples)',
      labels: models, values: models.map((m) => (Number.isFinite(t3.models[m].mean) ? t3.models[m].mean : 0)),
    });
    const p = writeChart(`${base}.table3`, svg);
    files.push(p.svg, p.png);
  }
  if (simulation && Object.keys(simulation.models).length > 0) {
    const labels: string[] = [];
    const values: number[] = [];
    for (const [m, r] of Object.entries(simulation.models)) {
      labels.push(m, `${m} (baseline)`);
      values.push(Number.isFinite(r.correlation.mean) ? r.correlation.mean : 0, Number.isFinite(r.baseline.mean) ? r.baseline.mean : 0);
    }
    const svg = barChartSvg({ title: `Simulation correlation (${simulation.simulator})`, xLabel: 'model', yLabel: 'mean Pearson r', labels, values });
    const p = writeChart(`${base}.simulation`, svg);
    files.push(p.svg, p.png);
  }
  return files;
}

const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');

export async function scoreCommand(args: ArgumentsCamelCase<ScoreArgs>): Promise<void> {
  const seed = checkInt(args.seed, '--seed', 0);
  const concurrency = checkInt(args.concurrency, '--concurrency', 1, 256);
  const file = readExplanationsFile(args.explanations);
  if (args.table !== 'vader' && !existsSync(args.table)) throw invalidType('"vader" or an existing table file', '--table', args.table);
  const table = args.table === 'vader' ? await UtilityTable.vader() : await UtilityTable.load(args.table);
  const t3 = table3(file.explanations, table);

  let simulation: SimulationScores | null = null;
  if (args.simulator !== 'none') {
    const paths = args.features ?? file.features ?? [];
    if (paths.length === 0) throw invalidType('features files (--features) for simulation scoring, or --simulator none', '--features', paths);
    const features = readFeatures(paths);
    const simulator: Simulator = args.simulator === 'offline' ? keywordSimulator() : llmSimulator({
      model: args.model, baseURL: args.baseUrl, concurrency, maxRetries: checkInt(args.maxRetries, '--max-retries', 0, 100),
      timeoutMs: checkInt(args.timeout, '--timeout', 1), cacheDir: args.cacheDir ?? join(dirname(args.out), 'cache'),
    });
    const bar = progressBar(file.explanations.length, `simulate (${simulator.name})`, { quiet: args.quiet });
    simulation = await simulationScores(file.explanations, features, simulator, {
      seed, baseline: args.baseline, explainSeed: file.seed, onProgress: (d) => bar.update(d),
    });
    bar.stop();
  }
  const figures = args.figures ? writeScoreCharts(args.out.replace(/\.json$/i, ''), t3, simulation) : [];
  const out: ScoresFile = { format: 'rewardlens-scores', version: 1, explanations: args.explanations, explainer: file.explainer, table3: t3, simulation, figures };
  writeJsonAtomic(args.out, out);

  const lines = [`Table 3 (aggregate absolute utility, ${table.source})`, 'model                 mean      sd   per sample'];
  for (const [m, r] of Object.entries(t3.models)) lines.push(`${m.padEnd(18)} ${f3(r.mean).padStart(8)} ${f3(r.sd).padStart(7)}   ${r.perSample.map((p) => f3(p.score)).join(' ')}`);
  if (simulation) {
    lines.push('', `Simulation correlation (${simulation.simulator}, baseline ${simulation.baseline})`, 'model              explanation  baseline  scored failed');
    for (const [m, r] of Object.entries(simulation.models)) {
      lines.push(`${m.padEnd(18)} ${f3(r.correlation.mean).padStart(11)} ${f3(r.baseline.mean).padStart(9)} ${String(r.scored).padStart(7)} ${String(r.failed).padStart(6)}`);
    }
  }
  lines.push('', `wrote ${args.out}`);
  process.stdout.write(lines.join('\n') + '\n');
}
