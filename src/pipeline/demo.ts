// The demo: the whole method on the embedded default world (the shipped 4-layer model and the
// synthetic review corpus), on the CPU in a few minutes. RLHF with the VADER utility reward (the
// default-world preset), the 2 most divergent of the 4 layers, activations of all 5,000 test reviews,
// an SAE pair per model × layer with the paper's settings, the top 30 features, explanations by
// the offline explainer (GPT-4 when OPENAI_API_KEY is set), Tables 3 and 4, and the report.
import { resolvePipelineConfig, type PipelineConfig } from './config.js';

export const DEMO_CONFIG = {
  name: 'rewardlens demo: the default world',
  reward: 'vader',
  rlhf: { steps: 100, promptLimit: 4000 },
  layers: { top: 2 },
  activations: { limit: null },
  features: { topK: 30, shown: 10 },
  explain: { samples: 3 },
  evalUtility: { n: 100, prefixTokens: 30, maxNewTokens: 30, seeds: 3 },
} as const;

/** A reduced demo for tests and CI: every stage, on little data (about a minute on 2 cores). */
export const QUICK_DEMO_CONFIG = {
  name: 'rewardlens demo (quick)',
  reward: 'vader',
  rlhf: { steps: 6, promptLimit: 300, ppo: { batchSize: 16, miniBatchSize: 4 } },
  layers: { top: 2 },
  activations: { limit: 200 },
  sae: { epochs: 1 },
  features: { topK: 5, shown: 3 },
  explain: { samples: 2 },
  evalUtility: { n: 20, prefixTokens: 30, maxNewTokens: 20, seeds: 2 },
} as const;

export function demoConfig(opts: { quick?: boolean; seed?: number } = {}): PipelineConfig {
  const base = opts.quick ? QUICK_DEMO_CONFIG : DEMO_CONFIG;
  return resolvePipelineConfig({ ...structuredClone(base), seed: opts.seed ?? 0 }, opts.quick ? 'demo (quick)' : 'demo');
}
