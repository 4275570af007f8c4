// IMDb reviews from parquet files laid out as the hub dataset stanfordnlp/imdb lays them out:
//
//   plain_text/train-00000-of-00001.parquet     25,000 rows   columns text (string), label (int64: 0 = neg, 1 = pos)
//   plain_text/test-00000-of-00001.parquet      25,000 rows
//   plain_text/unsupervised-00000-of-00001.parquet  (label -1; never read: records carry a 0/1 label)
//
// Streaming: the footer is read first, then one row group at a time through hyparquet's range reads
// (asyncBufferFromFile slices the file; parquetReadObjects with rowStart/rowEnd of one group fetches
// only that group's text and label column chunks). Memory is bounded by the largest row group, never
// the file. Records come in file order; for stanfordnlp/imdb that is all negative reviews, then all
// positive ones, so a `limit` prefix of that split is one-sided.
//
// Errors (FileFormatError) name the file and, for a bad value, the row: rows are counted from 1 over
// the whole file, and the row group is given too.
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { FileFormatError } from '../errors.js';
import type { ReviewRecord } from './corpus.js';
import type { ReviewSplit } from './dataset.js';


export interface ParquetReviewsOptions {
  /** Read from this buffer instead of opening the file (the path then only names it in errors). */
  file?: AsyncBuffer;
}

const TEXT = 'text';
const FOOTER_FETCH = 64 << 10;
const LABEL = 'label';

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Check that the file has a string `text` and an integer `label` column at its top level. */
function checkSchema(metadata: FileMetaData, path: string): void {
  const top = parquetSchema(metadata).children;
  const names = top.map((c) => c.element.name);
  const find = (name: string) => top.find((c) => c.element.name === name);
  const text = find(TEXT);
  const label = find(LABEL);
  if (!text || !label) {
    const missing = [TEXT, LABEL].filter((n) => !find(n)).map((n) => `"${n}"`);
    throw new FileFormatError(
      path,
      `Expected the columns "text" (string) and "label" (integer 0 or 1) but received a file without ${missing.join(' and ')} ` +
        `(its columns: ${names.join(', ') || 'none'})`,
    );
  }
  const kind = (c: typeof text): string =>
    c.children.length > 0 ? 'a group column' : c.element.repetition_type === 'REPEATED' ? `a repeated ${c.element.type} column` : `a ${c.element.type} column`;
  if (text.children.length > 0 || text.element.type !== 'BYTE_ARRAY' || text.element.repetition_type === 'REPEATED') {
    throw new FileFormatError(path, `Expected a string (BYTE_ARRAY) column for "text" but received ${kind(text)}`);
  }
  const lt = label.element.type;
  if (label.children.length > 0 || (lt !== 'INT32' && lt !== 'INT64') || label.element.repetition_type === 'REPEATED') {
    throw new FileFormatError(path, `Expected an integer (INT32 or INT64) column for "label" but received ${kind(label)}`);
  }
}

/** A label value as read (bigint for INT64, number for INT32, null when missing) → 0 | 1, or an error. */
function checkLabel(value: unknown, path: string, where: string): 0 | 1 {
  if (value === 0 || value === 0n) return 0;
  if (value === 1 || value === 1n) return 1;
  const shown = value === null || value === undefined ? 'null' : String(value);
  const note = value === -1 || value === -1n ? ' (-1 marks an unlabelled review, as in the "unsupervised" split)' : '';
  throw new FileFormatError(path, `${where}: Expected 0 or 1 for "label" but received ${shown}${note}`);
}

/** The parquet footer of `path`, with a clear error for a file that is missing or not parquet. */
async function openParquet(path: string, given: AsyncBuffer | undefined): Promise<{ file: AsyncBuffer; metadata: FileMetaData }> {
  let file: AsyncBuffer;
  try {
    file = given ?? (await asyncBufferFromFile(path));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new FileFormatError(path, e.code === 'ENOENT' ? 'file not found' : `cannot read: ${e.message}`);
  }
  try {
    // The footer only (hyparquet's default first fetch is the last 512 KiB; more is fetched if needed).
    return { file, metadata: await parquetMetadataAsync(file, { initialFetchSize: FOOTER_FETCH }) };
  } catch (err) {
    throw new FileFormatError(path, `Expected a parquet file but received unreadable bytes (${errorMessage(err)})`);
  }
}

/**
 * Stream the `{ text, label }` records of one parquet file, a row group at a time. The schema is
 * checked before the first row; a bad value stops the stream with an error naming the row.
 */
