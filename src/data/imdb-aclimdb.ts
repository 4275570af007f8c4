// IMDb reviews from the original aclImdb folder (Maas et al. 2011, aclImdb_v1.tar.gz):
//
//   aclImdb/train/pos/{id}_{rating}.txt   12,500 files, rating 7-10   → label 1
//   aclImdb/train/neg/{id}_{rating}.txt   12,500 files, rating 1-4    → label 0
//   aclImdb/test/pos, aclImdb/test/neg    the same for the test split
//   aclImdb/train/unsup                   unlabelled: never read
//
// Order (deterministic, independent of the file system): within each of neg and pos, files sorted by
// id (then rating); the two are interleaved neg, pos, neg, pos, ... starting with neg (when one runs
// out, the rest of the other follows). So any prefix (a `limit`) is balanced. 'all' = train, then test.
// Text is the file's content as is: `<br />` tags stay, as in the hub's parquet (stanfordnlp/imdb
// keeps them too); openReviews's `brAsNewline` turns them into newlines for every format alike.
//
// Streaming: the split folders are listed up front (names only), then one file is read at a time.
// Errors (FileFormatError) name the folder or the file.
import { readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileFormatError } from '../errors.js';
import type { ReviewRecord } from './corpus.js';
import type { ReviewSplit } from './dataset.js';

/** One review file and its label, in reading order. */
export interface AclImdbFile {
  path: string;
  label: 0 | 1;
}

const REVIEW_FILE = /^(\d+)_(\d+)\.txt$/;

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** `dir` when it is an aclImdb folder (train/ or test/ holding pos/ or neg/), `dir/aclImdb` when that one is, else undefined. */
export function findAclImdbRoot(dir: string): string | undefined {
  for (const root of [dir, join(dir, 'aclImdb')]) {
    if (['train', 'test'].some((s) => ['pos', 'neg'].some((l) => isDir(join(root, s, l))))) return root;
  }
  return undefined;
}

function listLabelFolder(root: string, split: 'train' | 'test', name: 'pos' | 'neg'): AclImdbFile[] {
  const dir = join(root, split, name);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new FileFormatError(
      root,
      e.code === 'ENOENT' || e.code === 'ENOTDIR'
        ? `missing the split folder ${split}/${name} (an aclImdb folder holds train/pos, train/neg, test/pos and test/neg)`
        : `cannot list ${split}/${name}: ${e.message}`,
    );
  }
  const label = name === 'pos' ? 1 : 0;
  const files: Array<{ id: number; rating: number; path: string }> = [];
  for (const n of names) {
    if (!n.endsWith('.txt')) continue; // e.g. a stray .DS_Store
    const m = REVIEW_FILE.exec(n);
    if (!m) throw new FileFormatError(join(dir, n), 'Expected a review file named {id}_{rating}.txt but received another name');
    files.push({ id: Number(m[1]), rating: Number(m[2]), path: join(dir, n) });
  }
  files.sort((a, b) => a.id - b.id || a.rating - b.rating);
  return files.map((f) => ({ path: f.path, label }));
}

/**
 * The review files of `split` under an aclImdb folder, in reading order (see the top of this file).
 * Errors when a split folder (train/pos, train/neg, test/pos, test/neg as needed) is missing.
 */
export function listAclImdb(root: string, split: ReviewSplit): AclImdbFile[] {
  const splits = split === 'all' ? (['train', 'test'] as const) : [split];
  const out: AclImdbFile[] = [];
  for (const s of splits) {
    const neg = listLabelFolder(root, s, 'neg');
    const pos = listLabelFolder(root, s, 'pos');
    for (let i = 0; i < Math.max(neg.length, pos.length); i++) {
      if (i < neg.length) out.push(neg[i]);
      if (i < pos.length) out.push(pos[i]);
    }
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true }); // drops a leading BOM

/** Read the files one at a time; an unreadable or non-UTF-8 file stops the stream with its name. */
export async function* readAclImdbFiles(files: Iterable<AclImdbFile>): AsyncGenerator<ReviewRecord> {
  for (const f of files) {
    let bytes: Buffer;
    try {
      bytes = await readFile(f.path);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new FileFormatError(f.path, `cannot read the review file (${e.code ?? e.message})`);
    }
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      throw new FileFormatError(f.path, 'Expected UTF-8 text but received invalid bytes');
    }
    yield { text, label: f.label };
  }
}

/** Stream the reviews of `split` from an aclImdb folder (the folder itself or its parent). */
export async function* readAclImdbReviews(dir: string, split: ReviewSplit): AsyncGenerator<ReviewRecord> {
  const root = findAclImdbRoot(dir) ?? dir;
  yield* readAclImdbFiles(listAclImdb(root, split));
}
