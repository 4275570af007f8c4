// Word-utility tables (the VADER lexicon, or a user's TSV / CSV / JSON file) and the two scores made
// from them: the RLHF reward (sum of word utilities, scaled and clamped) and the paper's
// Table 3/4 score (absolute mean utility over whitespace words).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { FileFormatError, describe, invalidRange, invalidType } from '../errors.js';
import { rewardWords } from './words.js';

/** A decimal number as written in lexicon files: no hex, no "Infinity", no empty field. */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** What to do when a word appears twice: fail naming both places, or keep the later value. */
type OnDuplicate = 'error' | 'last';

export type UtilityTableFormat = 'tsv' | 'csv' | 'json';

/** File extensions → formats; anything else is an error that lists these. */
const FORMAT_BY_EXTENSION: Record<string, UtilityTableFormat> = { '.tsv': 'tsv', '.txt': 'tsv', '.csv': 'csv', '.json': 'json' };

let vaderCache: Promise<UtilityTable> | undefined;

/** The path of vader-sentiment's `vader_lexicon.txt` (word, mean valence, standard deviation, ratings). */
function vaderLexiconPath(): string {
  return createRequire(import.meta.url).resolve('vader-sentiment/vader_lexicon.txt');
}

/**
 * A map from words to utilities (any finite number; VADER's range is −4…4). Lookups are exact: keys
 * are kept as written, and the scores look up lower-cased words, so an entry with capitals (VADER's
 * emoticons such as ":D") only matches through a score that keeps it as written.
 */
export class UtilityTable {
  private constructor(
    private readonly map: Map<string, number>,
    /** Where the entries came from: a file path, "vader (path)", or the name given to fromEntries. */
    readonly source: string,
  ) {}

  /** Number of distinct words. */
  get size(): number {
    return this.map.size;
  }

  get(word: string): number | undefined {
    return this.map.get(word);
  }

  /** Every [word, utility] pair, in the order the source listed them. */
  entries(): IterableIterator<[string, number]> {
    return this.map.entries();
  }

  /**
   * Entries from code. Each word a non-empty string, each utility a finite number; a repeated word is
   * an error naming both entries.
   */
  static fromEntries(entries: Iterable<[string, number]>, source = 'entries'): UtilityTable {
    if (entries == null || typeof (entries as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw invalidType('an iterable of [word, utility] pairs', 'entries', entries);
    }
    const map = new Map<string, number>();
    const firstIndex = new Map<string, number>();
    let i = 0;
    for (const entry of entries) {
      const name = `entries[${i}]`;
      if (!Array.isArray(entry) || entry.length < 2) throw invalidType('a [word, utility] pair', name, entry);
      const [word, value] = entry as [unknown, unknown];
      if (typeof word !== 'string' || word === '') throw invalidType('a non-empty string', `${name}[0] (the word)`, word);
      if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidType('a finite number', `${name}[1] (the utility of "${word}")`, value);
      const seen = firstIndex.get(word);
      if (seen !== undefined) throw invalidRange('each word once', name, `"${word}" again (first at entries[${seen}])`);
      firstIndex.set(word, i);
      map.set(word, value);
      i++;
    }
    return new UtilityTable(map, source);
  }

  /**
   * Read a table file; the format follows the extension:
   *  - `.tsv` / `.txt`: VADER's layout, one `word<TAB>utility[<TAB>anything…]` per line (extra columns
   *    ignored, blank lines skipped, no header);
   *  - `.csv`: `word,utility` per row (RFC 4180 quoting; extra columns ignored); a first row whose
   *    second field is not a number is a header;
   *  - `.json`: `{"word": utility, …}` or `[["word", utility], …]`.
   * A bad entry is a FileFormatError naming the file, the line (JSON: the key or index) and what was
   * expected; a word listed twice is an error naming both lines (a JSON object cannot show its
   * duplicate keys: JSON.parse keeps the last).
   */
  static async load(path: string): Promise<UtilityTable> {
    if (typeof path !== 'string' || path === '') throw invalidType('a path to a .tsv, .csv or .json file', 'path', path);
    const format = FORMAT_BY_EXTENSION[extname(path).toLowerCase()];
    if (!format) {
      throw new FileFormatError(path, `Expected a utility table ending in .tsv or .txt (word<TAB>utility), .csv (word,utility) or .json ({word: utility}) but received the extension "${extname(path)}"`);
    }
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new FileFormatError(path, code === 'ENOENT' ? 'no such file (expected a utility table)' : `cannot read the utility table (${(err as Error).message})`);
    }
    return UtilityTable.parse(text, format, path);
  }