export async function* readParquetReviews(path: string, opts: ParquetReviewsOptions = {}): AsyncGenerator<ReviewRecord> {
  const { file, metadata } = await openParquet(path, opts.file);
  checkSchema(metadata, path);
  const groups = metadata.row_groups;
  let groupStart = 0;
  for (let g = 0; g < groups.length; g++) {
    const groupRows = Number(groups[g].num_rows);
    if (groupRows === 0) continue;
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file, metadata, columns: [TEXT, LABEL], rowStart: groupStart, rowEnd: groupStart + groupRows });
    } catch (err) {
      throw new FileFormatError(
        path,
        `row group ${g + 1} of ${groups.length} (rows ${groupStart + 1}-${groupStart + groupRows}): cannot decode (${errorMessage(err)})`,
      );
    }
    for (let i = 0; i < rows.length; i++) {
      const where = `row ${groupStart + i + 1} (row group ${g + 1} of ${groups.length})`;
      const text = rows[i][TEXT];
      if (typeof text !== 'string') {
        throw new FileFormatError(path, `${where}: Expected a string for "text" but received ${text === null || text === undefined ? 'null' : typeof text}`);
      }
      const label = checkLabel(rows[i][LABEL], path, where);
      yield { text, label };
    }
    groupStart += groupRows;
  }
}

// ---------------------------------------------------------------------------------------------------
// Which files hold a split

/**
 * Parquet paths (relative, "/"-separated) of a split, as a dataset repo or folder names them:
 *   [config/]train-00000-of-00002.parquet (the hub's shards), [config/]train.parquet, [config/]train_x.parquet,
 *   [config/]train/0000.parquet (the refs/convert/parquet layout).
 * The config folder (stanfordnlp/imdb: plain_text) is chosen: plain_text, else files at the top, else
 * the only config; several others are an error.
 */
const SPLIT_FILE = /^(?:([^/]+)\/)?(train|test)(?:[-_.][^/]*)?\.parquet$/;
const SPLIT_DIR = /^(?:([^/]+)\/)?(train|test)\/[^/]+\.parquet$/;
const SHARD = /-(\d+)-of-(\d+)\.parquet$/;

const byNumberedName = new Intl.Collator('en', { numeric: true }).compare;

/**
 * The files of `split` among `paths` (relative to `where`, which names the folder or repo in errors),
 * in order (train shards, then test shards for 'all'). Empty when the split has no file; an error for
 * an ambiguous config or a sharded split with shards missing.
 */
export function parquetSplitFiles(paths: string[], split: ReviewSplit, where: string): string[] {
  const bySplit = new Map<string, Map<string, string[]>>(); // split → config ('' = top) → paths
  for (const p of paths) {
    const m = SPLIT_FILE.exec(p) ?? SPLIT_DIR.exec(p);
    if (!m) continue;
    const configs = bySplit.get(m[2]) ?? new Map<string, string[]>();
    bySplit.set(m[2], configs);
    const config = m[1] ?? '';
    configs.set(config, [...(configs.get(config) ?? []), p]);
  }
  const configsSeen = new Set<string>();
  for (const configs of bySplit.values()) for (const c of configs.keys()) configsSeen.add(c);
  let config: string | undefined;
  if (configsSeen.has('plain_text')) config = 'plain_text';
  else if (configsSeen.has('')) config = '';
  else if (configsSeen.size === 1) config = [...configsSeen][0];
  else if (configsSeen.size > 1) {
    throw new FileFormatError(
      where,
      `Expected one dataset config but received several folders of split files: ${[...configsSeen].sort().join(', ')}; ` +
        `pass the folder of the one to read`,
    );
  }
  if (config === undefined) return [];
  const wanted = split === 'all' ? (['train', 'test'] as const) : [split];
  const out: string[] = [];
  for (const s of wanted) {
    const files = (bySplit.get(s)?.get(config) ?? []).sort(byNumberedName);
    if (files.length === 0) {
      if (split === 'all') return []; // 'all' needs both splits
      continue;
    }
    checkShards(files, s, where);
    out.push(...files);
  }
  return out;
}

/** A split sharded as {split}-{i}-of-{n}.parquet must have all n shards (a partial download reads as an error). */
function checkShards(files: string[], split: string, where: string): void {
  const sharded = files.map((f) => SHARD.exec(f)).filter((m): m is RegExpExecArray => m !== null);
  if (sharded.length === 0) return;
  const total = Number(sharded[0][2]);
  const have = new Set(sharded.map((m) => Number(m[1])));
  const missing: string[] = [];
  for (let i = 0; i < total && missing.length < 5; i++) {
    if (!have.has(i)) missing.push(`${split}-${String(i).padStart(sharded[0][1].length, '0')}-of-${sharded[0][2]}.parquet`);
  }
  if (missing.length > 0) {
    throw new FileFormatError(where, `Expected all ${total} shards of the ${split} split but ${missing.join(', ')}${missing.length === 5 ? ' and others are' : missing.length > 1 ? ' are' : ' is'} missing`);
  }
}

/** Names the files of a split in messages. */
export function describeParquetSplit(split: ReviewSplit): string {
  return split === 'all'
    ? 'the train and test splits (parquet files such as plain_text/train-00000-of-00001.parquet and plain_text/test-00000-of-00001.parquet)'
    : `the ${split} split (parquet files such as plain_text/${split}-00000-of-00001.parquet)`;
}
