// The Hugging Face hub cache, laid out exactly as Python's huggingface_hub lays it out, so that a model
// downloaded by either side is found by the other without a second download:
//
//   {root}/models--{org}--{name}/
//     blobs/{id}                       file contents; id = sha256 of LFS files, git blob oid of others
//     blobs/{id}.incomplete            a download in progress (resumed with an HTTP Range request)
//     snapshots/{commit}/{path}        relative symlinks to ../../blobs/{id}
//     refs/{revision}                  the commit a branch or tag pointed at when last resolved
//     .no_exist/{commit}/{path}        empty markers: the repo has no such file at that commit
//
// The root is $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub (read at call time by
// @huggingface/hub's getHFHubCachePath, which follows Python's order, HUGGINGFACE_HUB_CACHE and
// XDG_CACHE_HOME included).
import { closeSync, copyFileSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import { getHFHubCachePath, getRepoFolderName } from '@huggingface/hub';
import { writeFileAtomic } from '../io/atomic.js';
import { FileFormatError } from '../errors.js';

export const COMMIT_HASH = /^[0-9a-f]{40}$/;

/** The weights and companions the engine reads from a model repo. */
export const CONFIG_FILE = 'config.json';
export const SAFETENSORS_FILE = 'model.safetensors';
export const SAFETENSORS_INDEX = 'model.safetensors.index.json';
export const TOKENIZER_FILE = 'tokenizer.json';
/** Read when the repo has them; never required. */
export const OPTIONAL_FILES = ['tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'] as const;
/** PyTorch pickles: never downloaded (unpickling runs code), only named in the error. */
export const PICKLE_WEIGHTS = /^pytorch_model(-\d+-of-\d+)?\.bin(\.index\.json)?$/;

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
}

/** The cache root: `cacheDir` if given, else what the environment says (Python's rules). */
export function hubCacheRoot(cacheDir?: string): string {
  return expandHome(cacheDir ?? getHFHubCachePath());
}

/** $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface (the token file lives here). */
export function hfHome(): string {
  const env = process.env;
  return expandHome(env['HF_HOME'] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'huggingface'));
}

/** Hub repository kinds with their own namespace (and cache folder prefix). */
export type RepoType = 'model' | 'dataset';

/** `{root}/models--org--name` (or `datasets--org--name` for a dataset repo). */
export function repoCacheDir(root: string, repo: string, type: RepoType = 'model'): string {
  return join(root, getRepoFolderName({ name: repo, type }));
}

export function blobPath(repoDir: string, id: string): string {
  return join(repoDir, 'blobs', id);
}

export function snapshotDir(repoDir: string, commit: string): string {
  return join(repoDir, 'snapshots', commit);
}

/**
 * A repo file name is joined onto cache folders: reject anything that could escape them (absolute,
 * drive or UNC paths, `..` segments), as huggingface_hub's _validate_relative_filename does.
 */
export function checkRepoPath(path: string, what = 'repo file name'): void {
  const parts = path.replace(/\\/g, '/').split('/');
  if (
    path === '' ||
    parts.includes('..') ||
    parts.includes('') ||
    path.startsWith('/') ||
    path.startsWith('\\') ||
    parts.some((p) => /^[a-zA-Z]:/.test(p))
  ) {
    throw new RangeError(`Expected a relative path without ".." for ${what} but received "${path}"`);
  }
}

