// Prompts as the paper cuts them: RLHF prompts (first 2–9 tokens of train reviews longer than 200
// characters, length seeded per prompt), evaluation prefixes (first 30 tokens of the first 100 test
// reviews), activation inputs (first 50 tokens of each test review); and id batches.
import { describe, expect, it } from 'vitest';
import { buildWordTokenizer, tokenizerFromFiles } from '../src/data/build-tokenizer.js';
import type { ReviewRecord } from '../src/data/corpus.js';
import { activationInputs, batchFromIds, evalPrefixes, rlhfPrompts } from '../src/data/prompts.js';
import { syntheticReviews } from '../src/data/synthetic-reviews.js';

const train = [...syntheticReviews('train', 1500, 2)];
const test = [...syntheticReviews('test', 300, 2)];
const tok = tokenizerFromFiles(await buildWordTokenizer(train.map((r) => r.text)));
const shortOnes: ReviewRecord[] = [{ text: 'Sweet and charming.', label: 1 }, { text: 'x'.repeat(200), label: 0 }];

describe('rlhfPrompts', () => {
  it('takes the first k ∈ [2, 9] tokens of each review longer than 200 characters', async () => {
    const records = [...shortOnes, ...train];
    const prompts = await rlhfPrompts(tok, records, { seed: 5 });
    const eligible = records.map((r, i) => ({ r, i })).filter(({ r }) => r.text.length > 200);
    expect(prompts).toHaveLength(eligible.length);
    const seen = new Set<number>();
    prompts.forEach((p, k) => {
      expect(p.source).toBe(eligible[k].i);
      expect(p.label).toBe(eligible[k].r.label);
      expect(p.ids.length).toBeGreaterThanOrEqual(2);
      expect(p.ids.length).toBeLessThanOrEqual(9);
      expect(p.truncated).toBe(true);
      const full = tok.encode(eligible[k].r.text, { addSpecialTokens: false });
      expect(p.ids).toEqual(full.slice(0, p.ids.length));
      expect(p.text).toBe(tok.decode(p.ids));
      seen.add(p.ids.length);
    });
    // Every length occurs, each roughly an eighth of the time.
    expect([...seen].sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    for (let k = 2; k <= 9; k++) {
      const share = prompts.filter((p) => p.ids.length === k).length / prompts.length;
      expect(share).toBeGreaterThan(0.08);
      expect(share).toBeLessThan(0.17);
    }
  });

  it('is deterministic for a seed, differs across seeds, reads async sources and honours limit', async () => {
    const a = await rlhfPrompts(tok, train, { seed: 1, limit: 200 });
    async function* stream() {
      yield* train;
    }
    const b = await rlhfPrompts(tok, stream(), { seed: 1, limit: 200 });
    const c = await rlhfPrompts(tok, train, { seed: 2, limit: 200 });
    expect(b).toEqual(a);
    expect(a).toHaveLength(200);
    expect(c.map((p) => p.ids.length)).not.toEqual(a.map((p) => p.ids.length));
    const fixed = await rlhfPrompts(tok, train, { minTokens: 4, maxTokens: 4, limit: 20 });
    expect(fixed.every((p) => p.ids.length === 4)).toBe(true);
    await expect(rlhfPrompts(tok, train, { minTokens: 5, maxTokens: 3 })).rejects.toThrow(/maxTokens/);
    await expect(rlhfPrompts(tok, [{ text: 1 } as never])).rejects.toThrow(/records\[0\]/);
  });
});

describe('evalPrefixes and activationInputs', () => {
  it('cuts the first 30 tokens of the first 100 test reviews', async () => {
    const p = await evalPrefixes(tok, test);
    expect(p).toHaveLength(100);
    p.forEach((x, i) => {
      expect(x.source).toBe(i);
      const full = tok.encode(test[i].text, { addSpecialTokens: false });
      expect(x.ids).toEqual(full.slice(0, 30));
      expect(x.ids).toHaveLength(Math.min(30, full.length));
    });
  });

  it('cuts the first 50 tokens of every test review (all of a shorter one)', async () => {
    const p = await activationInputs(tok, [...test, shortOnes[0]]);
    expect(p).toHaveLength(test.length + 1);
    p.slice(0, -1).forEach((x, i) => {
      const full = tok.encode(test[i].text, { addSpecialTokens: false });
      expect(x.ids).toEqual(full.slice(0, 50));
      expect(x.truncated).toBe(full.length > 50);
    });
    expect(p.filter((x) => x.ids.length === 50).length).toBeGreaterThan(test.length * 0.8);
    const last = p[p.length - 1];
    expect(last.ids).toEqual(tok.encode('Sweet and charming.', { addSpecialTokens: false }));
    expect(last.truncated).toBe(false);
    expect(last.text).toBe('sweet and charming .');
    expect(await activationInputs(tok, test, { limit: 7, tokens: 12 })).toHaveLength(7);
  });
});

describe('batchFromIds', () => {
  it('pads left (default) or right with masks and positions counted from the first real token', () => {
    const left = batchFromIds([[5, 6, 7], [8]], 1);
    expect(Array.from(left.inputIds)).toEqual([5, 6, 7, 1, 1, 8]);
    expect(Array.from(left.attentionMask)).toEqual([1, 1, 1, 0, 0, 1]);
    expect(Array.from(left.positionIds)).toEqual([0, 1, 2, 0, 0, 0]);
    expect(Array.from(left.lengths)).toEqual([3, 1]);
    const right = batchFromIds([[5, 6, 7], [8]], 1, { padding: 'right', T: 4 });
    expect(right.T).toBe(4);
    expect(Array.from(right.inputIds)).toEqual([5, 6, 7, 1, 8, 1, 1, 1]);
    expect(Array.from(right.positionIds)).toEqual([0, 1, 2, 0, 0, 0, 0, 0]);
    expect(() => batchFromIds([[1], []], 0)).toThrow(/rows\[1\]/);
    expect(() => batchFromIds([[1, 2]], 0, { T: 1 })).toThrow(/T/);
  });

  it('gives the batch Tokenizer.encodeBatch gives for the same texts', () => {
    const texts = test.slice(0, 4).map((r) => r.text);
    const viaIds = batchFromIds(texts.map((t) => tok.encode(t, { addSpecialTokens: false })), tok.padTokenId!);
    const viaText = tok.encodeBatch(texts, { addSpecialTokens: false });
    expect(viaIds).toEqual(viaText);
  });
});
