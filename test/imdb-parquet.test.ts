// The parquet loader on real parquet bytes (test/helpers/imdb-parquet-writer.ts writes them).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asyncBufferFromFile, type AsyncBuffer } from 'hyparquet';
import { parquetSplitFiles, readParquetReviews } from '../src/data/imdb-parquet.js';
import { openReviews } from '../src/data/dataset.js';
import { collectRecords } from '../src/data/corpus.js';
import { FileFormatError } from '../src/errors.js';
import { imdbParquet, writeParquet } from './helpers/imdb-parquet-writer.js';
import { sampleReviews } from './helpers/imdb-fixtures.js';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'rl-imdb-pq-'));
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function write(name: string, data: Buffer): string {
  const path = join(tmp, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, data);
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

describe('readParquetReviews', () => {
  it('reads text and int64 labels from one row group', async () => {
    const reviews = sampleReviews(12);
    const path = write('train-00000-of-00001.parquet', imdbParquet(reviews));
    expect(await collectRecords(readParquetReviews(path))).toEqual(reviews);
  });

  it('reads several row groups in order, optional columns and INT32 labels', async () => {
    const reviews = sampleReviews(25);
    const path = write('a.parquet', imdbParquet(reviews, { rowGroupSize: 7, optional: true }));
    expect(await collectRecords(readParquetReviews(path))).toEqual(reviews);
    const p32 = write('b.parquet', writeParquet([
      { name: 'label', type: 'INT32', values: reviews.map((r) => r.label) },
      { name: 'extra', type: 'INT64', values: reviews.map((_, i) => BigInt(i)) },
      { name: 'text', type: 'BYTE_ARRAY', utf8: false, values: reviews.map((r) => r.text) },
    ], { rowGroupSize: 10 }));
    expect(await collectRecords(readParquetReviews(p32))).toEqual(reviews);
  });

  it('streams: the first record comes after reading only the first row group', async () => {
    // 4 row groups of 50 reviews of ~4 KB: ~800 KB in all.
    const reviews = sampleReviews(200).map((r, i) => ({ ...r, text: `${r.text} ${'x'.repeat(4000 + (i % 7))}` }));
    const path = write('big.parquet', imdbParquet(reviews, { rowGroupSize: 50 }));
    const size = statSync(path).size;
    const inner = await asyncBufferFromFile(path);
    let bytesRead = 0;
    const counting: AsyncBuffer = {
      byteLength: inner.byteLength,
      slice(start, end) {
        bytesRead += (end ?? inner.byteLength) - start;
        return inner.slice(start, end);
      },
    };
    const it = readParquetReviews(path, { file: counting });
    const first = await it.next();
    expect(first.value).toEqual(reviews[0]);
    const afterFirst = bytesRead;
    expect(afterFirst).toBeGreaterThan(0);
    expect(afterFirst).toBeLessThan(size / 2); // the footer and one row group of four
    const rest = [first.value];
    for await (const r of it) rest.push(r);
    expect(rest).toEqual(reviews);
    expect(bytesRead).toBeGreaterThan(size * 0.9);
  });

  it('names the file and the columns when text or label is missing', async () => {
    const path = write('nolabel.parquet', writeParquet([
      { name: 'text', type: 'BYTE_ARRAY', values: ['a', 'b'] },
      { name: 'stars', type: 'INT64', values: [1n, 9n] },
    ]));
    const err = await failure(() => collectRecords(readParquetReviews(path)));
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err.message).toMatch(/nolabel\.parquet: Expected the columns "text" \(string\) and "label".*without "label" \(its columns: text, stars\)/);
    const p2 = write('none.parquet', writeParquet([{ name: 'review', type: 'BYTE_ARRAY', values: ['a'] }]));
    expect((await failure(() => collectRecords(readParquetReviews(p2)))).message).toMatch(/none\.parquet: .*without "text" and "label"/);
  });

  it('rejects columns of the wrong type before reading rows', async () => {
    const textInt = write('textint.parquet', writeParquet([
      { name: 'text', type: 'INT64', values: [1n] },
      { name: 'label', type: 'INT64', values: [1n] },
    ]));
    expect((await failure(() => collectRecords(readParquetReviews(textInt)))).message).toMatch(
      /textint\.parquet: Expected a string \(BYTE_ARRAY\) column for "text" but received a INT64 column/,
    );
    const labelStr = write('labelstr.parquet', writeParquet([
      { name: 'text', type: 'BYTE_ARRAY', values: ['fine'] },
      { name: 'label', type: 'BYTE_ARRAY', values: ['pos'] },
    ]));
    expect((await failure(() => collectRecords(readParquetReviews(labelStr)))).message).toMatch(
      /labelstr\.parquet: Expected an integer \(INT32 or INT64\) column for "label" but received a BYTE_ARRAY column/,
    );
  });

  it('names the row of a label outside {0, 1}, after streaming the rows before it', async () => {
    const reviews: Array<{ text: string; label: number }> = sampleReviews(10);
    reviews[6] = { text: 'seven', label: 2 };
    const path = write('badlabel.parquet', imdbParquet(reviews, { rowGroupSize: 4 }));
    const seen: unknown[] = [];
    const err = await failure(async () => {
      for await (const r of readParquetReviews(path)) seen.push(r);
    });
    expect(seen).toEqual(reviews.slice(0, 6)); // rows before the bad one came through
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err.message).toMatch(/badlabel\.parquet: row 7 \(row group 2 of 3\): Expected 0 or 1 for "label" but received 2$/);

    const unsup = write('unsupervised-00000-of-00001.parquet', imdbParquet([{ text: 'x', label: -1 }]));
    expect((await failure(() => collectRecords(readParquetReviews(unsup)))).message).toMatch(/row 1 \(row group 1 of 1\): .*received -1 \(-1 marks an unlabelled review/);
  });

  it('names the row of a null text or label', async () => {
    const nullText = write('nulltext.parquet', writeParquet([
      { name: 'text', type: 'BYTE_ARRAY', optional: true, values: ['a', 'b', null] },
      { name: 'label', type: 'INT64', values: [0n, 1n, 0n] },
    ]));
    expect((await failure(() => collectRecords(readParquetReviews(nullText)))).message).toMatch(
      /nulltext\.parquet: row 3 \(row group 1 of 1\): Expected a string for "text" but received null/,
    );
    const nullLabel = write('nulllabel.parquet', writeParquet([
      { name: 'text', type: 'BYTE_ARRAY', values: ['a', 'b'] },
      { name: 'label', type: 'INT32', optional: true, values: [null, 1] },
    ]));
    expect((await failure(() => collectRecords(readParquetReviews(nullLabel)))).message).toMatch(
      /nulllabel\.parquet: row 1 .*Expected 0 or 1 for "label" but received null/,
    );
  });

  it('names a file that is missing, not parquet or truncated', async () => {
    expect((await failure(() => collectRecords(readParquetReviews(join(tmp, 'nope.parquet'))))).message).toMatch(/nope\.parquet: file not found/);
    const notPq = write('text.parquet', Buffer.from('review,sentiment\nhello,positive\n'));
    expect((await failure(() => collectRecords(readParquetReviews(notPq)))).message).toMatch(/text\.parquet: Expected a parquet file but received unreadable bytes/);
    const whole = imdbParquet(sampleReviews(5));
    const cut = write('cut.parquet', whole.subarray(0, whole.length - 10));
    expect((await failure(() => collectRecords(readParquetReviews(cut)))).message).toMatch(/cut\.parquet: Expected a parquet file/);
  });
});

