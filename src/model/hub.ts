// Resolve a model spec — a local folder, or a Hugging Face hub id `org/name[@revision]` — to a folder
// holding config.json, safetensors weights and the tokenizer files, downloading into the hub cache
// (Python's layout, see hub-cache.ts) only what the engine reads and the cache lacks.
//
// What comes from @huggingface/hub 2.x: the cache root (getHFHubCachePath, which reads HF_HUB_CACHE /
// HF_HOME at call time, in Python's order), the cache folder naming (getRepoFolderName) and HUB_URL.
// The HTTP side is written here against the hub's endpoints, because the library's download helpers
// get the parts this needs wrong or leave them out (checked in its 2.17 source):
//  - downloadFileToCacheDir streams straight to blobs/{id}.incomplete with no Range support, so an
//    interrupted multi-GB shard starts over; it checks neither size nor sha256; with a branch it
//    names the snapshot folder after each file's *last commit* (info.lastCommit.id), so the files of
//    one revision scatter over several snapshots/ folders that Python would not find; it writes no
//    refs/; it costs one paths-info POST per file; and it has no offline lookup.
//  - snapshotDownload writes refs/ but downloads every file of the repo (pytorch_model.bin included).
//  - modelInfo cannot ask the revision API for `?blobs=true` (sizes and LFS sha256 in one request).
//  - none of them read HF_TOKEN or HF_ENDPOINT, and checkCredentials rejects tokens that do not start
//    with "hf_" (a mirror or enterprise hub may issue others).
// So: one GET of /api/models/{repo}/revision/{rev}?blobs=true gives the commit and every file's size
// and id; files are fetched from /{repo}/resolve/{commit}/{path} (redirects followed by hand, the
// Authorization header sent to the endpoint's own origin only), resumed with Range from
// blobs/{id}.incomplete, checked against the size and the LFS sha256 (git blob oid for small files),
// and renamed into place only when verified.
import { open } from 'node:fs/promises';
import { createReadStream, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path';
import { homedir } from 'node:os';
import { HUB_URL } from '@huggingface/hub';
import {
  COMMIT_HASH, CONFIG_FILE, OPTIONAL_FILES, PICKLE_WEIGHTS, SAFETENSORS_FILE, SAFETENSORS_INDEX, TOKENIZER_FILE,
  blobPath, checkRepoPath, fileSize, hfHome, hubCacheRoot, linkSnapshotFile, markNoExist, missingModelFiles,
  readIndexShards, readRef, repoCacheDir, snapshotDir, writeRef, type RepoType,
} from './hub-cache.js';

export { hubCacheRoot, repoCacheDir, type RepoType } from './hub-cache.js';

/** One progress report: `bytes` of `file` are on disk (resumed bytes included) out of `total`. */
export interface HubProgress {
  file: string;
  bytes: number;
  /** Undefined when neither the hub's metadata nor the response said. */
  total: number | undefined;
}

export interface ResolveModelOptions {
  /** Cache root; default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
  cacheDir?: string;
  /** Use the cache only; default: HF_HUB_OFFLINE is 1/true/yes/on. */
  offline?: boolean;
  /** Default: $HF_TOKEN, else the file $HF_TOKEN_PATH or $HF_HOME/token. */
  token?: string;
  /** Default: $HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** 'model' (default): what the engine reads. Or exact repo paths, each required. */
  files?: 'model' | string[];
  onProgress?: (p: HubProgress) => void;
  signal?: AbortSignal;
}

export interface ResolvedModel {
  /** The local folder, or the snapshot folder snapshots/{commit} in the cache. */
  dir: string;
  repo?: string;
  /** As asked: a branch, tag or commit (hub specs only). */
  revision?: string;
  commit?: string;
  /** Repo paths fetched over the network by this call (empty on a cache hit). */
  downloaded: string[];
}

export type HubErrorCode =
  | 'bad-spec' // neither a folder nor org/name[@revision]
  | 'not-a-model' // a folder or repo without config.json
  | 'not-found' // repo, revision or file does not exist (404)
  | 'unauthorized' // 401: private/gated repo without a (valid) token, or no such repo
  | 'forbidden' // 403: gated or no access with this token
  | 'no-safetensors' // pytorch_model.bin only
  | 'no-weights'
  | 'offline-missing' // offline, and the cache lacks files
  | 'integrity' // size or sha256 mismatch
  | 'network' // the hub could not be reached, or kept failing
  | 'http'; // any other HTTP failure

/** An error resolving or downloading a model; the message names the repo, revision and file. */
export class HubError extends Error {
  readonly code: HubErrorCode;
  readonly repo?: string;
  readonly revision?: string;
  readonly status?: number;
  readonly file?: string;
  /** For 'offline-missing': the repo paths the cache lacks. */
  readonly missing?: string[];
  constructor(
    code: HubErrorCode,
    message: string,
    extra: { repo?: string; revision?: string; status?: number; file?: string; missing?: string[]; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'HubError';
    this.code = code;
    this.repo = extra.repo;
    this.revision = extra.revision;
    this.status = extra.status;
    this.file = extra.file;
    this.missing = extra.missing;
  }
}

export type ModelSpec = { kind: 'local'; dir: string } | { kind: 'hub'; repo: string; revision: string };

const HUB_ID = /^([A-Za-z0-9][A-Za-z0-9_.-]*)\/([A-Za-z0-9_.-]+)(?:@(.+))?$/;

/**
 * A local folder when `spec` looks like a path (starts with `.`, `/`, `~`, is absolute) or names an
 * existing folder; else a hub id `org/name[@revision]` (revision: a branch, tag or 40-hex commit,
 * default "main"; `refs/pr/N` works too).
 */
export function parseModelSpec(spec: string): ModelSpec {
  if (typeof spec !== 'string' || spec === '') {
    throw new HubError('bad-spec', `Expected a folder or a hub id org/name[@revision] for the model but received ${JSON.stringify(spec)}`);
  }
  const expanded = spec === '~' || spec.startsWith('~/') ? join(homedir(), spec.slice(1)) : spec;
  const looksLikePath = spec.startsWith('.') || spec.startsWith('~') || isAbsolute(spec) || spec.includes('\\');
  if (looksLikePath || isDirectory(expanded)) return { kind: 'local', dir: resolvePath(expanded) };
  const m = HUB_ID.exec(spec);
  if (!m || m[2].endsWith('.') || `${m[1]}/${m[2]}`.includes('..') || `${m[1]}/${m[2]}`.includes('--')) {
    throw new HubError(
      'bad-spec',
      `Expected a folder or a hub id org/name[@revision] for the model but received "${spec}" (no such folder: ${resolvePath(spec)})`,
    );
  }
  const revision = m[3] ?? 'main';
  checkRepoPath(revision, `the revision of ${m[1]}/${m[2]}`);
  return { kind: 'hub', repo: `${m[1]}/${m[2]}`, revision };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The model folder for `spec`, downloading from the hub into the cache what is missing. */
export async function resolveModel(spec: string, opts: ResolveModelOptions = {}): Promise<ResolvedModel> {
  const parsed = parseModelSpec(spec);
  if (parsed.kind === 'local') return resolveLocal(parsed.dir);
  const files = opts.files ?? 'model';
  if (files !== 'model') {
    if (!Array.isArray(files) || files.some((f) => typeof f !== 'string')) {
      throw new TypeError(`Expected 'model' or an array of repo paths for files but received ${JSON.stringify(files)}`);
    }
    for (const f of files) checkRepoPath(f);
  }
  const root = hubCacheRoot(opts.cacheDir);
  const ctx: Ctx = {
    repo: parsed.repo,
    revision: parsed.revision,
    endpoint: checkEndpoint(opts.endpoint ?? process.env['HF_ENDPOINT'] ?? HUB_URL, opts.endpoint !== undefined ? 'endpoint' : 'HF_ENDPOINT'),
    token: resolveToken(opts.token),
    root,
    repoDir: repoCacheDir(root, parsed.repo),
    signal: opts.signal,
    onProgress: opts.onProgress,
  };
  const offline = opts.offline ?? envFlag('HF_HUB_OFFLINE');
  if (offline) {
    return resolveOffline(ctx, files, opts.offline ? 'offline mode is on (the offline option)' : 'offline mode is on (HF_HUB_OFFLINE is set)');
  }
  // A commit is immutable: when its snapshot already holds everything, skip the network entirely.
  if (COMMIT_HASH.test(ctx.revision)) {
    const cached = localCompleteness(ctx, ctx.revision, files, true);
    if (cached.missing.length === 0) return hubResult(ctx, ctx.revision, []);
  }
  let info: RevisionInfo;
  try {
    info = await fetchRevisionInfo(ctx);
  } catch (err) {
    // As huggingface_hub does: when the hub cannot be reached (or fails), serve what the cache has.
    if (err instanceof NetworkError) return resolveOffline(ctx, files, `the hub at ${ctx.endpoint} could not be reached (${err.message})`, err);
    if (err instanceof HubError && err.status !== undefined && err.status >= 500) return resolveOffline(ctx, files, err.message, err);
    throw err;
  }
  const downloaded = await fetchFiles(ctx, info, files);
  writeRef(ctx.repoDir, ctx.revision, info.sha);
  return hubResult(ctx, info.sha, downloaded);
}

function resolveLocal(dir: string): ResolvedModel {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new HubError('not-found', `Model folder ${dir} does not exist (and the spec is not a hub id org/name[@revision])`);
  }
  if (!isDir) throw new HubError('not-a-model', `Expected a model folder for the model but received the file ${dir}`);
  if (fileSize(join(dir, CONFIG_FILE)) === undefined) {
    throw new HubError('not-a-model', `Model folder ${dir} has no ${CONFIG_FILE}: expected a Hugging Face model folder (config.json, model.safetensors, tokenizer.json)`);
  }
  return { dir, downloaded: [] };
}

function hubResult(ctx: Ctx, commit: string, downloaded: string[]): ResolvedModel {
  return { dir: snapshotDir(ctx.repoDir, commit), repo: ctx.repo, revision: ctx.revision, commit, downloaded };
}

// ---------------------------------------------------------------------------------------------------
// Dataset repos: the same machinery as models (the revision API, resolve URLs, blobs with resume and
// checks, snapshots, refs, the offline lookup), with the hub's dataset paths
// (/api/datasets/{repo}/revision/{rev}, {endpoint}/datasets/{repo}/resolve/{rev}/{path}) and the cache
// folder datasets--{org}--{name}, as Python's huggingface_hub lays it out for repo_type="dataset".

export interface ResolveDatasetOptions extends Omit<ResolveModelOptions, 'files'> {
  /**
   * Which repo files to fetch: exact repo paths (each required), or a choice made from the list of
   * every file of the repo at the revision (return the paths wanted; none is an error). Offline, the
   * choice is made from the files the cached snapshot holds.
   */
  files: string[] | ((repoFiles: string[]) => string[]);
  /** Names the wanted files in messages, e.g. "the train split (*.parquet)"; default: the paths. */
  describe?: string;
}

export interface ResolvedDataset {
  /** The snapshot folder snapshots/{commit} in the cache. */
  dir: string;
  repo: string;
  /** As asked: a branch, tag or commit. */
  revision: string;
  commit: string;
  /** The repo paths chosen, each present under `dir`. */
  files: string[];
  /** Repo paths fetched over the network by this call (empty on a cache hit). */
  downloaded: string[];
}

/** `org/name[@revision]` (revision default "main") → repo and revision; `what` names it in the error. */
export function parseHubId(spec: string, what: string): { repo: string; revision: string } {
  const m = typeof spec === 'string' ? HUB_ID.exec(spec) : null;
  if (!m || m[2].endsWith('.') || `${m[1]}/${m[2]}`.includes('..') || `${m[1]}/${m[2]}`.includes('--')) {
    throw new HubError('bad-spec', `Expected a hub id org/name[@revision] for ${what} but received ${JSON.stringify(spec)}`);
  }
  const revision = m[3] ?? 'main';
  checkRepoPath(revision, `the revision of ${m[1]}/${m[2]}`);
  return { repo: `${m[1]}/${m[2]}`, revision };
}

/**
 * The files of a hub dataset `org/name[@revision]`, downloading into the cache what it lacks. Online,
 * the revision API is asked every time (one small request; a commit whose exact files are all cached
 * is served without it); offline (or when the hub cannot be reached), refs/{revision} and the
 * snapshot are read.
 */
export async function resolveDataset(spec: string, opts: ResolveDatasetOptions): Promise<ResolvedDataset> {
  const { repo, revision } = parseHubId(spec, 'the dataset');
  const files = opts.files;
  if (Array.isArray(files)) {
    if (files.length === 0 || files.some((f) => typeof f !== 'string')) {
      throw new TypeError(`Expected a non-empty array of repo paths or a function for files but received ${JSON.stringify(files)}`);
    }
    for (const f of files) checkRepoPath(f);
  } else if (typeof files !== 'function') {
    throw new TypeError(`Expected an array of repo paths or a function for files but received ${typeof files}`);
  }
  const what = opts.describe ?? (Array.isArray(files) ? files.join(', ') : 'the requested files');
  const root = hubCacheRoot(opts.cacheDir);
  const ctx: Ctx = {
    repo,
    repoType: 'dataset',
    revision,
    endpoint: checkEndpoint(opts.endpoint ?? process.env['HF_ENDPOINT'] ?? HUB_URL, opts.endpoint !== undefined ? 'endpoint' : 'HF_ENDPOINT'),
    token: resolveToken(opts.token),
    root,
    repoDir: repoCacheDir(root, repo, 'dataset'),
    signal: opts.signal,
    onProgress: opts.onProgress,
  };
  const offline = opts.offline ?? envFlag('HF_HUB_OFFLINE');
  if (offline) {
    return resolveDatasetOffline(ctx, files, what, opts.offline ? 'offline mode is on (the offline option)' : 'offline mode is on (HF_HUB_OFFLINE is set)');
  }
  if (COMMIT_HASH.test(revision) && Array.isArray(files)) {
    const snap = snapshotDir(ctx.repoDir, revision);
    if (files.every((f) => fileSize(join(snap, f)) !== undefined)) return { dir: snap, repo, revision, commit: revision, files, downloaded: [] };
  }
  let info: RevisionInfo;
  try {
    info = await fetchRevisionInfo(ctx);
  } catch (err) {
    if (err instanceof NetworkError) return resolveDatasetOffline(ctx, files, what, `the hub at ${ctx.endpoint} could not be reached (${err.message})`, err);
    if (err instanceof HubError && err.status !== undefined && err.status >= 500) return resolveDatasetOffline(ctx, files, what, err.message, err);
    throw err;
  }
  const all = [...info.files.keys()];
  const wanted = Array.isArray(files) ? files : files(all);
  if (wanted.length === 0) {
    throw new HubError('not-found', `The dataset ${repo}@${revision} lacks ${what} (files in the repo: ${listSome(all) || 'none'})`, { repo, revision });
  }
  for (const f of wanted) checkRepoPath(f);
  const downloaded = await fetchFiles(ctx, info, wanted);
  writeRef(ctx.repoDir, revision, info.sha);
  return { dir: snapshotDir(ctx.repoDir, info.sha), repo, revision, commit: info.sha, files: wanted, downloaded };
}

/** Every file under a snapshot folder, as repo paths (posix separators), sorted. */
function snapshotFiles(snap: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, prefix: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of entries) {
      const full = join(dir, name);
      let st;
      try {
        st = statSync(full);
      } catch {
        continue; // a dangling link: its blob is gone
      }
      if (st.isDirectory()) walk(full, `${prefix}${name}/`);
      else if (st.isFile()) out.push(`${prefix}${name}`);
    }
  };
  walk(snap, '');
  return out.sort();
}