  /** Parse table text in `format`; `source` names it in errors and becomes the table's source. */
  static parse(text: string, format: UtilityTableFormat, source: string, onDuplicate: OnDuplicate = 'error'): UtilityTable {
    const builder = new TableBuilder(source, onDuplicate);
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (format === 'tsv') parseTsv(text, builder);
    else if (format === 'csv') parseCsvTable(text, builder);
    else if (format === 'json') parseJsonTable(text, builder);
    else throw invalidType('one of "tsv", "csv", "json"', 'format', format);
    if (builder.map.size === 0) throw new FileFormatError(source, 'Expected at least one word with its utility but the table is empty');
    return new UtilityTable(builder.map, source);
  }

  /**
   * The VADER lexicon shipped with vader-sentiment (7,503 words), read once and cached. The file
   * lists 14 words twice with different values (e.g. "lol" 2.9 on line 303 and 1.8 on line 4403); as
   * VADER itself does (Python's dict, and the JavaScript port's object literal), the later line wins.
   */
  static vader(): Promise<UtilityTable> {
    if (!vaderCache) {
      const path = vaderLexiconPath();
      vaderCache = readFile(path, 'utf8').then((text) => UtilityTable.parse(text, 'tsv', path, 'last'));
      vaderCache.catch(() => {
        vaderCache = undefined; // a failed read is retried next time
      });
    }
    return vaderCache;
  }
}

/** Collects entries, tracking the line each word came from to name both lines of a duplicate. */
class TableBuilder {
  readonly map = new Map<string, number>();
  private readonly where = new Map<string, string>();
  constructor(
    readonly source: string,
    private readonly onDuplicate: OnDuplicate,
  ) {}

  fail(at: string, message: string): never {
    throw new FileFormatError(this.source, `${at}: ${message}`);
  }

  add(word: string, utility: number, at: string): void {
    const seen = this.where.get(word);
    if (seen !== undefined && this.onDuplicate === 'error') {
      this.fail(at, `the word "${word}" is listed twice (${seen} and ${at}); expected each word once`);
    }
    this.where.set(word, at);
    this.map.delete(word); // keep the order of the line that wins
    this.map.set(word, utility);
  }
}

function quote(s: string): string {
  return s.length > 60 ? `"${s.slice(0, 57)}..."` : JSON.stringify(s);
}

function parseUtility(field: string | undefined, at: string, b: TableBuilder, what: string): number {
  const f = (field ?? '').trim();
  if (!DECIMAL.test(f)) b.fail(at, `Expected a finite decimal number for ${what} but received ${field === undefined ? 'nothing' : quote(field)}`);
  return Number(f);
}

function parseTsv(text: string, b: TableBuilder): void {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    if (line.trim() === '') continue;
    const at = `line ${i + 1}`;
    const cols = line.split('\t');
    if (cols.length < 2) b.fail(at, `Expected "word<TAB>utility" (tab-separated, as VADER's lexicon) but received ${quote(line)}`);
    const word = cols[0];
    if (word.trim() === '') b.fail(at, `Expected a word in column 1 but received ${quote(word)}`);
    b.add(word, parseUtility(cols[1], at, b, `the utility of ${quote(word)} (column 2)`), at);
  }
}

