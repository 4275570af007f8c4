// The aclImdb folder loader.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listAclImdb, readAclImdbReviews } from '../src/data/imdb-aclimdb.js';
import { openReviews } from '../src/data/dataset.js';
import { collectRecords } from '../src/data/corpus.js';
import { FileFormatError } from '../src/errors.js';
import { writeAclImdb, type AclReview } from './helpers/imdb-fixtures.js';

let tmp: string;
let root: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'rl-imdb-acl-'));
  root = join(tmp, 'aclImdb');
});
afterEach(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const REVIEWS: AclReview[] = [
  { split: 'train', label: 'pos', id: 10, rating: 8, text: 'pos ten<br /><br />great' },
  { split: 'train', label: 'pos', id: 9, rating: 10, text: 'pos nine' },
  { split: 'train', label: 'pos', id: 100, rating: 7, text: 'pos hundred, café' },
  { split: 'train', label: 'neg', id: 2, rating: 1, text: 'neg two' },
  { split: 'train', label: 'neg', id: 11, rating: 3, text: 'neg eleven' },
  { split: 'test', label: 'neg', id: 0, rating: 2, text: 'test neg zero' },
  { split: 'test', label: 'pos', id: 0, rating: 9, text: 'test pos zero' },
  { split: 'test', label: 'pos', id: 1, rating: 10, text: 'test pos one' },
  { split: 'unsup', label: 'pos', id: 0, rating: 0, text: 'unlabelled' },
];

async function failure(run: () => Promise<unknown>): Promise<Error> {
  try {
    await run();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('aclImdb', () => {
  it('interleaves neg and pos, each sorted by numeric id, and skips unsup and the companions', async () => {
    writeAclImdb(root, REVIEWS);
    expect(await collectRecords(readAclImdbReviews(root, 'train'))).toEqual([
      { text: 'neg two', label: 0 },
      { text: 'pos nine', label: 1 },
      { text: 'neg eleven', label: 0 },
      { text: 'pos ten<br /><br />great', label: 1 }, // <br /> kept, as the hub's parquet keeps it
      { text: 'pos hundred, café', label: 1 }, // neg ran out: the rest of pos follows
    ]);
    expect(await collectRecords(readAclImdbReviews(root, 'test'))).toEqual([
      { text: 'test neg zero', label: 0 },
      { text: 'test pos zero', label: 1 },
      { text: 'test pos one', label: 1 },
    ]);
    const all = await collectRecords(readAclImdbReviews(root, 'all'));
    expect(all.map((r) => r.text)).toEqual(['neg two', 'pos nine', 'neg eleven', 'pos ten<br /><br />great', 'pos hundred, café', 'test neg zero', 'test pos zero', 'test pos one']);
    expect(all.some((r) => r.text === 'unlabelled')).toBe(false);
    expect(listAclImdb(root, 'train').map((f) => f.path.slice(root.length + 1))).toEqual([
      'train/neg/2_1.txt',
      'train/pos/9_10.txt',
      'train/neg/11_3.txt',
      'train/pos/10_8.txt',
      'train/pos/100_7.txt',
    ]);
  });

  it('is found from its parent folder and through openReviews, with brAsNewline and limit', async () => {
    writeAclImdb(root, REVIEWS);
    for (const dir of [root, tmp]) {
      const src = await openReviews(dir, 'train', { brAsNewline: true, limit: 4 });
      expect(src.format).toBe('aclimdb');
      expect(src.files).toEqual([join(root, 'train', 'neg'), join(root, 'train', 'pos')]);
      expect((await collectRecords(src)).map((r) => r.text)).toEqual(['neg two', 'pos nine', 'neg eleven', 'pos ten\n\ngreat']);
    }
  });

  it('names a missing split folder', async () => {
    writeAclImdb(root, REVIEWS.filter((r) => !(r.split === 'test' && r.label === 'neg')));
    rmSync(join(root, 'test', 'neg'), { recursive: true, force: true });
    const err = await failure(() => collectRecords(readAclImdbReviews(root, 'test')));
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err.message).toMatch(/aclImdb: missing the split folder test\/neg \(an aclImdb folder holds train\/pos, train\/neg, test\/pos and test\/neg\)/);
    // openReviews checks the folders before the first record is asked for.
    await expect(openReviews(root, 'all')).rejects.toThrow(/missing the split folder test\/neg/);
    expect((await collectRecords(await openReviews(root, 'train'))).length).toBe(5);
  });

  it('names an unreadable file, a non-UTF-8 file and a file with a bad name', async () => {
    writeAclImdb(root, REVIEWS);
    mkdirSync(join(root, 'train', 'neg', '5_2.txt')); // a folder where a file should be: EISDIR
    const seen: string[] = [];
    const err = await failure(async () => {
      for await (const r of readAclImdbReviews(root, 'train')) seen.push(r.text);
    });
    expect(seen).toEqual(['neg two', 'pos nine']);
    expect(err.message).toMatch(/train\/neg\/5_2\.txt: cannot read the review file \(EISDIR\)/);
    rmSync(join(root, 'train', 'neg', '5_2.txt'), { recursive: true });

    symlinkSync(join(tmp, 'gone.txt'), join(root, 'train', 'pos', '12_9.txt'));
    expect((await failure(() => collectRecords(readAclImdbReviews(root, 'train')))).message).toMatch(/train\/pos\/12_9\.txt: cannot read the review file \(ENOENT\)/);
    rmSync(join(root, 'train', 'pos', '12_9.txt'));

    writeFileSync(join(root, 'test', 'pos', '7_8.txt'), Buffer.from([0x67, 0x6f, 0xff, 0x6f]));
    expect((await failure(() => collectRecords(readAclImdbReviews(root, 'test')))).message).toMatch(/test\/pos\/7_8\.txt: Expected UTF-8 text but received invalid bytes/);

    writeFileSync(join(root, 'test', 'neg', 'notes.txt'), 'x');
    expect(() => listAclImdb(root, 'test')).toThrow(/test\/neg\/notes\.txt: Expected a review file named \{id\}_\{rating\}\.txt/);
  });
});
