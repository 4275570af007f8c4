// Explanation scores: Table 3 on hand-checked explanations (utilities read here from VADER's file),
// simulation correlations with the keyword simulator (right explanation 1, wrong ~0, baseline below
// right), the LLM simulator through a loopback server (reply parsing, cache), and Pearson itself.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Explanation } from '../src/interpret/explain/explainer.js';
import { drawShown } from '../src/interpret/records.js';
import { simulationScores, table3 } from '../src/interpret/scores.js';
import { explanationKeywords, heldOutRecords, keywordSimulator, llmSimulator, parseSimulation, pearson, simulationScore } from '../src/interpret/simulation.js';
import { UtilityTable } from '../src/reward/utility-table.js';
import { chatReply, startChatServer, type ChatServer } from './helpers/chat-server.js';
import { syntheticFeature } from './helpers/synthetic-feature.js';

/** VADER's lexicon read here, independently of the reward module: word → mean valence. */
function readVader(): Map<string, number> {
  const path = createRequire(import.meta.url).resolve('vader-sentiment/vader_lexicon.txt');
  const m = new Map<string, number>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [w, v] = line.split('\t');
    if (w && v !== undefined) m.set(w, Number(v));
  }
  return m;
}

function expl(model: string, feature: number, sample: number, text: string | null): Explanation {
  return { model, layer: 2, hook: 'mlp_out', feature, sample, text, explainer: 'test', cached: false };
}

describe('Table 3: aggregate absolute utility', () => {
  it('sums |mean utility| over explained features per sample, then mean ± sd over samples', async () => {
    const vader = readVader();
    const u = (w: string) => vader.get(w)!;
    for (const w of ['good', 'great', 'bad', 'terrible', 'love', 'critics', 'hate']) expect(vader.has(w)).toBe(true);
    const explanations = [
      expl('base', 10, 0, 'Fires on good and great reviews'),        // good, great
      expl('base', 11, 0, 'Looks for the word terrible.'),           // terrible. → terrible
      expl('base', 10, 1, 'Movies people love but critics hate'),     // love, critics, hate
      expl('base', 11, 1, 'Names of actors'),                        // no lexicon word → 0
      expl('base', 10, 2, 'Bad, BAD acting'),                        // bad, → bad ; BAD → bad
      expl('base', 11, 2, null),                                     // failed: left out, counted
      expl('tuned', 10, 0, 'great great good'),
    ];
    const r = table3(explanations, await UtilityTable.vader());
    const s0 = Math.abs((u('good') + u('great')) / 2) + Math.abs(u('terrible'));
    const s1 = Math.abs((u('love') + u('critics') + u('hate')) / 3) + 0;
    for (const w of ['fires', 'on', 'and', 'reviews', 'looks', 'movies', 'people', 'names', 'actors', 'acting']) expect(vader.has(w)).toBe(false);
    const s2 = Math.abs(u('bad'));
    expect(r.models.base.perSample.map((p) => p.sample)).toEqual([0, 1, 2]);
    expect(r.models.base.perSample[0].score).toBeCloseTo(s0, 12);
    expect(r.models.base.perSample[1].score).toBeCloseTo(s1, 12);
    expect(r.models.base.perSample[2].score).toBeCloseTo(s2, 12);
    expect(r.models.base.perSample[2]).toMatchObject({ explained: 1, failed: 1 });
    const mean = (s0 + s1 + s2) / 3;
    const sd = Math.sqrt(((s0 - mean) ** 2 + (s1 - mean) ** 2 + (s2 - mean) ** 2) / 2);
    expect(r.models.base.mean).toBeCloseTo(mean, 12);
    expect(r.models.base.sd).toBeCloseTo(sd, 12);
    expect(r.models.tuned.mean).toBeCloseTo(Math.abs((2 * u('great') + u('good')) / 3), 12);
    expect(r.models.tuned.sd).toBe(0);
    expect(r.perExplanation.find((p) => p.sample === 2 && p.feature === 11)!.utility).toBeNull();
  });

  it('uses any utility table', () => {
    const t = UtilityTable.fromEntries([['reward', 2], ['penalty', -4]], 'tiny');
    const r = table3([expl('m', 1, 0, 'reward penalty penalty'), expl('m', 2, 0, 'Penalty')], t);
    expect(r.models.m.mean).toBeCloseTo(Math.abs((2 - 8) / 3) + 4, 12);
    expect(r.table).toBe('tiny');
  });
});