function resolveDatasetOffline(ctx: Ctx, files: ResolveDatasetOptions['files'], what: string, why: string, cause?: unknown): ResolvedDataset {
  const at = `${ctx.repo}@${ctx.revision}`;
  const howTo =
    `To fetch them, run the same command once online (without the offline option and with HF_HUB_OFFLINE unset), ` +
    `or download the dataset with Python (huggingface-cli download ${ctx.repo} --repo-type dataset --revision ${ctx.revision}) ` +
    `and point HF_HUB_CACHE at that cache (default ~/.cache/huggingface/hub), or copy its ${repoCacheDir('', ctx.repo, 'dataset')} folder into ${ctx.root}.`;
  const commit = COMMIT_HASH.test(ctx.revision) ? ctx.revision : readRef(ctx.repoDir, ctx.revision);
  if (!commit) {
    throw new HubError(
      'offline-missing',
      `Cannot resolve the dataset ${at} from the cache: ${why}, and ${at} was never downloaded into it ` +
        `(no ${join(ctx.repoDir, 'refs', ctx.revision)}). Missing: ${what}. Cache searched: ${ctx.root}. ${howTo}`,
      { repo: ctx.repo, revision: ctx.revision, missing: Array.isArray(files) ? files : [what], cause },
    );
  }
  const snap = snapshotDir(ctx.repoDir, commit);
  const missing = Array.isArray(files) ? files.filter((f) => fileSize(join(snap, f)) === undefined) : [];
  const wanted = Array.isArray(files) ? files : files(snapshotFiles(snap));
  if (missing.length > 0 || wanted.length === 0) {
    throw new HubError(
      'offline-missing',
      `Cannot resolve the dataset ${at} from the cache: ${why}, and the snapshot of commit ${commit} lacks ` +
        `${missing.length > 0 ? missing.join(', ') : what}. Cache searched: ${snap}. ${howTo}`,
      { repo: ctx.repo, revision: ctx.revision, missing: missing.length > 0 ? missing : [what], cause },
    );
  }
  return { dir: snap, repo: ctx.repo, revision: ctx.revision, commit, files: wanted, downloaded: [] };
}

