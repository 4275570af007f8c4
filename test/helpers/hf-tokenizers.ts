// Small tokenizer.json files written the way Hugging Face `tokenizers` writes them, for tests.
//
// bpeTokenizer(): Pythia's layout (NFC normaliser, ByteLevel pre-tokenizer/post-processor/decoder,
// a BPE model with no unknown token) over a tiny vocabulary:
//   0 <|endoftext|>, 1 <|padding|> (added, special), then the 256 byte symbols in GPT-2's
//   bytes_to_unicode order from id 2 — so printable ASCII byte c has id c − 31 ('!' = 2, 'a' = 66),
//   and the space symbol 'Ġ' (byte 32, the 221st symbol) has id 222 — then one id per merge:
//   258 Ġt, 259 he, 260 ll, 261 Ġthe, 262 hell, 263 hello, 264 or, 265 wor.
// wordLevelTokenizer(): a WordLevel model with a Whitespace pre-tokenizer, [UNK] [PAD] <|endoftext|>
// special tokens, and a TemplateProcessing post-processor that appends <|endoftext|>.

/** GPT-2's byte ↔ printable-character map, in its order: [byte, symbol][]. */
export function bytesToUnicode(): [number, string][] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  return bs.map((b, i) => [b, String.fromCodePoint(cs[i])]);
}

export const BPE_MERGES = ['Ġ t', 'h e', 'l l', 'Ġt he', 'he ll', 'hell o', 'o r', 'w or'];

const added = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

export function bpeTokenizer(): Record<string, unknown> {
  const vocab: Record<string, number> = { '<|endoftext|>': 0, '<|padding|>': 1 };
  for (const [, sym] of bytesToUnicode()) vocab[sym] = Object.keys(vocab).length;
  for (const m of BPE_MERGES) vocab[m.replace(' ', '')] = Object.keys(vocab).length;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(0, '<|endoftext|>'), added(1, '<|padding|>')],
    normalizer: { type: 'NFC' },
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, vocab, merges: BPE_MERGES,
    },
  };
}

/** Pythia's tokenizer_config.json: no pad token; bos, eos and unk are all <|endoftext|>. */
export const PYTHIA_TOKENIZER_CONFIG = {
  add_prefix_space: false,
  bos_token: '<|endoftext|>',
  eos_token: '<|endoftext|>',
  unk_token: '<|endoftext|>',
  name_or_path: 'EleutherAI/gpt-neox-20b',
  tokenizer_class: 'GPTNeoXTokenizer',
};

export const WORDS = ['the', 'cat', 'sat', 'on', 'mat', '.', 'a'];

export function wordLevelTokenizer(): Record<string, unknown> {
  const vocab: Record<string, number> = { '[UNK]': 0, '[PAD]': 1, '<|endoftext|>': 2 };
  for (const w of WORDS) vocab[w] = Object.keys(vocab).length; // the 3, cat 4, sat 5, on 6, mat 7, . 8, a 9
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [added(0, '[UNK]'), added(1, '[PAD]'), added(2, '<|endoftext|>')],
    normalizer: null,
    pre_tokenizer: { type: 'Whitespace' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<|endoftext|>', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '<|endoftext|>', type_id: 1 } }],
      special_tokens: { '<|endoftext|>': { id: '<|endoftext|>', ids: [2], tokens: ['<|endoftext|>'] } },
    },
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: '[UNK]' },
  };
}
