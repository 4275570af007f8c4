// Small IMDb-shaped inputs, written by the tests: reviews, aclImdb folders, CSV text.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Review {
  text: string;
  label: 0 | 1;
}

/** `n` reviews alternating neg/pos, with commas, quotes, newlines, `<br />` and non-ASCII text. */
export function sampleReviews(n: number, prefix = 'r'): Review[] {
  const extras = ['', ', with a comma', ' "quoted" words', '\nsecond line', '<br /><br />after a break', ' — café ☕'];
  return Array.from({ length: n }, (_, i) => ({
    text: `${prefix}${i}: ${i % 2 ? 'loved' : 'hated'} it${extras[i % extras.length]}`,
    label: (i % 2) as 0 | 1,
  }));
}

/** One aclImdb review file. */
export interface AclReview {
  split: 'train' | 'test' | 'unsup';
  label: 'pos' | 'neg';
  id: number;
  rating: number;
  text: string;
}

/** Write an aclImdb folder (with the companions a real one has, which the loader must skip). */
export function writeAclImdb(root: string, reviews: AclReview[]): void {
  for (const s of ['train', 'test']) {
    mkdirSync(join(root, s), { recursive: true });
    writeFileSync(join(root, s, 'labeledBow.feat'), '0:9 1:1\n');
    writeFileSync(join(root, s, 'urls_pos.txt'), 'http://www.imdb.com/title/tt0000001/usercomments\n');
  }
  writeFileSync(join(root, 'imdb.vocab'), 'the\nand\n');
  for (const r of reviews) {
    const dir = r.split === 'unsup' ? join(root, 'train', 'unsup') : join(root, r.split, r.label);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${r.id}_${r.rating}.txt`), r.text);
  }
}

/** A CSV field, quoted when it needs to be (RFC 4180). */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The Kaggle layout: `review,sentiment` then one row per review. */
export function kaggleCsv(reviews: Review[], eol = '\n'): string {
  return ['review,sentiment', ...reviews.map((r) => `${csvField(r.text)},${r.label ? 'positive' : 'negative'}`)].join(eol) + eol;
}
