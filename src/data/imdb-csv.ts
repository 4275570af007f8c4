// IMDb reviews from a CSV file, as the common Kaggle file "IMDB Dataset.csv" (50,000 rows) has them:
//
//   review,sentiment
//   "One of the other reviewers has mentioned ... <br /><br />The first thing ...",positive
//
// Header (case-insensitive, any column order, extra columns ignored): a text column "review" (or
// "text") and a label column "sentiment" (or "label") holding positive/negative (also pos/neg, 1/0).
// Fields follow RFC 4180: quoted fields may hold commas, newlines and doubled quotes; a UTF-8 BOM and
// CRLF line ends are accepted; blank lines are skipped.
//
// Splits. The Kaggle file has no split column, so a row rule decides: data rows 1..trainRows (default
// 25,000, half the file) are train, the rest test; 'all' is every row. A file with a "split" column
// (train/test) is split by that column instead. Rows are in file order.
//
// Streaming: csv-parse over fs.createReadStream; for-await pulls records, so the file is read only as
// fast as records are consumed (back-pressure), and memory holds a few chunks, never the file. One
// record is capped at 16 MiB, so an unterminated quote fails fast instead of buffering the rest of a
// large file.
//
// Errors (FileFormatError) name the file and the row: "row N" counts data rows from 1 (the header is
// not a row), with the line of the file where the row starts.
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { parse, CsvError } from 'csv-parse';
import { FileFormatError, invalidRange } from '../errors.js';
import type { ReviewRecord } from './corpus.js';
import type { ReviewSplit } from './dataset.js';

export interface CsvReviewsOptions {
  /** Default 'all'. */
  split?: ReviewSplit;
  /** Without a split column: data rows 1..trainRows are train, the rest test. Default 25,000. */
  trainRows?: number;
}

export const DEFAULT_CSV_TRAIN_ROWS = 25_000;
const MAX_RECORD_BYTES = 16 << 20;

const TEXT_COLUMNS = ['review', 'text'];
const LABEL_COLUMNS = ['sentiment', 'label'];
const LABELS: Record<string, 0 | 1> = { positive: 1, pos: 1, '1': 1, negative: 0, neg: 0, '0': 0 };

interface Header {
  text: number;
  label: number;
  split: number | undefined;
  labelName: string;
  width: number;
}

function readHeader(record: string[], name: string): Header {
  const cols = record.map((c) => c.trim().toLowerCase());
  const text = cols.findIndex((c) => TEXT_COLUMNS.includes(c));
  const label = cols.findIndex((c) => LABEL_COLUMNS.includes(c));
  if (text < 0 || label < 0) {
    throw new FileFormatError(
      name,
      `header (line 1): Expected the columns "review" and "sentiment" (or "text" and "label") but received ${record.map((c) => JSON.stringify(c)).join(',')}`,
    );
  }
  const split = cols.indexOf('split');
  return { text, label, split: split < 0 ? undefined : split, labelName: record[label].trim(), width: record.length };
}

/** `records`: the records completed before the failing one, the header included (0: the header failed). */
function csvErrorMessage(err: CsvError, header: Header | undefined, records: number, startLine: number): string {
  const where = records > 0 ? `row ${records} (line ${startLine})` : 'header (line 1)';
  const e = err as CsvError & { lines?: number; record?: unknown[] };
  switch (err.code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return `${where}: unterminated quote: a quoted field opened in this row is never closed (the file ends at line ${e.lines ?? '?'} inside it)`;
    case 'CSV_MAX_RECORD_SIZE':
      return `${where}: a row longer than ${MAX_RECORD_BYTES >> 20} MiB, most likely an unterminated quote opened in this row`;
    case 'CSV_RECORD_INCONSISTENT_FIELDS_LENGTH':
      return `${where}: Expected ${header?.width ?? '?'} fields (as the header) but received ${e.record?.length ?? 'another number'}`;
    default:
      return `${where}: ${err.message}`;
  }
}

function positiveInt(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0) throw invalidRange('a non-negative integer', name, String(value));
  return value;
}

interface Parsed {
  record: string[];
  /** The line the record ends on, and the blank lines skipped so far (from csv-parse's context). */
  lines: number;
  emptyLines: number;
}

/**
 * Stream the records of CSV text from `input` (`name` names it in errors). The stream is destroyed
 * when the iteration ends, early or not.
 *
 * The parser is driven chunk by chunk: each chunk of the input is parsed (synchronously) into a small
 * queue, which is drained to the consumer before the next chunk is read. So reading follows
 * consumption, and every record before a malformed one is yielded before the error is thrown.
 */
