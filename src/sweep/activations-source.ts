// Where a sweep's activations come from and what they are: a local safetensors file or activation
// store folder, or an http(s):// URL fetched once per process into the cache folder. The identity of
// the activations (a sha256 of their bytes) goes into every job id, so a changed file gives new jobs
// and a worker that sees different bytes than the submitter refuses the job.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { FileFormatError } from '../errors.js';
import { cacheRoot } from '../data/defaults.js';
import { writeFileAtomic } from '../io/atomic.js';
import { SafetensorsFile } from '../io/safetensors.js';

export interface ActivationIdentity {
  /** sha256 (hex) of the file, or of the store's manifest and shards (name and hash of each). */
  sha256: string;
  /** Total bytes hashed. */
  bytes: number;
}

/** True for an http:// or https:// source. */
export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/** The cache folder for downloaded activation files: <cacheRoot>/sweep-activations. */
export function activationCacheDir(): string {
  return join(cacheRoot(), 'sweep-activations');
}

const fetched = new Map<string, Promise<string>>();

/**
 * A local path for `source`: a path is resolved (and must exist); a URL is downloaded once into the
 * cache folder (reused by later runs and by every job of this process).
 */
export function resolveActivationSource(source: string): Promise<string> {
  if (typeof source !== 'string' || source === '') {
    return Promise.reject(new FileFormatError(String(source), 'expected a path or an http(s):// URL of activations'));
  }
  if (!isUrl(source)) {
    const path = resolve(source);
    if (!existsSync(path)) {
      return Promise.reject(new FileFormatError(path, 'not found (expected a safetensors file with tensor "activations" [N,d] or an activation store folder)'));
    }
    return Promise.resolve(path);
  }
  let p = fetched.get(source);
  if (!p) {
    p = download(source);
    p.catch(() => fetched.delete(source));
    fetched.set(source, p);
  }
  return p;
}

async function download(url: string): Promise<string> {
  const key = createHash('sha256').update(url).digest('hex').slice(0, 24);
  const name = basename(new URL(url).pathname) || 'activations.safetensors';
  const path = join(activationCacheDir(), `${key}-${name}`);
  if (existsSync(path)) return path;
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new FileFormatError(url, `cannot download activations: ${(err as Error).message}${(err as { cause?: Error }).cause ? ` (${(err as { cause: Error }).cause.message})` : ''}`);
  }
  if (!res.ok) throw new FileFormatError(url, `cannot download activations: HTTP ${res.status} ${res.statusText}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  writeFileAtomic(path, bytes);
  return path;
}

/**
 * Checks that `path` looks like activations before any job is queued: a safetensors file whose
 * `activations` tensor is [N,d], or a folder holding a manifest.json. Returns d when known.
 */
export function checkActivationSource(path: string): { d: number | null } {
  if (statSync(path).isDirectory()) {
    const manifest = join(path, 'manifest.json');
    if (!existsSync(manifest)) throw new FileFormatError(path, 'a folder without manifest.json (expected an activation store folder or a safetensors file)');
    let m: { d?: unknown };
    try {
      m = JSON.parse(readFileSync(manifest, 'utf8')) as { d?: unknown };
    } catch (err) {
      throw new FileFormatError(manifest, `not valid JSON (${(err as Error).message})`);
    }
    if (!Number.isInteger(m.d) || (m.d as number) < 1) throw new FileFormatError(manifest, `field "d": expected a positive integer but found ${JSON.stringify(m.d)}`);
    return { d: m.d as number };
  }
  const f = SafetensorsFile.open(path);
  try {
    if (!f.has('activations')) throw new FileFormatError(path, `tensor "activations": not found (tensors: ${f.names().join(', ') || 'none'})`);
    const info = f.info('activations');
    if (info.shape.length !== 2 || info.shape[0] < 1 || info.shape[1] < 1) {
      throw new FileFormatError(path, `tensor "activations": expected shape [N,d] with N >= 1 and d >= 1 but found [${info.shape.join(',')}]`);
    }
    return { d: info.shape[1] };
  } finally {
    f.close();
  }
}

const identities = new Map<string, { stamp: string; id: ActivationIdentity }>();

/** The sha256 of the activations at `path` (a file, or a store folder's manifest.json and *.safetensors). Memoised by size and mtime. */
export async function activationIdentity(path: string): Promise<ActivationIdentity> {
  const abs = resolve(path);
  const st = statSync(abs);
  const files = st.isDirectory()
    ? readdirSync(abs).filter((f) => f === 'manifest.json' || f.endsWith('.safetensors')).sort().map((f) => join(abs, f))
    : [abs];
  const stamp = files.map((f) => {
    const s = statSync(f);
    return `${f}:${s.size}:${s.mtimeMs}`;
  }).join('|');
  const known = identities.get(abs);
  if (known && known.stamp === stamp) return known.id;
  let id: ActivationIdentity;
  if (!st.isDirectory()) {
    id = await hashFile(abs);
  } else {
    const outer = createHash('sha256');
    let bytes = 0;
    for (const f of files) {
      const h = await hashFile(f);
      outer.update(`${basename(f)}\0${h.sha256}\n`);
      bytes += h.bytes;
    }
    id = { sha256: outer.digest('hex'), bytes };
  }
  identities.set(abs, { stamp, id });
  return id;
}

function hashFile(path: string): Promise<ActivationIdentity> {
  return new Promise((resolvePromise, reject) => {
    const h = createHash('sha256');
    let bytes = 0;
    createReadStream(path)
      .on('data', (chunk) => {
        h.update(chunk);
        bytes += chunk.length;
      })
      .on('error', (err) => reject(new FileFormatError(path, `cannot read: ${err.message}`)))
      .on('end', () => resolvePromise({ sha256: h.digest('hex'), bytes }));
  });
}
