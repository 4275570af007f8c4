// The word-level tokenizer built from the corpus: loads through src/model/tokenizer.ts (the path
// Pythia's tokenizer takes), round-trips every corpus text to canonicalText(text), and lays out its
// vocabulary and special tokens as build-tokenizer.ts documents.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SPECIAL_TOKENS, buildWordTokenizer, canonicalText, preTokenize, tokenizerFromFiles, writeTokenizerFiles } from '../src/data/build-tokenizer.js';
import { syntheticReviews } from '../src/data/synthetic-reviews.js';
import { loadTokenizer } from '../src/model/tokenizer.js';

const tmp = mkdtempSync(join(tmpdir(), 'rl-buildtok-'));
const train = [...syntheticReviews('train', 3000, 0)];
const test = [...syntheticReviews('test', 500, 0)];

describe('canonicalText', () => {
  it('lower-cases and separates words and punctuation runs by single spaces', () => {
    expect(canonicalText("It's GREAT,  really!\n10/10...")).toBe("it ' s great , really ! 10 / 10 ...");
    expect(preTokenize('The Silent River (1987)')).toEqual(['the', 'silent', 'river', '(', '1987', ')']);
    expect(canonicalText('   ')).toBe('');
  });
});

describe('buildWordTokenizer', async () => {
  const files = await buildWordTokenizer(train.map((r) => r.text), { modelMaxLength: 256 });
  writeTokenizerFiles(join(tmp, 'tok'), files);
  const tok = loadTokenizer(join(tmp, 'tok'));

  it('loads through loadTokenizer with eos, pad, unk (and bos = eos, as Pythia) named', () => {
    expect(tok.eosTokenId).toBe(0);
    expect(tok.padTokenId).toBe(1);
    expect(tok.unkTokenId).toBe(2);
    expect(tok.bosTokenId).toBe(0);
    expect(tok.eosToken).toBe(SPECIAL_TOKENS.eos);
    expect(tok.padIsEos).toBe(false);
    for (const id of [0, 1, 2]) expect(tok.isSpecial(id)).toBe(true);
    const cfg = JSON.parse(readFileSync(join(tmp, 'tok', 'tokenizer_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ eos_token: '<|endoftext|>', pad_token: '[PAD]', unk_token: '[UNK]', model_max_length: 256 });
    // Same tokenizer from the in-memory files.
    expect(tokenizerFromFiles(files).encode('the plot was great .')).toEqual(tok.encode('the plot was great .'));
  });

  it('holds the specials, the ASCII punctuation, then the corpus words by count', () => {
    const vocab = (files['tokenizer.json'].model as { vocab: Record<string, number> }).vocab;
    const n = Object.keys(vocab).length;
    expect(tok.vocabSize).toBe(n);
    expect(n).toBeGreaterThan(600);
    expect(n).toBeLessThan(2000);
    expect(vocab['.']).toBeLessThan(3 + 32);
    expect(vocab['~']).toBeLessThan(3 + 32);
    // The most frequent word comes right after the punctuation block.
    expect(vocab.the).toBe(35);
    expect(new Set(Object.values(vocab)).size).toBe(n);
    expect(Math.max(...Object.values(vocab))).toBe(n - 1);
  });

  it('round-trips every train and test review: decode(encode(text)) = canonicalText(text)', () => {
    for (const r of [...train, ...test]) {
      const ids = tok.encode(r.text);
      expect(ids).not.toContain(tok.unkTokenId);
      expect(tok.decode(ids)).toBe(canonicalText(r.text));
    }
  });

  it('adds no special tokens when encoding; maps unknown words to [UNK]', () => {
    const ids = tok.encode('The plot was great.');
    expect(ids).toHaveLength(5);
    expect(ids).not.toContain(tok.eosTokenId);
    const unk = tok.encode('The zyzzyva was great');
    expect(unk[1]).toBe(tok.unkTokenId);
    expect(tok.decode(unk)).toBe('the [UNK] was great');
    expect(tok.decode([...ids, 0], { skipSpecialTokens: true })).toBe('the plot was great .');
  });

  it('caps the vocabulary and honours minFrequency, deterministically', async () => {
    const small = await buildWordTokenizer(train.map((r) => r.text), { vocabSize: 100 });
    const v = (small['tokenizer.json'].model as { vocab: Record<string, number> }).vocab;
    expect(Object.keys(v)).toHaveLength(100);
    const again = await buildWordTokenizer(train.map((r) => r.text), { vocabSize: 100 });
    expect(JSON.stringify(again)).toBe(JSON.stringify(small));
    const rare = await buildWordTokenizer(['a a b'], { minFrequency: 2 });
    const rv = (rare['tokenizer.json'].model as { vocab: Record<string, number> }).vocab;
    expect(rv.a).toBe(35);
    expect(rv.b).toBeUndefined();
    await expect(buildWordTokenizer(['x'], { vocabSize: 10 })).rejects.toThrow(/vocabSize/);
  });
});
