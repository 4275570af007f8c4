// `rewardlens explain FEATURES_JSON...`: explain every feature of one or more features files, 3
// samples each (the paper's mean over 3), with an LLM or the offline explainer; writes
// OUT/explanations.json and keeps LLM replies in a cache (OUT/cache) so a rerun costs nothing.
import { join } from 'node:path';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { createExplainer, EXPLAIN_DEFAULTS, explainFeatures } from '../interpret/explain/explainer.js';
import { CHAT_DEFAULTS } from '../interpret/explain/chat-client.js';
import { readFeaturesFile, writeExplanationsFile, type ExplanationsFile } from '../interpret/explain/files.js';
import { checkInt, checkNumber } from '../validate.js';
import { progressBar } from './progress.js';

export interface ExplainArgs {
  features: string[];
  explainer: 'offline' | 'openai';
  model: string;
  baseUrl?: string;
  samples: number;
  concurrency: number;
  seed: number;
  maxRetries: number;
  timeout: number;
  temperature?: number;
  out: string;
  cacheDir?: string;
  quiet: boolean;
}

export function explainBuilder(y: Argv): Argv<ExplainArgs> {
  return y
    .positional('features', { type: 'string', array: true, demandOption: true, describe: 'features files (features/<model>.<hook>.<layer>.json)' })
    .option('explainer', { choices: ['offline', 'openai'] as const, default: EXPLAIN_DEFAULTS.kind, describe: 'offline: distinguishing tokens, free; openai: an LLM through any OpenAI-compatible server' })
    .option('model', { type: 'string', default: CHAT_DEFAULTS.model, describe: 'LLM name (openai)' })
    .option('base-url', { type: 'string', describe: 'OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (default: OpenAI; key from OPENAI_API_KEY)' })
    .option('samples', { type: 'number', default: EXPLAIN_DEFAULTS.samples, describe: 'explanations per feature, each from 5 top records drawn with seed + sample' })
    .option('concurrency', { type: 'number', default: EXPLAIN_DEFAULTS.concurrency, describe: 'requests in flight at once' })
    .option('seed', { type: 'number', default: EXPLAIN_DEFAULTS.seed })
    .option('max-retries', { type: 'number', default: CHAT_DEFAULTS.maxRetries, describe: 'retries per request on 429, 5xx, timeouts and malformed replies' })
    .option('timeout', { type: 'number', default: CHAT_DEFAULTS.timeoutMs, describe: 'per-request timeout in ms' })
    .option('temperature', { type: 'number', describe: "sampling temperature (default: the server's, as the paper)" })
    .option('out', { type: 'string', demandOption: true, describe: 'output folder: explanations.json (+ cache/)' })
    .option('cache-dir', { type: 'string', describe: 'reply cache folder (default OUT/cache)' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' }) as unknown as Argv<ExplainArgs>;
}

export async function explainCommand(args: ArgumentsCamelCase<ExplainArgs>): Promise<void> {
  const samples = checkInt(args.samples, '--samples', 1, 1000);
  const concurrency = checkInt(args.concurrency, '--concurrency', 1, 256);
  const seed = checkInt(args.seed, '--seed', 0);
  checkInt(args.maxRetries, '--max-retries', 0, 100);
  checkInt(args.timeout, '--timeout', 1);
  if (args.temperature !== undefined) checkNumber(args.temperature, '--temperature', 0, 2);
  const paths = args.features;
  const features = paths.flatMap((p) => readFeaturesFile(p).features);
  const explainer = createExplainer({
    kind: args.explainer, model: args.model, baseURL: args.baseUrl, concurrency, maxRetries: args.maxRetries,
    timeoutMs: args.timeout, temperature: args.temperature, cacheDir: args.cacheDir ?? join(args.out, 'cache'),
  });
  const bar = progressBar(features.length * samples, `explain (${explainer.name})`, { quiet: args.quiet });
  let failures = 0;
  const explanations = await explainFeatures(features, explainer, {
    samples, seed, concurrency,
    onProgress: (done, _total, last) => {
      if (last.text === null) failures++;
      bar.update(done, { info: failures ? `${failures} failed` : '' });
    },
  });
  bar.stop();
  const s = explainer.stats;
  const file: ExplanationsFile = {
    format: 'rewardlens-explanations', version: 1, explainer: explainer.name, samples, seed, features: paths,
    stats: { explanations: explanations.length, failures, requests: s.requests, retries: s.retries, cacheHits: s.cacheHits },
    explanations,
  };
  writeExplanationsFile(join(args.out, 'explanations.json'), file);
  process.stdout.write(JSON.stringify({ out: join(args.out, 'explanations.json'), ...file.stats }) + '\n');
  for (const e of explanations) if (e.text === null) process.stderr.write(`rewardlens: feature ${e.feature} (${e.model}, sample ${e.sample}) failed: ${e.error}\n`);
}
