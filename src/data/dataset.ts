// One entry point for review data: `openReviews(spec, split)` looks at what `spec` is and returns a
// re-iterable stream of `{ text, label }` records (1 = positive, 0 = negative).
//
//   spec                                   format    split
//   folder with train/pos, train/neg, ...  aclimdb   its train/ and test/ folders (see imdb-aclimdb.ts)
//     (or its parent holding aclImdb/)
//   folder with train.jsonl / test.jsonl   jsonl     that file (the corpus folder of corpus.ts)
//   folder with parquet files              parquet   [plain_text/]{split}-*.parquet (see imdb-parquet.ts);
//     (the repo root or plain_text/)                 the repo root and plain_text/ both work
//   file.parquet                           parquet   the whole file (it is one split)
//   file.jsonl / file.ndjson               jsonl     the whole file
//   file.csv                               csv       a row rule or a split column (see imdb-csv.ts)
//   org/name[@revision]  (e.g. stanfordnlp/imdb)      parquet   downloaded into the hub cache (Python's layout,
//                                                    datasets--org--name) through src/model/hub.ts; only the
//                                                    split's files; HF_HUB_OFFLINE / `offline` read the cache
//
// split: 'train', 'test' or 'all' (train, then test). A single parquet or JSONL file is read whole
// whatever the split, except that a file named for the other split (test.jsonl asked for 'train') is
// an error. Every format streams: memory stays bounded whatever the file size.
//
// Options, applied in this order to every format: `brAsNewline` (turn `<br />` into "\n"),
// `minChars` (drop reviews shorter than that, counted in Unicode code points as Python's len() counts
// them, on the text as yielded), `limit` (stop after that many records; the files are closed). Order
// is kept (no shuffling).
import { openSync, readSync, closeSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, extname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { FileFormatError, invalidRange, invalidType } from '../errors.js';
import { HubError, resolveDataset, type HubProgress } from '../model/hub.js';
import { corpusFiles, readJsonl, type ReviewRecord } from './corpus.js';
import { findAclImdbRoot, listAclImdb, readAclImdbFiles } from './imdb-aclimdb.js';
import { DEFAULT_CSV_TRAIN_ROWS, readCsvReviews } from './imdb-csv.js';
import { describeParquetSplit, parquetSplitFiles, readParquetReviews } from './imdb-parquet.js';

export type { ReviewRecord } from './corpus.js';

/** The labelled splits; 'all' = train, then test. */
export type ReviewSplit = 'train' | 'test' | 'all';
export const REVIEW_SPLITS: readonly ReviewSplit[] = ['train', 'test', 'all'];

export type ReviewFormat = 'parquet' | 'aclimdb' | 'csv' | 'jsonl';

export interface ReviewFilterOptions {
  /** Yield at most this many records (after `minChars`); default: all. */
  limit?: number;
  /**
   * Keep only reviews of at least this many characters (Unicode code points). The paper's prompts use
   * reviews "longer than 200 characters": minChars 201.
   */
  minChars?: number;
  /** Turn `<br />` (and `<br>`, `<br/>`) into "\n". Default false: the text as the source has it. */
  brAsNewline?: boolean;
}

export interface OpenReviewsOptions extends ReviewFilterOptions {
  /** CSV without a split column: data rows 1..csvTrainRows are train, the rest test. Default 25,000. */
  csvTrainRows?: number;
  // Hub ids only (as resolveModel's):
  /** Cache root; default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
  cacheDir?: string;
  /** Use the cache only; default: HF_HUB_OFFLINE is 1/true/yes/on. */
  offline?: boolean;
  /** Default: $HF_TOKEN, else the token file. */
  token?: string;
  /** Default: $HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  onProgress?: (p: HubProgress) => void;
  signal?: AbortSignal;
}

/** Records of one split of one source. Each iteration starts from the beginning. */
export interface ReviewSource extends AsyncIterable<ReviewRecord> {
  readonly format: ReviewFormat;
  readonly split: ReviewSplit;
  /** What is read, in order: the files (aclImdb: the label folders, each read file by file). */
  readonly files: string[];
  /** For a hub id: where the files came from, and what this call downloaded. */
  readonly hub?: { repo: string; revision: string; commit: string; downloaded: string[] };
}

// ---------------------------------------------------------------------------------------------------
// Options

const BR = /<br\s*\/?>/gi;

/** True when `s` has at least `min` code points (without counting past `min`). */
function hasCodePoints(s: string, min: number): boolean {
  if (s.length < min) return false; // code points <= UTF-16 units
  if (s.length >= 2 * min) return true; // each code point is at most 2 units
  let n = 0;
  for (const _ of s) if (++n >= min) return true;
  return false;
}

function checkCount(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw invalidType('a non-negative integer', name, value);
  if (!Number.isInteger(value) || value < 0) throw invalidRange('a non-negative integer', name, String(value));
  return value;
}

/** Apply `brAsNewline`, `minChars` and `limit` to a stream of records (closing it at the limit). */
export async function* filterReviews(source: AsyncIterable<ReviewRecord>, opts: ReviewFilterOptions = {}): AsyncGenerator<ReviewRecord> {
  const limit = checkCount(opts.limit, 'limit') ?? Infinity;
  const minChars = checkCount(opts.minChars, 'minChars') ?? 0;
  if (limit === 0) return;
  let n = 0;
  for await (const r of source) {
    const text = opts.brAsNewline ? r.text.replace(BR, '\n') : r.text;
    if (minChars > 0 && !hasCodePoints(text, minChars)) continue;
    yield text === r.text ? r : { text, label: r.label };
    if (++n >= limit) return;
  }
}

// ---------------------------------------------------------------------------------------------------
// What the spec is

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p;
}

const FILE_EXTENSIONS = ['.parquet', '.csv', '.jsonl', '.ndjson'];

function looksLikePath(spec: string): boolean {
  return (
    spec.startsWith('.') || spec.startsWith('~') || isAbsolute(spec) || spec.includes('\\') || FILE_EXTENSIONS.includes(extname(spec).toLowerCase())
  );
}

function statOrUndefined(path: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function isParquetMagic(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.toString('latin1') === 'PAR1';
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A file's own split, from its name: train.jsonl, test-00000-of-00001.parquet, unsupervised.parquet. */
function splitOfFileName(path: string): string | undefined {
  return /^(train|test|unsupervised)(?![a-z])/i.exec(basename(path))?.[1].toLowerCase();
}

function checkSingleFileSplit(path: string, split: ReviewSplit): void {
  const own = splitOfFileName(path);
  if (own && split !== 'all' && own !== split) {
    throw invalidRange(`a file of the ${split} split (or split 'all')`, path, `the file of the ${own} split, by its name`);
  }
}

interface Plan {
  format: ReviewFormat;
  files: string[];
  open: () => AsyncIterable<ReviewRecord>;
  hub?: ReviewSource['hub'];
}

function planFile(path: string, split: ReviewSplit, opts: OpenReviewsOptions): Plan {
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') {
    return { format: 'csv', files: [path], open: () => readCsvReviews(path, { split, trainRows: opts.csvTrainRows ?? DEFAULT_CSV_TRAIN_ROWS }) };
  }
  if (ext === '.jsonl' || ext === '.ndjson') {
    checkSingleFileSplit(path, split);
    return { format: 'jsonl', files: [path], open: () => readJsonl(path) };
  }
  if (ext === '.parquet' || isParquetMagic(path)) {
    checkSingleFileSplit(path, split);
    return { format: 'parquet', files: [path], open: () => readParquetReviews(path) };
  }
  throw new FileFormatError(path, `Expected a .parquet, .csv or .jsonl file of reviews but received a file with ${ext ? `the extension ${ext}` : 'no extension'} that is not parquet`);
}

/** Parquet files under `dir`, relative with "/" separators, up to 3 folders deep (dot folders skipped). */
function listParquet(dir: string): string[] {
  const out: string[] = [];
  const walk = (sub: string, depth: number): void => {
    let entries;
    try {
      entries = readdirSync(join(dir, sub), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const rel = sub ? `${sub}/${e.name}` : e.name;
      const full = join(dir, rel);
      const st = e.isSymbolicLink() ? statOrUndefined(full) : undefined;
      if (e.isDirectory() || st?.isDirectory()) {
        if (depth < 3) walk(rel, depth + 1);
      } else if (e.name.toLowerCase().endsWith('.parquet')) out.push(rel);
    }
  };
  walk('', 1);
  return out.sort();
}

function multi(files: string[], read: (f: string) => AsyncIterable<ReviewRecord>): () => AsyncIterable<ReviewRecord> {
  return async function* () {
    for (const f of files) yield* read(f);
  };
}

function planFolder(dir: string, split: ReviewSplit): Plan {
  const acl = findAclImdbRoot(dir);
  if (acl) {
    const list = listAclImdb(acl, split); // checks the split folders now
    const splits = split === 'all' ? ['train', 'test'] : [split];
    return { format: 'aclimdb', files: splits.flatMap((s) => [join(acl, s, 'neg'), join(acl, s, 'pos')]), open: () => readAclImdbFiles(list) };
  }
  const corpus = corpusFiles(dir);
  if (statOrUndefined(corpus.train)?.isFile() || statOrUndefined(corpus.test)?.isFile()) {
    const files = split === 'all' ? [corpus.train, corpus.test] : [corpus[split]];
    for (const f of files) {
      if (!statOrUndefined(f)?.isFile()) throw new FileFormatError(dir, `Expected ${basename(f)} in this corpus folder (train.jsonl and test.jsonl) but it is missing`);
    }
    return { format: 'jsonl', files, open: multi(files, readJsonl) };
  }
  const parquet = listParquet(dir);
  if (parquet.length > 0) {
    const chosen = parquetSplitFiles(parquet, split, dir);
    if (chosen.length === 0) {
      throw new FileFormatError(dir, `Expected ${describeParquetSplit(split)} but received a folder with only ${parquet.slice(0, 10).join(', ')}${parquet.length > 10 ? ', ...' : ''}`);
    }
    const files = chosen.map((f) => join(dir, f));
    return { format: 'parquet', files, open: multi(files, (f) => readParquetReviews(f)) };
  }
  throw new FileFormatError(
    dir,
    'Expected a folder of IMDb reviews (parquet files such as plain_text/train-00000-of-00001.parquet, an aclImdb folder ' +
      'with train/pos and train/neg, or a corpus folder with train.jsonl and test.jsonl) but received a folder with none of these',
  );
}

async function planHub(spec: string, split: ReviewSplit, opts: OpenReviewsOptions): Promise<Plan> {
  const res = await resolveDataset(spec, {
    files: (all) => parquetSplitFiles(all, split, spec),
    describe: describeParquetSplit(split),
    cacheDir: opts.cacheDir,
    offline: opts.offline,
    token: opts.token,
    endpoint: opts.endpoint,
    onProgress: opts.onProgress,
    signal: opts.signal,
  });
  const files = res.files.map((f) => join(res.dir, f));
  return {
    format: 'parquet',
    files,
    open: multi(files, (f) => readParquetReviews(f)),
    hub: { repo: res.repo, revision: res.revision, commit: res.commit, downloaded: res.downloaded },
  };
}

/**
 * Open the reviews of `split` from `spec` (a folder, a file or a hub dataset id: see the top of this
 * file). Checks what can be checked up front (the spec, the split's files or folders, a download);
 * records are read as they are iterated, and a malformed record stops the iteration with an error
 * naming the file and the row.
 */
export async function openReviews(spec: string, split: ReviewSplit, opts: OpenReviewsOptions = {}): Promise<ReviewSource> {
  if (typeof spec !== 'string' || spec === '') throw invalidType('a file, a folder or a hub dataset id org/name[@revision]', 'spec', spec);
  if (!REVIEW_SPLITS.includes(split)) throw invalidRange(`one of ${REVIEW_SPLITS.join(', ')}`, 'split', JSON.stringify(split));
  checkCount(opts.limit, 'limit');
  checkCount(opts.minChars, 'minChars');
  checkCount(opts.csvTrainRows, 'csvTrainRows');
  const path = resolvePath(expandHome(spec));
  const st = statOrUndefined(path);
  let plan: Plan;
  if (st?.isDirectory()) plan = planFolder(path, split);
  else if (st) plan = planFile(path, split, opts);
  else if (looksLikePath(spec)) throw new FileFormatError(path, 'no such file or folder');
  else {
    try {
      plan = await planHub(spec, split, opts);
    } catch (err) {
      if (err instanceof HubError && err.code === 'bad-spec' && err.message.includes('for the dataset')) {
        throw new HubError(
          'bad-spec',
          `Expected a file, a folder or a hub dataset id org/name[@revision] for the reviews but received ${JSON.stringify(spec)} (no such file or folder: ${path})`,
        );
      }
      throw err;
    }
  }
  const { format, files, hub, open } = plan;
  return {
    format,
    split,
    files,
    ...(hub ? { hub } : {}),
    [Symbol.asyncIterator]: () => filterReviews(open(), opts)[Symbol.asyncIterator](),
  };
}
