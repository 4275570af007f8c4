// A word-level Hugging Face tokenizer built from a corpus: the tokenizer of the embedded default
// model. It is an ordinary tokenizer.json (model WordLevel, normalizer Lowercase, pre-tokenizer
// Whitespace, no post-processor, no decoder) that transformers' PreTrainedTokenizerFast and
// src/model/tokenizer.ts (the code path Pythia's tokenizer takes) both load.
//
// What round-trips: the Whitespace pre-tokenizer splits lower-cased text into runs of word
// characters and runs of other non-space characters (/\w+|[^\w\s]+/g); decoding joins tokens with
// one space. So for any text whose pieces are all in the vocabulary,
//   decode(encode(text)) === canonicalText(text)
//   canonicalText(text) = text.toLowerCase().match(/\w+|[^\w\s]+/g).join(' ')
// e.g. "It's GREAT, really!" → "it ' s great , really !". A piece outside the vocabulary encodes to
// [UNK] (and decodes as "[UNK]"). Texts are assumed free of the special tokens' spellings
// ("[PAD]", "[UNK]", "<|endoftext|>"), which the tokenizer would match as special tokens.
//
// Vocabulary: the special tokens <|endoftext|> (id 0: end of a review, eos and bos as in Pythia),
// [PAD] (1) and [UNK] (2); then the 32 printable ASCII punctuation characters, so any single
// punctuation mark is known; then the corpus's pieces by descending count (ties in code-point order)
// while the vocabulary is below `vocabSize` and the count at least `minFrequency`.
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { Tokenizer } from '../model/tokenizer.js';
import { checkInt } from '../validate.js';

export const SPECIAL_TOKENS = Object.freeze({ eos: '<|endoftext|>', pad: '[PAD]', unk: '[UNK]' });

/** Every default, written once. */
export const WORD_TOKENIZER_DEFAULTS = Object.freeze({
  /** Total vocabulary size cap (special tokens and punctuation included). */
  vocabSize: 4096,
  /** Pieces seen fewer times than this in the corpus are left out. */
  minFrequency: 1,
  /** tokenizer_config.json's model_max_length (set it to the model's maxPositions). */
  modelMaxLength: 2048,
});

export interface WordTokenizerOptions {
  vocabSize?: number;
  minFrequency?: number;
  modelMaxLength?: number;
}

const PIECE = /\w+|[^\w\s]+/g;
const ASCII_PUNCTUATION = Array.from('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');

/** The pieces a text tokenizes into (lower-cased words and runs of punctuation). */
export function preTokenize(text: string): string[] {
  return text.toLowerCase().match(PIECE) ?? [];
}

/** What decode(encode(text)) gives for a text whose pieces are all in the vocabulary. */
export function canonicalText(text: string): string {
  return preTokenize(text).join(' ');
}

/** The files of a Hugging Face tokenizer folder, as JSON values. */
export interface TokenizerFiles {
  'tokenizer.json': Record<string, unknown>;
  'tokenizer_config.json': Record<string, unknown>;
  'special_tokens_map.json': Record<string, unknown>;
}

/** Counts of each piece over texts. */
export async function countPieces(texts: Iterable<string> | AsyncIterable<string>): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for await (const t of texts) {
    if (typeof t !== 'string') throw new TypeError(`Expected strings for texts but received ${typeof t}`);
    for (const p of preTokenize(t)) counts.set(p, (counts.get(p) ?? 0) + 1);
  }
  return counts;
}

/** The word-level tokenizer files for a corpus (see the file's comment for the vocabulary). */
export async function buildWordTokenizer(texts: Iterable<string> | AsyncIterable<string>, opts: WordTokenizerOptions = {}): Promise<TokenizerFiles> {
  const vocabSize = checkInt(opts.vocabSize ?? WORD_TOKENIZER_DEFAULTS.vocabSize, 'vocabSize', 3 + ASCII_PUNCTUATION.length);
  const minFrequency = checkInt(opts.minFrequency ?? WORD_TOKENIZER_DEFAULTS.minFrequency, 'minFrequency', 1);
  const modelMaxLength = checkInt(opts.modelMaxLength ?? WORD_TOKENIZER_DEFAULTS.modelMaxLength, 'modelMaxLength', 1);
  const counts = await countPieces(texts);
  const vocab: Record<string, number> = {};
  let next = 0;
  const add = (t: string) => {
    if (!Object.hasOwn(vocab, t)) vocab[t] = next++;
  };
  add(SPECIAL_TOKENS.eos);
  add(SPECIAL_TOKENS.pad);
  add(SPECIAL_TOKENS.unk);
  for (const p of ASCII_PUNCTUATION) add(p);
  const ranked = [...counts].filter(([, c]) => c >= minFrequency)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [piece] of ranked) {
    if (next >= vocabSize) break;
    add(piece);
  }
  return wordTokenizerFiles(vocab, modelMaxLength);
}

/** The three files for a given vocabulary (piece → id; must hold the special tokens). */
export function wordTokenizerFiles(vocab: Record<string, number>, modelMaxLength: number = WORD_TOKENIZER_DEFAULTS.modelMaxLength): TokenizerFiles {
  for (const t of Object.values(SPECIAL_TOKENS)) {
    if (!Object.hasOwn(vocab, t)) throw new RangeError(`Expected the special token ${t} in the vocabulary for vocab but received a vocabulary without it`);
  }
  const added = (content: string) => ({
    id: vocab[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  });
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(SPECIAL_TOKENS.eos), added(SPECIAL_TOKENS.pad), added(SPECIAL_TOKENS.unk)].sort((a, b) => a.id - b.id),
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: SPECIAL_TOKENS.unk },
  };
  const tokenizerConfig = {
    tokenizer_class: 'PreTrainedTokenizerFast',
    model_max_length: modelMaxLength,
    bos_token: SPECIAL_TOKENS.eos,
    eos_token: SPECIAL_TOKENS.eos,
    pad_token: SPECIAL_TOKENS.pad,
    unk_token: SPECIAL_TOKENS.unk,
    add_bos_token: false,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
  };
  const specialTokensMap = {
    bos_token: SPECIAL_TOKENS.eos,
    eos_token: SPECIAL_TOKENS.eos,
    pad_token: SPECIAL_TOKENS.pad,
    unk_token: SPECIAL_TOKENS.unk,
  };
  return { 'tokenizer.json': tokenizerJson, 'tokenizer_config.json': tokenizerConfig, 'special_tokens_map.json': specialTokensMap };
}

/** The files' contents as text (for saveNeoxCheckpoint's extraFiles). */
export function tokenizerFileContents(files: TokenizerFiles): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(files)) out[name] = JSON.stringify(value, null, name === 'tokenizer.json' ? undefined : 2) + '\n';
  return out;
}

/** Write the files into `dir` (each atomically). */
export function writeTokenizerFiles(dir: string, files: TokenizerFiles): void {
  for (const [name, text] of Object.entries(tokenizerFileContents(files))) writeFileAtomic(join(dir, name), text);
}

/** A Tokenizer over the files, through the same code path loadTokenizer takes. */
export function tokenizerFromFiles(files: TokenizerFiles): Tokenizer {
  return Tokenizer.fromJSON(files['tokenizer.json'], files['tokenizer_config.json'], files['special_tokens_map.json']);
}
