// Review corpora on disk: JSONL files of {"text", "label"} records, one per line, read as a stream and
// written atomically. The record type is the one every loader (synthetic, IMDb parquet/aclImdb/CSV)
// yields, so later stages take any of them.
//
// Format: UTF-8, one JSON object per line with exactly the keys "text" (string) and "label" (0 or 1,
// 1 = positive), in that order, "\n" after every line. Readers accept extra keys (ignored), CRLF line
// ends and blank lines; writers always write the canonical form, so the same records give the same
// bytes. A corpus folder holds train.jsonl and test.jsonl.
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { FileFormatError } from '../errors.js';

/** One review: its text and its sentiment label (1 = positive, 0 = negative). */
export interface ReviewRecord {
  text: string;
  label: 0 | 1;
}

export type CorpusSplit = 'train' | 'test';

/** Records from a list, a generator or a stream. */
export type RecordSource = Iterable<ReviewRecord> | AsyncIterable<ReviewRecord>;

/** `<dir>/train.jsonl` and `<dir>/test.jsonl`. */
export function corpusFiles(dir: string): Record<CorpusSplit, string> {
  return { train: join(dir, 'train.jsonl'), test: join(dir, 'test.jsonl') };
}

/** The canonical JSONL line of a record (newline included). */
export function recordLine(r: ReviewRecord): string {
  return JSON.stringify({ text: r.text, label: r.label }) + '\n';
}

/** Parse one JSONL line; errors name the file and the 1-based line number. */
export function parseRecordLine(line: string, file: string, lineNo: number): ReviewRecord {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    throw new FileFormatError(file, `line ${lineNo}: not valid JSON (${(err as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new FileFormatError(file, `line ${lineNo}: expected an object {"text": string, "label": 0 | 1} but found ${Array.isArray(v) ? 'an array' : JSON.stringify(v)}`);
  }
  const o = v as Record<string, unknown>;
  if (typeof o.text !== 'string') {
    throw new FileFormatError(file, `line ${lineNo}: field "text": expected a string but found ${o.text === undefined ? 'nothing (the field is missing)' : JSON.stringify(o.text)}`);
  }
  if (o.label !== 0 && o.label !== 1) {
    throw new FileFormatError(file, `line ${lineNo}: field "label": expected 0 or 1 but found ${o.label === undefined ? 'nothing (the field is missing)' : JSON.stringify(o.label)}`);
  }
  return { text: o.text, label: o.label };
}

/** Stream the records of a JSONL file, in order (blank lines skipped). */
export async function* readJsonl(path: string): AsyncGenerator<ReviewRecord> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  try {
    await opened;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new FileFormatError(path, e.code === 'ENOENT' ? 'file not found' : `cannot read: ${e.message}`);
  }
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const line of lines) {
      lineNo++;
      if (line.trim() === '') continue;
      yield parseRecordLine(line, path, lineNo);
    }
  } finally {
    lines.close();
    stream.destroy();
  }
}

/** Every record of a JSONL file. */
export async function readJsonlAll(path: string): Promise<ReviewRecord[]> {
  const out: ReviewRecord[] = [];
  for await (const r of readJsonl(path)) out.push(r);
  return out;
}

/** The records of a source as an array (an array is returned as is). */
export async function collectRecords(source: RecordSource): Promise<ReviewRecord[]> {
  if (Array.isArray(source)) return source;
  const out: ReviewRecord[] = [];
  for await (const r of source) out.push(r);
  return out;
}

/**
 * Write records as JSONL, streamed to a temporary file beside `path` and renamed into place: a
 * reader never sees a half-written file, and a failure leaves any previous file untouched.
 * Returns the number of records written.
 */
export async function writeJsonl(path: string, records: RecordSource): Promise<number> {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const out = createWriteStream(tmp, { encoding: 'utf8' });
  let failed: Error | null = null;
  out.on('error', (err) => {
    failed = err;
  });
  let n = 0;
  try {
    for await (const r of records) {
      if (failed) throw failed;
      if (r === null || typeof r !== 'object' || typeof r.text !== 'string' || (r.label !== 0 && r.label !== 1)) {
        throw new TypeError(`Expected a ReviewRecord {text: string, label: 0 | 1} for records[${n}] but received ${JSON.stringify(r)?.slice(0, 80)}`);
      }
      if (!out.write(recordLine(r))) await once(out, 'drain');
      n++;
    }
    out.end();
    await once(out, 'finish');
    if (failed) throw failed;
    renameSync(tmp, path);
    return n;
  } catch (err) {
    out.destroy();
    rmSync(tmp, { force: true });
    throw err;
  }
}
