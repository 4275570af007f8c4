// `rewardlens bench activations`: activation collection (collectActivations, the whole path: review
// reading, tokenizing, forward with hooks, F16 shards, manifests) with a Pythia-70m-shaped model of
// random weights (vocab 50304, hidden 512, 6 layers) over the default corpus's reviews (first 50
// tokens each, the shipped tokenizer's ids), at mlp_out of the paper's top-5 layers. Prints one JSON
// line with reviews/s, the time extrapolated to 25,000 reviews, and the peak resident memory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MODEL_DIR } from '../data/defaults.js';
import { collectActivations } from '../interpret/activation-store.js';
import { NeoxEngine } from '../model/neox-engine.js';
import { loadTokenizer } from '../model/tokenizer.js';
import { PYTHIA_70M_SHAPE } from './model.js';

export async function benchActivations(opts: { reviews?: number; layers?: number[]; batchSize?: number } = {}): Promise<void> {
  const reviews = opts.reviews ?? 1000;
  const layers = opts.layers ?? [1, 2, 3, 4, 5];
  const engine = NeoxEngine.create(PYTHIA_70M_SHAPE, { init: 'normal', seed: 0 });
  const tokenizer = loadTokenizer(DEFAULT_MODEL_DIR);
  const out = mkdtempSync(join(tmpdir(), 'rl-bench-acts-'));
  let peakRss = process.memoryUsage().rss;
  const timer = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss); }, 100);
  try {
    const t0 = performance.now();
    const s = await collectActivations({
      model: 'pythia-70m-shape (random)', layers, split: 'all', limit: reviews, batchSize: opts.batchSize, out,
      loaded: { dir: out, config: PYTHIA_70M_SHAPE, engine, tokenizer, report: { files: [], loaded: [], skipped: [], valueHead: false, dtypes: {} } },
      onProgress: () => { peakRss = Math.max(peakRss, process.memoryUsage().rss); },
    });
    const seconds = (performance.now() - t0) / 1000;
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    process.stdout.write(JSON.stringify({
      case: 'activations', shape: { vocab: 50304, hidden: 512, layers: 6, collected: layers.length, maxTokens: 50, batch: opts.batchSize ?? 32 },
      reviews: s.records, rows: s.rows, seconds: +seconds.toFixed(2), reviews_per_s: +(s.records / seconds).toFixed(1),
      extrapolated_25k_s: +((25000 * seconds) / s.records).toFixed(0), rss_peak_mb: Math.round(peakRss / 2 ** 20),
    }) + '\n');
  } finally {
    clearInterval(timer);
    engine.dispose();
    rmSync(out, { recursive: true, force: true });
  }
}
