// Hugging Face tokenizers from a local folder, through @huggingface/tokenizers (pure JS): tokenizer.json
// with tokenizer_config.json and special_tokens_map.json when present, and batch encoding into the
// [B,T] arrays the engine takes.
//
// Special tokens: `<role>_token` from tokenizer_config.json, else from special_tokens_map.json (strings
// or {content: …} objects). Pythia names no pad token: the pad id is then the eos id, as TRL's scripts
// do (`tokenizer.pad_token = tokenizer.eos_token`); padded positions are masked out, so the choice
// does not change any result. `padIsEos` says when that happened.
// Decoding does not apply transformers' "clean up tokenization spaces" (which turns " ." into ".")
// unless tokenizer_config.json sets `clean_up_tokenization_spaces: true` or the caller asks: off,
// decode(encode(s)) gives s back for byte-level tokenizers (transformers 5's default too).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { FileFormatError, invalidRange, invalidType } from '../errors.js';
import { checkInt, checkOneOf } from '../validate.js';
import { describeJson, readJsonFile } from './hf-config.js';

export interface EncodeOptions {
  /** Add the special tokens the tokenizer's post-processor (and add_bos/eos_token) adds (default true, as transformers). */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
  /** transformers' clean-up of spaces before punctuation (default: tokenizer_config.json's value, else false). */
  cleanUpTokenizationSpaces?: boolean;
}

export interface EncodeBatchOptions extends EncodeOptions {
  /** Longest row kept (tokens, special tokens included). */
  maxLength?: number;
  /** Where padding goes (default 'left', for generation: the last column is every row's last token). */
  padding?: 'left' | 'right';
  /**
   * With maxLength: true or 'right' keeps each row's first maxLength tokens, 'left' its last (default
   * true); false makes a longer row an error.
   */
  truncation?: boolean | 'left' | 'right';
  /** Pad every row to maxLength instead of to the longest row (default false). */
  padToMaxLength?: boolean;
}

/** A batch of token rows, row-major [B,T]. */
export interface EncodedBatch {
  inputIds: Int32Array;
  /** 1 at real tokens, 0 at padding. */
  attentionMask: Uint8Array;
  /** Counted from each row's first real token; 0 at padding. */
  positionIds: Int32Array;
  /** Real tokens per row. */
  lengths: Int32Array;
  B: number;
  T: number;
}