/** The commit a branch or tag resolved to when last online, or undefined. */
export function readRef(repoDir: string, revision: string): string | undefined {
  try {
    const commit = readFileSync(join(repoDir, 'refs', revision), 'utf8').trim();
    return COMMIT_HASH.test(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

/** refs/{revision} ← commit (Python writes the bare hash, no newline). Atomic; skipped when unchanged. */
export function writeRef(repoDir: string, revision: string, commit: string): void {
  if (revision === commit || readRef(repoDir, revision) === commit) return;
  writeFileAtomic(join(repoDir, 'refs', revision), commit);
}

function noExistPath(repoDir: string, commit: string, path: string): string {
  return join(repoDir, '.no_exist', commit, path);
}

/** Record that the repo has no `path` at `commit` (Python's marker, which transformers reads offline). */
export function markNoExist(repoDir: string, commit: string, path: string): void {
  const marker = noExistPath(repoDir, commit, path);
  if (exists(marker)) return;
  mkdirSync(dirname(marker), { recursive: true });
  closeSync(openSync(marker, 'a'));
}

export function isMarkedNoExist(repoDir: string, commit: string, path: string): boolean {
  return exists(noExistPath(repoDir, commit, path));
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Size of a file (following symlinks), or undefined when it or its blob is missing. */
export function fileSize(path: string): number | undefined {
  try {
    const st = statSync(path);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * snapshots/{commit}/{path} → a relative symlink to blobs/{id}, as Python makes it (created under a
 * temporary name and renamed over any old link). Where symlinks are not allowed, the blob is copied.
 */
export function linkSnapshotFile(repoDir: string, commit: string, path: string, id: string): string {
  const pointer = join(snapshotDir(repoDir, commit), path);
  const blob = blobPath(repoDir, id);
  mkdirSync(dirname(pointer), { recursive: true });
  const tmp = `${pointer}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    try {
      symlinkSync(relative(dirname(pointer), blob), tmp);
    } catch {
      copyFileSync(blob, tmp);
    }
    renameSync(tmp, pointer);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return pointer;
}

/** Shard file names listed by a safetensors index's weight_map, in first-seen order. */
export function readIndexShards(indexPath: string, displayName: string): string[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch (err) {
    throw new FileFormatError(displayName, `Expected JSON but received unparsable text (${(err as Error).message})`);
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (map === null || typeof map !== 'object' || Array.isArray(map)) {
    throw new FileFormatError(displayName, 'Expected an object for weight_map but received ' + (map === undefined ? 'none' : typeof map));
  }
  const shards: string[] = [];
  for (const [tensor, file] of Object.entries(map as Record<string, unknown>)) {
    if (typeof file !== 'string') throw new FileFormatError(displayName, `Expected a file name for weight_map["${tensor}"] but received ${typeof file}`);
    checkRepoPath(file, `weight_map["${tensor}"] in ${displayName}`);
    if (!shards.includes(file)) shards.push(file);
  }
  if (shards.length === 0) throw new FileFormatError(displayName, 'Expected at least one tensor in weight_map but received none');
  return shards;
}

/**
 * Which model files a snapshot folder lacks, judged from the folder alone (offline): config.json, the
 * weights (model.safetensors, or the index and every shard it names), tokenizer.json unless a
 * .no_exist marker says the repo has none; with `strict`, also each optional file that is neither
 * there nor marked absent (used to skip the network for a pinned commit only when nothing could be
 * missing). Returns the missing names and the files present.
 */
export function missingModelFiles(
  repoDir: string,
  commit: string,
  opts: { strict?: boolean } = {},
): { missing: string[]; present: string[]; pickleOnly: boolean } {
  const snap = snapshotDir(repoDir, commit);
  const missing: string[] = [];
  const present: string[] = [];
  const have = (f: string): boolean => fileSize(join(snap, f)) !== undefined;
  const need = (f: string): void => {
    (have(f) ? present : missing).push(f);
  };
  need(CONFIG_FILE);
  let pickleOnly = false;
  if (have(SAFETENSORS_FILE)) {
    present.push(SAFETENSORS_FILE);
  } else if (have(SAFETENSORS_INDEX)) {
    present.push(SAFETENSORS_INDEX);
    for (const shard of readIndexShards(join(snap, SAFETENSORS_INDEX), SAFETENSORS_INDEX)) need(shard);
  } else {
    missing.push(`${SAFETENSORS_FILE} (or ${SAFETENSORS_INDEX} and its shards)`);
    pickleOnly = have('pytorch_model.bin') || have('pytorch_model.bin.index.json');
  }
  if (have(TOKENIZER_FILE)) present.push(TOKENIZER_FILE);
  else if (!isMarkedNoExist(repoDir, commit, TOKENIZER_FILE)) missing.push(TOKENIZER_FILE);
  for (const f of OPTIONAL_FILES) {
    if (have(f)) present.push(f);
    else if (opts.strict && !isMarkedNoExist(repoDir, commit, f)) missing.push(f);
  }
  return { missing, present, pickleOnly };
}