describe('parquetSplitFiles', () => {
  const repo = [
    '.gitattributes',
    'README.md',
    'plain_text/test-00000-of-00001.parquet',
    'plain_text/train-00000-of-00001.parquet',
    'plain_text/unsupervised-00000-of-00001.parquet',
  ];

  it('picks the split of stanfordnlp/imdb and never the unsupervised one', () => {
    expect(parquetSplitFiles(repo, 'train', 'x')).toEqual(['plain_text/train-00000-of-00001.parquet']);
    expect(parquetSplitFiles(repo, 'test', 'x')).toEqual(['plain_text/test-00000-of-00001.parquet']);
    expect(parquetSplitFiles(repo, 'all', 'x')).toEqual(['plain_text/train-00000-of-00001.parquet', 'plain_text/test-00000-of-00001.parquet']);
  });

  it('knows the other layouts and orders shards by number', () => {
    expect(parquetSplitFiles(['train-00000-of-00001.parquet', 'test-00000-of-00001.parquet'], 'train', 'x')).toEqual(['train-00000-of-00001.parquet']);
    expect(parquetSplitFiles(['plain_text/train/0010.parquet', 'plain_text/train/0009.parquet', 'plain_text/test/0000.parquet'], 'train', 'x')).toEqual([
      'plain_text/train/0009.parquet',
      'plain_text/train/0010.parquet',
    ]);
    expect(parquetSplitFiles(['data/train.parquet', 'data/test.parquet'], 'test', 'x')).toEqual(['data/test.parquet']);
    expect(parquetSplitFiles(['data/train-00001-of-00002.parquet', 'data/train-00000-of-00002.parquet'], 'train', 'x')).toEqual([
      'data/train-00000-of-00002.parquet',
      'data/train-00001-of-00002.parquet',
    ]);
    expect(parquetSplitFiles(['trainer.parquet', 'other/x.parquet'], 'train', 'x')).toEqual([]);
    expect(parquetSplitFiles(['train.parquet'], 'all', 'x')).toEqual([]); // 'all' needs both splits
  });

  it('refuses a sharded split with shards missing, and an ambiguous config', () => {
    expect(() => parquetSplitFiles(['train-00000-of-00003.parquet', 'train-00002-of-00003.parquet'], 'train', '/data/imdb')).toThrow(
      /\/data\/imdb: Expected all 3 shards of the train split but train-00001-of-00003\.parquet is missing/,
    );
    expect(() => parquetSplitFiles(['a/train.parquet', 'b/train.parquet'], 'train', 'org/x')).toThrow(/org\/x: Expected one dataset config but received several .*: a, b/);
  });
});