describe('simulation scoring', () => {
  const planted = ['great', 'wonderful', 'best'];
  const f = syntheticFeature({ feature: 4, planted, constant: true, seed: 9 });

  it('pearson matches a hand computation and is 0 for a constant series', () => {
    // x = 1,2,3,4 ; y = 2,4,5,9: means 2.5 and 5; Σdxdy = 1.5·3+0.5·1+0.5·0+1.5·4 = 11; Σdx² = 5; Σdy² = 9+1+0+16 = 26
    expect(pearson([1, 2, 3, 4], [2, 4, 5, 9])).toBeCloseTo(11 / Math.sqrt(5 * 26), 12);
    expect(pearson([1, 1, 1], [1, 2, 3])).toBe(0);
  });

  it('keywords: quoted terms, else content words', () => {
    expect([...explanationKeywords("Fires on tokens like 'great', 'don't', \"best\".")].sort()).toEqual(['best', "don't", 'great']);
    expect([...explanationKeywords('Fires on praise for the acting.')].sort()).toEqual(['acting', 'praise']);
  });

  it('an explanation naming exactly the firing tokens scores 1; a wrong one ~0 and lower', async () => {
    const records = heldOutRecords(f, drawShown(f.top, 0).map((r) => r.record));
    expect(records.length).toBe(15 + 20);
    const sim = keywordSimulator();
    const right = await simulationScore(sim, 4, "Fires on tokens like 'great', 'wonderful', 'best'.", records);
    expect(right.correlation).toBeCloseTo(1, 12);
    expect(right.tokens).toBe(35 * 12);
    const wrong = await simulationScore(sim, 4, "Fires on tokens like 'plot', 'actor'.", records);
    expect(Math.abs(wrong.correlation!)).toBeLessThan(0.2);
    expect(wrong.correlation!).toBeLessThan(right.correlation!);
    const partial = await simulationScore(sim, 4, "Fires on 'great'.", records);
    expect(partial.correlation!).toBeGreaterThan(0.3);
    expect(partial.correlation!).toBeLessThan(1);
  });

  it('per model: explanations beat the other-feature baseline; failures are reported', async () => {
    const g = syntheticFeature({ feature: 5, planted: ['awful', 'boring'], constant: true, seed: 3 });
    const h = syntheticFeature({ feature: 6, planted: ['funny'], constant: true, seed: 4 });
    const explanations = [
      { ...expl('base', 4, 0, "Fires on tokens like 'great', 'wonderful', 'best'."), shown: drawShown(f.top, 0).map((r) => r.record) },
      { ...expl('base', 5, 0, "Fires on tokens like 'awful', 'boring'."), shown: drawShown(g.top, 0).map((r) => r.record) },
      { ...expl('base', 6, 0, "Fires on tokens like 'funny'."), shown: drawShown(h.top, 0).map((r) => r.record) },
      expl('base', 6, 1, null),
      expl('base', 99, 0, 'A feature not in the files.'),
    ];
    const r = await simulationScores(explanations, [f, g, h], keywordSimulator(), { seed: 1 });
    const ok = r.perExplanation.filter((e) => e.correlation !== null);
    expect(ok).toHaveLength(3);
    for (const e of ok) {
      expect(e.correlation).toBeCloseTo(1, 12);
      expect(e.baseline!).toBeLessThan(0.2);
      expect(e.baselineText).not.toBe(explanations.find((x) => x.feature === e.feature)!.text);
    }
    expect(r.models.base.scored).toBe(3);
    expect(r.models.base.failed).toBe(2);
    expect(r.models.base.correlation.mean).toBeCloseTo(1, 12);
    expect(r.models.base.baseline.mean).toBeLessThan(r.models.base.correlation.mean);
    expect(r.perExplanation.find((e) => e.feature === 99)!.error).toMatch(/not found/);
    // repeatable for a seed
    const again = await simulationScores(explanations, [f, g, h], keywordSimulator(), { seed: 1 });
    expect(again.perExplanation.map((e) => e.baselineText)).toEqual(r.perExplanation.map((e) => e.baselineText));
    // random-words baseline
    const rw = await simulationScores(explanations.slice(0, 1), [f], keywordSimulator(), { baseline: 'random-words' });
    expect(rw.perExplanation[0].baselineText).toMatch(/^Fires on tokens like /);
    expect(rw.perExplanation[0].baseline!).toBeLessThan(rw.perExplanation[0].correlation!);
  });

  it('parses simulator replies robustly', () => {
    const toks = [' the', ' great', ' movie'];
    expect(parseSimulation('the\t0\ngreat\t10\nmovie\t1\n', toks)).toEqual([0, 10, 1]);
    expect(parseSimulation('```\nthe: 0\n great | 12\nmovie 2\n```', toks)).toEqual([0, 10, 2]);
    expect(parseSimulation('Here you go:\n0\n9\n0', toks)).toEqual([0, 9, 0]);
    expect(parseSimulation('the\t1\nmovie\t3', toks)).toEqual([1, 0, 3]); // a skipped token gets 0
    expect(() => parseSimulation('I cannot do that.', toks)).toThrow(/0 token lines for 3 tokens/);
  });
});