export async function* csvReviewsFromStream(input: Readable, name: string, opts: CsvReviewsOptions = {}): AsyncGenerator<ReviewRecord> {
  const split = opts.split ?? 'all';
  const trainRows = positiveInt(opts.trainRows ?? DEFAULT_CSV_TRAIN_ROWS, 'trainRows');
  const queue: Parsed[] = [];
  let parsedLines = 0; // where the last record the parser produced ends (parser-side, in step with its errors)
  let parsedEmpty = 0;
  const parser = parse({
    bom: true,
    skip_empty_lines: true,
    max_record_size: MAX_RECORD_BYTES,
    on_record: (record: string[], ctx: { lines: number; empty_lines: number }) => {
      queue.push({ record, lines: ctx.lines, emptyLines: ctx.empty_lines });
      parsedLines = ctx.lines;
      parsedEmpty = ctx.empty_lines;
      return null; // records leave through the queue, not the stream
    },
  });
  parser.on('error', () => undefined); // reported through the write/end callbacks below
  parser.resume();
  const feed = (chunk: Buffer | undefined): Promise<Error | null | undefined> =>
    new Promise((resolve) => {
      if (chunk === undefined) parser.end((err?: Error | null) => resolve(err));
      else parser.write(chunk, (err) => resolve(err));
    });

  let header: Header | undefined;
  let row = 0;
  let endLine = 0; // the line the previous record ended on
  let emptyLines = 0;
  const parserError = (err: Error): FileFormatError => {
    if (!(err instanceof CsvError)) return new FileFormatError(name, `cannot parse: ${err.message}`);
    const e = err as CsvError & { records?: number; empty_lines?: number };
    const records = e.records ?? 0; // records completed before the failing one, the header included
    const from = parsedLines + 1 + ((e.empty_lines ?? parsedEmpty) - parsedEmpty);
    return new FileFormatError(name, csvErrorMessage(err, header, records, from));
  };
  try {
    let ended = false;
    const chunks = input[Symbol.asyncIterator]();
    while (!ended) {
      let chunk: Buffer | undefined;
      try {
        const next = await chunks.next();
        chunk = next.done ? undefined : (next.value as Buffer);
      } catch (err) {
        throw new FileFormatError(name, `cannot read${header ? ` after row ${row}` : ''}: ${(err as Error).message}`);
      }
      ended = chunk === undefined;
      const failed = await feed(chunk);
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        const { record } = item;
        const startLine = endLine + 1 + (item.emptyLines - emptyLines);
        endLine = item.lines;
        emptyLines = item.emptyLines;
        if (!header) {
          header = readHeader(record, name);
          continue;
        }
        row++;
        const where = `row ${row} (line ${startLine})`;
        let inSplit: boolean;
        if (split === 'all') inSplit = true;
        else if (header.split !== undefined) {
          const s = record[header.split].trim().toLowerCase();
          if (s !== 'train' && s !== 'test') {
            throw new FileFormatError(name, `${where}: Expected "train" or "test" for split but received ${JSON.stringify(record[header.split])}`);
          }
          inSplit = s === split;
        } else inSplit = split === 'train' ? row <= trainRows : row > trainRows;
        const labelText = record[header.label];
        const label = LABELS[labelText.trim().toLowerCase()];
        if (label === undefined) {
          throw new FileFormatError(
            name,
            `${where}: Expected "positive" or "negative" for ${header.labelName} but received ${JSON.stringify(labelText.length > 40 ? `${labelText.slice(0, 37)}...` : labelText)}`,
          );
        }
        if (!inSplit) {
          if (split === 'train' && header.split === undefined) return; // past the train rows: stop reading
          continue;
        }
        yield { text: record[header.text], label };
      }
      if (failed) throw parserError(failed);
    }
  } finally {
    parser.destroy();
    input.destroy();
  }
  if (!header) throw new FileFormatError(name, 'header (line 1): Expected the columns "review" and "sentiment" but received an empty file');
}

/** Stream the records of a CSV file (see the top of this file for the format and the split rule). */
export async function* readCsvReviews(path: string, opts: CsvReviewsOptions = {}): AsyncGenerator<ReviewRecord> {
  const input = createReadStream(path);
  try {
    await new Promise<void>((resolve, reject) => {
      input.once('open', () => resolve());
      input.once('error', reject);
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new FileFormatError(path, e.code === 'ENOENT' ? 'file not found' : `cannot read: ${e.message}`);
  }
  yield* csvReviewsFromStream(input, path, opts);
}