function parseCsvTable(text: string, b: TableBuilder): void {
  let rows: { record: string[]; info: { lines: number } }[];
  try {
    rows = parseCsv(text, { info: true, relax_column_count: true, skip_empty_lines: true }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (err) {
    const e = err as Error & { lines?: number };
    b.fail(e.lines !== undefined ? `line ${e.lines}` : 'CSV', `Expected CSV rows "word,utility" but the parser said: ${e.message}`);
  }
  rows.forEach(({ record, info }, k) => {
    const at = `line ${info.lines}`;
    const [word, value] = record;
    if (record.length < 2) b.fail(at, `Expected "word,utility" but received ${quote(record.join(','))}`);
    if (k === 0 && !DECIMAL.test(value.trim())) return; // a header row
    if (word.trim() === '') b.fail(at, `Expected a word in column 1 but received ${quote(word)}`);
    b.add(word, parseUtility(value, at, b, `the utility of ${quote(word)} (column 2)`), at);
  });
}

function parseJsonTable(text: string, b: TableBuilder): void {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    b.fail('JSON', `Expected {"word": utility, …} or [["word", utility], …] but the file is not valid JSON (${(err as Error).message})`);
  }
  if (Array.isArray(data)) {
    data.forEach((entry, i) => {
      const at = `index ${i}`;
      if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string') {
        b.fail(at, `Expected a ["word", utility] pair but received ${describe(entry)}${Array.isArray(entry) ? ` ${quote(JSON.stringify(entry))}` : ''}`);
      }
      const [word, value] = entry as [string, unknown];
      if (word.trim() === '') b.fail(at, `Expected a non-empty word but received ${quote(word)}`);
      if (typeof value !== 'number' || !Number.isFinite(value)) b.fail(at, `Expected a finite number for the utility of ${quote(word)} but received ${describe(value)}`);
      b.add(word, value, at);
    });
  } else if (data !== null && typeof data === 'object') {
    for (const [word, value] of Object.entries(data)) {
      const at = `key ${quote(word)}`;
      if (word.trim() === '') b.fail(at, 'Expected a non-empty word as the key');
      if (typeof value !== 'number' || !Number.isFinite(value)) b.fail(at, `Expected a finite number for the utility of ${quote(word)} but received ${describe(value)}`);
      b.add(word, value, at);
    }
  } else {
    b.fail('JSON', `Expected {"word": utility, …} or [["word", utility], …] but received ${describe(data)}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Scores

export interface UtilityRewardOptions {
  /** The word sum is divided by this (> 0). Default 5, the paper's code. */
  divisor?: number;
  /** The scaled sum is clamped to [−clamp, clamp] (> 0; Infinity for none). Default 10, the paper's code. */
  clamp?: number;
}

/** The paper's code: sum of VADER utilities / 5, clipped to [−10, 10]. */
export const UTILITY_REWARD_DEFAULTS: Readonly<Required<UtilityRewardOptions>> = Object.freeze({ divisor: 5, clamp: 10 });

/** The options with defaults filled in, each checked. */
export function resolveUtilityRewardOptions(opts: UtilityRewardOptions = {}): Required<UtilityRewardOptions> {
  const divisor = opts.divisor ?? UTILITY_REWARD_DEFAULTS.divisor;
  const clamp = opts.clamp ?? UTILITY_REWARD_DEFAULTS.clamp;
  if (typeof divisor !== 'number' || !Number.isFinite(divisor) || divisor <= 0) {
    throw invalidRange('a finite number > 0', 'divisor', describe(divisor));
  }
  if (typeof clamp !== 'number' || Number.isNaN(clamp) || clamp <= 0) {
    throw invalidRange('a number > 0 (Infinity for no clamping)', 'clamp', describe(clamp));
  }
  return { divisor, clamp };
}

function checkTable(table: unknown): asserts table is UtilityTable {
  if (!(table instanceof UtilityTable)) throw invalidType('a UtilityTable', 'table', table);
}

/**
 * The RLHF reward of a text under a utility table: the sum of the utilities of its words
 * (`rewardWords`: lower-cased Unicode word tokens; a word not in the table counts 0), divided by
 * `divisor`, clamped to [−clamp, clamp]. No negation or intensifier handling (the paper's code has none).
 */
export function utilityScore(text: string, table: UtilityTable, opts: UtilityRewardOptions = {}): number {
  checkTable(table);
  const { divisor, clamp } = resolveUtilityRewardOptions(opts);
  let sum = 0;
  for (const w of rewardWords(text)) sum += table.get(w) ?? 0;
  const scaled = sum / divisor;
  return Math.min(clamp, Math.max(-clamp, scaled));
}

const EDGE_PUNCTUATION = /^[\p{P}\p{S}]+|[\p{P}\p{S}]+$/gu;

/**
 * The words `absMeanUtility` looks up: the lower-cased text split on whitespace; a word is looked
 * up as it is, and when the table lacks it, again with the punctuation and symbols at its ends
 * stripped ("good." and "(good)" → "good", while emoticons such as ":)" that the table lists are
 * still found). Returns the utilities found, in order.
 */
export function whitespaceUtilities(text: string, table: UtilityTable): number[] {
  if (typeof text !== 'string') throw invalidType('string', 'text', text);
  checkTable(table);
  const found: number[] = [];
  for (const raw of text.toLowerCase().split(/\s+/u)) {
    if (raw === '') continue;
    let u = table.get(raw);
    if (u === undefined) {
      const stripped = raw.replace(EDGE_PUNCTUATION, '');
      if (stripped !== '' && stripped !== raw) u = table.get(stripped);
    }
    if (u !== undefined) found.push(u);
  }
  return found;
}

/**
 * The paper's Table 3/4 score of one text (an explanation or a completion): the mean utility over
 * its lower-cased whitespace words that are in the table (see `whitespaceUtilities` for the
 * punctuation rule), 0 when none is, then the absolute value.
 */
export function absMeanUtility(text: string, table: UtilityTable): number {
  const found = whitespaceUtilities(text, table);
  if (found.length === 0) return 0;
  let sum = 0;
  for (const u of found) sum += u;
  return Math.abs(sum / found.length);
}
