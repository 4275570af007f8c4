// Tokenizers from local files: ids worked out by hand from small tokenizer.json files (see
// helpers/hf-tokenizers.ts for the vocabularies), round trips, special tokens, and batch layout.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileFormatError } from '../src/errors.js';
import { Tokenizer, loadTokenizer } from '../src/model/tokenizer.js';
import { PYTHIA_TOKENIZER_CONFIG, bpeTokenizer, bytesToUnicode, wordLevelTokenizer } from './helpers/hf-tokenizers.js';

const tmp = mkdtempSync(join(tmpdir(), 'rl-tok-'));
let counter = 0;

function folder(files: Record<string, unknown>): string {
  const dir = join(tmp, `t${counter++}`);
  mkdirSync(dir);
  for (const [name, value] of Object.entries(files)) writeFileSync(join(dir, name), typeof value === 'string' ? value : JSON.stringify(value));
  return dir;
}

const pythiaLike = () => loadTokenizer(folder({ 'tokenizer.json': bpeTokenizer(), 'tokenizer_config.json': PYTHIA_TOKENIZER_CONFIG }));
const wordLevel = () => loadTokenizer(folder({
  'tokenizer.json': wordLevelTokenizer(),
  'tokenizer_config.json': { tokenizer_class: 'PreTrainedTokenizerFast' },
  'special_tokens_map.json': { pad_token: { content: '[PAD]', lstrip: false }, eos_token: '<|endoftext|>', unk_token: '[UNK]' },
}));

/** Id of a printable ASCII character in the BPE test vocabulary. */
const ch = (c: string) => c.charCodeAt(0) - 31;
const SPACE = 222; // 'Ġ'
const [Gt, he, ll, Gthe, hell, hello, or, wor] = [258, 259, 260, 261, 262, 263, 264, 265];

