// The shipped default model (models/default): it loads through loadModel like any Hugging Face folder,
// is the shape and size its card says, and beats the add-one unigram model on the default corpus's
// test split by the margin its card claims, MEASURED here on the first 300 test reviews (the corpus is
// regenerated from its seed in memory; the unigram counts come from the whole default train split,
// as in pretraining).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalText } from '../src/data/build-tokenizer.js';
import { DEFAULT_MODEL_DIR, defaultCorpusManifest, defaultCorpusReviews } from '../src/data/defaults.js';
import { loadModel } from '../src/model/load.js';
import { encodeReviews, evaluateLm, resolvePretrainConfig, unigramLogProbs, unigramPerplexity } from '../src/model/pretrain.js';

interface Card {
  test_ppl: number;
  unigram_ppl: number;
  ratio: number;
  /** The margin the card promises: unigram ppl / model ppl is at least this on the test split. */
  min_ratio: number;
  corpus: { generator: string; version: number; seed: number; train: number; test: number };
  parameters: number;
}

const card = JSON.parse(readFileSync(join(DEFAULT_MODEL_DIR, 'metrics.json'), 'utf8')) as Card;
const readme = readFileSync(join(DEFAULT_MODEL_DIR, 'README.md'), 'utf8');
const config = resolvePretrainConfig(JSON.parse(readFileSync(join(DEFAULT_MODEL_DIR, 'pretrain-config.json'), 'utf8')));

describe('models/default', async () => {
  const model = await loadModel(DEFAULT_MODEL_DIR);
  const tok = model.tokenizer!;

  it('is a Pythia-shaped GPT-NeoX in F16 with its tokenizer, under 10 MB', () => {
    expect(tok).not.toBeNull();
    expect(model.config).toMatchObject({
      hiddenSize: config.model.hiddenSize, numLayers: config.model.numLayers, numHeads: config.model.numHeads,
      intermediateSize: config.model.intermediateSize, maxPositions: config.model.maxPositions, rotaryPct: 0.25,
      parallelResidual: true, hiddenAct: 'gelu', tieWordEmbeddings: false, vocabSize: tok.vocabSize, eosTokenId: tok.eosTokenId,
    });
    expect(model.report.dtypes).toEqual({ F16: model.report.loaded.length });
    expect(model.engine.allParameters().length).toBe(card.parameters);
    const bytes = readdirSync(DEFAULT_MODEL_DIR).reduce((s, f) => s + statSync(join(DEFAULT_MODEL_DIR, f)).size, 0);
    expect(bytes).toBeLessThan(10 * 1024 * 1024);
    const m = defaultCorpusManifest();
    expect(card.corpus).toEqual({ generator: m.generator, version: m.version, seed: m.seed, train: m.train, test: m.test });
  });

  it('tokenizes the default corpus without unknown words and round-trips it', () => {
    for (const r of defaultCorpusReviews('test', 200)) {
      const ids = tok.encode(r.text);
      expect(ids).not.toContain(tok.unkTokenId);
      expect(tok.decode(ids)).toBe(canonicalText(r.text));
    }
  });

  it('beats the unigram perplexity on test reviews by the margin in its card', async () => {
    const seqLen = config.train.seqLen;
    const train = encodeReviews(tok, [...defaultCorpusReviews('train')], seqLen);
    const test = encodeReviews(tok, [...defaultCorpusReviews('test', 300)], seqLen);
    const unigram = unigramPerplexity(unigramLogProbs(train, tok.vocabSize), test);
    const ev = await evaluateLm(model.engine, test, tok.padTokenId!, 64);
    const ratio = unigram.ppl / ev.ppl;
    expect(ev.tokens).toBe(unigram.tokens);
    expect(ratio).toBeGreaterThanOrEqual(card.min_ratio);
    // The sample agrees with the card's whole-test-split figures.
    expect(Math.abs(ev.ppl / card.test_ppl - 1)).toBeLessThan(0.1);
    expect(Math.abs(unigram.ppl / card.unigram_ppl - 1)).toBeLessThan(0.1);
    // And the card says what metrics.json says.
    expect(readme).toContain(card.test_ppl.toFixed(2));
    expect(readme).toContain(card.unigram_ppl.toFixed(1));
    expect(readme).toContain(`at least ${card.min_ratio}×`);
  });

  it('continues a review prefix with a plausible next word', async () => {
    const ids = tok.encode('The plot was', { addSpecialTokens: false });
    const { logits } = await model.engine.forward({ inputIds: Int32Array.from(ids), B: 1, T: ids.length }, { logits: true });
    const V = tok.vocabSize;
    const last = logits!.subarray((ids.length - 1) * V, ids.length * V);
    const top = [...last.keys()].sort((a, b) => last[b] - last[a]).slice(0, 10).map((i) => tok.idToToken(i));
    // After "the plot was" the corpus has an adjective, an intensifier or "not".
    expect(top.filter((w) => /^[a-z]+$/.test(w!)).length).toBeGreaterThanOrEqual(8);
    expect(top).not.toContain('.');
  });
});