// ---------------------------------------------------------------------------------------------------
// Environment

function checkEndpoint(url: string, name: string): string {
  let ok = false;
  try {
    ok = ['http:', 'https:'].includes(new URL(url).protocol);
  } catch {
    // not a URL
  }
  if (!ok) throw new HubError('bad-spec', `Expected an http(s) URL for ${name} but received "${url}"`);
  return url.replace(/\/+$/, '');
}

function envFlag(name: string): boolean {
  return ['1', 'true', 'yes', 'on'].includes((process.env[name] ?? '').trim().toLowerCase());
}

/** opts.token, else $HF_TOKEN (or the older HUGGING_FACE_HUB_TOKEN), else the token file Python's `hf auth login` writes. */
function resolveToken(explicit: string | undefined): string | undefined {
  if (explicit !== undefined) return explicit.trim() || undefined;
  const env = (process.env['HF_TOKEN'] ?? process.env['HUGGING_FACE_HUB_TOKEN'] ?? '').trim();
  if (env) return env;
  const path = process.env['HF_TOKEN_PATH'] ?? join(hfHome(), 'token');
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------
// Offline: refs/{revision} → snapshots/{commit}

interface Ctx {
  repo: string;
  /** Absent: a model repo. */
  repoType?: RepoType;
  revision: string;
  endpoint: string;
  token: string | undefined;
  root: string;
  repoDir: string;
  signal: AbortSignal | undefined;
  onProgress: ((p: HubProgress) => void) | undefined;
}

function localCompleteness(ctx: Ctx, commit: string, files: 'model' | string[], strict: boolean): { missing: string[]; pickleOnly: boolean } {
  if (files === 'model') return missingModelFiles(ctx.repoDir, commit, { strict });
  const snap = snapshotDir(ctx.repoDir, commit);
  return { missing: files.filter((f) => fileSize(join(snap, f)) === undefined), pickleOnly: false };
}

function resolveOffline(ctx: Ctx, files: 'model' | string[], why: string, cause?: unknown): ResolvedModel {
  const at = `${ctx.repo}@${ctx.revision}`;
  const howTo =
    `To fetch them, run the same command once online (without the offline option and with HF_HUB_OFFLINE unset), ` +
    `or download the model with Python (huggingface-cli download ${ctx.repo} --revision ${ctx.revision}) ` +
    `and point HF_HUB_CACHE at that cache (default ~/.cache/huggingface/hub), or copy its ${repoCacheDir('', ctx.repo)} folder into ${ctx.root}.`;
  const commit = COMMIT_HASH.test(ctx.revision) ? ctx.revision : readRef(ctx.repoDir, ctx.revision);
  if (!commit) {
    const wanted = files === 'model' ? [CONFIG_FILE, `${SAFETENSORS_FILE} (or ${SAFETENSORS_INDEX} and its shards)`, TOKENIZER_FILE] : files;
    throw new HubError(
      'offline-missing',
      `Cannot resolve ${at} from the cache: ${why}, and ${at} was never downloaded into it ` +
        `(no ${join(ctx.repoDir, 'refs', ctx.revision)}). Missing: ${wanted.join(', ')}. Cache searched: ${ctx.root}. ${howTo}`,
      { repo: ctx.repo, revision: ctx.revision, missing: wanted, cause },
    );
  }
  const { missing, pickleOnly } = localCompleteness(ctx, commit, files, false);
  if (missing.length > 0) {
    const pickleNote = pickleOnly ? ' (the cache has pytorch_model.bin, which rewardlens does not read: it needs safetensors)' : '';
    throw new HubError(
      'offline-missing',
      `Cannot resolve ${at} from the cache: ${why}, and the snapshot of commit ${commit} lacks ` +
        `${missing.length === 1 ? 'a file' : `${missing.length} files`}: ${missing.join(', ')}${pickleNote}. ` +
        `Cache searched: ${snapshotDir(ctx.repoDir, commit)}. ${howTo}`,
      { repo: ctx.repo, revision: ctx.revision, missing, cause },
    );
  }
  return hubResult(ctx, commit, []);
}

// ---------------------------------------------------------------------------------------------------
// HTTP

/** The hub could not be reached or the connection broke: worth a retry (and, for the revision API, the cache). */
class NetworkError extends Error {
  override name = 'NetworkError';
}

const USER_AGENT = 'rewardlens (hub download; node fetch)';
const MAX_REDIRECTS = 10;

/**
 * fetch with redirects followed by hand: the Authorization header goes to the endpoint's own origin
 * only (LFS files redirect to a CDN on another host, which must not see the token). With
 * `crossOrigin: false` a redirect to another origin is returned as is (a HEAD reads the x-linked-*
 * headers off the hub's 302, as Python does).
 */
async function request(
  ctx: Ctx,
  url: string,
  init: { method?: 'GET' | 'HEAD'; headers?: Record<string, string>; crossOrigin?: boolean } = {},
): Promise<Response> {
  const hubOrigin = new URL(ctx.endpoint).origin;
  let current = new URL(url);
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, ...init.headers };
    if (ctx.token && current.origin === hubOrigin) headers['authorization'] = `Bearer ${ctx.token}`;
    let res: Response;
    try {
      res = await fetch(current, { method: init.method ?? 'GET', headers, redirect: 'manual', signal: ctx.signal });
    } catch (err) {
      throwIfAborted(ctx, err);
      throw new NetworkError(`${describeNetworkError(err)} (${init.method ?? 'GET'} ${current.href})`, { cause: err });
    }
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      const next = new URL(location, current);
      if (init.crossOrigin === false && next.origin !== current.origin) return res;
      await res.body?.cancel().catch(() => undefined);
      if (hop >= MAX_REDIRECTS) throw new HubError('http', `Too many redirects fetching ${url}`, { repo: ctx.repo, revision: ctx.revision });
      current = next;
      continue;
    }
    return res;
  }
}