describe('BPE tokenizer (Pythia layout)', () => {
  it('lays the byte alphabet out as the helper documents', () => {
    const t = pythiaLike();
    const symbols = bytesToUnicode();
    expect(symbols[0]).toEqual([33, '!']);
    expect(symbols[220]).toEqual([32, 'Ġ']);
    expect(t.tokenToId('Ġ')).toBe(SPACE);
    expect(t.tokenToId('a')).toBe(66);
    expect(t.tokenToId('wor')).toBe(wor);
    expect(t.idToToken(Gthe)).toBe('Ġthe');
    expect(t.tokenToId('nope')).toBeNull();
    expect(t.vocabSize).toBe(266);
  });

  it('encodes known strings to the ids the merges give', () => {
    const t = pythiaLike();
    // "hello": h e → he; l l → ll; he ll → hell; hell o → hello.
    expect(t.encode('hello')).toEqual([hello]);
    // " the": Ġ t → Ġt; h e → he; Ġt he → Ġthe. " world": o r → or; w or → wor; no merge joins Ġ, l, d.
    expect(t.encode('hello the world')).toEqual([hello, Gthe, SPACE, wor, ch('l'), ch('d')]);
    expect(t.tokenize('hello the world')).toEqual(['hello', 'Ġthe', 'Ġ', 'wor', 'l', 'd']);
    expect(t.encode('hell')).toEqual([hell]);
    // "the" without a space: no "t he" merge.
    expect(t.encode('the')).toEqual([ch('t'), he]);
    expect(t.encode(' t')).toEqual([Gt]);
    expect(t.encode('Hello')).toEqual([ch('H'), ch('e'), ll, ch('o')]);
    expect(t.encode('for')).toEqual([ch('f'), or]);
    // 'é' is the bytes C3 A9: symbols 'Ã' (index 127) and '©' (index 102).
    expect(t.encode('é')).toEqual([129, 104]);
    expect(t.encode('')).toEqual([]);
  });

  it('round-trips text through encode and decode', () => {
    const t = pythiaLike();
    for (const s of ['hello the world', 'Hello, world.  It\'s ok!', 'héllo ☃ 日本語\n\ttabs', '  leading', 'trailing  ', 'a . b , c', '']) {
      expect(t.decode(t.encode(s))).toBe(s);
    }
  });

  it('keeps special tokens whole and skips them on request', () => {
    const t = pythiaLike();
    expect(t.encode('hello<|endoftext|>hello')).toEqual([hello, 0, hello]);
    expect(t.encode('<|padding|>')).toEqual([1]);
    expect(t.decode([hello, 0])).toBe('hello<|endoftext|>');
    expect(t.decode([hello, 0, 1, hello], { skipSpecialTokens: true })).toBe('hellohello');
    expect(t.decode([0, 1], { skipSpecialTokens: true })).toBe('');
    expect(t.decode([])).toBe('');
    expect(t.isSpecial(0)).toBe(true);
    expect(t.isSpecial(hello)).toBe(false);
  });

  it('uses eos as pad when the tokenizer names no pad token, as TRL does', () => {
    const t = pythiaLike();
    expect(t.eosTokenId).toBe(0);
    expect(t.bosTokenId).toBe(0);
    expect(t.unkTokenId).toBe(0);
    expect(t.padTokenId).toBe(0);
    expect(t.padToken).toBe('<|endoftext|>');
    expect(t.padIsEos).toBe(true);
  });

  it('cleans up tokenization spaces only when asked or configured', () => {
    const t = pythiaLike();
    const ids = t.encode('a . b');
    expect(t.decode(ids)).toBe('a . b');
    expect(t.decode(ids, { cleanUpTokenizationSpaces: true })).toBe('a. b');
    const configured = loadTokenizer(folder({ 'tokenizer.json': bpeTokenizer(), 'tokenizer_config.json': { ...PYTHIA_TOKENIZER_CONFIG, clean_up_tokenization_spaces: true } }));
    expect(configured.decode(ids)).toBe('a. b');
  });

  it('adds bos/eos when tokenizer_config.json asks for them', () => {
    const t = Tokenizer.fromJSON(bpeTokenizer(), { ...PYTHIA_TOKENIZER_CONFIG, add_bos_token: true, add_eos_token: true });
    expect(t.encode('hello')).toEqual([0, hello, 0]);
    expect(t.encode('hello', { addSpecialTokens: false })).toEqual([hello]);
  });

  it('rejects ids outside the vocabulary', () => {
    const t = pythiaLike();
    expect(() => t.decode([hello, 266])).toThrow('Expected token ids between 0 and 265 for ids[1] but received 266');
    expect(() => t.decode([1.5])).toThrow(RangeError);
    expect(() => t.encode(3 as unknown as string)).toThrow(TypeError);
  });
});

describe('WordLevel tokenizer', () => {
  it('encodes words to their ids, unknown words to [UNK], and appends <|endoftext|> by its template', () => {
    const t = wordLevel();
    expect(t.encode('the cat sat on the mat.')).toEqual([3, 4, 5, 6, 3, 7, 8, 2]);
    expect(t.encode('the cat sat on the mat.', { addSpecialTokens: false })).toEqual([3, 4, 5, 6, 3, 7, 8]);
    expect(t.encode('a dog', { addSpecialTokens: false })).toEqual([9, 0]);
    expect(t.encode('[PAD]the', { addSpecialTokens: false })).toEqual([1, 3]);
  });

  it('reads special tokens from special_tokens_map.json ({content} objects included)', () => {
    const t = wordLevel();
    expect(t.padTokenId).toBe(1);
    expect(t.padToken).toBe('[PAD]');
    expect(t.padIsEos).toBe(false);
    expect(t.eosTokenId).toBe(2);
    expect(t.unkTokenId).toBe(0);
    expect(t.bosTokenId).toBeNull();
    expect(t.vocabSize).toBe(10);
  });

  it('takes [UNK] from the model when no config names it', () => {
    const t = Tokenizer.fromJSON(wordLevelTokenizer());
    expect(t.unkTokenId).toBe(0);
    expect(t.encode('dog cat', { addSpecialTokens: false })).toEqual([0, 4]);
    expect(t.padTokenId).toBeNull();
  });

  it('decodes, dropping special tokens on request', () => {
    const t = wordLevel();
    const ids = t.encode('the cat sat');
    expect(t.decode(ids)).toBe('the cat sat <|endoftext|>');
    expect(t.decode(ids, { skipSpecialTokens: true })).toBe('the cat sat');
    expect(t.decode([9, 0, 4], { skipSpecialTokens: true })).toBe('a cat');
  });
});