describe('LLM simulator through a loopback server', () => {
  let server: ChatServer;
  const dir = mkdtempSync(join(tmpdir(), 'rewardlens-scores-'));
  beforeAll(async () => {
    server = await startChatServer((_r, _c, res) => chatReply(res, ''));
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('predicts from the explanation, correlates, and caches', async () => {
    // the "model": 10 on tokens the explanation quotes, 0 elsewhere, one line per token
    server.reset((req, _c, res) => {
      const text = req.messages[1].content;
      const explanation = /Explanation of feature \d+: (.*)\n/.exec(text)![1];
      const words = explanation.match(/'([^']+)'/g)!.map((w) => w.slice(1, -1));
      const tokens = /<start>\n([\s\S]*)\n<end>/.exec(text)![1].split('\n');
      return chatReply(res, tokens.map((t) => `${t}\t${words.includes(t.trim()) ? 10 : 0}`).join('\n'));
    });
    const f = syntheticFeature({ feature: 8, planted: ['superb'], constant: true, seed: 5 });
    const records = heldOutRecords(f, drawShown(f.top, 0).map((r) => r.record));
    const cacheDir = join(dir, 'cache');
    const sim = llmSimulator({ baseURL: server.url, cacheDir, retryBaseMs: 5 });
    const r = await simulationScore(sim, 8, "Fires on 'superb'.", records);
    expect(r.correlation).toBeCloseTo(1, 12);
    expect(server.calls).toBe(records.length);
    expect(server.requests[0].messages[1].content).toContain("Explanation of feature 8: Fires on 'superb'.");
    const sim2 = llmSimulator({ baseURL: server.url, cacheDir });
    const r2 = await simulationScore(sim2, 8, "Fires on 'superb'.", records);
    expect(r2.correlation).toBe(r.correlation);
    expect(server.calls).toBe(records.length);
    expect(sim2.stats.cacheHits).toBe(records.length);
  });

  it('an unparsable reply is retried, then the score is reported as failed', async () => {
    server.reset((_r, _c, res) => chatReply(res, 'Sorry, I cannot help with that.'));
    const f = syntheticFeature({ feature: 9, planted: ['dull'], constant: true });
    const sim = llmSimulator({ baseURL: server.url, maxRetries: 1, retryBaseMs: 1 });
    const r = await simulationScore(sim, 9, "Fires on 'dull'.", f.top.slice(0, 2));
    expect(r.correlation).toBeNull();
    expect(r.error).toMatch(/token lines.*after 2 attempts/);
    expect(server.calls).toBe(4);
  });
});