function throwIfAborted(ctx: Ctx, err?: unknown): void {
  if (ctx.signal?.aborted) throw ctx.signal.reason ?? err;
}

function describeNetworkError(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const code = e?.cause?.code ?? e?.cause?.message;
  return code ? `${e.message ?? 'fetch failed'}: ${code}` : (e?.message ?? String(err));
}

async function bodyMessage(res: Response): Promise<string> {
  try {
    const text = (await res.text()).trim();
    try {
      const json = JSON.parse(text) as { error?: unknown; message?: unknown };
      const m = json.error ?? json.message;
      if (typeof m === 'string') return m;
    } catch {
      // not JSON
    }
    return text.length > 200 ? `${text.slice(0, 197)}...` : text;
  } catch {
    return '';
  }
}

/** A clear error for a failed hub response; names the repo, revision and file. */
async function httpError(ctx: Ctx, res: Response, file?: string): Promise<HubError> {
  const errorCode = res.headers.get('x-error-code') ?? '';
  const serverMsg = res.headers.get('x-error-message') ?? (res.bodyUsed ? '' : await bodyMessage(res));
  const at = `${ctx.repo}@${ctx.revision}`;
  const extra = { repo: ctx.repo, revision: ctx.revision, status: res.status, file };
  const detail = serverMsg ? ` The hub said: ${serverMsg}` : '';
  const tokenHint = `Set HF_TOKEN to a Hugging Face access token that can read it (${ctx.endpoint}/settings/tokens)`;
  switch (res.status) {
    case 401:
      return new HubError(
        'unauthorized',
        ctx.token
          ? `The hub rejected the token for ${at} (HTTP 401): the repository does not exist, or HF_TOKEN is invalid or cannot read it.${detail}`
          : `Cannot access ${at} (HTTP 401): the repository does not exist, or it is private or gated and needs a token. ${tokenHint}.${detail}`,
        extra,
      );
    case 403:
      return new HubError(
        'forbidden',
        errorCode === 'GatedRepo' || /gated/i.test(serverMsg)
          ? `${ctx.repo} is gated (HTTP 403): accept its terms at ${ctx.endpoint}/${ctx.repo} and set HF_TOKEN to a token of that account.${detail}`
          : `Access to ${at} denied (HTTP 403). ${tokenHint}${ctx.token ? ' (the token given has no access)' : ''}.${detail}`,
        extra,
      );
    case 404:
      if (errorCode === 'RevisionNotFound') {
        return new HubError('not-found', `Revision "${ctx.revision}" not found in ${ctx.repo} (HTTP 404): expected a branch, tag or commit hash.${detail}`, extra);
      }
      if (errorCode === 'EntryNotFound' && file) {
        return new HubError('not-found', `File ${file} not found in ${at} (HTTP 404).${detail}`, extra);
      }
      return new HubError(
        'not-found',
        `Repository ${ctx.repo} or revision "${ctx.revision}" not found at ${ctx.endpoint} (HTTP 404)${file ? ` fetching ${file}` : ''}.${detail}`,
        extra,
      );
    default:
      return new HubError('http', `HTTP ${res.status} from ${ctx.endpoint} for ${at}${file ? ` file ${file}` : ''}.${detail}`, extra);
  }
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

// ---------------------------------------------------------------------------------------------------
// The revision API

interface RemoteFile {
  path: string;
  size?: number;
  /** LFS files: the content's sha256 (also the blob's name in the cache). */
  sha256?: string;
  /** Other files: the git blob oid (the blob's name; checked as sha1("blob {size}\0" + content)). */
  gitOid?: string;
  /** From a HEAD when the API gave no ids: the normalised ETag, used as the blob's name. */
  etag?: string;
}

interface RevisionInfo {
  sha: string;
  files: Map<string, RemoteFile>;
}

function repoUrlPath(repo: string): string {
  return repo.split('/').map(encodeURIComponent).join('/');
}

function filePathUrl(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

async function fetchRevisionInfo(ctx: Ctx): Promise<RevisionInfo> {
  const url = `${ctx.endpoint}/api/${ctx.repoType === 'dataset' ? 'datasets' : 'models'}/${repoUrlPath(ctx.repo)}/revision/${encodeURIComponent(ctx.revision)}?blobs=true`;
  let res: Response | undefined;
  for (let attempt = 0; ; attempt++) {
    res = await request(ctx, url, { headers: { accept: 'application/json' } });
    if (!isRetryableStatus(res.status) || attempt >= 2) break;
    await res.body?.cancel().catch(() => undefined);
    await sleep(250 * 2 ** attempt, ctx.signal);
  }
  if (!res.ok) throw await httpError(ctx, res);
  let json: unknown;
  try {
    json = await res.json();
  } catch (err) {
    throwIfAborted(ctx, err);
    throw new HubError('http', `Expected JSON from ${url} but received unparsable text`, { repo: ctx.repo, revision: ctx.revision, cause: err });
  }
  const body = json as { sha?: unknown; siblings?: unknown };
  if (typeof body?.sha !== 'string' || !COMMIT_HASH.test(body.sha) || !Array.isArray(body.siblings)) {
    throw new HubError('http', `Expected a commit sha and a siblings list from ${url} but received ${JSON.stringify(json).slice(0, 200)}`, {
      repo: ctx.repo,
      revision: ctx.revision,
    });
  }
  const files = new Map<string, RemoteFile>();
  for (const s of body.siblings as unknown[]) {
    const sib = s as { rfilename?: unknown; size?: unknown; blobId?: unknown; lfs?: { sha256?: unknown; oid?: unknown; size?: unknown } };
    if (typeof sib?.rfilename !== 'string') continue;
    const lfsSha = typeof sib.lfs?.sha256 === 'string' ? sib.lfs.sha256 : typeof sib.lfs?.oid === 'string' ? sib.lfs.oid.replace(/^sha256:/, '') : undefined;
    const size = typeof sib.lfs?.size === 'number' ? sib.lfs.size : typeof sib.size === 'number' ? sib.size : undefined;
    const file: RemoteFile = { path: sib.rfilename, size };
    if (lfsSha && /^[0-9a-f]{64}$/.test(lfsSha)) file.sha256 = lfsSha;
    else if (!sib.lfs && typeof sib.blobId === 'string' && COMMIT_HASH.test(sib.blobId) && size !== undefined) file.gitOid = sib.blobId;
    files.set(sib.rfilename, file);
  }
  return { sha: body.sha, files };
}

/** Etag as Python normalises it: no weak prefix, no quotes. */
function normalizeEtag(etag: string | null): string | undefined {
  if (!etag) return undefined;
  return etag.replace(/^W\//, '').replace(/^"+|"+$/g, '') || undefined;
}

/** Size and id from a HEAD of the resolve URL (the hub's 302 for LFS files carries x-linked-etag/-size). */
async function headFile(ctx: Ctx, commit: string, path: string): Promise<RemoteFile> {
  const res = await request(ctx, resolveUrl(ctx, commit, path), { method: 'HEAD', crossOrigin: false });
  if (!res.ok && !(res.status >= 300 && res.status < 400)) throw await httpError(ctx, res, path);
  const linked = normalizeEtag(res.headers.get('x-linked-etag'));
  const etag = linked ?? normalizeEtag(res.headers.get('etag'));
  const sizeHeader = res.headers.get('x-linked-size') ?? (res.status < 300 ? res.headers.get('content-length') : null);
  const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : undefined;
  if (!etag) throw new HubError('http', `The hub sent no ETag for ${path} of ${ctx.repo}@${ctx.revision}: cannot name its cache blob`, { repo: ctx.repo, revision: ctx.revision, file: path });
  const file: RemoteFile = { path, size };
  if (linked && /^[0-9a-f]{64}$/.test(linked)) file.sha256 = linked;
  else file.etag = etag;
  return file;
}

function resolveUrl(ctx: Ctx, commit: string, path: string): string {
  return `${ctx.endpoint}/${ctx.repoType === 'dataset' ? 'datasets/' : ''}${repoUrlPath(ctx.repo)}/resolve/${encodeURIComponent(commit)}/${filePathUrl(path)}`;
}

// ---------------------------------------------------------------------------------------------------
// Which files

function listSome(names: Iterable<string>): string {
  const all = [...names];
  return all.length <= 20 ? all.join(', ') : `${all.slice(0, 20).join(', ')} and ${all.length - 20} more`;
}

function pickleError(ctx: Ctx, commit: string, pickles: string[]): HubError {
  const py =
    `python -c "from transformers import AutoModelForCausalLM as M, AutoTokenizer as T; ` +
    `M.from_pretrained('${ctx.repo}', revision='${ctx.revision}').save_pretrained('model-st', safe_serialization=True); ` +
    `T.from_pretrained('${ctx.repo}', revision='${ctx.revision}').save_pretrained('model-st')"`;
  return new HubError(
    'no-safetensors',
    `${ctx.repo}@${ctx.revision} (commit ${commit}) has PyTorch pickle weights only (${pickles.join(', ')}); rewardlens reads ` +
      `safetensors and never downloads pickles (loading one can run arbitrary code). Convert it once with Python:\n  ${py}\n` +
      `and pass the folder model-st, or use a revision that has safetensors (a conversion pull request on the hub, ` +
      `e.g. ${ctx.repo}@refs/pr/1, if the repo's Community tab lists one).`,
    { repo: ctx.repo, revision: ctx.revision },
  );
}

async function fetchFiles(ctx: Ctx, info: RevisionInfo, files: 'model' | string[]): Promise<string[]> {
  const remote = info.files;
  const commit = info.sha;
  const at = `${ctx.repo}@${ctx.revision}`;
  const downloaded: string[] = [];
  const get = async (path: string): Promise<void> => {
    const entry = remote.get(path) ?? { path };
    if (await ensureFile(ctx, commit, entry)) downloaded.push(path);
  };
  if (files !== 'model') {
    const absent = files.filter((f) => !remote.has(f));
    if (absent.length > 0) {
      throw new HubError('not-found', `${at} has no ${listSome(absent)} (files in the repo: ${listSome(remote.keys())})`, {
        repo: ctx.repo,
        revision: ctx.revision,
        missing: absent,
      });
    }
    for (const f of files) await get(f);
    return downloaded;
  }

  if (!remote.has(CONFIG_FILE)) {
    throw new HubError('not-a-model', `${at} has no ${CONFIG_FILE}: not a transformers model repo (files: ${listSome(remote.keys()) || 'none'})`, {
      repo: ctx.repo,
      revision: ctx.revision,
    });
  }
  let weights: string;
  if (remote.has(SAFETENSORS_FILE)) weights = SAFETENSORS_FILE;
  else if (remote.has(SAFETENSORS_INDEX)) weights = SAFETENSORS_INDEX;
  else {
    const pickles = [...remote.keys()].filter((f) => PICKLE_WEIGHTS.test(f));
    if (pickles.length > 0) throw pickleError(ctx, commit, pickles);
    throw new HubError('no-weights', `${at} has no ${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX} (files: ${listSome(remote.keys())})`, {
      repo: ctx.repo,
      revision: ctx.revision,
    });
  }

  await get(CONFIG_FILE);
  await get(weights);
  if (weights === SAFETENSORS_INDEX) {
    const shards = readIndexShards(join(snapshotDir(ctx.repoDir, commit), SAFETENSORS_INDEX), `${ctx.repo}@${commit}/${SAFETENSORS_INDEX}`);
    const absent = shards.filter((s) => !remote.has(s));
    if (absent.length > 0) {
      throw new HubError('not-found', `${at}: ${SAFETENSORS_INDEX} names shards the repo does not have: ${listSome(absent)}`, {
        repo: ctx.repo,
        revision: ctx.revision,
        missing: absent,
      });
    }
    for (const shard of shards) await get(shard);
  }
  for (const f of [TOKENIZER_FILE, ...OPTIONAL_FILES]) {
    if (remote.has(f)) await get(f);
    // Python's marker for "the repo has no such file", which the offline lookup (ours and
    // transformers') reads so that an absent optional file is not reported missing.
    else markNoExist(ctx.repoDir, commit, f);
  }
  return downloaded;
}

// ---------------------------------------------------------------------------------------------------
// One file: snapshot pointer → blob → download with resume and checks

/** Make snapshots/{commit}/{path} present; true when its content came over the network. */
async function ensureFile(ctx: Ctx, commit: string, entry: RemoteFile): Promise<boolean> {
  checkRepoPath(entry.path);
  const pointer = join(snapshotDir(ctx.repoDir, commit), entry.path);
  const have = fileSize(pointer);
  if (have !== undefined && (entry.size === undefined || have === entry.size)) return false;

  const meta = entry.sha256 || entry.gitOid ? entry : await headFile(ctx, commit, entry.path);
  if (meta.size === undefined) meta.size = entry.size;
  const id = meta.sha256 ?? meta.gitOid ?? meta.etag!;
  if (!/^[A-Za-z0-9._-]+$/.test(id) || id.startsWith('.')) {
    throw new HubError('http', `The hub's id for ${entry.path} of ${ctx.repo}@${ctx.revision} is not a usable cache blob name: "${id}"`, {
      repo: ctx.repo,
      revision: ctx.revision,
      file: entry.path,
    });
  }
  const blob = blobPath(ctx.repoDir, id);
  const blobSize = fileSize(blob);
  if (blobSize !== undefined && (meta.size === undefined || blobSize === meta.size)) {
    linkSnapshotFile(ctx.repoDir, commit, entry.path, id);
    return false;
  }
  if (blobSize !== undefined) rmSync(blob, { force: true }); // a blob of the wrong size is damaged
  await downloadBlob(ctx, commit, meta, blob);
  linkSnapshotFile(ctx.repoDir, commit, entry.path, id);
  return true;
}

const MAX_RETRIES = 5; // consecutive failures without progress
const MAX_ATTEMPTS = 50; // in all, for one file

async function downloadBlob(ctx: Ctx, commit: string, meta: RemoteFile, blob: string): Promise<void> {
  const incomplete = `${blob}.incomplete`;
  mkdirSync(dirname(blob), { recursive: true });
  const url = resolveUrl(ctx, commit, meta.path);
  let failures = 0;
  for (let attempt = 1; ; attempt++) {
    const before = fileSize(incomplete) ?? 0;
    try {
      await downloadOnce(ctx, commit, url, meta, incomplete);
      break;
    } catch (err) {
      if (err instanceof HubError && err.code === 'integrity') {
        rmSync(incomplete, { force: true });
        throw err;
      }
      throwIfAborted(ctx, err);
      const retryable = err instanceof NetworkError || (err instanceof HubError && err.status !== undefined && isRetryableStatus(err.status));
      if (!retryable) throw err;
      failures = (fileSize(incomplete) ?? 0) > before ? 1 : failures + 1;
      if (failures > MAX_RETRIES || attempt >= MAX_ATTEMPTS) {
        throw new HubError(
          'network',
          `Downloading ${meta.path} of ${ctx.repo}@${ctx.revision} failed after ${attempt} attempts: ${(err as Error).message}. ` +
            `The partial file ${incomplete} is kept; running again resumes it.`,
          { repo: ctx.repo, revision: ctx.revision, file: meta.path, cause: err },
        );
      }
      await sleep(Math.min(200 * 2 ** (failures - 1), 5000), ctx.signal);
    }
  }
  renameSync(incomplete, blob);
}

/** sha256 for LFS files, git's blob sha1 for the others, nothing when neither id is known. */
function newHasher(meta: RemoteFile): Hash | undefined {
  if (meta.sha256) return createHash('sha256');
  if (meta.gitOid && meta.size !== undefined) return createHash('sha1').update(`blob ${meta.size}\0`);
  return undefined;
}

async function hashPrefix(path: string, hasher: Hash, signal: AbortSignal | undefined): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, signal })) hasher.update(chunk as Buffer);
}

