// The CSV loader: the Kaggle layout, the split rule, errors with rows, and streaming.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { Transform } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { csvReviewsFromStream, readCsvReviews } from '../src/data/imdb-csv.js';
import { openReviews } from '../src/data/dataset.js';
import { collectRecords } from '../src/data/corpus.js';
import { FileFormatError } from '../src/errors.js';
import { csvField, kaggleCsv, sampleReviews } from './helpers/imdb-fixtures.js';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'rl-imdb-csv-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function write(name: string, text: string | Buffer): string {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
}

async function failure(run: () => Promise<unknown>): Promise<Error> {
  try {
    await run();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('readCsvReviews', () => {
  it('reads the Kaggle layout: quoted commas, newlines, doubled quotes, <br />', async () => {
    const reviews = sampleReviews(12);
    const path = write('IMDB Dataset.csv', kaggleCsv(reviews));
    expect(await collectRecords(readCsvReviews(path))).toEqual(reviews);
  });

  it('accepts a BOM, CRLF, blank lines, other column orders and names, and label values', async () => {
    const text = '\ufeffSentiment,id,Review\r\nPOSITIVE,1,"a, b"\r\n\r\nneg,2,"x\r\ny"\r\n1,3,plain\r\n';
    const path = write('b.csv', text);
    expect(await collectRecords(readCsvReviews(path))).toEqual([
      { text: 'a, b', label: 1 },
      { text: 'x\r\ny', label: 0 },
      { text: 'plain', label: 1 },
    ]);
    const p2 = write('c.csv', 'text,label\nhello,0\nworld,1\n');
    expect(await collectRecords(readCsvReviews(p2))).toEqual([
      { text: 'hello', label: 0 },
      { text: 'world', label: 1 },
    ]);
  });

  it('splits by the row rule: rows 1..trainRows are train, the rest test', async () => {
    const reviews = sampleReviews(10);
    const path = write('d.csv', kaggleCsv(reviews));
    expect(await collectRecords(readCsvReviews(path, { split: 'train', trainRows: 6 }))).toEqual(reviews.slice(0, 6));
    expect(await collectRecords(readCsvReviews(path, { split: 'test', trainRows: 6 }))).toEqual(reviews.slice(6));
    expect(await collectRecords(readCsvReviews(path, { split: 'all', trainRows: 6 }))).toEqual(reviews);
    // The default rule (25,000 rows of train) puts all of a small file in train.
    expect(await collectRecords(readCsvReviews(path, { split: 'train' }))).toEqual(reviews);
    expect(await collectRecords(readCsvReviews(path, { split: 'test' }))).toEqual([]);
    // Through openReviews, with csvTrainRows.
    expect(await collectRecords(await openReviews(path, 'test', { csvTrainRows: 8 }))).toEqual(reviews.slice(8));
  });

  it('splits by a split column when the file has one', async () => {
    const path = write('e.csv', 'review,sentiment,split\na,positive,train\nb,negative,test\nc,negative,TRAIN\n');
    expect(await collectRecords(readCsvReviews(path, { split: 'train', trainRows: 0 }))).toEqual([
      { text: 'a', label: 1 },
      { text: 'c', label: 0 },
    ]);
    expect(await collectRecords(readCsvReviews(path, { split: 'test' }))).toEqual([{ text: 'b', label: 0 }]);
    const bad = write('f.csv', 'review,sentiment,split\na,positive,train\nb,negative,valid\n');
    expect((await failure(() => collectRecords(readCsvReviews(bad, { split: 'test' })))).message).toMatch(
      /f\.csv: row 2 \(line 3\): Expected "train" or "test" for split but received "valid"/,
    );
  });

  it('names missing header columns', async () => {
    const path = write('g.csv', 'review,score\ngreat,9\n');
    const err = await failure(() => collectRecords(readCsvReviews(path)));
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err.message).toMatch(/g\.csv: header \(line 1\): Expected the columns "review" and "sentiment" \(or "text" and "label"\) but received "review","score"/);
    const empty = write('empty.csv', '');
    expect((await failure(() => collectRecords(readCsvReviews(empty)))).message).toMatch(/empty\.csv: header \(line 1\): .*received an empty file/);
  });

  it('names the row and line of an unknown sentiment, after the rows before it', async () => {
    const path = write('h.csv', 'review,sentiment\n"one\ntwo",positive\nok,negative\nmeh,neutral\n');
    const seen: string[] = [];
    const err = await failure(async () => {
      for await (const r of readCsvReviews(path)) seen.push(r.text);
    });
    expect(seen).toEqual(['one\ntwo', 'ok']);
    expect(err.message).toMatch(/h\.csv: row 3 \(line 5\): Expected "positive" or "negative" for sentiment but received "neutral"/);
  });

  it('names the row of an unterminated quote and of a row with the wrong number of fields', async () => {
    const path = write('i.csv', 'review,sentiment\nfine,positive\n\n"never closed, negative\nmore text\n');
    const seen: string[] = [];
    const err = await failure(async () => {
      for await (const r of readCsvReviews(path)) seen.push(r.text);
    });
    expect(seen).toEqual(['fine']); // the rows before the bad one are yielded first
    expect(err.message).toMatch(/i\.csv: row 2 \(line 4\): unterminated quote: a quoted field opened in this row is never closed \(the file ends at line 5 inside it\)/);
    const p2 = write('j.csv', 'review,sentiment\nfine,positive\n\nthis, has, commas,negative\n');
    expect((await failure(() => collectRecords(readCsvReviews(p2)))).message).toMatch(/j\.csv: row 2 \(line 4\): Expected 2 fields \(as the header\) but received 4/);
    const p3 = write('k.csv', 'review,sentiment\nbad "quote" here,positive\n');
    expect((await failure(() => collectRecords(readCsvReviews(p3)))).message).toMatch(/k\.csv: row 1 \(line 2\): Invalid Opening Quote/);
    expect((await failure(() => collectRecords(readCsvReviews(join(tmp, 'missing.csv'))))).message).toMatch(/missing\.csv: file not found/);
  });

  it('streams 50,000 rows: records arrive while the file is still being read, with a bounded read-ahead', async () => {
    const path = join(tmp, 'big.csv');
    const out = createWriteStream(path);
    const header = 'review,sentiment\n';
    out.write(header);
    const rowBytes: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      const line = `${csvField(`Review ${i}, a "fine" film.${i % 3 === 0 ? '\nSecond line.' : ''} ${'word '.repeat(20 + (i % 40))}`)},${i % 2 ? 'positive' : 'negative'}\n`;
      rowBytes.push(Buffer.byteLength(line));
      if (!out.write(line)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
    const size = statSync(path).size;

    let bytesRead = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytesRead += chunk.length;
        cb(null, chunk);
      },
    });
    const file = createReadStream(path, { highWaterMark: 16 << 10 });
    file.pipe(counter);
    let n = 0;
    let consumed = header.length;
    let maxAhead = 0;
    let firstAt = -1;
    for await (const r of csvReviewsFromStream(counter, path)) {
      if (n === 0) firstAt = bytesRead;
      expect(r.label).toBe(n % 2 ? 1 : 0);
      consumed += rowBytes[n];
      maxAhead = Math.max(maxAhead, bytesRead - consumed);
      n++;
    }
    expect(n).toBe(50_000);
    expect(bytesRead).toBe(size);
    expect(firstAt).toBeGreaterThan(0);
    expect(firstAt).toBeLessThan(size / 20); // the first record came long before the file was read (~12 MB)
    expect(maxAhead).toBeLessThan(1 << 20); // never more than a few chunks read ahead of the consumer
    expect(size).toBeGreaterThan(8 << 20);
  });

  it('stops reading and closes the file when the consumer stops (limit)', async () => {
    const reviews = sampleReviews(2000);
    const path = write('l.csv', kaggleCsv(reviews));
    const file = createReadStream(path, { highWaterMark: 1024 });
    const got = await collectRecords((async function* () {
      let i = 0;
      for await (const r of csvReviewsFromStream(file, path)) {
        yield r;
        if (++i === 3) return;
      }
    })());
    expect(got).toEqual(reviews.slice(0, 3));
    expect(file.destroyed).toBe(true);
    expect(file.bytesRead).toBeLessThan(statSync(path).size / 4);
    const src = await openReviews(path, 'all', { limit: 5, minChars: 20 });
    expect(await collectRecords(src)).toEqual(reviews.filter((r) => [...r.text].length >= 20).slice(0, 5));
  });
});