describe('encodeBatch', () => {
  it('pads on the left by default, with the mask and position ids counted from the first real token', () => {
    const t = wordLevel();
    const b = t.encodeBatch(['the cat', 'a mat on the cat']);
    expect(b.B).toBe(2);
    expect(b.T).toBe(6);
    expect(Array.from(b.inputIds)).toEqual([1, 1, 1, 3, 4, 2, /**/ 9, 7, 6, 3, 4, 2]);
    expect(Array.from(b.attentionMask)).toEqual([0, 0, 0, 1, 1, 1, /**/ 1, 1, 1, 1, 1, 1]);
    expect(Array.from(b.positionIds)).toEqual([0, 0, 0, 0, 1, 2, /**/ 0, 1, 2, 3, 4, 5]);
    expect(Array.from(b.lengths)).toEqual([3, 6]);
    expect(b.inputIds).toBeInstanceOf(Int32Array);
    expect(b.attentionMask).toBeInstanceOf(Uint8Array);
    expect(b.positionIds).toBeInstanceOf(Int32Array);
  });

  it('pads on the right on request', () => {
    const t = wordLevel();
    const b = t.encodeBatch(['the cat', 'a mat on the cat'], { padding: 'right', addSpecialTokens: false });
    expect(b.T).toBe(5);
    expect(Array.from(b.inputIds)).toEqual([3, 4, 1, 1, 1, /**/ 9, 7, 6, 3, 4]);
    expect(Array.from(b.attentionMask)).toEqual([1, 1, 0, 0, 0, /**/ 1, 1, 1, 1, 1]);
    expect(Array.from(b.positionIds)).toEqual([0, 1, 0, 0, 0, /**/ 0, 1, 2, 3, 4]);
  });

  it('pads Pythia-style tokenizers with eos', () => {
    const t = pythiaLike();
    const b = t.encodeBatch(['hello the world', 'hello']);
    expect(b.T).toBe(6);
    expect(Array.from(b.inputIds)).toEqual([hello, Gthe, SPACE, wor, ch('l'), ch('d'), /**/ 0, 0, 0, 0, 0, hello]);
    expect(Array.from(b.attentionMask)).toEqual([1, 1, 1, 1, 1, 1, /**/ 0, 0, 0, 0, 0, 1]);
    expect(Array.from(b.positionIds)).toEqual([0, 1, 2, 3, 4, 5, /**/ 0, 0, 0, 0, 0, 0]);
  });

  it('truncates to maxLength on the right by default, on the left on request, or refuses', () => {
    const t = wordLevel();
    const texts = ['the cat sat on the mat', 'a cat'];
    const r = t.encodeBatch(texts, { maxLength: 4, addSpecialTokens: false });
    expect(r.T).toBe(4);
    expect(Array.from(r.inputIds)).toEqual([3, 4, 5, 6, /**/ 1, 1, 9, 4]);
    const l = t.encodeBatch(texts, { maxLength: 4, truncation: 'left' });
    expect(Array.from(l.inputIds)).toEqual([6, 3, 7, 2, /**/ 1, 9, 4, 2]);
    expect(Array.from(l.positionIds)).toEqual([0, 1, 2, 3, /**/ 0, 0, 1, 2]);
    expect(() => t.encodeBatch(texts, { maxLength: 4, truncation: false })).toThrow('Expected at most 4 tokens (maxLength, truncation off) for texts[0] but received 7 tokens');
    const fixed = t.encodeBatch(['a cat'], { maxLength: 5, padToMaxLength: true, addSpecialTokens: false });
    expect(Array.from(fixed.inputIds)).toEqual([1, 1, 1, 9, 4]);
  });

  it('handles empty batches and empty texts, and checks its arguments', () => {
    const t = pythiaLike();
    expect(t.encodeBatch([])).toMatchObject({ B: 0, T: 0 });
    const e = t.encodeBatch(['', 'hello']);
    expect(Array.from(e.inputIds)).toEqual([0, hello]);
    expect(Array.from(e.attentionMask)).toEqual([0, 1]);
    expect(() => t.encodeBatch(['a'], { padding: 'middle' as 'left' })).toThrow(/padding/);
    expect(() => t.encodeBatch(['a'], { maxLength: 0 })).toThrow(/maxLength/);
    expect(() => t.encodeBatch(['a', 5 as unknown as string])).toThrow(/texts\[1\]/);
    const noPad = Tokenizer.fromJSON(wordLevelTokenizer());
    expect(() => noPad.encodeBatch(['the cat', 'the'])).toThrow(/pad or eos token/);
    expect(noPad.encodeBatch(['the', 'cat']).T).toBe(2);
  });
});