describe('openReviews on parquet', () => {
  it('reads a repo folder and its plain_text folder, by split', async () => {
    const train = sampleReviews(9, 'tr');
    const test = sampleReviews(5, 'te');
    write('imdb/plain_text/train-00000-of-00001.parquet', imdbParquet(train, { rowGroupSize: 4 }));
    write('imdb/plain_text/test-00000-of-00001.parquet', imdbParquet(test));
    write('imdb/plain_text/unsupervised-00000-of-00001.parquet', imdbParquet([{ text: 'u', label: -1 }]));
    for (const dir of [join(tmp, 'imdb'), join(tmp, 'imdb', 'plain_text')]) {
      const src = await openReviews(dir, 'train');
      expect(src.format).toBe('parquet');
      expect(src.files).toEqual([join(tmp, 'imdb', 'plain_text', 'train-00000-of-00001.parquet')]);
      expect(await collectRecords(src)).toEqual(train);
      expect(await collectRecords(await openReviews(dir, 'test'))).toEqual(test);
      expect(await collectRecords(await openReviews(dir, 'all'))).toEqual([...train, ...test]);
    }
  });

  it('reads a single file whole, but not one named for the other split', async () => {
    const reviews = sampleReviews(6);
    const path = write('imdb/plain_text/test-00000-of-00001.parquet', imdbParquet(reviews));
    expect(await collectRecords(await openReviews(path, 'test'))).toEqual(reviews);
    expect(await collectRecords(await openReviews(path, 'all'))).toEqual(reviews);
    await expect(openReviews(path, 'train')).rejects.toThrow(/Expected a file of the train split .* for .*test-00000-of-00001\.parquet but received the file of the test split/);
    const noExt = write('reviews.bin', imdbParquet(reviews)); // recognised by its magic bytes
    expect((await openReviews(noExt, 'train')).format).toBe('parquet');
  });

  it('says which split is missing from a folder', async () => {
    write('only/train-00000-of-00001.parquet', imdbParquet(sampleReviews(2)));
    await expect(openReviews(join(tmp, 'only'), 'test')).rejects.toThrow(/only: Expected the test split \(parquet files such as .*\) but received a folder with only train-00000-of-00001\.parquet/);
  });
});
