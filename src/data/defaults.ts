// The embedded default world: where the shipped model is, and the default synthetic corpus.
//
// The model ships in models/default/ (Hugging Face layout, F16, with its tokenizer and a model card).
// The corpus does not ship: 20,000 + 5,000 reviews are about 10.5 MB of JSONL, and the generator
// makes them in well under a second, byte for byte the same for a seed. data/default/corpus.json
// records what the default corpus is (generator version, seed, sizes) and the sha256 of each file;
// ensureDefaultCorpus() writes the files into a cache folder once and checks those hashes, so a
// generator change that would silently change the default corpus is caught.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { FileFormatError } from '../errors.js';
import { packageRoot } from '../native.js';
import { readJsonFile } from '../model/hf-config.js';
import { corpusFiles, type CorpusSplit, type ReviewRecord } from './corpus.js';
import { SYNTHETIC_GENERATOR_VERSION, syntheticReviews, writeSyntheticCorpus } from './synthetic-reviews.js';

/** The shipped default model (a Hugging Face folder). */
export const DEFAULT_MODEL_DIR = join(packageRoot, 'models', 'default');
/** The folder describing the default corpus. */
export const DEFAULT_CORPUS_INFO_DIR = join(packageRoot, 'data', 'default');
/** Its manifest. */
export const DEFAULT_CORPUS_MANIFEST = join(DEFAULT_CORPUS_INFO_DIR, 'corpus.json');

export interface CorpusFileInfo {
  records: number;
  bytes: number;
  sha256: string;
}

/** data/default/corpus.json. */
export interface DefaultCorpusManifest {
  generator: 'rewardlens synthetic-reviews';
  version: number;
  seed: number;
  train: number;
  test: number;
  files: Record<CorpusSplit, CorpusFileInfo>;
}

/** The manifest of the default corpus. */
export function defaultCorpusManifest(): DefaultCorpusManifest {
  const m = readJsonFile(DEFAULT_CORPUS_MANIFEST) as DefaultCorpusManifest;
  for (const key of ['version', 'seed', 'train', 'test'] as const) {
    if (!Number.isInteger(m?.[key])) throw new FileFormatError(DEFAULT_CORPUS_MANIFEST, `field "${key}": expected an integer but found ${JSON.stringify(m?.[key])}`);
  }
  return m;
}

/** The cache root: $REWARDLENS_CACHE, else $XDG_CACHE_HOME/rewardlens, else ~/.cache/rewardlens. */
export function cacheRoot(): string {
  if (process.env.REWARDLENS_CACHE) return process.env.REWARDLENS_CACHE;
  if (process.env.XDG_CACHE_HOME) return join(process.env.XDG_CACHE_HOME, 'rewardlens');
  return join(homedir(), '.cache', 'rewardlens');
}

/** sha256, size and line count of a file. */
export function corpusFileInfo(path: string): CorpusFileInfo {
  const data = readFileSync(path);
  let records = 0;
  for (let i = 0; i < data.length; i++) if (data[i] === 0x0a) records++;
  return { records, bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}

/**
 * The folder of the default corpus (train.jsonl, test.jsonl), generated into the cache on first use
 * (or into `opts.dir`). Files already there are checked against the manifest's hashes and remade
 * when they differ; a freshly generated file that differs is an error (the generator changed: bump
 * its version and the manifest together).
 */
export async function ensureDefaultCorpus(opts: { dir?: string } = {}): Promise<string> {
  const m = defaultCorpusManifest();
  if (m.version !== SYNTHETIC_GENERATOR_VERSION) {
    throw new FileFormatError(DEFAULT_CORPUS_MANIFEST, `field "version": expected ${SYNTHETIC_GENERATOR_VERSION} (the generator's version) but found ${m.version}`);
  }
  const dir = opts.dir ?? join(cacheRoot(), 'corpus', `synthetic-v${m.version}-seed${m.seed}-${m.train}-${m.test}`);
  const files = corpusFiles(dir);
  const ok = (split: CorpusSplit) => existsSync(files[split]) && corpusFileInfo(files[split]).sha256 === m.files[split].sha256;
  if (ok('train') && ok('test')) return dir;
  await writeSyntheticCorpus(dir, { seed: m.seed, train: m.train, test: m.test });
  for (const split of ['train', 'test'] as const) {
    const got = corpusFileInfo(files[split]);
    if (got.sha256 !== m.files[split].sha256) {
      throw new FileFormatError(DEFAULT_CORPUS_MANIFEST, `field "files.${split}.sha256": expected the hash of the regenerated ${files[split]} (${got.sha256}) but found ${m.files[split].sha256}: the generator's output changed; bump SYNTHETIC_GENERATOR_VERSION and remake the manifest and the default model`);
    }
  }
  return dir;
}

/** The first `count` reviews (default and at most: all) of a split of the default corpus, generated in memory. */
export function defaultCorpusReviews(split: CorpusSplit, count?: number): Generator<ReviewRecord> {
  const m = defaultCorpusManifest();
  return syntheticReviews(split, Math.min(count ?? m[split], m[split]), m.seed);
}