function integrityError(ctx: Ctx, commit: string, meta: RemoteFile, what: string, expected: string | number, actual: string | number): HubError {
  return new HubError(
    'integrity',
    `Expected ${what} ${expected} for ${meta.path} of ${ctx.repo}@${ctx.revision} (commit ${commit}) but received ${actual}; ` +
      `the download was deleted. Run again to download it afresh; if this repeats, the hub or a proxy is serving a damaged file.`,
    { repo: ctx.repo, revision: ctx.revision, file: meta.path },
  );
}

function parseContentRange(h: string | null): { start: number; total?: number } | undefined {
  const m = h ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(h.trim()) : null;
  if (!m) return undefined;
  return { start: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/** One GET, continuing `incomplete` with a Range request when it holds bytes; verified at the end. */
async function downloadOnce(ctx: Ctx, commit: string, url: string, meta: RemoteFile, incomplete: string): Promise<void> {
  const expected = meta.size;
  let have = fileSize(incomplete) ?? 0;
  if (expected !== undefined && have > expected) {
    truncateSync(incomplete, 0);
    have = 0;
  }
  let hasher = newHasher(meta);
  if (have > 0 && hasher) await hashPrefix(incomplete, hasher, ctx.signal);
  const finish = (size: number): void => {
    if (expected !== undefined && size !== expected) throw integrityError(ctx, commit, meta, 'a size of', `${expected} bytes`, `${size} bytes`);
    if (hasher) {
      const digest = hasher.digest('hex');
      const want = meta.sha256 ?? meta.gitOid!;
      if (digest !== want) throw integrityError(ctx, commit, meta, meta.sha256 ? 'sha256' : 'git blob sha1', want, digest);
    }
  };
  const report = (bytes: number, total: number | undefined): void => ctx.onProgress?.({ file: meta.path, bytes, total });
  if (expected !== undefined && have === expected && have > 0) {
    report(have, expected);
    finish(have);
    return;
  }

  const res = await request(ctx, url, { headers: have > 0 ? { range: `bytes=${have}-` } : {} });
  if (res.status === 416) {
    await res.body?.cancel().catch(() => undefined);
    const m = /\/\s*(\d+)\s*$/.exec(res.headers.get('content-range') ?? '');
    const serverSize = m ? Number(m[1]) : undefined;
    if (serverSize !== undefined && expected !== undefined && serverSize !== expected) {
      throw integrityError(ctx, commit, meta, 'a size of', `${expected} bytes`, `${serverSize} bytes (the server's size of the file)`);
    }
    if (serverSize === have) {
      report(have, have);
      finish(have);
      return;
    }
    truncateSync(incomplete, 0);
    throw new NetworkError(`the server refused the range bytes=${have}- (HTTP 416); starting over`);
  }
  if (!res.ok) throw await httpError(ctx, res, meta.path);

  let total: number | undefined;
  const lengthHeader = res.headers.get('content-length');
  const length = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  if (res.status === 206 && have > 0) {
    const range = parseContentRange(res.headers.get('content-range'));
    if (!range || range.start !== have) {
      await res.body?.cancel().catch(() => undefined);
      truncateSync(incomplete, 0);
      throw new NetworkError(`the server answered bytes=${have}- with ${res.headers.get('content-range') ?? 'no Content-Range'}; starting over`);
    }
    total = range.total ?? (length !== undefined ? have + length : undefined);
  } else {
    if (have > 0) {
      // The server ignored the Range header and sends the whole file.
      truncateSync(incomplete, 0);
      have = 0;
      hasher = newHasher(meta);
    }
    total = res.status === 206 ? parseContentRange(res.headers.get('content-range'))?.total : length;
  }
  if (expected !== undefined && total !== undefined && total !== expected) {
    await res.body?.cancel().catch(() => undefined);
    throw integrityError(ctx, commit, meta, 'a size of', `${expected} bytes`, `${total} bytes (the server's Content-Length)`);
  }
  total = expected ?? total;

  let bytes = have;
  const fh = await open(incomplete, have > 0 ? 'a' : 'w');
  const reader = res.body?.getReader();
  let done = !reader;
  try {
    report(bytes, total);
    while (!done) {
      let chunk: Uint8Array | undefined;
      try {
        ({ done, value: chunk } = await reader!.read());
      } catch (err) {
        // Only a failed read is a network failure (retried, resumed); errors from the disk or the
        // progress callback propagate as they are.
        done = true;
        throwIfAborted(ctx, err);
        throw new NetworkError(`the connection broke after ${bytes} bytes of ${meta.path}: ${describeNetworkError(err)}`, { cause: err });
      }
      if (!chunk) continue;
      if (expected !== undefined && bytes + chunk.length > expected) {
        throw integrityError(ctx, commit, meta, 'a size of', `${expected} bytes`, `more (at least ${bytes + chunk.length} bytes)`);
      }
      hasher?.update(chunk);
      await fh.write(chunk);
      bytes += chunk.length;
      report(bytes, total);
    }
  } finally {
    if (!done) await reader!.cancel().catch(() => undefined);
    await fh.close();
  }
  if (expected !== undefined && bytes < expected) throw new NetworkError(`the connection closed after ${bytes} of ${expected} bytes of ${meta.path}`);
  finish(bytes);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolveSleep, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolveSleep();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