describe('loadTokenizer errors', () => {
  function errorOf(fn: () => unknown): string {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(FileFormatError);
      return (err as Error).message;
    }
    throw new Error('expected an error');
  }

  it('names the missing tokenizer.json, and says how to make one from slow-tokenizer files', () => {
    const dir = folder({ 'tokenizer_config.json': PYTHIA_TOKENIZER_CONFIG });
    expect(errorOf(() => loadTokenizer(dir))).toBe(`${join(dir, 'tokenizer.json')}: file not found: a tokenizer needs tokenizer.json`);
    const slow = folder({ 'vocab.json': {}, 'merges.txt': '' });
    expect(errorOf(() => loadTokenizer(slow))).toContain('save_pretrained');
  });

  it('names the file with bad JSON or a bad shape', () => {
    const dir = folder({ 'tokenizer.json': '{"model": ', 'tokenizer_config.json': PYTHIA_TOKENIZER_CONFIG });
    expect(errorOf(() => loadTokenizer(dir))).toContain(`${join(dir, 'tokenizer.json')}: not valid JSON`);
    const badCfg = folder({ 'tokenizer.json': bpeTokenizer(), 'tokenizer_config.json': '[1' });
    expect(errorOf(() => loadTokenizer(badCfg))).toContain(`${join(badCfg, 'tokenizer_config.json')}: not valid JSON`);
    const noModel = folder({ 'tokenizer.json': { version: '1.0' } });
    expect(errorOf(() => loadTokenizer(noModel))).toContain('field "model": expected an object');
    const badModel = folder({ 'tokenizer.json': { model: { type: 'Mystery' } } });
    expect(errorOf(() => loadTokenizer(badModel))).toContain('cannot build the tokenizer');
  });

  it('names a special token that is not in the vocabulary', () => {
    const dir = folder({ 'tokenizer.json': bpeTokenizer(), 'tokenizer_config.json': { ...PYTHIA_TOKENIZER_CONFIG, pad_token: '<pad>' } });
    expect(errorOf(() => loadTokenizer(dir))).toBe(`${join(dir, 'tokenizer_config.json')}: field "pad_token": expected a token of the vocabulary but found the string "<pad>", which is not in it`);
    const bad = folder({ 'tokenizer.json': bpeTokenizer(), 'special_tokens_map.json': { eos_token: 5 } });
    expect(errorOf(() => loadTokenizer(bad))).toContain('field "eos_token": expected a token string');
  });
});
