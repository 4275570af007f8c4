// Explainers: turn a feature's records into a one-sentence explanation. `openai` asks a language
// model (any OpenAI-compatible server) with the paper's prompt; `offline` names the distinguishing
// tokens, deterministically and for free. explainFeatures draws each sample's 5 shown records with
// drawShown(top, seed + sample), as the paper averages over 3 samples.
import { invalidType } from '../../errors.js';
import { checkInt, checkOneOf } from '../../validate.js';
import { drawShown, RECORD_DEFAULTS, type FeatureRecords } from '../records.js';
import { CHAT_DEFAULTS, ChatClient, MalformedReplyError, type ChatStats } from './chat-client.js';
import { offlineExplanation } from './offline-explainer.js';
import { cleanExplanation, explainMessages } from './prompt.js';

export interface Explanation {
  /** The studied model the feature belongs to (FeatureRecords.model). */
  model: string;
  layer: number;
  /** Feature index in the large dictionary. */
  feature: number;
  /** Sample number 0, 1, … (shown records drawn with seed + sample). */
  sample: number;
  /** The explanation, or null when it failed (see error). */
  text: string | null;
  error?: string;
  /** Explainer name, e.g. "openai:gpt-4" or "offline". */
  explainer: string;
  cached: boolean;
  /** Hook point of the feature's dictionary. */
  hook?: string;
  /** Record indices (FeatureRecord.record) shown to the explainer, in rank order. */
  shown?: number[];
}

export interface Explainer {
  readonly name: string;
  explain(f: FeatureRecords, opts: { sample: number; seed: number }): Promise<Explanation>;
  /** Request and cache counts so far (zeros for the offline explainer). */
  readonly stats: ChatStats;
}

export interface ExplainerOptions {
  kind: 'openai' | 'offline';
  /** LLM name (default gpt-4). */
  model?: string;
  baseURL?: string;
  apiKey?: string;
  /** Reply cache folder (openai only). */
  cacheDir?: string;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /** Retries after the first attempt (default 5). */
  maxRetries?: number;
  /** Per-request timeout (default 60000 ms). */
  timeoutMs?: number;
  /** First backoff (default 1000 ms), doubled per retry, with jitter. */
  retryBaseMs?: number;
  /** Longest backoff (default 60000 ms); a server's Retry-After is honoured up to 120 s. */
  retryMaxMs?: number;
  /** Unset: the server's default temperature (the paper's setting). */
  temperature?: number;
}

export const EXPLAIN_DEFAULTS = Object.freeze({
  kind: 'offline' as const,
  model: CHAT_DEFAULTS.model,
  samples: 3,
  seed: 0,
  concurrency: CHAT_DEFAULTS.concurrency,
  shown: RECORD_DEFAULTS.shown,
});

function checkFeature(f: FeatureRecords): void {
  if (f === null || typeof f !== 'object') throw invalidType('FeatureRecords object', 'feature', f);
  if (!Array.isArray(f.top)) throw invalidType('array of FeatureRecord', `feature ${f.feature}.top`, f.top);
  if (!Array.isArray(f.random)) throw invalidType('array of FeatureRecord', `feature ${f.feature}.random`, f.random);
}

function base(f: FeatureRecords, sample: number, explainer: string, shown: number[]): Omit<Explanation, 'text' | 'cached'> {
  return { model: f.model, layer: f.layer, hook: f.hook, feature: f.feature, sample, explainer, shown };
}

class OfflineExplainer implements Explainer {
  readonly name = 'offline';
  readonly stats: ChatStats = { requests: 0, retries: 0, cacheHits: 0, failures: 0 };
  async explain(f: FeatureRecords, opts: { sample: number; seed: number }): Promise<Explanation> {
    checkFeature(f);
    const shown = drawShown(f.top, opts.seed + opts.sample);
    const text = offlineExplanation(shown, f.random);
    return { ...base(f, opts.sample, this.name, shown.map((r) => r.record)), text, cached: false };
  }
}

class OpenAIExplainer implements Explainer {
  readonly name: string;
  readonly client: ChatClient;
  constructor(opts: ExplainerOptions) {
    this.client = new ChatClient(opts);
    this.name = `openai:${this.client.model}`;
  }
  get stats(): ChatStats {
    return this.client.stats;
  }
  async explain(f: FeatureRecords, opts: { sample: number; seed: number }): Promise<Explanation> {
    checkFeature(f);
    const shown = drawShown(f.top, opts.seed + opts.sample);
    const b = base(f, opts.sample, this.name, shown.map((r) => r.record));
    if (shown.length === 0) return { ...b, text: null, error: 'the feature has no top records', cached: false };
    const res = await this.client.complete('explain', explainMessages(f.feature, shown), (reply) => {
      const text = cleanExplanation(reply);
      if (!text) throw new MalformedReplyError('reply holds no explanation text');
      return text;
    });
    return res.text === null ? { ...b, text: null, error: res.error, cached: false } : { ...b, text: res.text, cached: res.cached };
  }
}

export function createExplainer(opts: ExplainerOptions): Explainer {
  if (opts === null || typeof opts !== 'object') throw invalidType('ExplainerOptions object', 'opts', opts);
  const kind = checkOneOf(opts.kind, 'kind', ['openai', 'offline'] as const);
  return kind === 'offline' ? new OfflineExplainer() : new OpenAIExplainer(opts);
}

export interface ExplainFeaturesOptions {
  /** Samples per feature (default 3: the paper's mean over 3). */
  samples?: number;
  /** Base seed (default 0): sample s shows drawShown(top, seed + s). */
  seed?: number;
  /** Features explained at once (default 4; the client also bounds requests in flight). */
  concurrency?: number;
  onProgress?: (done: number, total: number, last: Explanation) => void;
}

/**
 * Explain every feature `samples` times. Failures come back as explanations with `text: null` and
 * an `error`; the run never stops for one. Results are in input order (feature, then sample).
 */
export async function explainFeatures(features: FeatureRecords[], explainer: Explainer, opts: ExplainFeaturesOptions = {}): Promise<Explanation[]> {
  if (!Array.isArray(features)) throw invalidType('array of FeatureRecords', 'features', features);
  if (!explainer || typeof explainer.explain !== 'function') throw invalidType('Explainer', 'explainer', explainer);
  const samples = checkInt(opts.samples ?? EXPLAIN_DEFAULTS.samples, 'samples', 1, 1000);
  const seed = checkInt(opts.seed ?? EXPLAIN_DEFAULTS.seed, 'seed', 0);
  const concurrency = checkInt(opts.concurrency ?? EXPLAIN_DEFAULTS.concurrency, 'concurrency', 1, 256);
  features.forEach((f, i) => {
    if (f === null || typeof f !== 'object' || !Array.isArray(f.top) || !Array.isArray(f.random)) {
      throw invalidType('FeatureRecords with top and random arrays', `features[${i}]`, f);
    }
  });
  const jobs = features.flatMap((f) => Array.from({ length: samples }, (_, s) => ({ f, s })));
  const out = new Array<Explanation>(jobs.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const k = next++;
      const { f, s } = jobs[k];
      try {
        out[k] = await explainer.explain(f, { sample: s, seed });
      } catch (err) {
        out[k] = { ...base(f, s, explainer.name, []), text: null, error: (err as Error)?.message ?? String(err), cached: false };
      }
      done++;
      opts.onProgress?.(done, jobs.length, out[k]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, worker));
  return out;
}