type Role = 'bos' | 'eos' | 'unk' | 'pad';
const ROLES: Role[] = ['bos', 'eos', 'unk', 'pad'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A special-token entry: "text", {content: "text", …}, or null. */
function tokenContent(value: unknown, file: string, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  throw new FileFormatError(file, `field "${field}": expected a token string, {"content": string} or null but found ${describeJson(value)}`);
}

export interface TokenizerSources {
  /** Names used in error messages. */
  tokenizerFile?: string;
  configFile?: string;
  specialTokensFile?: string;
}

/** A Hugging Face tokenizer: encode, decode, batch encode with padding, special-token ids. */
export class Tokenizer {
  /** One past the largest token id (vocabulary plus added tokens; `len(tokenizer)` in transformers). */
  readonly vocabSize: number;
  readonly bosToken: string | null;
  readonly eosToken: string | null;
  readonly unkToken: string | null;
  /** The pad token; the eos token when the tokenizer names none (see padIsEos). */
  readonly padToken: string | null;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
  readonly unkTokenId: number | null;
  readonly padTokenId: number | null;
  /** True when the tokenizer names no pad token and eos stands in for it. */
  readonly padIsEos: boolean;
  private readonly addBos: boolean;
  private readonly addEos: boolean;
  private readonly cleanUp: boolean;

  private constructor(private readonly tok: HfTokenizer, tokens: Record<Role, string | null>, ids: Record<Role, number | null>, padIsEos: boolean, config: Record<string, unknown>, vocabSize: number) {
    this.vocabSize = vocabSize;
    this.bosToken = tokens.bos;
    this.eosToken = tokens.eos;
    this.unkToken = tokens.unk;
    this.padToken = tokens.pad;
    this.bosTokenId = ids.bos;
    this.eosTokenId = ids.eos;
    this.unkTokenId = ids.unk;
    this.padTokenId = ids.pad;
    this.padIsEos = padIsEos;
    this.addBos = config.add_bos_token === true;
    this.addEos = config.add_eos_token === true;
    this.cleanUp = config.clean_up_tokenization_spaces === true;
  }

  /**
   * Build from parsed tokenizer.json, tokenizer_config.json (optional) and special_tokens_map.json
   * (optional) objects. Errors are FileFormatErrors naming `sources`' files.
   */
  static fromJSON(tokenizerJson: unknown, tokenizerConfig?: unknown, specialTokensMap?: unknown, sources: TokenizerSources = {}): Tokenizer {
    const tFile = sources.tokenizerFile ?? 'tokenizer.json';
    const cFile = sources.configFile ?? 'tokenizer_config.json';
    const sFile = sources.specialTokensFile ?? 'special_tokens_map.json';
    if (!isObject(tokenizerJson)) throw new FileFormatError(tFile, `expected a JSON object but found ${describeJson(tokenizerJson)}`);
    if (!isObject(tokenizerJson.model)) throw new FileFormatError(tFile, `field "model": expected an object but found ${describeJson(tokenizerJson.model)}`);
    if (tokenizerConfig !== undefined && !isObject(tokenizerConfig)) throw new FileFormatError(cFile, `expected a JSON object but found ${describeJson(tokenizerConfig)}`);
    if (specialTokensMap !== undefined && !isObject(specialTokensMap)) throw new FileFormatError(sFile, `expected a JSON object but found ${describeJson(specialTokensMap)}`);
    const model = tokenizerJson.model;
    const cfgIn = (tokenizerConfig ?? {}) as Record<string, unknown>;
    const stm = (specialTokensMap ?? {}) as Record<string, unknown>;

    const tokens = {} as Record<Role, string | null>;
    const fieldOf = {} as Record<Role, { file: string; field: string }>;
    for (const role of ROLES) {
      const field = `${role}_token`;
      const fromCfg = tokenContent(cfgIn[field], cFile, field);
      const fromMap = tokenContent(stm[field], sFile, field);
      tokens[role] = fromCfg ?? fromMap;
      fieldOf[role] = fromCfg !== null ? { file: cFile, field } : { file: sFile, field };
    }
    // WordLevel (and other "legacy" models) take their unknown token from the config in tokenizers.js.
    if (tokens.unk === null && typeof model.unk_token === 'string') tokens.unk = model.unk_token;

    const json = { added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...tokenizerJson };
    const config: Record<string, unknown> = { ...cfgIn };
    for (const role of ROLES) {
      if (tokens[role] !== null) config[`${role}_token`] = tokens[role];
      else delete config[`${role}_token`];
    }
    if (Array.isArray(config.additional_special_tokens)) {
      config.additional_special_tokens = config.additional_special_tokens.map((t, i) => tokenContent(t, cFile, `additional_special_tokens[${i}]`)).filter((t) => t !== null);
    }
    let tok: HfTokenizer;
    try {
      tok = new HfTokenizer(json, config);
    } catch (err) {
      throw new FileFormatError(tFile, `cannot build the tokenizer: ${(err as Error).message}`);
    }

    let maxId = -1;
    for (const id of tok.get_vocab(true).values()) if (id > maxId) maxId = id;
    const ids = {} as Record<Role, number | null>;
    for (const role of ROLES) {
      const t = tokens[role];
      if (t === null) {
        ids[role] = null;
        continue;
      }
      const id = tok.token_to_id(t);
      if (id === undefined) {
        const where = role === 'unk' && !cfgIn.unk_token && !stm.unk_token ? { file: tFile, field: 'model.unk_token' } : fieldOf[role];
        throw new FileFormatError(where.file, `field "${where.field}": expected a token of the vocabulary but found ${describeJson(t)}, which is not in it`);
      }
      ids[role] = id;
    }
    let padIsEos = false;
    if (ids.pad === null && ids.eos !== null) {
      tokens.pad = tokens.eos;
      ids.pad = ids.eos;
      padIsEos = true;
    }
    return new Tokenizer(tok, tokens, ids, padIsEos, cfgIn, maxId + 1);
  }

  /** Token strings of `text` (no special tokens added). */
  tokenize(text: string): string[] {
    if (typeof text !== 'string') throw invalidType('string', 'text', text);
    return this.tok.tokenize(text);
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw invalidType('string', 'text', text);
    const add = opts.addSpecialTokens ?? true;
    const ids: number[] = this.tok.encode(text, { add_special_tokens: add }).ids;
    const bad = ids.findIndex((id: number | undefined) => id === undefined);
    if (bad >= 0) {
      throw invalidRange('text the vocabulary can encode (the tokenizer has no unknown token)', 'text', `token ${JSON.stringify(this.tok.encode(text, { add_special_tokens: add }).tokens[bad])} not in the vocabulary`);
    }
    if (add && this.addBos && this.bosTokenId !== null && ids[0] !== this.bosTokenId) ids.unshift(this.bosTokenId);
    if (add && this.addEos && this.eosTokenId !== null && ids[ids.length - 1] !== this.eosTokenId) ids.push(this.eosTokenId);
    return ids;
  }

  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    if (!Array.isArray(ids) && !ArrayBuffer.isView(ids)) throw invalidType('array of token ids', 'ids', ids);
    const list = Array.from(ids);
    for (let i = 0; i < list.length; i++) {
      const id = list[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw invalidRange(`token ids between 0 and ${this.vocabSize - 1}`, `ids[${i}]`, String(id));
      }
    }
    if (list.length === 0) return '';
    const skip = opts.skipSpecialTokens ?? false;
    if (skip && list.every((id) => this.isSpecial(id))) return '';
    return this.tok.decode(list, {
      skip_special_tokens: skip,
      clean_up_tokenization_spaces: opts.cleanUpTokenizationSpaces ?? this.cleanUp,
    });
  }

  /** Whether `id` is a special token (added with special: true, or named in the config). */
  isSpecial(id: number): boolean {
    const added = this.tok.get_added_tokens_decoder().get(id);
    if (added?.special) return true;
    const t = this.tok.id_to_token(id);
    return t !== undefined && [this.bosToken, this.eosToken, this.unkToken, this.padToken].includes(t);
  }

  tokenToId(token: string): number | null {
    return this.tok.token_to_id(token) ?? null;
  }

  idToToken(id: number): string | null {
    return this.tok.id_to_token(id) ?? null;
  }

  /** Encode texts into padded [B,T] rows (see EncodeBatchOptions; padding defaults to the left). */
  encodeBatch(texts: readonly string[], opts: EncodeBatchOptions = {}): EncodedBatch {
    if (!Array.isArray(texts)) throw invalidType('array of strings', 'texts', texts);
    texts.forEach((t, i) => {
      if (typeof t !== 'string') throw invalidType('string', `texts[${i}]`, t);
    });
    const side = checkOneOf(opts.padding ?? 'left', 'padding', ['left', 'right'] as const);
    const maxLength = opts.maxLength === undefined ? undefined : checkInt(opts.maxLength, 'maxLength', 1);
    const trunc = opts.truncation ?? true;
    if (trunc !== true && trunc !== false && trunc !== 'left' && trunc !== 'right') {
      throw invalidType('true, false, "left" or "right"', 'truncation', trunc);
    }
    if (opts.padToMaxLength && maxLength === undefined) throw invalidType('an integer >= 1 (padToMaxLength needs it)', 'maxLength', undefined);

    const rows = texts.map((t, i) => {
      let ids = this.encode(t, { addSpecialTokens: opts.addSpecialTokens });
      if (maxLength !== undefined && ids.length > maxLength) {
        if (trunc === false) throw invalidRange(`at most ${maxLength} tokens (maxLength, truncation off)`, `texts[${i}]`, `${ids.length} tokens`);
        ids = trunc === 'left' ? ids.slice(ids.length - maxLength) : ids.slice(0, maxLength);
      }
      return ids;
    });
    const B = rows.length;
    const T = opts.padToMaxLength ? maxLength! : rows.reduce((m, r) => Math.max(m, r.length), 0);
    const needsPad = rows.some((r) => r.length < T);
    if (needsPad && this.padTokenId === null) {
      throw new RangeError('Expected a pad or eos token to pad with for encodeBatch but received a tokenizer with neither (set pad_token in tokenizer_config.json)');
    }
    const pad = this.padTokenId ?? 0;
    const inputIds = new Int32Array(B * T).fill(pad);
    const attentionMask = new Uint8Array(B * T);
    const positionIds = new Int32Array(B * T);
    const lengths = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      const r = rows[b];
      const start = b * T + (side === 'left' ? T - r.length : 0);
      lengths[b] = r.length;
      for (let j = 0; j < r.length; j++) {
        inputIds[start + j] = r[j];
        attentionMask[start + j] = 1;
        positionIds[start + j] = j;
      }
    }
    return { inputIds, attentionMask, positionIds, lengths, B, T };
  }
}

/**
 * Load the tokenizer of a local model folder: tokenizer.json (required), tokenizer_config.json and
 * special_tokens_map.json (used when present). Errors name the missing or malformed file.
 */
export function loadTokenizer(dir: string): Tokenizer {
  const tFile = join(dir, 'tokenizer.json');
  if (!existsSync(tFile)) {
    const hint = existsSync(join(dir, 'vocab.json')) && existsSync(join(dir, 'merges.txt'))
      ? ' (the folder has the slow-tokenizer files vocab.json and merges.txt; save a fast tokenizer with transformers: AutoTokenizer.from_pretrained(dir).save_pretrained(dir))'
      : '';
    throw new FileFormatError(tFile, `file not found: a tokenizer needs tokenizer.json${hint}`);
  }
  const cFile = join(dir, 'tokenizer_config.json');
  const sFile = join(dir, 'special_tokens_map.json');
  return Tokenizer.fromJSON(
    readJsonFile(tFile),
    existsSync(cFile) ? readJsonFile(cFile) : undefined,
    existsSync(sFile) ? readJsonFile(sFile) : undefined,
    { tokenizerFile: tFile, configFile: cFile, specialTokensFile: sFile },
  );
}
